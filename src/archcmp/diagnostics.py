"""Counted warnings: a bad record, body or event is recorded here instead of stopping the run.

Codes are dotted ``source.object.problem`` strings (``har.entry.no_response``, ``body.br.corrupt``,
``body.limit.truncated``); each is counted, with a few samples for the reader. Stages receive a
``Diagnostics`` and add to it; none of them prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archcmp.limits import WARNING_SAMPLES
from archcmp.model import Warning

__all__ = ["Diagnostics"]


@dataclass(slots=True)
class _Counter:
    message: str
    count: int = 0
    samples: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Diagnostics:
    """Mutable accumulator of warnings for one run over one capture."""

    _counters: dict[str, _Counter] = field(default_factory=dict)

    def warn(self, code: str, message: str, *, sample: str | None = None, count: int = 1) -> None:
        """Count one occurrence of ``code``; ``message`` of the first occurrence is kept."""
        counter = self._counters.get(code)
        if counter is None:
            counter = self._counters[code] = _Counter(message)
        counter.count += count
        if sample is not None and len(counter.samples) < WARNING_SAMPLES:
            counter.samples.append(sample)

    def count(self, code: str) -> int:
        counter = self._counters.get(code)
        return counter.count if counter else 0

    def __len__(self) -> int:
        return len(self._counters)

    def warnings(self) -> tuple[Warning, ...]:
        """Frozen snapshot, sorted by code so documents are deterministic."""
        return tuple(
            Warning(code=code, message=c.message, count=c.count, samples=tuple(c.samples))
            for code, c in sorted(self._counters.items())
        )
