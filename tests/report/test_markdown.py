from __future__ import annotations

from archcmp.report.blocks import Code, Mono, Paragraph, Report, Section, Table
from archcmp.report.markdown import render_markdown


def test_cells_cannot_break_tables_or_inject_markup() -> None:
    report = Report(title="T", sections=(Section(title="S", blocks=(
        Table(headers=("a", "b"), rows=(("x|y\nz", Mono("a`b|c")), ("<script>", "**b**"))),
    )),))
    md = render_markdown(report)
    lines = md.splitlines()
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 4
    assert all(line.count("|") - line.count("\\|") == 3 for line in table)
    assert "x\\|y z" in md
    assert "``a`b\\|c``" in md
    assert "\\<script\\>" in md
    assert "\\*\\*b\\*\\*" in md


def test_structure_headings_rules_and_code() -> None:
    report = Report(title="Title", sections=(
        Section(title="One", blocks=(Paragraph(text=("hi ", Mono("x"))),),
                subsections=(Section(title="Sub", blocks=(Code(text="a\n```\nb"),)),)),
        Section(title="Two"),
    ))
    md = render_markdown(report)
    assert md.startswith("# Title\n\n## One\n\nhi `x`\n\n### Sub\n\n````\na\n```\nb\n````\n")
    assert "\n---\n\n## Two\n" in md
    assert md.endswith("## Two\n")
    assert "  \n" not in md
