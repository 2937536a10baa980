"""JSON member coercion and date parsing shared by the HAR modules.

HAR members arrive as whatever the exporter wrote: numbers as strings, -1 for "not
available", ``null``, or a different type altogether. Each helper returns the wanted type or
None, never raises, so callers can write ``as_size(response.get("bodySize"))`` for any input.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "as_duration",
    "as_int",
    "as_mapping",
    "as_number",
    "as_size",
    "as_text",
    "parse_timestamp_ms",
]

_DIGITS = re.compile(r"-?[0-9]{1,18}")  # "200" in hand-written HARs; 18 digits fit int64

# ISO 8601 forms datetime.fromisoformat (3.11) rejects, e.g. a comma before the fraction or an
# offset without a colon after a long fraction. Groups: date, time, fraction, offset.
_ISO_FALLBACK = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d+))?\s*"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE | re.ASCII,
)


def parse_timestamp_ms(value: str) -> tuple[float, bool] | None:
    """ISO 8601 date-time → (Unix epoch ms, had an offset); None when unreadable.

    HAR 1.2 §entries asks for ISO 8601 with offset; exporters vary the fraction length
    (Firefox 3 digits, mitmproxy 6, Fiddler 7) and write ``Z`` or ``±hh:mm``. Python 3.11's
    ``fromisoformat`` reads all of those; a regex covers the rest, then RFC 2822 dates.
    """
    text = value.strip()
    moment: datetime | None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = _fallback_datetime(text)
    if moment is None:
        return None
    naive = moment.tzinfo is None
    if naive:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp() * 1000.0, not naive
    except (OverflowError, ValueError):  # year 1 minus an offset falls before datetime.min
        return None


def _fallback_datetime(text: str) -> datetime | None:
    match = _ISO_FALLBACK.fullmatch(text)
    if match is None:
        try:
            return email.utils.parsedate_to_datetime(text)  # RFC 2822, as in Date headers
        except (TypeError, ValueError):
            return None
    day, clock, fraction, offset = match.groups()
    try:
        moment = datetime.fromisoformat(f"{day}T{clock}")
    except ValueError:
        return None
    if fraction:
        moment += timedelta(microseconds=int(fraction[:6].ljust(6, "0")))
    if offset is None:
        return moment
    if offset.upper() == "Z":
        return moment.replace(tzinfo=UTC)
    digits = offset[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
    sign = -1 if offset[0] == "-" else 1
    try:
        return moment.replace(tzinfo=timezone(timedelta(minutes=sign * minutes)))
    except ValueError:  # |offset| of 24 h or more
        return None


def as_mapping(raw: Any) -> Mapping[str, Any]:
    """A JSON object (parsed JSON objects are always dicts; ``isinstance(x, dict)`` is several
    times cheaper than the ``Mapping`` ABC check, measurable at millions of calls)."""
    return raw if isinstance(raw, dict) else {}


def as_text(raw: Any) -> str | None:
    return raw if isinstance(raw, str) else None


def as_number(raw: Any) -> float | None:
    """A finite JSON number as float (bool is an int in Python, but not a number in JSON)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        number = float(raw)
    except OverflowError:  # an integer beyond float range (ijson's pure-Python backends)
        return None
    return number if math.isfinite(number) else None


def as_int(raw: Any) -> int | None:
    """An int from a JSON number or digit string ("200" in some hand-written HARs)."""
    if isinstance(raw, str):
        return int(raw) if _DIGITS.fullmatch(raw.strip()) else None
    number = as_number(raw)
    return int(number) if number is not None and number.is_integer() else None


def as_duration(raw: Any) -> float | None:
    """A time in ms; HAR's -1 (and any negative) means "not applicable" → None."""
    number = as_number(raw)
    return number if number is not None and number >= 0 else None


def as_size(raw: Any) -> int | None:
    """A byte count or port; -1 (HAR "not available") and other negatives → None."""
    number = as_int(raw)
    return number if number is not None and number >= 0 else None
