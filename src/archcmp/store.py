"""The workspace store: analysis documents in an embedded SQLite database.

Why SQLite: one file, no server, transactions that survive a crash (WAL), and many readers beside
one writer, so ``archcmp report`` can read while ``archcmp analyze`` writes. The store keeps each
analysis document (``archcmp.analysis/1``, already built and redacted by the caller) as compact
JSON text, keyed by the capture's SHA-256 and nothing else: analysing the same bytes twice is a
no-op unless the caller asks to replace. A few fields are copied into columns (name, source file,
format, producer, counts, times, versions) so ``list`` and lookups need not parse documents.

Rules this module keeps:

* **Every write is one transaction** (``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any
  exception, ``KeyboardInterrupt`` included): a crash leaves the previous state.
* **Versioned schema.** ``schema_version`` holds the number of :data:`MIGRATIONS` applied; each
  migration runs in its own transaction. A database newer than this code is refused rather than
  misread.
* **No sqlite3 error escapes.** Each becomes a :class:`~archcmp.errors.StoreError` naming the
  database path (``file is not a database``, ``database is locked``, ``unable to open database
  file``), chained with ``from``.
* **No clock inside.** Callers pass ``now``; tests and replays stay deterministic.
* **Secrets.** Documents arrive redacted (:mod:`archcmp.redact`); one saved with
  ``--unsafe-keep-secrets`` is marked ``secrets_kept``, so the CLI redacts it again before a
  command without the flag shows it. ``secure_delete`` zeroes replaced documents on disk.
"""

from __future__ import annotations

import json
import re
import sqlite3
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath
from types import TracebackType
from typing import Any, Self

from archcmp.errors import StoreError

__all__ = [
    "DEFAULT_STORE",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STORE_ENV",
    "Store",
    "StoredAnalysis",
    "default_store_path",
]

#: Where the store lives unless ``--store`` or :data:`STORE_ENV` say otherwise (relative to cwd).
DEFAULT_STORE = Path(".archcmp") / "archcmp.db"
#: Environment variable naming the store database.
STORE_ENV = "ARCHCMP_STORE"
#: How long a connection waits for another process's write lock before giving up (seconds).
BUSY_TIMEOUT_S = 5.0
#: A sha256 prefix must be this long to be used as a reference (git's minimum abbreviation is 4;
#: 6 hex digits make an accidental match among a workspace's analyses vanishingly unlikely).
MIN_PREFIX = 6
#: Candidates listed in an "ambiguous" or "unknown" message, to keep it one readable line.
MAX_CANDIDATES = 5

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_HEX_RE = re.compile(r"[0-9a-fA-F]+")


def default_store_path(env: Mapping[str, str], cwd: Path) -> Path:
    """The store path from the environment: ``$ARCHCMP_STORE``, else ``./.archcmp/archcmp.db``.

    A relative path is taken relative to ``cwd``; ``~`` is expanded. ``--store`` on the command
    line takes precedence, which is the CLI's business.
    """
    configured = env.get(STORE_ENV, "").strip()
    path = Path(configured).expanduser() if configured else DEFAULT_STORE
    return path if path.is_absolute() else cwd / path


# --------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------

Migration = tuple[str, ...] | Callable[[sqlite3.Connection], None]


def _backfill_versions(conn: sqlite3.Connection) -> None:
    """Migration 2: copy ``schema`` and ``tool.version`` out of each stored document.

    Python rather than ``json_extract`` so the store does not depend on SQLite's JSON1 build
    option; a document that is not valid JSON keeps the empty defaults.
    """
    rows = conn.execute("SELECT id, document FROM analyses").fetchall()
    for row_id, text in rows:
        try:
            document = json.loads(zlib.decompress(text) if isinstance(text, bytes) else text)
        except ValueError:
            continue  # unreadable rows are reported by get(), not by the migration
        if not isinstance(document, dict):
            continue
        tool = document.get("tool")
        version = tool.get("version") if isinstance(tool, dict) else None
        schema = document.get("schema")
        conn.execute(
            "UPDATE analyses SET tool_version = ?, schema = ? WHERE id = ?",
            (
                version if isinstance(version, str) else "",
                schema if isinstance(schema, str) else "",
                row_id,
            ),
        )


#: Ordered schema changes; ``schema_version`` = how many have run. Append, never edit or reorder:
#: a shipped migration has already run on users' workspaces. Each is a tuple of SQL statements
#: or a function, run in one transaction of its own.
MIGRATIONS: tuple[Migration, ...] = (
    # 1: the analyses table, one row per capture (identity: the capture's sha256)
    (
        """CREATE TABLE analyses (
               id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused after a delete
               sha256     TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
               name       TEXT NOT NULL,
               source     TEXT NOT NULL,
               format     TEXT NOT NULL,
               producer   TEXT NOT NULL,
               exchanges  INTEGER NOT NULL,
               created_at TEXT NOT NULL,
               document   TEXT NOT NULL
           )""",
    ),
    # 2: versions as columns, so report/diff can refuse incompatible documents without parsing
    # them, and indexes for lookups by name and "newest first"
    (
        "ALTER TABLE analyses ADD COLUMN tool_version TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE analyses ADD COLUMN schema TEXT NOT NULL DEFAULT ''",
        "CREATE INDEX analyses_name ON analyses (name)",
        "CREATE INDEX analyses_source ON analyses (source)",
        "CREATE INDEX analyses_created ON analyses (created_at, id)",
    ),
    _backfill_versions,
    # 3: whether the document kept its secrets (``--unsafe-keep-secrets``), so that a later
    # command without the flag redacts it before showing it. Rows written before this column
    # may or may not have kept them: they count as kept (the default) and are redacted.
    ("ALTER TABLE analyses ADD COLUMN secrets_kept INTEGER NOT NULL DEFAULT 1",),
)
SCHEMA_VERSION = len(MIGRATIONS)

_COLUMNS = (
    "id, sha256, name, source, format, producer, exchanges, created_at, tool_version, schema, "
    "secrets_kept, document"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredAnalysis:
    """One analysis as the store holds it."""

    id: int
    """Row id, never reused; a replaced analysis gets a new one. Refer to analyses by sha256."""
    sha256: str
    """SHA-256 of the capture file, lowercase hex: the store's identity key."""
    name: str
    """The user's label (``--name``), or the capture's file name."""
    source: str
    """File name of the capture as given (no directories: they reveal the user's layout)."""
    format: str
    """``har``, ``pcap`` or ``pcapng``."""
    producer: str
    """``chromium``, ``mitmproxy``, … or ``unknown``."""
    exchanges: int
    """HTTP exchanges found in the capture."""
    created_at: str
    """When the analysis was saved: ISO 8601 UTC, fixed width (``2025-11-24T10:40:54.547000Z``),
    so text order is time order; ``datetime.fromisoformat`` reads it back."""
    tool_version: str
    """archcmp version that built the document (``tool.version``)."""
    schema: str
    """Document schema (``archcmp.analysis/1``)."""
    secrets_kept: bool
    """The document was saved unredacted (``--unsafe-keep-secrets``), or before archcmp recorded
    this: a writer must pass it through :mod:`archcmp.redact` unless it was given the flag."""
    document: dict[str, Any] = field(repr=False)
    """The analysis document, as saved (left out of ``repr``: it can be megabytes)."""


def _iso(now: datetime) -> str:
    """UTC ISO 8601 with microseconds and ``Z``: fixed width, so text order is time order."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (pass datetime.now(UTC))")
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------------------------
# Store
# --------------------------------------------------------------------------------------------


class Store:
    """A workspace store; open with ``with Store.open(path) as store:``.

    One connection, used from the thread that opened it. Other processes may read and write the
    same file concurrently: SQLite's WAL lets readers proceed beside the one writer, and writers
    wait up to :data:`BUSY_TIMEOUT_S` for each other.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        """Use :meth:`open`; this wraps an already migrated connection."""
        self._conn = conn
        self.path = path

    # -- lifecycle --------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str, *, timeout: float = BUSY_TIMEOUT_S) -> Store:
        """Open (creating it and its directory if needed) and migrate the store at ``path``."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store directory: {exc.strerror or exc}", path=str(path)
            ) from exc
        conn: sqlite3.Connection | None = None
        try:
            # isolation_level=None: no implicit transactions; every write says BEGIN IMMEDIATE.
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            conn.execute("PRAGMA foreign_keys = ON")
            # WAL: readers never block the writer nor see half a transaction (sqlite.org/wal.html).
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            # In WAL mode NORMAL keeps every transaction atomic; only the last commits before a
            # power loss may roll back, which a re-run of analyze repairs.
            conn.execute("PRAGMA synchronous = NORMAL")
            # A replaced or deleted document is overwritten with zeros, not left in free pages:
            # one analysed with --unsafe-keep-secrets must not outlive its replacement.
            conn.execute("PRAGMA secure_delete = ON")
            _migrate(conn, path)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"cannot open the store: {exc}", path=str(path)) from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        """Close the connection; committed data is already on disk."""
        with self._errors("close the store"):
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writes -----------------------------------------------------------------------------

    def save(
        self,
        document: dict[str, Any],
        *,
        name: str,
        source_path: str,
        now: datetime,
        replace: bool = False,
        secrets_kept: bool = True,
    ) -> StoredAnalysis:
        """Store ``document`` under its ``capture.sha256``, in one transaction.

        An analysis of the same capture already stored is kept and returned unchanged unless
        ``replace`` is true; then it is replaced (with a new id and ``created_at``). ``name`` is
        the user's label (empty → the file name of ``source_path``). The document must be JSON:
        a non-JSON value (or NaN, which JSON lacks) is a bug in the caller and raises
        ``TypeError``/``ValueError`` before anything is written. ``secrets_kept=False`` is the
        caller's word that ``document`` went through the redaction layer; anything else is
        redacted again by every writer not given ``--unsafe-keep-secrets``.
        """
        sha256 = _document_sha256(document, self.path)
        capture = document.get("capture")
        capture = capture if isinstance(capture, dict) else {}
        tool = document.get("tool")
        tool = tool if isinstance(tool, dict) else {}
        source = PurePath(source_path).name or source_path
        exchanges = capture.get("exchanges")
        count = exchanges if type(exchanges) is int else 0
        row = {
            "sha256": sha256,
            "name": name or source,
            "source": source,
            "format": _text(capture.get("format"), "unknown"),
            "producer": _text(capture.get("producer"), "unknown"),
            "exchanges": count,
            "created_at": _iso(now),
            "tool_version": _text(tool.get("version"), ""),
            "schema": _text(document.get("schema"), ""),
            "secrets_kept": int(secrets_kept),
            # Serialised before the transaction: a bad document never opens one.
            "document": _encode_document(document),
        }
        with self._errors("save the analysis"), self._write():
            existing = self._conn.execute(
                f"SELECT {_COLUMNS} FROM analyses WHERE sha256 = ?", (sha256,)
            ).fetchone()
            if existing is not None:
                if not replace:
                    return self._row(existing)
                self._conn.execute("DELETE FROM analyses WHERE sha256 = ?", (sha256,))
            cursor = self._conn.execute(
                "INSERT INTO analyses (sha256, name, source, format, producer, exchanges, "
                "created_at, tool_version, schema, secrets_kept, document) VALUES (:sha256, "
                ":name, :source, :format, :producer, :exchanges, :created_at, :tool_version, "
                ":schema, :secrets_kept, :document)",
                row,
            )
            row_id = cursor.lastrowid
        if row_id is None:  # pragma: no cover - sqlite3 always sets it after an INSERT
            raise StoreError("the database gave no id for the new analysis", path=str(self.path))
        # The caller's document is what was stored; parsing the blob back would hold a second
        # copy of a possibly very large document just to return it.
        return StoredAnalysis(
            id=row_id,
            sha256=sha256,
            name=str(row["name"]),
            source=source,
            format=str(row["format"]),
            producer=str(row["producer"]),
            exchanges=count,
            created_at=str(row["created_at"]),
            tool_version=str(row["tool_version"]),
            schema=str(row["schema"]),
            secrets_kept=secrets_kept,
            document=document,
        )

    def delete(self, ref: str) -> StoredAnalysis:
        """Delete the analysis ``ref`` names (see :meth:`get`) and return it."""
        with self._errors("delete the analysis"), self._write():
            found = self._resolve(ref)
            self._conn.execute("DELETE FROM analyses WHERE id = ?", (found.id,))
        return found

    # -- reads ------------------------------------------------------------------------------

    def has(self, sha256: str) -> bool:
        """True when an analysis of the capture with this SHA-256 is stored."""
        with self._errors("read the store"):
            row = self._conn.execute(
                "SELECT 1 FROM analyses WHERE sha256 = ?", (sha256.lower(),)
            ).fetchone()
        return row is not None

    def list(self) -> list[StoredAnalysis]:
        """Every stored analysis, newest first (documents included)."""
        with self._errors("read the store"):
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM analyses ORDER BY created_at DESC, id DESC"
            ).fetchall()
        return [self._row(row) for row in rows]

    def latest(self) -> StoredAnalysis:
        """The newest analysis; StoreError when the store is empty."""
        with self._errors("read the store"):
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM analyses ORDER BY created_at DESC, id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            raise StoreError(
                "the store is empty: run `archcmp analyze CAPTURE` first", path=str(self.path)
            )
        return self._row(row)

    def get(self, ref: str) -> StoredAnalysis:
        """The analysis ``ref`` names: a name, a source file name, a sha256 or a unique prefix.

        A full sha256 always wins. Otherwise every analysis whose name or file name equals
        ``ref``, or whose sha256 starts with it (≥ :data:`MIN_PREFIX` hex digits), is a
        candidate; none or several raise StoreError with a one-line list of candidates.
        """
        with self._errors("read the store"):
            return self._resolve(ref)

    # -- internals --------------------------------------------------------------------------

    def _resolve(self, ref: str) -> StoredAnalysis:
        wanted = ref.strip()
        lowered = wanted.lower()
        if _SHA256_RE.fullmatch(lowered):
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM analyses WHERE sha256 = ?", (lowered,)
            ).fetchone()
            if row is not None:
                return self._row(row)
        prefix = lowered if len(lowered) >= MIN_PREFIX and _HEX_RE.fullmatch(lowered) else None
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM analyses WHERE name = ? OR source = ? "
            "OR (? IS NOT NULL AND substr(sha256, 1, length(?)) = ?) "
            "ORDER BY created_at DESC, id DESC",
            (wanted, wanted, prefix, prefix, prefix),
        ).fetchall()
        if len(rows) == 1:
            return self._row(rows[0])
        if rows:
            listed = _candidates(rows)
            raise StoreError(f"{ref!r} is ambiguous: it matches {listed}", path=str(self.path))
        recent = self._conn.execute(
            f"SELECT {_COLUMNS} FROM analyses ORDER BY created_at DESC, id DESC LIMIT ?",
            (MAX_CANDIDATES + 1,),
        ).fetchall()
        known = f"stored: {_candidates(recent)}" if recent else "the store is empty"
        raise StoreError(f"no analysis matches {ref!r}; {known}", path=str(self.path))

    def _row(self, row: tuple[Any, ...]) -> StoredAnalysis:
        (
            row_id,
            sha256,
            name,
            source,
            fmt,
            producer,
            exchanges,
            created_at,
            tool_version,
            schema,
            secrets_kept,
            text,
        ) = row
        try:
            document = json.loads(zlib.decompress(text) if isinstance(text, bytes) else text)
        except (ValueError, zlib.error) as exc:
            raise StoreError(
                f"the stored document of {sha256[:12]} is not valid JSON: {exc}",
                path=str(self.path),
            ) from exc
        if not isinstance(document, dict):
            raise StoreError(
                f"the stored document of {sha256[:12]} is not a JSON object", path=str(self.path)
            )
        return StoredAnalysis(
            id=row_id,
            sha256=sha256,
            name=name,
            source=source,
            format=fmt,
            producer=producer,
            exchanges=exchanges,
            created_at=created_at,
            tool_version=tool_version,
            schema=schema,
            secrets_kept=bool(secrets_kept),
            document=document,
        )

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction: committed on success, rolled back on any exception.

        ``BEGIN IMMEDIATE`` takes the write lock up front, so a concurrent writer waits (busy
        timeout) at the start instead of failing at commit with a stale read.
        """
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate sqlite3 errors into StoreError naming the database."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {action}: {exc}", path=str(self.path)) from exc


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the database to :data:`SCHEMA_VERSION`, one transaction per migration.

    The version is read without a write lock first, so an up-to-date store on read-only media
    still opens; each step re-reads it under ``BEGIN IMMEDIATE``, so two processes opening a new
    store at once apply every migration exactly once.
    """
    version = _schema_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store has schema version {version}, newer than this archcmp understands "
            f"({SCHEMA_VERSION}); upgrade archcmp or use another --store",
            path=str(path),
        )
    while version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            version = _schema_version(conn)
            if version < SCHEMA_VERSION:
                migration = MIGRATIONS[version]
                if callable(migration):
                    migration(conn)
                else:
                    for statement in migration:
                        conn.execute(statement)
                version += 1
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _schema_version(conn: sqlite3.Connection) -> int:
    """Migrations applied so far; 0 for a new database (no ``schema_version`` table or row)."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


def _encode_document(document: Mapping[str, Any]) -> bytes:
    """Compact JSON, zlib-compressed as it is encoded.

    A document holds a row per exchange: tens of MB for a large capture as text. Top-level lists
    are encoded item by item (each with the C encoder, which only runs one-shot) straight into
    the compressor, so neither the whole text nor its UTF-8 copy is ever in memory; the stored
    blob is about a tenth of the text. The bytes equal ``json.dumps(..., sort_keys=True)``
    compressed. Rows from before compression hold TEXT and are read as they are.
    """
    encoder = json.JSONEncoder(
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    compressor = zlib.compressobj(6)
    out = bytearray()

    def emit(text: str) -> None:
        out.extend(compressor.compress(text.encode("utf-8")))

    emit("{")
    for i, key in enumerate(sorted(document)):
        emit(("," if i else "") + encoder.encode(key) + ":")
        value = document[key]
        if isinstance(value, list):
            emit("[")
            for j, item in enumerate(value):
                emit(("," if j else "") + encoder.encode(item))
            emit("]")
        else:
            emit(encoder.encode(value))
    emit("}")
    out.extend(compressor.flush())
    return bytes(out)


def _document_sha256(document: Mapping[str, Any], path: Path) -> str:
    capture = document.get("capture")
    sha256 = capture.get("sha256") if isinstance(capture, Mapping) else None
    if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256.lower()):
        raise StoreError(
            "the analysis document has no capture.sha256 (64 hex digits); it cannot be stored",
            path=str(path),
        )
    return sha256.lower()


def _text(value: object, default: str) -> str:
    return value if isinstance(value, str) and value else default


def _candidates(rows: list[Any]) -> str:
    """``name (sha256[:12], created)`` for a few rows, then ``…`` if there were more."""
    shown = [f"{row[2]} ({row[1][:12]}, {row[7][:19]}Z)" for row in rows[:MAX_CANDIDATES]]
    more = ", …" if len(rows) > MAX_CANDIDATES else ""
    return ", ".join(shown) + more
