"""Regenerate the example reports in ``reports/`` from the shipped samples.

    python reports/make_reports.py            # rewrite reports/
    python reports/make_reports.py --check    # exit 1 if reports/ is stale (the test does this)

The samples hold only fake secrets; the redaction key is fixed here so the masked values (and
so the files) are the same on every run.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archcmp.analyze.pipeline import AnalyzeOptions, analyze_capture
from archcmp.redact import Redactor
from archcmp.report.blocks import Figure
from archcmp.report.document import build_report
from archcmp.report.html import render_html
from archcmp.report.markdown import render_markdown

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "samples"
KEY = b"archcmp example reports, fake secrets only"

#: report stem → sample files (one: a teardown; several: a comparison)
REPORTS: dict[str, tuple[str, ...]] = {
    "teardown-chat-chromium-h2": ("chat-chromium-h2.har",),
    "compare-h2-vs-h1": ("chat-chromium-h2.har", "chat-chromium-h1.har"),
}


def _documents(names: tuple[str, ...]) -> list[dict[str, Any]] | None:
    paths = [SAMPLES / name for name in names]
    if not all(p.is_file() for p in paths):
        return None
    redactor = Redactor(key=KEY)
    return [analyze_capture(p, options=AnalyzeOptions(label=p.stem), redactor=redactor)
            for p in paths]


def _figure_writer(out: Path, stem: str, files: dict[Path, str]) -> Callable[[Figure], str]:
    counter = iter(range(1, 1000))

    def save(figure: Figure) -> str:
        name = f"{stem}.assets/figure-{next(counter)}.svg"
        files[out / name] = figure.svg
        return name

    return save


def generate(out: Path) -> dict[Path, str]:
    """Every file of the example reports, by path under ``out``."""
    files: dict[Path, str] = {}
    for stem, names in REPORTS.items():
        docs = _documents(names)
        if docs is None:
            continue
        report = build_report(docs, figures=True)
        files[out / f"{stem}.md"] = render_markdown(
            report, figures=_figure_writer(out, stem, files))
        files[out / f"{stem}.html"] = render_html(report)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report staleness, write nothing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        stale = []
        for path, text in sorted(fresh.items()):
            target = HERE / path.relative_to(tmp)
            current = target.read_text(encoding="utf-8") if target.is_file() else None
            if current == text:
                continue
            stale.append(target)
            if args.check:
                diff = difflib.unified_diff((current or "").splitlines(), text.splitlines(),
                                            str(target), "regenerated", lineterm="", n=1)
                sys.stderr.write("\n".join(list(diff)[:20]) + "\n")
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(HERE.parent)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
