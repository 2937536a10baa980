"""The one atheris driver behind every ``fuzz_<target>.py``: instrument archcmp, run the target,
let ``ArchcmpError`` pass and report anything else as a crash (libFuzzer saves the input).

``--json-mutator`` (the HAR harness) adds a structure-aware mutator: half of the mutations
parse the input as JSON and replace, drop or duplicate one value (type confusion: a number
where an object belongs, 1e308, 2^63, deep nesting, lone surrogates), the other half are
libFuzzer's byte mutations.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TZ", "UTC")

with atheris.instrument_imports(include=["archcmp"]):
    import archcmp.wire  # noqa: F401  (imported lazily by the targets; instrument it too)
    from fuzz.targets import TARGETS

from archcmp.errors import ArchcmpError

_ODD: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 0.5, -0.0, 1e308, -1e308, 2**63 - 1, -(2**63) + 1, 2**53 + 1,
    "", "x", "-1", "1e999", "\ud800", "€", "a" * 5000, [], {}, [None], [[[[[]]]]],
    {"name": "content-encoding", "value": "gzip, br"}, {"name": 1, "value": [2]}, ["a", "b"],
    {"type": "send", "time": "x", "opcode": 99, "data": 1}, "2024-13-45T25:61:61+99:99",
    "data:text/plain;base64,", "=?", "eyJhbGciOiJub25lIn0.e30.", json.loads("[" * 500 + "]" * 500),
)


def _nodes(value: Any, out: list[tuple[Any, Any]]) -> None:
    stack = [value]
    while stack and len(out) < 5000:
        node = stack.pop()
        if isinstance(node, dict):
            for key, child in node.items():
                out.append((node, key))
                stack.append(child)
        elif isinstance(node, list):
            for index, child in enumerate(node):
                out.append((node, index))
                stack.append(child)


def _json_mutate(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return atheris.Mutate(data, max_size)
    nodes: list[tuple[Any, Any]] = []
    _nodes(doc, nodes)
    if not nodes:
        return atheris.Mutate(data, max_size)
    for _ in range(rng.randint(1, 3)):
        parent, key = rng.choice(nodes)
        try:
            current = parent[key]
        except (KeyError, IndexError):
            continue  # removed by an earlier step of this mutation
        action = rng.randrange(5)
        if action == 0 and isinstance(parent, dict):
            del parent[key]
        elif action == 1 and isinstance(parent, list):
            parent.insert(key, current)
        elif action == 2:
            parent[key] = rng.choice(_ODD)
        elif action == 3 and isinstance(current, str):
            cut = rng.randrange(len(current) + 1)
            glue = rng.choice(["\x00", "\r\n", "%", ",", ";", "\\", "…", "\ud800"])
            parent[key] = current[:cut] + glue + current[cut:]
        else:
            parent[key] = rng.choice([1e308, -1, "", {}, []])
    out = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    return out[:max_size] if rng.random() < 0.05 else out if len(out) <= max_size else data


def main(name: str) -> None:
    target = TARGETS[name]
    json_mutator = "--json-mutator" in sys.argv
    argv = [a for a in sys.argv if a != "--json-mutator"]

    def one_input(data: bytes) -> None:
        # ArchcmpError is the documented outcome for an unusable input (exit 2, one line).
        with contextlib.suppress(ArchcmpError):
            target(data)

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        if seed % 2:
            return atheris.Mutate(data, max_size)
        return _json_mutate(data, max_size, seed)

    if json_mutator:
        atheris.Setup(argv, one_input, custom_mutator=mutator)
    else:
        atheris.Setup(argv, one_input)
    atheris.Fuzz()
