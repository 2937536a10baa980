"""Rich renderings for the terminal: the post-analysis summary and the stored-analysis list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from archcmp.report.text import protocol_shares

__all__ = [
    "print_analysis_summary",
    "print_list",
    "print_report",
    "print_rules",
    "print_warnings",
]

_PROTOCOL_NAMES = {"http/1.0": "HTTP/1.0", "http/1.1": "HTTP/1.1", "h2": "HTTP/2", "h3": "HTTP/3"}


def _shares(doc: Mapping[str, Any]) -> str:
    return ", ".join(f"{_PROTOCOL_NAMES.get(p, p)} {n} ({pct:.0f}%)"
                     for p, n, pct in protocol_shares(doc)) or "—"


def print_analysis_summary(console: Console, doc: Mapping[str, Any], *, cached: bool) -> None:
    capture = doc["capture"]
    table = Table(title=f"{capture['name']}" + (" (already analysed)" if cached else ""),
                  show_header=False, title_justify="left")
    table.add_column("aspect", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("capture", f"{capture['format']} from {capture['producer']}, "
                  f"sha256 {capture['sha256'][:12]}")
    table.add_row("exchanges", str(capture["exchanges"]))
    table.add_row("protocols", _shares(doc))
    table.add_row("encodings", ", ".join(f"{k} {v}" for k, v in doc["encodings"].items()) or "—")
    hosts = doc.get("hosts") or []
    table.add_row("hosts", ", ".join(f"{h['host']} ({h['exchanges']})" for h in hosts[:5])
                  + (f" … +{len(hosts) - 5}" if len(hosts) > 5 else "") or "—")
    streams = doc["streams"]
    table.add_row("streams", "; ".join(
        f"{s['transport']} #{s['exchange']} {s['events']} events "
        f"({', '.join(s['event_types'][:6])}{'…' if len(s['event_types']) > 6 else ''})"
        for s in streams[:4]) + (f" … +{len(streams) - 4}" if len(streams) > 4 else "") or "none")
    warnings = capture["warnings"]
    table.add_row("warnings", ", ".join(f"{w['code']} ×{w['count']}" for w in warnings) or "none")
    console.print(table)


def print_warnings(console: Console, doc: Mapping[str, Any]) -> None:
    for w in doc["capture"]["warnings"]:
        console.print(f"warning: {doc['capture']['name']}: {w['code']} ×{w['count']}: "
                      f"{w['message']}", markup=False, highlight=False)


def print_list(console: Console, rows: Sequence[Any]) -> None:
    table = Table(title="Stored analyses", title_justify="left")
    for col in ("name", "file", "sha256", "format", "producer", "exchanges", "analysed"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.name, r.source, r.sha256[:12], r.format, r.producer, str(r.exchanges),
                      r.created_at)
    console.print(table)


def print_rules(console: Console, ruleset: Any) -> None:
    table = Table(title=f"Rules ({len(ruleset)})", title_justify="left")
    for col in ("id", "category", "name", "source"):
        table.add_column(col, overflow="fold")
    for rule in ruleset:
        source = f"{rule.path.parent.name}/{rule.path.name}" if rule.path else "—"
        table.add_row(rule.id, rule.category, rule.name, source)
    console.print(table)


def _rich_inline(parts: Any) -> Any:
    from rich.text import Text

    from archcmp.report.blocks import Mono, Ref

    if not isinstance(parts, tuple):
        parts = (parts,)
    text = Text()
    for part in parts:
        if isinstance(part, Mono):
            text.append(part.text, style="cyan")
        elif isinstance(part, Ref):
            text.append(f"[{part.id}]", style="dim")
        else:
            text.append(str(part))
    return text


def print_report(console: Console, report: Any) -> None:
    """The abstract report as rich tables and text (figures are for HTML and files)."""
    from rich.rule import Rule

    from archcmp.report.blocks import Bullets, Code, Diagram, Figure, Paragraph
    from archcmp.report.blocks import Table as TableBlock

    def section(sec: Any, level: int) -> None:
        if level == 2:
            console.print(Rule(sec.title, align="left"))
        else:
            console.print(f"[bold]{sec.title}[/bold]", highlight=False)
        for block in sec.blocks:
            if isinstance(block, TableBlock):
                table = Table(show_lines=False)
                for header in block.headers:
                    table.add_column(header, overflow="fold")
                for row in block.rows:
                    table.add_row(*(_rich_inline(c) for c in row))
                console.print(table)
            elif isinstance(block, Paragraph):
                console.print(_rich_inline(block.text))
            elif isinstance(block, Bullets):
                for item in block.items:
                    console.print(_rich_inline(("• ", *item)))
            elif isinstance(block, Code):
                console.print(block.text, markup=False, highlight=False)
            elif isinstance(block, Diagram):
                console.print(block.ascii, markup=False, highlight=False, soft_wrap=True)
            elif isinstance(block, Figure):
                console.print(f"({block.caption}: see --format html)", markup=False,
                              style="dim")
        for sub in sec.subsections:
            section(sub, level + 1)

    console.print(f"[bold]{report.title}[/bold]", highlight=False)
    for sec in report.sections:
        section(sec, 2)
    if report.evidence:
        console.print(Rule("Evidence", align="left"))
        for note in report.evidence:
            console.print(_rich_inline((f"[{note.id}] ", note.title, ": ",
                                        "; ".join(note.items))))
