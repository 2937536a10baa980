"""HAR files as a stream of parts for ``archcmp redact``: read, write back, replace atomically.

The reader is :mod:`archcmp.ingest.har`'s single ijson pass (same builder helpers), but it keeps
what that reader drops: every member of the top-level object and of ``log`` in file order, and
entries as raw dicts, so a writer can put the document back together with its layout, one entry
in memory at a time (browser HARs reach hundreds of MB because bodies are inlined).

Numbers are read as ``int``/``Decimal`` (ijson ``use_float=False``, where the analysis reader
uses floats) and written back from their decimal text, so timings keep every digit and integers
beyond 64 bits are accepted. :func:`dumps` is iterative: a hostile nesting depth in an unknown
member costs memory, never a RecursionError. Output is UTF-8 without a BOM (HAR 1.2), one entry
per line, compact inside. :func:`atomic_output` writes beside the destination and renames,
so an error mid-way leaves no half-redacted file behind. :class:`Residual` is what the re-scans
of written HAR and packet files report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from json.encoder import encode_basestring, encode_basestring_ascii
from pathlib import Path
from secrets import token_hex
from typing import Any, BinaryIO, Literal

import ijson

from archcmp.diagnostics import Diagnostics
from archcmp.errors import CaptureError, TruncatedCapture
from archcmp.ingest.har import _build, _build_container, _skip

__all__ = ["HarPart", "Residual", "atomic_output", "dumps", "read_har_parts", "write_har"]

_READ_SIZE = 64 * 1024
_Event = tuple[str, Any]
_NO_EVENT: _Event = ("end_of_events", None)

PartKind = Literal["top", "log_start", "log", "entries_start", "entry", "entries_end", "log_end"]


@dataclass(frozen=True, slots=True)
class HarPart:
    """One piece of a HAR document in file order: enough to write it back with its layout.

    ``top``/``log``: a member (``key``, ``value``) of the top-level object or of ``log``;
    ``entry``: one ``log.entries`` item (``key`` is its index); the others mark where the
    ``log`` object and the ``entries`` array open and close.
    """

    kind: PartKind
    key: Any = None
    value: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Residual:
    """Something the re-scan of a written file still found: where and what, never the value."""

    where: str
    """A JSON path in a HAR (``log.entries[3]:request.headers[2].value``), or a packet
    (``packet 17``) or byte offset in a packet capture."""
    kind: str
    """``jwt``, ``pem``, ``vendor``, ``remembered`` (a value harvested from the capture),
    ``unmasked`` (the redactor would still change this place), or in packet captures
    ``secrets-block``, ``keylog``, ``payload`` (bytes beyond the cut policy) and ``cleartext``."""


# --- reading ----------------------------------------------------------------------------------


def read_har_parts(stream: BinaryIO, diag: Diagnostics, *, name: str) -> Iterator[HarPart]:
    """The :class:`HarPart` sequence of the HAR JSON in ``stream``, one entry built at a time.

    Raises :class:`~archcmp.errors.CaptureError` for JSON that is not a HAR (no ``log`` object,
    no ``entries`` array) or is invalid, :class:`~archcmp.errors.TruncatedCapture` when it is
    cut short. A second ``log`` (``redact.har.duplicate_log``; ``json.load`` would keep it and
    archcmp would not) and bytes after the document (``redact.har.trailing_data``) are dropped.
    """
    events: Iterator[_Event] = ijson.basic_parse(stream, buf_size=_READ_SIZE, use_float=False)
    try:
        yield from _document(events, diag, name)
    except ijson.JSONError as exc:
        raw = exc.args[0] if exc.args else b""
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        reason = text.split("\n")[0].strip().removeprefix("parse error: ")
        if "premature EOF" in reason:
            raise TruncatedCapture("the HAR's JSON is cut short", path=name) from exc
        raise CaptureError(f"not valid JSON: {reason.rstrip('.')}", path=name) from exc


def _document(events: Iterator[_Event], diag: Diagnostics, name: str) -> Iterator[HarPart]:
    event, _ = next(events, _NO_EVENT)
    if event != "start_map":
        raise CaptureError("the JSON text is not an object, so it is not a HAR", path=name)
    saw_log = closed = False
    problem: str | None = None  # raised once the JSON is known valid, as the HAR reader does
    for event, key in events:
        if event == "end_map":
            closed = True
            break
        event, value = next(events, _NO_EVENT)
        if key != "log":
            yield HarPart("top", key, _build(event, value, events))
        elif saw_log:
            diag.warn("redact.har.duplicate_log", "a second 'log' object was dropped")
            _skip(event, events)
        elif event != "start_map":
            problem = problem or "the HAR 'log' member is not an object"
            _skip(event, events)
        else:
            saw_log = True
            yield HarPart("log_start")
            yield from _log(events, name)
            yield HarPart("log_end")
    if not closed:
        raise TruncatedCapture("the HAR's JSON is cut short", path=name)
    try:
        for _ in events:
            pass
    except ijson.JSONError:
        diag.warn("redact.har.trailing_data", "data after the HAR's JSON object was dropped")
    if problem is not None:
        raise CaptureError(problem, path=name)
    if not saw_log:
        raise CaptureError("no HAR 'log' object at the top level; is this a HAR file?", path=name)


def _log(events: Iterator[_Event], name: str) -> Iterator[HarPart]:
    saw_entries = False
    for event, key in events:
        if event == "end_map":
            if not saw_entries:
                raise CaptureError("the HAR 'log' has no 'entries' array", path=name)
            return
        event, value = next(events, _NO_EVENT)
        if key == "entries" and not saw_entries:
            if event != "start_array":
                raise CaptureError("the HAR 'log.entries' member is not an array", path=name)
            saw_entries = True
            yield HarPart("entries_start")
            for index, (item_event, item_value) in enumerate(events):
                if item_event == "end_array":
                    break
                item = (
                    _build_container({}, events)
                    if item_event == "start_map"
                    else _build(item_event, item_value, events)
                )
                yield HarPart("entry", index, item)
            yield HarPart("entries_end")
        elif key == "entries":
            _skip(event, events)  # a duplicate key: json.load and archcmp keep the first
        else:
            yield HarPart("log", key, _build(event, value, events))


# --- writing --------------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``, iteratively (a hostile depth cannot overflow the stack).

    ``Decimal`` is written from its own digits; strings keep non-ASCII characters as UTF-8,
    except strings holding lone surrogates (valid JSON escapes, invalid UTF-8), which are
    written ``\\uXXXX``-escaped so the file always encodes.
    """
    out: list[str] = []
    stack: list[Iterator[Any]] = [iter((value,))]
    closers: list[str] = []
    firsts: list[bool] = [True]
    while stack:
        item: Any = next(stack[-1], _DONE)
        if item is _DONE:
            stack.pop()
            firsts.pop()
            if closers:
                out.append(closers.pop())
            continue
        if not firsts[-1]:
            out.append(",")
        firsts[-1] = False
        if isinstance(stack[-1], _DictItems):
            key, item = item
            out.append(_string(key if isinstance(key, str) else str(key)))
            out.append(":")
        if isinstance(item, dict):
            out.append("{")
            closers.append("}")
            stack.append(_DictItems(item))
            firsts.append(True)
        elif isinstance(item, list | tuple):
            out.append("[")
            closers.append("]")
            stack.append(iter(item))
            firsts.append(True)
        else:
            out.append(_scalar(item))
    return "".join(out)


class _DictItems:
    """``iter(d.items())`` that :func:`dumps` can tell apart from a list iterator."""

    __slots__ = ("_it",)

    def __init__(self, mapping: dict[Any, Any]) -> None:
        self._it = iter(mapping.items())

    def __iter__(self) -> _DictItems:
        return self

    def __next__(self) -> tuple[Any, Any]:
        return next(self._it)


_DONE = object()


def _string(text: str) -> str:
    if text.isascii():
        return str(encode_basestring_ascii(text))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return str(encode_basestring_ascii(text))
    return str(encode_basestring(text))


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} has no JSON form")
        return str(value)
    if isinstance(value, float):
        return json.dumps(value, allow_nan=False)
    raise TypeError(f"{type(value).__name__} has no JSON form")


def write_har(parts: Iterable[HarPart], out: BinaryIO) -> int:
    """Write ``parts`` as one HAR document; returns the number of entries written."""
    entries = 0
    top_first = log_first = True

    def member(first: bool, key: Any, value: Any) -> None:
        out.write(b"" if first else b",\n")
        out.write(f"{_string(str(key))}:{dumps(value)}".encode())

    out.write(b"{")
    for part in parts:
        if part.kind == "top":
            member(top_first, part.key, part.value)
            top_first = False
        elif part.kind == "log_start":
            out.write(b'"log":{' if top_first else b',\n"log":{')
            top_first = False
            log_first = True
        elif part.kind == "log":
            member(log_first, part.key, part.value)
            log_first = False
        elif part.kind == "entries_start":
            out.write(b'"entries":[' if log_first else b',\n"entries":[')
            log_first = False
        elif part.kind == "entry":
            out.write(b"\n" if entries == 0 else b",\n")
            out.write(dumps(part.value).encode())
            entries += 1
        elif part.kind == "entries_end":
            out.write(b"\n]")
        elif part.kind == "log_end":
            out.write(b"}")
    out.write(b"}\n")
    return entries


@contextmanager
def atomic_output(dst: Path) -> Iterator[BinaryIO]:
    """A file beside ``dst`` that replaces it only if the block completes (else is removed)."""
    tmp = dst.with_name(f".{dst.name}.{token_hex(6)}.tmp")
    try:
        out = open(tmp, "xb")  # noqa: SIM115 - closed below, before the rename
    except OSError as exc:
        raise CaptureError(f"cannot write: {exc.strerror or exc}", path=str(dst)) from exc
    try:
        with out:
            yield out
        try:
            os.replace(tmp, dst)
        except OSError as exc:
            raise CaptureError(f"cannot write: {exc.strerror or exc}", path=str(dst)) from exc
    finally:
        tmp.unlink(missing_ok=True)
