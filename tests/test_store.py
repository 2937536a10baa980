"""Tests for archcmp.store: round trips, identity, lookups, migrations, failures, crashes, WAL."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
import threading
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from archcmp.errors import StoreError
from archcmp.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Store,
    StoredAnalysis,
    default_store_path,
)

T0 = datetime(2025, 11, 24, 10, 40, 54, 547000, tzinfo=UTC)


def doc(
    sha: str, *, producer: str = "chromium", exchanges: int = 21, **extra: Any
) -> dict[str, Any]:
    """A small document shaped like ``archcmp.analysis/1``."""
    return {
        "schema": "archcmp.analysis/1",
        "tool": {"name": "archcmp", "version": "0.1.0"},
        "capture": {
            "name": "capture.har",
            "sha256": sha,
            "format": "har",
            "producer": producer,
            "exchanges": exchanges,
            "decryption": None,
            "warnings": [],
        },
        "protocols": {"h2": exchanges},
        "exchanges": [],
        **extra,
    }


SHA_A = "a" * 64
SHA_B = "b" * 64
# two hashes sharing a 7-digit prefix, for ambiguity
SHA_C1 = "c0ffee1" + "1" * 57
SHA_C2 = "c0ffee1" + "2" * 57


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ws" / ".archcmp" / "archcmp.db"


@pytest.fixture
def store(db: Path) -> Any:
    with Store.open(db) as opened:
        yield opened


# --------------------------------------------------------------------------------------------
# Round trip and identity
# --------------------------------------------------------------------------------------------


def test_round_trip(store: Store, db: Path) -> None:
    document = doc(
        SHA_A, services=[{"name": "chat", "latency_ms": {"p50": 180.0}}], note="ünïcödé ✓"
    )
    saved = store.save(document, name="", source_path="/home/me/caps/capture.har", now=T0)
    assert db.parent.is_dir()
    got = store.get(SHA_A)
    assert got == saved
    assert got.document == document
    assert (got.sha256, got.name, got.source) == (SHA_A, "capture.har", "capture.har")
    assert (got.format, got.producer, got.exchanges) == ("har", "chromium", 21)
    assert got.created_at == "2025-11-24T10:40:54.547000Z"
    assert datetime.fromisoformat(got.created_at) == T0
    assert (got.tool_version, got.schema) == ("0.1.0", "archcmp.analysis/1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.name = "x"  # type: ignore[misc]
    assert "document" not in repr(got)


def test_document_is_stored_as_compressed_compact_sorted_json(store: Store, db: Path) -> None:
    document = doc(SHA_A, zeta=1, alpha="é")
    store.save(document, name="n", source_path="c.har", now=T0)
    raw = sqlite3.connect(db).execute("SELECT document FROM analyses").fetchone()[0]
    assert isinstance(raw, bytes)
    text = zlib.decompress(raw).decode("utf-8")
    assert text == json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def test_uncompressed_rows_of_earlier_versions_still_read(store: Store, db: Path) -> None:
    document = doc(SHA_A)
    store.save(document, name="n", source_path="c.har", now=T0)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE analyses SET document = ?", (json.dumps(document),))
    assert store.get("n").document == document


def test_created_at_is_normalised_to_utc(store: Store) -> None:
    paris = timezone(timedelta(hours=1))
    saved = store.save(
        doc(SHA_A), name="n", source_path="c.har", now=datetime(2025, 1, 1, 12, 0, tzinfo=paris)
    )
    assert saved.created_at == "2025-01-01T11:00:00.000000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        store.save(doc(SHA_B), name="n", source_path="c.har", now=datetime(2025, 1, 1))


def test_saving_the_same_capture_again_is_a_no_op(store: Store) -> None:
    first = store.save(doc(SHA_A), name="first", source_path="a.har", now=T0)
    again = store.save(
        doc(SHA_A, producer="firefox"),
        name="second",
        source_path="b.har",
        now=T0 + timedelta(hours=1),
    )
    assert again == first
    assert [a.name for a in store.list()] == ["first"]
    assert store.get(SHA_A).producer == "chromium"


def test_replace_overwrites(store: Store) -> None:
    first = store.save(doc(SHA_A), name="first", source_path="a.har", now=T0)
    later = T0 + timedelta(hours=1)
    replaced = store.save(
        doc(SHA_A, producer="firefox"), name="second", source_path="b.har", now=later, replace=True
    )
    assert replaced.id != first.id
    assert (replaced.name, replaced.producer) == ("second", "firefox")
    assert datetime.fromisoformat(replaced.created_at) == later
    assert [a.sha256 for a in store.list()] == [SHA_A]


def test_has(store: Store) -> None:
    assert not store.has(SHA_A)
    store.save(doc(SHA_A), name="n", source_path="c.har", now=T0)
    assert store.has(SHA_A) and store.has(SHA_A.upper()) and not store.has(SHA_B)


def test_a_document_without_sha256_is_refused(store: Store) -> None:
    bads: list[dict[str, Any]] = [
        {},
        {"capture": {}},
        {"capture": {"sha256": "xyz"}},
        {"capture": []},
    ]
    for bad in bads:
        with pytest.raises(StoreError, match=r"capture\.sha256"):
            store.save(bad, name="n", source_path="c.har", now=T0)


def test_non_json_documents_are_bugs_and_write_nothing(store: Store) -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        store.save(doc(SHA_A, p50=float("nan")), name="n", source_path="c.har", now=T0)
    with pytest.raises(TypeError):
        store.save(doc(SHA_A, when=T0), name="n", source_path="c.har", now=T0)
    assert store.list() == []


# --------------------------------------------------------------------------------------------
# Lookups
# --------------------------------------------------------------------------------------------


@pytest.fixture
def filled(store: Store) -> Store:
    store.save(doc(SHA_A), name="alpha", source_path="/x/alpha.har", now=T0)
    store.save(doc(SHA_B), name="beta", source_path="/x/beta.har", now=T0 + timedelta(minutes=1))
    store.save(doc(SHA_C1), name="c1", source_path="/x/capture.har", now=T0 + timedelta(minutes=2))
    store.save(doc(SHA_C2), name="c2", source_path="/y/capture.har", now=T0 + timedelta(minutes=3))
    return store


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("alpha", "alpha"),
        ("beta.har", "beta"),
        (SHA_B, "beta"),
        (SHA_B.upper(), "beta"),
        ("aaaaaa", "alpha"),
        ("AAAAAAA", "alpha"),
        ("c0ffee11", "c1"),
        ("c0ffee12", "c2"),
        (SHA_C2, "c2"),
        (" alpha ", "alpha"),
    ],
)
def test_get_by_name_file_sha_and_prefix(filled: Store, ref: str, name: str) -> None:
    assert filled.get(ref).name == name


def test_ambiguous_prefix_lists_candidates_on_one_line(filled: Store) -> None:
    with pytest.raises(StoreError) as info:
        filled.get("c0ffee1")
    message = str(info.value)
    assert (
        "ambiguous" in message and "c1 (c0ffee111111" in message and "c2 (c0ffee122222" in message
    )
    assert "\n" not in message


def test_ambiguous_file_name(filled: Store) -> None:
    with pytest.raises(StoreError, match=r"'capture\.har' is ambiguous: it matches c2 .*, c1 "):
        filled.get("capture.har")


def test_unknown_ref_lists_what_is_stored(filled: Store) -> None:
    with pytest.raises(StoreError, match=r"no analysis matches 'gamma'; stored: c2 \(") as info:
        filled.get("gamma")
    assert "\n" not in str(info.value)
    with pytest.raises(StoreError, match="no analysis matches 'aaaaa'"):
        filled.get("aaaaa")  # 5 hex digits: too short to be a prefix


def test_unknown_ref_in_empty_store(store: Store) -> None:
    with pytest.raises(StoreError, match="the store is empty"):
        store.get("alpha")


def test_list_is_newest_first_and_latest(filled: Store) -> None:
    assert [a.name for a in filled.list()] == ["c2", "c1", "beta", "alpha"]
    assert filled.latest().name == "c2"


def test_latest_of_empty_store(store: Store) -> None:
    with pytest.raises(StoreError, match="empty"):
        store.latest()


def test_delete(filled: Store) -> None:
    deleted = filled.delete("beta")
    assert deleted.sha256 == SHA_B and not filled.has(SHA_B)
    with pytest.raises(StoreError, match="no analysis matches"):
        filled.delete("beta")
    with pytest.raises(StoreError, match="ambiguous"):
        filled.delete("capture.har")
    assert len(filled.list()) == 3


# --------------------------------------------------------------------------------------------
# Schema versions and migrations
# --------------------------------------------------------------------------------------------


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])


def test_new_store_is_at_current_version_in_wal_mode(store: Store, db: Path) -> None:
    assert _version(db) == SCHEMA_VERSION == len(MIGRATIONS)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_empty_file_is_version_zero(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    with Store.open(db) as store:
        assert store.list() == []
    assert _version(db) == SCHEMA_VERSION


def test_migrates_an_old_shaped_database(db: Path) -> None:
    """A store written by the first release (schema version 1) upgrades with its rows intact."""
    db.parent.mkdir(parents=True)
    old_document = doc(SHA_A)
    with sqlite3.connect(db) as conn:
        first = MIGRATIONS[0]
        assert isinstance(first, tuple)
        for statement in first:
            conn.execute(statement)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute(
            "INSERT INTO analyses (sha256, name, source, format, producer, exchanges, created_at, "
            "document) VALUES (?, 'old', 'old.har', 'har', 'chromium', 21, ?, ?)",
            (SHA_A, "2024-01-01T00:00:00.000000Z", json.dumps(old_document)),
        )
        conn.execute(
            "INSERT INTO analyses (sha256, name, source, format, producer, exchanges, created_at, "
            "document) VALUES (?, 'broken', 'b.har', 'har', 'x', 0, ?, 'not json')",
            (SHA_B, "2024-01-02T00:00:00.000000Z"),
        )
    with Store.open(db) as store:
        old = store.get("old")
        assert old.document == old_document
        assert (old.tool_version, old.schema) == ("0.1.0", "archcmp.analysis/1")  # backfilled
        with pytest.raises(StoreError, match="not valid JSON"):
            store.get("broken")
    assert _version(db) == SCHEMA_VERSION
    with sqlite3.connect(db) as conn:
        indexes = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
    assert {"analyses_name", "analyses_created"} <= indexes


def test_secrets_kept_is_recorded_and_old_rows_count_as_kept(store: Store, db: Path) -> None:
    """Issue 8 canary: a document analysed with --unsafe-keep-secrets was shown by every later
    command, flag or not; the store now says which documents kept their secrets. Rows from
    before the column (and callers that do not say) count as kept, so they get redacted."""
    store.save(doc(SHA_A), name="safe", source_path="a.har", now=T0, secrets_kept=False)
    store.save(doc(SHA_B), name="kept", source_path="b.har", now=T0, secrets_kept=True)
    store.save(doc(SHA_C1), name="unsaid", source_path="c.har", now=T0)
    assert [store.get(n).secrets_kept for n in ("safe", "kept", "unsaid")] == [False, True, True]
    replaced = store.save(doc(SHA_B), name="kept", source_path="b.har", now=T0, replace=True,
                          secrets_kept=False)
    assert not replaced.secrets_kept and not store.get("kept").secrets_kept
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_version SET version = 2")
        conn.execute("ALTER TABLE analyses DROP COLUMN secrets_kept")
    with Store.open(db) as reopened:  # migration 3 on rows of unknown provenance
        assert all(a.secrets_kept for a in reopened.list())


def test_replaced_documents_are_zeroed_on_disk(store: Store, db: Path) -> None:
    """A document replaced with --force (say, an unsafe analysis re-run safely) does not
    survive in the database file's free pages (PRAGMA secure_delete): without the pragma the
    first overflow pages of the old zlib stream still inflate to the secret."""
    from tests.test_canary import inflate_anywhere

    secret = "sk-ant-api03-" + "Q" * 40
    noise = [os.urandom(16).hex() for _ in range(2000)]  # incompressible: spans many pages
    store.save(doc(SHA_A, pad=[secret, *noise]), name="a", source_path="a.har", now=T0)
    store.save(doc(SHA_A), name="a", source_path="a.har", now=T0, replace=True)
    assert store._conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    store.close()
    data = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.is_file())
    assert secret.encode() not in data
    assert not any(secret in text for text in inflate_anywhere(data))


def test_failed_migration_rolls_back_that_step(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE analyses SET name = 'half-done'")
        raise sqlite3.OperationalError("disk I/O error")

    import archcmp.store as store_module

    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS[:2], explode))
    with pytest.raises(StoreError, match="disk I/O error"):
        Store.open(db)
    assert _version(db) == 2  # steps 1 and 2 committed, step 3 rolled back
    monkeypatch.undo()
    with Store.open(db) as store:
        assert store.list() == []
    assert _version(db) == SCHEMA_VERSION


def test_future_schema_version_is_refused(db: Path) -> None:
    with Store.open(db):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 7,))
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 7}, newer than"):
        Store.open(db)
    assert _version(db) == SCHEMA_VERSION + 7  # left as it was


# --------------------------------------------------------------------------------------------
# Broken files and directories: StoreError, never sqlite3 errors
# --------------------------------------------------------------------------------------------


def test_garbage_file_is_a_store_error(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(os.urandom(8192))
    with pytest.raises(StoreError) as info:
        Store.open(db)
    assert str(db) in str(info.value)
    assert "file is not a database" in str(info.value)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)


def test_store_under_a_file_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the store directory"):
        Store.open(blocker / "archcmp.db")


def test_store_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="unable to open database file"):
        Store.open(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="unable to open database file"):
            Store.open(locked / "archcmp.db")
    finally:
        locked.chmod(0o700)


def test_locked_database_is_a_store_error(db: Path) -> None:
    with Store.open(db):
        pass
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with (
            Store.open(db, timeout=0.05) as store,
            pytest.raises(StoreError, match="database is locked"),
        ):
            store.save(doc(SHA_A), name="n", source_path="c.har", now=T0)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_closed_store_raises_store_error(db: Path) -> None:
    with Store.open(db) as store:
        pass
    with pytest.raises(StoreError, match="closed"):
        store.list()


# --------------------------------------------------------------------------------------------
# Crash atomicity
# --------------------------------------------------------------------------------------------


def test_failure_mid_transaction_keeps_the_previous_state(store: Store, db: Path) -> None:
    """The replace deletes, then the insert fails (a trigger): the old row must survive."""
    store.save(doc(SHA_A), name="kept", source_path="a.har", now=T0)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER fail_insert BEFORE INSERT ON analyses "
            "BEGIN SELECT RAISE(ABORT, 'simulated failure'); END"
        )
    with pytest.raises(StoreError, match="simulated failure"):
        store.save(
            doc(SHA_A, producer="new"), name="new", source_path="a.har", now=T0, replace=True
        )
    kept = store.get(SHA_A)
    assert (kept.name, kept.producer) == ("kept", "chromium")


class _InterruptBeforeInsert:
    """Wraps the store's connection; raises KeyboardInterrupt where the INSERT would run."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql.startswith("INSERT INTO analyses"):
            raise KeyboardInterrupt
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_interrupt_between_statements_rolls_back(store: Store) -> None:
    store.save(doc(SHA_A), name="kept", source_path="a.har", now=T0)
    real = store._conn
    store._conn = _InterruptBeforeInsert(real)  # type: ignore[assignment]
    with pytest.raises(KeyboardInterrupt):
        store.save(
            doc(SHA_A, producer="new"), name="new", source_path="a.har", now=T0, replace=True
        )
    store._conn = real
    assert not real.in_transaction
    assert store.get(SHA_A).name == "kept"
    store.save(doc(SHA_B), name="after", source_path="b.har", now=T0)  # still usable
    assert store.has(SHA_B)


def test_process_killed_mid_transaction_leaves_previous_state(store: Store, db: Path) -> None:
    store.save(doc(SHA_A), name="kept", source_path="a.har", now=T0)
    script = (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "conn.execute('DELETE FROM analyses')\n"
        'conn.execute("INSERT INTO analyses (sha256, name, source, format, producer, exchanges, '
        "created_at, document) VALUES ('" + SHA_B + "', 'x', 'x', 'har', 'x', 0, 'x', '{}')\")\n"
        "os._exit(9)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(db)], check=False)
    assert result.returncode == 9
    with Store.open(db) as reopened:
        assert [a.name for a in reopened.list()] == ["kept"]


# --------------------------------------------------------------------------------------------
# Concurrency (WAL)
# --------------------------------------------------------------------------------------------


def test_reader_snapshot_does_not_block_the_writer(store: Store, db: Path) -> None:
    """In WAL a reader in a transaction keeps its snapshot while a writer commits beside it;
    with a rollback journal the commit would wait for the reader and fail with 'locked'."""
    store.save(doc(SHA_A), name="one", source_path="a.har", now=T0)
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM analyses").fetchone()[0] == 1
        with Store.open(db, timeout=0.2) as writer:
            writer.save(doc(SHA_B), name="two", source_path="b.har", now=T0)
        assert reader.execute("SELECT count(*) FROM analyses").fetchone()[0] == 1  # snapshot
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM analyses").fetchone()[0] == 2
    finally:
        reader.close()
    with Store.open(db) as other:
        assert {a.name for a in other.list()} == {"one", "two"}


def test_readers_and_a_writer_in_threads(db: Path) -> None:
    with Store.open(db):
        pass
    errors: list[BaseException] = []
    seen: dict[str, list[int]] = {"r1": [], "r2": []}
    done = threading.Event()

    def write() -> None:
        try:
            with Store.open(db) as writer:
                for i in range(40):
                    writer.save(
                        doc(f"{i:064x}"),
                        name=f"n{i}",
                        source_path="c.har",
                        now=T0 + timedelta(seconds=i),
                    )
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised by the test
            errors.append(exc)
        finally:
            done.set()

    def read(label: str) -> None:
        try:
            with Store.open(db) as reader:
                while not done.is_set():
                    listed = reader.list()
                    assert all(isinstance(a, StoredAnalysis) for a in listed)
                    seen[label].append(len(listed))
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised by the test
            errors.append(exc)

    threads = [
        threading.Thread(target=write),
        threading.Thread(target=read, args=("r1",)),
        threading.Thread(target=read, args=("r2",)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    for counts in seen.values():
        assert counts and counts == sorted(counts)  # each reader sees only whole, growing states
    with Store.open(db) as store:
        assert len(store.list()) == 40


# --------------------------------------------------------------------------------------------
# Where the store lives
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "/work/proj/.archcmp/archcmp.db"),
        ({"ARCHCMP_STORE": ""}, "/work/proj/.archcmp/archcmp.db"),
        ({"ARCHCMP_STORE": "  "}, "/work/proj/.archcmp/archcmp.db"),
        ({"ARCHCMP_STORE": "data/a.db"}, "/work/proj/data/a.db"),
        ({"ARCHCMP_STORE": "/var/lib/archcmp.db"}, "/var/lib/archcmp.db"),
    ],
)
def test_default_store_path(env: dict[str, str], expected: str) -> None:
    assert default_store_path(env, Path("/work/proj")) == Path(expected)


def test_default_store_path_expands_home() -> None:
    got = default_store_path({"ARCHCMP_STORE": "~/x.db"}, Path("/work/proj"))
    assert got == Path.home() / "x.db"
