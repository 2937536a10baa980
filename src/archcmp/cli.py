"""The ``archcmp`` command line: the only module that prints, exits or catches ArchcmpError.

Results (tables, JSON, Markdown) go to stdout and everything else (progress, warnings, errors)
to stderr, so pipes stay clean. Errors are one line, ``error: <path>: <sentence>``, exit 2;
``pretty_exceptions_show_locals`` is off because locals hold cookies and tokens.

Secrets: every document a command shows went through :mod:`archcmp.redact`. The pipeline
redacts what it builds; a document read from the store that was saved with
``--unsafe-keep-secrets`` is redacted (:func:`_shown`) unless this command has the flag too;
error lines and the traceback of a bug are masked as free text (:func:`main`).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from archcmp import __version__
from archcmp.errors import ArchcmpError, StoreError, UsageError

__all__ = ["app", "main"]

app = typer.Typer(
    name="archcmp",
    help="Turn captures of web apps (HAR; pcap with key logs later) into an architecture "
    "teardown.",
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

EXIT_OK = 0
EXIT_DIFFERENCES = 1
EXIT_ERROR = 2


def _stdout() -> Console:
    return Console(soft_wrap=True)


def _stderr() -> Console:
    return Console(stderr=True, soft_wrap=True)


@contextmanager
def _errors_as_exit() -> Iterator[None]:
    """Turn the project's own errors into one line on stderr and exit 2; nothing else."""
    try:
        yield
    except ArchcmpError as exc:
        sys.stderr.write(_error_line(exc))
        raise typer.Exit(EXIT_ERROR) from None


def _error_line(exc: ArchcmpError) -> str:
    """``error: <message>``, masked: messages may quote a path, a reference or a capture."""
    return f"error: {_masker().text(str(exc))}\n"


#: The running command's redactor once it has one (:func:`_redactor`); reset per command.
_active: list[Any] = []


def _masker() -> Any:
    """The redactor for error lines and tracebacks: the command's own, which knows the cookie
    and key values harvested so far, else a fresh one (shapes only)."""
    from archcmp.redact import Redactor

    return _active[0] if _active else Redactor()


StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="Workspace database (default: $ARCHCMP_STORE or "
                 "./.archcmp/archcmp.db).", dir_okay=False),
]
RulesOpt = Annotated[
    list[Path] | None,
    typer.Option("--rules", help="A directory of extra rules (<area>/<stem>.yaml); a rule "
                 "with a built-in's id replaces it. Repeatable.", file_okay=False),
]
UnsafeOpt = Annotated[
    bool,
    typer.Option("--unsafe-keep-secrets",
                 help="Keep cookie, token and key values in everything written. Dangerous."),
]


def _store_path(store: Path | None) -> Path:
    from archcmp.store import default_store_path

    return store if store is not None else default_store_path(os.environ, Path.cwd())


def _redactor(store_path: Path, keep_secrets: bool) -> Any:
    from archcmp.redact import Redactor, load_or_create_key

    try:
        key = load_or_create_key(store_path.parent / "redact.key")
    except OSError as exc:
        raise StoreError(f"cannot create the redaction key: {exc.strerror or exc}",
                         path=str(store_path.parent)) from exc
    redactor = Redactor(keep_secrets=keep_secrets, key=key)
    _active[:] = [redactor]
    return redactor


def _shown(stored: Any, redactor: Any) -> dict[str, Any]:
    """A stored document as this command may show it.

    Documents are saved redacted, except with ``--unsafe-keep-secrets`` (``secrets_kept``):
    those go through the redaction layer unless this command was given the flag too, so
    the flag on one command never lets secrets out of another.
    """
    from archcmp.redact import redact_document_in_place

    document: dict[str, Any] = stored.document
    if stored.secrets_kept and not redactor.keep_secrets:
        redact_document_in_place(document, redactor)  # freshly parsed: ours to change
    return document


def _dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _print_json(value: Any) -> None:
    """:func:`_dump_json` written as it is encoded: with ``indent`` the encoder is the pure
    Python one, and ``dumps`` joins its millions of pieces into one string (350 MiB of them for
    a 100k-exchange document); ``dump`` writes each piece and keeps none."""
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


@app.command()
def analyze(
    captures: Annotated[list[Path], typer.Argument(help="HAR files (.har, .har.gz, .zhar).")],
    keylog: Annotated[Path | None, typer.Option(help="TLS/QUIC key log (SSLKEYLOGFILE) for "
                                                "packet captures.")] = None,
    name: Annotated[str | None, typer.Option(help="Name for the capture in reports "
                                             "(default: the file name).")] = None,
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the analysis document as "
                                          "JSON on stdout.")] = False,
    force: Annotated[bool, typer.Option(help="Analyse again even if these bytes were "
                                        "analysed before.")] = False,
    max_body_mib: Annotated[int, typer.Option(help="Decoded size cap per body, MiB.",
                                              min=1)] = 64,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary or warnings on "
                                        "stderr.")] = False,
    rules: RulesOpt = None,
    unsafe_keep_secrets: UnsafeOpt = False,
) -> None:
    """Analyse captures and store the results in the workspace."""
    from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture, file_sha256
    from archcmp.classify.rules import load_rules
    from archcmp.report.terminal import print_analysis_summary, print_warnings
    from archcmp.store import Store

    failed = 0
    with _errors_as_exit():
        if name is not None and len(captures) > 1:
            raise UsageError("--name applies to one capture; give captures one at a time")
        if keylog is not None and not keylog.is_file():
            raise UsageError(f"{keylog}: key log not found")
        store_path = _store_path(store)
        redactor = _redactor(store_path, unsafe_keep_secrets)
        try:
            keylog_bytes = keylog.read_bytes() if keylog is not None else None
        except OSError as exc:
            raise UsageError(f"{keylog}: cannot read the key log: {exc.strerror or exc}") from exc
        options = AnalyzeOptions(label=name, max_body_bytes=max_body_mib * 1024 * 1024,
                                 rules=load_rules(extra=rules or ()), keylog=keylog_bytes)
        out, err = _stdout(), _stderr()
        documents: list[dict[str, Any]] = []
        with Store.open(store_path) as db:
            for path in captures:
                try:
                    if not path.is_file():
                        raise UsageError(f"{path}: no such file")
                    sha256, _ = file_sha256(path)
                    cached = db.has(sha256) and not force
                    if cached:
                        document = _shown(db.get(sha256), redactor)
                    else:
                        document = analyze_capture(path, options=options, redactor=redactor,
                                                   sha256=sha256)
                        db.save(document, name=name or path.name, source_path=path.name,
                                replace=force, now=datetime.now(UTC),
                                secrets_kept=redactor.keep_secrets)
                except ArchcmpError as exc:
                    failed += 1
                    sys.stderr.write(_error_line(exc))
                    continue
                documents.append(document)
                if not as_json and not quiet:
                    print_analysis_summary(out, document, cached=cached)
                if not quiet and not cached:
                    print_warnings(err, document)
        if as_json:
            _print_json(documents[0] if len(documents) == 1 else documents)
    if failed:
        raise typer.Exit(EXIT_ERROR)


@app.command("list")
def list_(store: StoreOpt = None) -> None:
    """List the analyses stored in the workspace."""
    from archcmp.report.terminal import print_list
    from archcmp.store import Store

    with _errors_as_exit(), Store.open(_store_path(store)) as db:
        rows = db.list()
        if not rows:
            _stderr().print("no analyses stored yet: run `archcmp analyze CAPTURE`",
                            markup=False)
            return
        print_list(_stdout(), rows)


class ReportFormat(StrEnum):
    md = "md"
    html = "html"
    json = "json"


class CompareFormat(StrEnum):
    term = "term"
    md = "md"
    html = "html"
    json = "json"


def _resolve(db: Any, ref: str, redactor: Any, *,
             analyse: Callable[[Path], dict[str, Any]] | None = None) -> dict[str, Any]:
    """A stored analysis by name, file name, sha256 prefix, or the path of a capture file,
    redacted as :func:`_shown` says.

    A capture path that was never analysed is analysed (and stored) first when ``analyse`` is
    given; ``report`` refuses instead, since it only renders what is stored.
    """
    from archcmp.analyze.pipeline import file_sha256

    path = Path(ref)
    if path.is_file():
        sha256, _ = file_sha256(path)
        if not db.has(sha256):
            if analyse is None:
                raise StoreError(f"{ref} has not been analysed yet: run `archcmp analyze {ref}`")
            return analyse(path)
        ref = sha256
    return _shown(db.get(ref), redactor)


def _analyser(db: Any, redactor: Any) -> Callable[[Path], dict[str, Any]]:
    """Analyse-and-store for captures named on the command line but not yet analysed."""
    from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture, file_sha256

    def analyse(path: Path) -> dict[str, Any]:
        sha256, _ = file_sha256(path)
        document = analyze_capture(path, options=AnalyzeOptions(), redactor=redactor,
                                   sha256=sha256)
        db.save(document, name=path.name, source_path=path.name, now=datetime.now(UTC),
                secrets_kept=redactor.keep_secrets)
        return document

    return analyse


def _render(docs: list[dict[str, Any]], fmt: str, output: Path | None) -> str:
    """The report of ``docs`` as text in ``fmt``; Markdown written to a file gets its plots
    as SVG files in ``<name>.assets/`` beside it."""
    from archcmp.report.document import build_report

    if fmt == "json":
        return _dump_json(docs[0] if len(docs) == 1 else
                          {"schema": "archcmp.collection/1", "analyses": docs})
    if fmt == "html":
        from archcmp.report.html import render_html

        return render_html(build_report(docs, figures=True))
    from archcmp.report.markdown import render_markdown

    if output is None:
        return render_markdown(build_report(docs))
    assets = output.with_name(output.stem + ".assets")
    counter = iter(range(1, 1000))

    def save(figure: Any) -> str:
        assets.mkdir(parents=True, exist_ok=True)
        name = f"figure-{next(counter)}.svg"
        (assets / name).write_text(figure.svg, encoding="utf-8")
        return f"{assets.name}/{name}"

    return render_markdown(build_report(docs, figures=True), figures=save)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write: {exc.strerror or exc}", path=str(output)) from exc


@app.command()
def report(
    captures: Annotated[list[str] | None, typer.Argument(
        help="Stored analyses (name, file name, sha256 prefix or capture path); "
        "default: the latest.")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format.")]
    = ReportFormat.md,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to FILE "
                                                "instead of stdout.", dir_okay=False)] = None,
    store: StoreOpt = None,
    unsafe_keep_secrets: UnsafeOpt = False,
) -> None:
    """Render stored analyses as a Markdown, HTML or JSON report."""
    from archcmp.store import Store

    with _errors_as_exit():
        store_path = _store_path(store)
        redactor = _redactor(store_path, unsafe_keep_secrets)
        with Store.open(store_path) as db:
            docs = ([_resolve(db, ref, redactor) for ref in captures] if captures
                    else [_shown(db.latest(), redactor)])
        _write(_render(docs, fmt.value, output), output)


@app.command()
def compare(
    captures: Annotated[list[str], typer.Argument(
        help="Two or more captures: stored names, file names, sha256 prefixes, or capture "
        "files (analysed first if needed).")],
    fmt: Annotated[CompareFormat, typer.Option("--format", "-f", help="term: rich tables in "
                                               "the terminal.")] = CompareFormat.term,
    output: Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False,
                                                help="Write to FILE.")] = None,
    store: StoreOpt = None,
    unsafe_keep_secrets: UnsafeOpt = False,
) -> None:
    """Side-by-side architecture comparison of several captures."""
    from archcmp.report.document import build_report
    from archcmp.report.terminal import print_report
    from archcmp.store import Store

    with _errors_as_exit():
        if len(captures) < 2:
            raise UsageError("compare needs at least two captures")
        store_path = _store_path(store)
        redactor = _redactor(store_path, unsafe_keep_secrets)
        with Store.open(store_path) as db:
            analyse = _analyser(db, redactor)
            docs = [_resolve(db, ref, redactor, analyse=analyse) for ref in captures]
        if fmt is CompareFormat.term:
            if output is not None:
                raise UsageError("--output needs --format md, html or json")
            console = _stdout()
            # Diagrams fit the terminal (within the 60–160 columns they are drawn for).
            print_report(console, build_report(docs, width=max(60, min(console.width, 160))))
        else:
            _write(_render(docs, fmt.value, output), output)


class DiffFormat(StrEnum):
    text = "text"
    json = "json"
    md = "md"


@app.command()
def diff(
    base: Annotated[str, typer.Argument(help="The earlier capture (stored ref or file).")],
    head: Annotated[str, typer.Argument(help="The later capture (stored ref or file).")],
    fmt: Annotated[DiffFormat, typer.Option("--format", "-f")] = DiffFormat.text,
    fail_on: Annotated[str, typer.Option(
        "--fail-on", help="Exit 1 when a change at or above this level exists: any, info, "
        "warning, breaking, or none.")] = "breaking",
    latency_threshold: Annotated[str, typer.Option(
        "--latency-threshold", help="Latency rise that counts as a regression: 20% or 0.2."
    )] = "20%",
    min_latency_ms: Annotated[float, typer.Option(
        "--min-latency-ms", help="Ignore latency rises smaller than this, in ms.", min=0.0
    )] = 10.0,
    store: StoreOpt = None,
    unsafe_keep_secrets: UnsafeOpt = False,
) -> None:
    """What changed between two captures; exit 1 when changes reach --fail-on (for CI)."""
    from archcmp.diff import (
        FAIL_ON,
        diff_documents,
        diff_to_json,
        diff_to_markdown,
        diff_to_text,
        parse_threshold,
    )
    from archcmp.diff import exit_code as diff_exit_code
    from archcmp.store import Store

    with _errors_as_exit():
        fail_on = fail_on.lower()
        if fail_on not in FAIL_ON:
            raise UsageError(f"--fail-on {fail_on!r}: use one of {', '.join(FAIL_ON)}")
        threshold = parse_threshold(latency_threshold)
        store_path = _store_path(store)
        redactor = _redactor(store_path, unsafe_keep_secrets)
        with Store.open(store_path) as db:
            analyse = _analyser(db, redactor)
            before = _resolve(db, base, redactor, analyse=analyse)
            after = _resolve(db, head, redactor, analyse=analyse)
        result = diff_documents(before, after, latency_threshold=threshold,
                                min_latency_ms=min_latency_ms)
        if fmt is DiffFormat.json:
            sys.stdout.write(_dump_json(diff_to_json(result)))
        elif fmt is DiffFormat.md:
            sys.stdout.write(diff_to_markdown(result))
        else:
            sys.stdout.write(diff_to_text(result))
    code = diff_exit_code(result, fail_on)
    if code:
        raise typer.Exit(code)


@app.command()
def redact(
    capture: Annotated[Path, typer.Argument(help="A HAR (plain, .har.gz, .zhar) or a "
                                            "pcap/pcapng.", dir_okay=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the redacted "
                                         "copy (never over the input).", dir_okay=False)],
    salt: Annotated[str | None, typer.Option(
        help="Derive the masking key from SALT (sha256), so the same input gives the same "
        "output; treat it as a secret: with it a guessed value can be confirmed. Default: a "
        "random key per run.")] = None,
    to_har: Annotated[bool, typer.Option("--to-har", help="Packet capture: export its "
                                         "decrypted exchanges as a redacted HAR.")] = False,
    keep_payloads: Annotated[bool, typer.Option(
        "--keep-payloads", help="Packet capture: keep packet payloads (only the key blocks "
        "are removed).")] = False,
    keylog: Annotated[Path | None, typer.Option(help="Key log for --to-har.",
                                                dir_okay=False)] = None,
) -> None:
    """Write a copy of a capture with every secret value masked (names and sizes kept).

    The output is re-scanned with the same detectors; exit 1 when anything secret-looking
    remains (each place is listed on stderr, never its value), 2 on bad input.
    """
    from archcmp.diagnostics import Diagnostics
    from archcmp.redact_capture import EXIT_RESIDUAL, redact_capture, redactor_for

    with _errors_as_exit():
        if not capture.is_file():
            raise UsageError(f"{capture}: no such file")
        try:
            keylog_bytes = keylog.read_bytes() if keylog is not None else None
        except OSError as exc:
            raise UsageError(f"{keylog}: cannot read the key log: {exc.strerror or exc}") from exc
        redactor = redactor_for(salt)
        _active[:] = [redactor]
        summary = redact_capture(capture, output, redactor, Diagnostics(), as_har=to_har,
                                 keep_payloads=keep_payloads, keylog=keylog_bytes)
    residual = list(summary.residual)
    for item in residual:
        sys.stderr.write(f"residual: {item.where}: {item.kind}\n")
    if residual:
        raise typer.Exit(EXIT_RESIDUAL)


rules_app = typer.Typer(help="Classification rules: list them, run their test cases.",
                        no_args_is_help=True, rich_markup_mode=None)
app.add_typer(rules_app, name="rules")


@rules_app.command("list")
def rules_list(rules: RulesOpt = None) -> None:
    """List the rules in force (built-in plus --rules directories)."""
    from archcmp.classify.rules import load_rules
    from archcmp.report.terminal import print_rules

    with _errors_as_exit():
        ruleset = load_rules(extra=rules or ())
        print_rules(_stdout(), ruleset)


@rules_app.command("test")
def rules_test(
    ids: Annotated[list[str] | None, typer.Argument(help="Rule ids to test (default: all).")]
    = None,
    rules: RulesOpt = None,
) -> None:
    """Run every rule's should-match / should-not-match cases; exit 1 if any fails."""
    from archcmp.classify.engine import run_cases
    from archcmp.classify.rules import load_rules

    with _errors_as_exit():
        ruleset = load_rules(extra=rules or ())
        if ids:
            unknown = sorted(set(ids) - {rule.id for rule in ruleset})
            if unknown:
                raise UsageError(f"no such rule: {', '.join(unknown)} (see `archcmp rules list`)")
        results = run_cases(ruleset, ids or None)
    failed = [r for r in results if not r.passed]
    todo = sum(1 for r in results if r.expect == "todo")
    for r in failed:
        sys.stdout.write(f"FAIL {r.location}: {r.rule}: {r.case}: {r.detail}\n")
    sys.stdout.write(f"{len(results) - len(failed)} passed, {len(failed)} failed"
                     f"{f' ({todo} known misses recorded as todo)' if todo else ''}\n")
    if failed:
        raise typer.Exit(EXIT_DIFFERENCES)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"archcmp {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """archcmp: what is this web app built on? Evidence from its captures."""
    _active.clear()


def main() -> None:
    """Console-script entry point.

    An exception that is not an :class:`ArchcmpError` is a bug: its traceback is printed (no
    locals, plain text) with secrets masked, since exception messages quote the values that
    broke the code (``invalid literal for int(): '…'``), and the exit code is 1.
    """
    try:
        app()
    except Exception as exc:  # noqa: BLE001 - a bug: shown masked, not re-raised raw
        text = "".join(traceback.format_exception(exc))
        sys.stderr.write(_masker().text(text))
        sys.stderr.write("archcmp: internal error (a bug); please report it with the traceback "
                         "above\n")
        sys.exit(1)
