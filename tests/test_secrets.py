"""Secret canary: planted secrets reach nothing archcmp prints, stores or writes.

The alpha captures carry fake credentials in cookies, headers and bodies (``truth.json`` →
``facts.planted_secrets``); we add more in the places the document does quote (URL query,
URL path, the producer's error text) so a leak there would show. ``--unsafe-keep-secrets``
must let them through, which proves the scan can fail.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archcmp.cli import app

runner = CliRunner()

QUERY_TOKEN = "CANARYqueryTOKEN0123456789abcdefXYZ"


def _jwt() -> str:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return (part({"alg": "HS256", "typ": "JWT"}) + "." +
            part({"sub": "canary-user", "exp": 4102444800}) + ".c2lnbmF0dXJlQ0FOQVJZc2ln")


JWT = _jwt()


def _planted(shared: Path) -> list[str]:
    secrets = [QUERY_TOKEN, JWT]
    for truth in sorted((shared / "captures" / "alpha").glob("*/truth.json")):
        secrets += [s["value"] for s in json.loads(truth.read_text())["facts"]["planted_secrets"]]
    return sorted(set(secrets))


def _canary_har(shared: Path, tmp_path: Path) -> Path:
    har = json.loads((shared / "captures" / "alpha" / "chromium-h2" / "capture.har").read_text())
    entries = har["log"]["entries"]
    entries[2]["request"]["url"] += f"?access_token={QUERY_TOKEN}&page=2"
    entries[3]["request"]["url"] = entries[3]["request"]["url"].rstrip("/") + f"/{JWT}"
    entries[4]["_error"] = f"net::ERR_FAILED while sending Authorization: Bearer {JWT}"
    path = tmp_path / "canary.har"
    path.write_text(json.dumps(har))
    return path


def _everything_written(store: Path, *outputs: str) -> str:
    """Every output, every file in the workspace, and every stored cell decompressed."""
    blobs = list(outputs)
    for f in store.parent.iterdir():
        if f.is_file() and f.suffix != ".key":
            blobs.append(f.read_bytes().decode("latin-1"))
    with sqlite3.connect(store) as conn:
        for row in conn.execute("SELECT * FROM analyses"):
            for cell in row:
                if isinstance(cell, bytes):
                    blobs.append(zlib.decompress(cell).decode("utf-8"))
                else:
                    blobs.append(str(cell))
    return "\n".join(blobs)


def _run_all(har: Path, store: Path, *extra: str) -> list[str]:
    outputs = []
    for args in (["analyze", str(har), "--json", *extra],
                 ["report", "--format", "md"],
                 ["report", "--format", "json"],
                 ["list"]):
        result = runner.invoke(app, [*args, "--store", str(store)], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    return outputs


def test_no_planted_secret_is_written(shared: Path, tmp_path: Path) -> None:
    store = tmp_path / "ws" / "archcmp.db"
    outputs = _run_all(_canary_har(shared, tmp_path), store)
    written = _everything_written(store, *outputs)
    assert "access_token=" in written  # the name stays: it is evidence
    leaked = [s for s in _planted(shared) if s in written]
    assert leaked == []


@pytest.mark.parametrize("session", ["chromium-h2", "chromium-h3", "mitmproxy"])
def test_alpha_sessions_leak_nothing(shared: Path, tmp_path: Path, session: str) -> None:
    store = tmp_path / "ws" / "archcmp.db"
    har = shared / "captures" / "alpha" / session / "capture.har"
    written = _everything_written(store, *_run_all(har, store))
    assert [s for s in _planted(shared) if s in written] == []


def test_unsafe_flag_keeps_secrets(shared: Path, tmp_path: Path) -> None:
    store = tmp_path / "ws" / "archcmp.db"
    outputs = _run_all(_canary_har(shared, tmp_path), store, "--unsafe-keep-secrets")
    assert QUERY_TOKEN in _everything_written(store, *outputs)
