"""Streaming HAR reader: one pass, one entry in memory at a time, every producer's dialect.

A HAR file (HAR 1.2, http://www.softwareishard.com/blog/har-12-spec/) is one JSON object
``{"log": {"version", "creator", "browser", "pages", "entries", …}}``. Browser exports reach
hundreds of MB because bodies are inlined, so the file is never loaded whole: ijson's C backend
(yajl2_c) emits parse events and :class:`HarReader` builds each ``log.entries`` item as a dict,
turns it into an :class:`~archcmp.model.Exchange` (:mod:`archcmp.ingest.har_entry`), yields it
and drops it. Memory is bounded by the largest entry.

One pass, and metadata may come on either side of the entries: Chromium, Playwright and
mitmproxy write ``creator`` first, but HARs re-saved by other tools do not (the Firebug files
in haralyzer's tests have ``pages, browser, entries, version, creator``). So the producer in
:attr:`HarReader.meta` is decided at the end. Per-entry producer quirks
(:mod:`archcmp.ingest.har_producers`) can only be applied to entries read after the creator;
when it comes late, ``har.log.creator_after_entries`` says so.

Why ``ijson.basic_parse`` and a hand-inlined builder instead of ``ijson.items(f,
"log.entries.item")``: ``items`` follows one prefix, so creator and pages would need a second
pass, which a stream (gzip, stdin) cannot give. Measured on a 31 MB HAR (haralyzer's
cnn-chrome.har entries repeated to 11,680; Python 3.11, yajl2_c; best of 5). Parsing alone:
``ijson.items`` 0.29 s (entries only), ``ijson.parse`` + ``ijson.ObjectBuilder`` 0.89 s,
``items`` over a filtered ``parse`` 0.85 s, ``basic_parse`` + the inlined builder below
0.48 s, ``json.load`` 0.41 s. End to end, with every entry turned into an Exchange: this reader
0.80 s, ``ijson.items`` + the same conversion 0.55 s (entries only, no metadata), ``json.load``
+ conversion 0.71 s. So the single pass costs about 1.45x ``items`` end to end: not as fast,
but near ``json.load`` speed without its memory, and the price of reading metadata in one pass.

haralyzer (a declared dependency), checked against the installed 2.4.0 source:

* ``HarParser.from_file`` does ``json.load`` of the whole file and ``HarParser`` needs the full
  dict: memory grows with the file. Bypassed for reading.
* It opens with ``encoding="utf-8"``, so a UTF-8 BOM fails: ``mitmproxy__with-bom.har`` raises
  ``JSONDecodeError: Unexpected UTF-8 BOM``. :mod:`archcmp.ingest.sniff` strips it.
* Fields are read with ``[]``: ``HarPage.get_total_size_trans`` raises ``KeyError:
  '_transferSize'`` on every non-Chromium HAR in the corpus (Firefox, Charles, Fiddler,
  Safari, mitmproxy, Polly.JS); ``HarEntry.status`` raises ``KeyError: 'response'`` on
  request-only HARs; ``HarPage`` raises ``KeyError: 'startedDateTime'`` on pages without it
  (har-to-k6); ``HarParser`` raises ``KeyError: 'log'`` on a non-HAR. Here every member is
  optional and gaps are counted warnings.
* ``HarPage.time_to_first_byte`` sums every ``timings`` value but ``receive``: ``ssl`` is added
  on top of the ``connect`` that already holds it (HAR 1.2 §timings), and Chromium's
  ``_blocked_queueing`` on top of ``blocked``. On ``haralyzer__cnn-chrome.har`` (logx.optimizely)
  that gives 749 ms where the phases give 510 ms. archcmp computes TTFB itself
  (:func:`archcmp.ingest.har_entry._ttfb`).
* ``HarParser.pages`` silently drops entries whose ``pageref`` names a missing page
  (``mitmproxy__chrome.har``: 3 entries, haralyzer lists 2).

Where archcmp uses it: as an independent oracle in ``tests/ingest/test_har.py``, which checks
that on every corpus HAR haralyzer can load, its URLs, methods and statuses match ours.

Document-level warning codes (entry-level ones are listed in :mod:`archcmp.ingest.har_entry`):
``har.entry.not_object`` (a ``log.entries`` item that is not an object; counted in
``CaptureMeta.entries`` but yields no exchange), ``har.log.creator_after_entries``,
``har.log.duplicate`` (a second ``log``) and ``har.file.trailing_data`` (bytes after the JSON).

Numbers: ``use_float=True`` gives int and float instead of Decimal (faster and simpler
downstream), at a price: yajl2_c then accepts only 64-bit integers (-2^63 itself excluded) and
rejects larger ones as "integer overflow", which :class:`HarReadError` reports as such. No HAR
we have seen carries one; ``use_float=False`` with Decimal handling would lift the limit for
about 4 % of end-to-end time.

Errors: unreadable JSON raises :class:`HarReadError` (a :class:`~archcmp.errors.CaptureError`),
JSON cut short :class:`HarTruncated` (a :class:`~archcmp.errors.TruncatedCapture`); both name
the byte offset and carry :attr:`~HarReadError.entries_read`, because the exchanges yielded
before the error are already out. ``ijson.JSONError`` and the ``UnicodeDecodeError`` ijson raises
for a string yajl let through never leave this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from archcmp.diagnostics import Diagnostics
from archcmp.errors import CaptureError, TruncatedCapture, UnknownFormat
from archcmp.ingest.har_entry import convert_entry, convert_page
from archcmp.ingest.har_producers import (
    UNKNOWN,
    Producer,
    entry_hint,
    most_hinted,
    producer_for_creator,
)
from archcmp.ingest.sniff import open_capture
from archcmp.model import CaptureMeta, Exchange, Page

__all__ = ["HarReadError", "HarReader", "HarTruncated", "read_har"]

#: Bytes handed to the JSON parser per read (ijson's default; larger gains nothing measurable).
_READ_SIZE = 64 * 1024

#: Largest read while one JSON token is in progress (see :func:`_parse`).
_MAX_READ_SIZE = 64 * 1024 * 1024

_Event = tuple[str, Any]

#: What ``next(events, …)`` gives if ijson stops without an error (yajl never does): an event no
#: handler matches, so loops end and the document is reported truncated, never a PEP 479
#: RuntimeError from a bare ``next`` inside a generator.
_NO_EVENT: _Event = ("end_of_events", None)


class HarReadError(CaptureError):
    """The HAR cannot be read on: invalid JSON, or JSON that is not a HAR."""

    def __init__(self, message: str, *, entries_read: int, path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.entries_read = entries_read
        """``log.entries`` items read (and exchanges yielded) before the error."""


class HarTruncated(TruncatedCapture):
    """The HAR's JSON (or the compressed data around it) ends before the document does."""

    def __init__(self, message: str, *, entries_read: int, path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.entries_read = entries_read
        """``log.entries`` items read (and exchanges yielded) before the end."""


class HarReader:
    """Reads one HAR document from a binary stream, entry by entry.

    ``stream`` must hold the JSON text itself: use :func:`archcmp.ingest.sniff.open_capture` to
    undo compression and a BOM first. ``name`` (usually the path) is put on errors.

    Usage::

        reader = HarReader(stream, diag, name=str(path))
        for exchange in reader.exchanges():
            ...
        meta = reader.meta
    """

    def __init__(self, stream: BinaryIO, diag: Diagnostics, *, name: str = "") -> None:
        self._tap = _Tap(stream)
        self._diag = diag
        self._path = name or None
        self._started = False
        self._meta: CaptureMeta | None = None
        self._entries_read = 0
        self._producer: Producer = UNKNOWN
        self._hints: Counter[str] = Counter()
        self._creator: Mapping[str, Any] = {}
        self._browser: Mapping[str, Any] = {}
        self._version: str | None = None
        self._pages: list[Page] = []
        self._saw_log = False
        self._saw_entries = False
        self._problem: str | None = None
        """A structural fault, raised once the JSON is known to be valid to the end."""

    @property
    def entries_read(self) -> int:
        """``log.entries`` items read so far, including ones that were not objects."""
        return self._entries_read

    @property
    def meta(self) -> CaptureMeta:
        """What the HAR says about itself. Raises RuntimeError before :meth:`exchanges` is
        exhausted: the creator may come after the entries."""
        if self._meta is None:
            raise RuntimeError("HarReader.meta is known only after exchanges() is exhausted")
        return self._meta

    def exchanges(self) -> Iterator[Exchange]:
        """Yield one :class:`Exchange` per ``log.entries`` object, in file order.

        ``Exchange.index`` is the entry's position in ``log.entries``. Raises
        :class:`HarReadError` / :class:`HarTruncated` (after yielding what came before) when
        the document is broken; a stream can be read only once, so a second call raises
        RuntimeError.
        """
        if self._started:
            raise RuntimeError("HarReader.exchanges() can be iterated only once")
        self._started = True
        return self._read()

    # --- document structure -----------------------------------------------------------------

    def _read(self) -> Iterator[Exchange]:
        events = _parse(self._tap)
        try:
            yield from self._document(events)
        except (HarReadError, HarTruncated):
            raise
        except ijson.JSONError as exc:
            raise self._json_error(exc) from exc
        except UnicodeDecodeError as exc:
            # yajl's own UTF-8 check lets a surrogate encoded as UTF-8 (ED A0 80: CESU-8, as Java
            # and some Windows tools write) through; ijson's strict decode of the string then
            # raises this instead of a JSONError.
            read = self._entries_read
            raise HarReadError(
                f"not valid JSON between bytes {self._tap.start} and {self._tap.end}: a string "
                f"is not UTF-8 ({exc.reason}){f' ({_count(read)} read before it)' if read else ''}",
                entries_read=read,
                path=self._path,
            ) from exc
        except TruncatedCapture as exc:  # from the stream: compressed data cut short
            raise HarTruncated(
                f"{exc.message}; {_count(self._entries_read)} read",
                entries_read=self._entries_read,
                path=self._path,
            ) from exc
        except CaptureError as exc:  # from the stream: corrupt compressed data
            raise HarReadError(
                f"{exc.message}; {_count(self._entries_read)} read",
                entries_read=self._entries_read,
                path=self._path,
            ) from exc
        self._meta = self._finish()

    def _document(self, events: Iterator[_Event]) -> Iterator[Exchange]:
        event, _ = next(events, _NO_EVENT)
        if event != "start_map":
            raise self._error("the JSON text is not an object, so it is not a HAR")
        closed = False
        for event, key in events:
            if event == "end_map":
                closed = True
                break
            event, _ = next(events, _NO_EVENT)
            if key != "log":
                _skip(event, events)  # e.g. mitmproxy's old har_extractor {"test_response": …}
            elif event != "start_map":
                # Raised at the end, so that invalid JSON further on is what gets reported.
                self._problem = self._problem or "the HAR 'log' member is not an object"
                _skip(event, events)
            elif self._saw_log:
                self._diag.warn("har.log.duplicate", "a second 'log' object; ignored")
                _skip(event, events)
            else:
                self._saw_log = True
                yield from self._log(events)
        if not closed:
            # yajl reports "premature EOF" first; this guards other ijson backends.
            raise HarTruncated(
                f"truncated JSON after {_count(self._entries_read)}",
                entries_read=self._entries_read,
                path=self._path,
            )
        try:
            for _ in events:  # yajl accepts nothing after the top-level value; reach EOF
                pass
        except ijson.JSONError:
            self._diag.warn(
                "har.file.trailing_data", "data after the end of the HAR's JSON object; ignored"
            )
        if self._problem is not None:
            raise self._error(self._problem)
        if not self._saw_log:
            raise self._error("no HAR 'log' object at the top level; is this a HAR file?")
        if not self._saw_entries:
            raise self._error("the HAR 'log' has no 'entries' array (HAR 1.2 requires one)")

    def _log(self, events: Iterator[_Event]) -> Iterator[Exchange]:
        for event, key in events:
            if event == "end_map":
                return
            event, value = next(events, _NO_EVENT)
            if key == "entries":
                self._saw_entries = True
                if event == "start_array":
                    yield from self._entries(events)
                else:
                    self._problem = self._problem or "the HAR 'log.entries' member is not an array"
                    _skip(event, events)
            elif key == "pages" and event == "start_array":
                self._read_pages(events)
            elif key in ("creator", "browser", "version"):
                self._read_meta(key, _build(event, value, events))
            else:
                _skip(event, events)

    def _entries(self, events: Iterator[_Event]) -> Iterator[Exchange]:
        for event, _ in events:
            if event == "end_array":
                return
            index = self._entries_read
            if event != "start_map":
                _skip(event, events)
                self._entries_read += 1
                self._diag.warn(
                    "har.entry.not_object",
                    "a log.entries item that is not an object; skipped",
                    sample=f"entry {index}",
                )
                continue
            entry = _build_container({}, events)
            self._entries_read += 1
            if self._producer is UNKNOWN and (hint := entry_hint(entry)):
                self._hints[hint] += 1  # only consulted when no creator names the producer
            yield convert_entry(index, entry, self._producer, self._diag)

    def _read_pages(self, events: Iterator[_Event]) -> None:
        for index, (event, value) in enumerate(events):
            if event == "end_array":
                return
            page = convert_page(index, _build(event, value, events), self._diag)
            if page is not None:
                self._pages.append(page)

    def _read_meta(self, key: str, value: Any) -> None:
        if key == "version":
            self._version = value if isinstance(value, str) else None
            return
        member = value if isinstance(value, dict) else {}
        if key == "browser":
            self._browser = member
            return
        self._creator = member
        name = member.get("name")
        self._producer = producer_for_creator(name if isinstance(name, str) else None)
        if self._entries_read:
            self._diag.warn(
                "har.log.creator_after_entries",
                "log.creator comes after the entries, so producer quirks (timings, decoded "
                "bodies) were not applied to them",
            )

    def _finish(self) -> CaptureMeta:
        name, version = _text(self._creator.get("name")), _text(self._creator.get("version"))
        producer = self._producer.key
        if producer == UNKNOWN.key:
            producer = most_hinted(self._hints) or UNKNOWN.key
        browser = " ".join(
            part
            for part in (_text(self._browser.get("name")), _text(self._browser.get("version")))
            if part
        )
        return CaptureMeta(
            format="har",
            producer=producer,
            producer_name=name or None,
            producer_version=version or None,
            browser=browser or None,
            format_version=self._version,
            pages=tuple(self._pages),
            entries=self._entries_read,
        )

    # --- errors -----------------------------------------------------------------------------

    def _error(self, message: str) -> HarReadError:
        return HarReadError(message, entries_read=self._entries_read, path=self._path)

    def _json_error(self, exc: ijson.JSONError) -> CaptureError:
        """One line from yajl's three-line message (reason, context, caret)."""
        raw = exc.args[0] if exc.args else b""
        text = raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogateescape")
        lines = text.split(b"\n")
        reason = lines[0].decode("utf-8", "replace").strip()
        reason = reason.removeprefix("parse error: ").removeprefix("lexical error: ").rstrip(".")
        read = self._entries_read
        if reason.startswith("premature EOF"):
            return HarTruncated(
                f"truncated JSON after {_count(read)} (the text stops at byte {self._tap.end})",
                entries_read=read,
                path=self._path,
            )
        offset = _yajl_offset(lines[1], self._tap.last) if len(lines) > 1 else None
        # yajl stops at the end of the offending token, so the byte is "near", not "at".
        where = (
            f"near byte {self._tap.start + offset}"
            if offset is not None
            else f"between bytes {self._tap.start} and {self._tap.end}"
        )
        if reason.startswith("integer overflow"):
            # use_float=True makes yajl2_c read integers as int64 (ijson's "int64" capability):
            # valid JSON, but beyond what this parser accepts. Nothing in any real HAR yet.
            reason = "an integer beyond the 64-bit range this reader accepts"
        after = f" ({_count(read)} read before it)" if read else ""
        return HarReadError(
            f"not valid JSON {where}: {reason}{after}", entries_read=read, path=self._path
        )


def read_har(path: Path, diag: Diagnostics) -> tuple[CaptureMeta, list[Exchange]]:
    """Read a whole (compressed, BOM-prefixed …) HAR file into a list: for tests and small
    files. Raises :class:`~archcmp.errors.UnknownFormat` when ``path`` is not a HAR."""
    with open_capture(path) as capture:
        if capture.format != "har":
            raise UnknownFormat(f"a {capture.format} capture, not a HAR", path=str(path))
        reader = HarReader(capture.stream, diag, name=str(path))
        exchanges = list(reader.exchanges())
    return reader.meta, exchanges


# --- JSON plumbing ----------------------------------------------------------------------------


class _Tap:
    """The stream as ijson sees it, remembering the last chunk to place yajl's errors."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.start = 0
        """Offset of :attr:`last` in the JSON text."""
        self.last = b""

    @property
    def end(self) -> int:
        return self.start + len(self.last)

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.start += len(self.last)
        self.last = data
        return data


def _parse(tap: _Tap) -> Iterator[_Event]:
    """ijson's parse events of the stream, read :data:`_READ_SIZE` at a time, or in doubling
    reads (up to :data:`_MAX_READ_SIZE`) while a read completes no event.

    yajl re-lexes a token cut by a read boundary from its start on every read, so one string
    of n bytes costs n²/read-size: a HAR with a 16 MiB body took 0.65 s to lex, 64 MiB ~10 s,
    for 0.03 s read whole (issue 8 scaling run). Reads that double while no event comes make
    that linear; ijson's push interface (``basic_parse_coro``) takes chunks of any size. The
    events come out in batches, one per read, which costs ~15 % over the pull interface on a
    HAR of ordinary tokens.
    """
    events: list[_Event] = ijson.sendable_list()
    parser = ijson.basic_parse_coro(events, use_float=True)
    size = _READ_SIZE
    try:
        while chunk := tap.read(size):
            parser.send(chunk)
            if events:
                yield from events
                del events[:]
                size = _READ_SIZE
            else:
                size = min(size * 2, _MAX_READ_SIZE)
        parser.close()  # the end of the text: "premature EOF" inside a value
    except (ijson.JSONError, UnicodeDecodeError):
        yield from events  # what the failing read parsed before the error, as a pull would
        raise
    yield from events


def _yajl_offset(context: bytes, chunk: bytes) -> int | None:
    """Where in ``chunk`` yajl stopped, from the context line of its verbose message.

    yajl_render_error_string (yajl 2, ``yajl_parser.c``) prints ``chunk[offset-30:offset+30]``
    with CR/LF shown as spaces, left-padded so that ``offset`` falls in column 40 (pad
    ``40 - offset`` when offset < 30, else 10). Render each candidate the same way until one
    matches: slow, but only on the error path, and it gives an exact byte.
    """
    flat = chunk.replace(b"\n", b" ").replace(b"\r", b" ")
    for offset in range(len(flat) + 1):
        pad = 40 - offset if offset < 30 else 10
        if context == b" " * pad + flat[max(0, offset - 30) : offset + 30]:
            return offset
    return None


def _build(event: str, value: Any, events: Iterator[_Event]) -> Any:
    """The JSON value that starts with (event, value)."""
    if event == "start_map":
        return _build_container({}, events)
    if event == "start_array":
        return _build_container([], events)
    return value


def _build_container(root: dict[str, Any] | list[Any], events: Iterator[_Event]) -> Any:
    """Finish the object or array ``root`` whose start event was just read.

    ``ijson.ObjectBuilder`` inlined: one method call per event is most of the cost of building
    entries in Python (0.89 s → 0.48 s on the benchmark in the module docstring).
    """
    stack: list[Any] = [root]
    top: Any = root
    key: Any = None
    for event, value in events:
        if event == "map_key":
            key = value
        elif event == "start_map" or event == "start_array":
            child: Any = {} if event == "start_map" else []
            if type(top) is list:
                top.append(child)
            else:
                top[key] = child
            stack.append(child)
            top = child
        elif event == "end_map" or event == "end_array":
            stack.pop()
            if not stack:
                return root
            top = stack[-1]
        elif type(top) is list:
            top.append(value)
        else:
            top[key] = value
    return root  # unreachable: yajl raises "premature EOF" before the events run out


def _skip(event: str, events: Iterator[_Event]) -> None:
    """Consume the JSON value that starts with ``event`` without building it."""
    if event != "start_map" and event != "start_array":
        return
    depth = 1
    for event, _ in events:
        if event == "start_map" or event == "start_array":
            depth += 1
        elif event == "end_map" or event == "end_array":
            depth -= 1
            if not depth:
                return


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(entries: int) -> str:
    return "1 entry" if entries == 1 else f"{entries} entries"
