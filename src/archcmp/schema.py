"""The JSON Schema of the analysis document, shipped in the package, and a validator for it.

Tests validate every document they produce; ``archcmp report --format json`` output validates
too, so third-party tools can rely on the contract in ``schemas/analysis.schema.json``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["analysis_schema", "validation_errors"]


@cache
def analysis_schema() -> dict[str, Any]:
    text = resources.files("archcmp").joinpath("schemas/analysis.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validation_errors(document: dict[str, Any]) -> list[str]:
    """Every violation of the schema as ``path: message``; empty when the document is valid."""
    import jsonschema  # lazy: only tests and `archcmp schema check` need it

    validator = jsonschema.Draft202012Validator(analysis_schema())
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]
