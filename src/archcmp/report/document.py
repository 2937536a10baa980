"""Analysis documents → the abstract report, section by section as the reference document.

One column per capture, in the order given. Every cell that states a finding links to the
evidence that backs it (the appendix); a missing fact says "Not observed" or "Not measured".
Section builders live in :mod:`archcmp.report.sections`; this module orders them and adds the
diagrams and plots, which need matplotlib only when figures are asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archcmp.report import sections
from archcmp.report.blocks import Report, Section
from archcmp.report.text import EvidenceBook, column_name

__all__ = ["build_report", "column_name"]


def build_report(docs: Sequence[Mapping[str, Any]], *, figures: bool = False,
                 width: int = 100) -> Report:
    """The report for one or more analyses.

    ``figures`` adds matplotlib plots (SVG) to the performance section; ``width`` bounds the
    ASCII architecture diagrams (the terminal's width, or 100 columns in files).
    """
    names = [column_name(d) for d in docs]
    title = ("Architecture Teardown: " + names[0] if len(docs) == 1
             else "Architecture Comparison: " + " vs ".join(names))
    book = EvidenceBook()
    parts: list[Section] = [
        sections.summary(docs, book),
        sections.architecture(docs, book, width=width),
        sections.key_services(docs),
        sections.streaming(docs, book),
        sections.data_model(docs, book),
        sections.extensions(docs),
        sections.performance(docs, figures=figures),
        sections.observability(docs, book),
        sections.security(docs, book),
        sections.transport(docs),
        sections.coverage(docs),
    ]
    decrypted = sections.decryption(docs)
    if decrypted is not None:
        parts.append(decrypted)
    parts.append(sections.captures(docs))
    return Report(title=title, sections=tuple(parts), evidence=tuple(book.notes))
