from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from archcmp.analyze.stats import percentile, summary


def test_percentile_empty_is_none() -> None:
    assert percentile([], 50) is None
    assert summary([]) == {"n": 0, "p50": None, "p95": None}


def test_percentile_interpolates() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0], 95) == 10.0
    assert summary([1.0, 2.0, 3.0, 4.0, 100.0]) == {"n": 5, "p50": 3.0, "p95": 80.8}


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=50),
       st.floats(min_value=0, max_value=100))
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    got = percentile(values, q)
    assert got is not None
    assert abs(got - float(np.percentile(values, q))) <= 1e-6 * max(1.0, abs(got))
