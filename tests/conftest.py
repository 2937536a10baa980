"""Shared fixtures: where the shared corpus lives, and hypothesis profiles.

Real captures come from ``../shared`` beside the repository (override with ``ARCHCMP_SHARED``).
Tests that need it skip cleanly when it is absent, through the ``shared`` fixture.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ARCHCMP_SHARED", REPO.parent / "shared"))
SAMPLES = REPO / "samples"

settings.register_profile("fast", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared corpus directory; skips the test when it is not there."""
    if not (SHARED / "corpus").is_dir():
        pytest.skip(f"shared corpus not found at {SHARED} (set ARCHCMP_SHARED)")
    return SHARED
