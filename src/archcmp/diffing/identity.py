"""Changes to how clients identify themselves and the things they address: auth and ID formats.

Both compare by what a client has to get right. For auth that is the credential it sends
(kind, name, and where: cookie or header); for IDs it is the shape of the values it stores and
parses (kind, UUID version, constant prefix) at the places they occur.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archcmp.diffing.model import Change
from archcmp.diffing.read import change, count, number, plural, records, shape, text, texts

__all__ = ["compare_auth", "compare_id_formats"]

AuthKey = tuple[str, str, str]  # kind, name, where


def _auth_label(key: AuthKey) -> str:
    kind, name, where = key
    return " ".join(part for part in (kind, name, f"({where})" if where else "") if part)


def _auth_value(key: AuthKey) -> dict[str, str | None]:
    return {"kind": key[0], "name": key[1] or None, "where": key[2] or None}


def _auth(doc: Mapping[str, Any]) -> dict[AuthKey, Mapping[str, Any]]:
    out: dict[AuthKey, Mapping[str, Any]] = {}
    for entry in records(doc.get("auth")):
        kind = text(entry.get("kind"))
        if kind:
            key = (kind, text(entry.get("name")) or "", text(entry.get("where")) or "")
            out.setdefault(key, entry)
    return out


def _partner(gone: AuthKey, candidates: list[AuthKey]) -> AuthKey | None:
    """The added credential most like ``gone``: same kind, else same place, else any."""
    if not candidates:
        return None
    return max(candidates, key=lambda a: (a[0] == gone[0], a[2] == gone[2]))


def compare_auth(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    """A credential that disappears while another appears is a replacement (breaking: clients
    still send the old one); one that only appears or only disappears cannot be judged from a
    capture (required now? a session without login?), so it is a warning."""
    ab, ah = _auth(base), _auth(head)
    out: list[Change] = []
    for key in sorted(ab.keys() & ah.keys()):
        for flag, what in (("http_only", "HttpOnly"), ("secure", "Secure")):
            was, now = ab[key].get(flag), ah[key].get(flag)
            if was is True and now is False:
                out.append(change("auth.weakened", "changed", _auth_label(key),
                                  f"cookie lost its {what} attribute", before=True, after=False))
            elif was is False and now is True:
                out.append(change("auth.hardened", "changed", _auth_label(key),
                                  f"cookie gained the {what} attribute", before=False,
                                  after=True))
    added = sorted(ah.keys() - ab.keys())
    for key in sorted(ab.keys() - ah.keys()):
        partner = _partner(key, added)
        if partner is not None:
            added.remove(partner)
            out.append(change("auth.replaced", "changed", _auth_label(key),
                              f"replaced by {_auth_label(partner)}",
                              before=_auth_value(key), after=_auth_value(partner),
                              evidence=texts(ah[partner].get("evidence"))))
        else:
            out.append(change("auth.removed", "removed", _auth_label(key),
                              "credential no longer observed", before=_auth_value(key),
                              evidence=texts(ab[key].get("evidence"))))
    for key in added:
        out.append(change("auth.added", "added", _auth_label(key),
                          "new credential observed", after=_auth_value(key),
                          evidence=texts(ah[key].get("evidence"))))
    return out


@dataclass(frozen=True, slots=True)
class _Format:
    kind: str
    version: str | None
    prefix: str | None

    @property
    def label(self) -> str:
        version = f" v{self.version}" if self.version is not None else ""
        return f"{self.prefix or ''}{{{self.kind}{version}}}"

    def value(self) -> dict[str, str | None]:
        return {"kind": self.kind, "version": self.version, "prefix": self.prefix}


def _version(value: Any) -> str | None:
    num = number(value)
    if num is not None:
        return str(int(num)) if num.is_integer() else str(num)
    return text(value)


def _formats(doc: Mapping[str, Any]) -> dict[_Format, tuple[set[str], int]]:
    """Formats → (places, occurrences). Places are compared with placeholders blanked, since
    the placeholder in ``/orgs/{uuid}`` is itself the format that may have changed."""
    out: dict[_Format, tuple[set[str], int]] = {}
    for entry in records(doc.get("id_formats")):
        kind = text(entry.get("kind"))
        if not kind:
            continue
        fmt = _Format(kind, _version(entry.get("version")), text(entry.get("prefix")))
        places, seen = out.get(fmt, (set(), 0))
        places |= {shape(w) for w in texts(entry.get("where"))}
        out[fmt] = (places, seen + (count(entry.get("count")) or 0))
    return out


def compare_id_formats(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    """A format that vanished from places where another appeared is a changed format; the
    level follows what a client of the old one trips over (kind or prefix: its parser and
    column types; only the UUID version: ordering assumptions)."""
    fb, fh = _formats(base), _formats(head)
    added = sorted(fh.keys() - fb.keys(), key=lambda f: f.label)
    out: list[Change] = []
    for fmt in sorted(fb.keys() - fh.keys(), key=lambda f: f.label):
        places = fb[fmt][0]
        overlaps = [(len(places & fh[a][0]), a) for a in added if places & fh[a][0]]
        if overlaps:
            _, other = max(overlaps, key=lambda o: o[0])  # first by label among equals
            added.remove(other)
            shared = sorted(places & fh[other][0])
            what = ("kind" if fmt.kind != other.kind else
                    "prefix" if fmt.prefix != other.prefix else "version")
            out.append(change(f"id_formats.{what}", "changed", fmt.label,
                              f"IDs at {plural(len(shared), 'shared place')} are now {other.label}",
                              before=fmt.value(), after=other.value(), evidence=shared))
        else:
            out.append(change("id_formats.removed", "removed", fmt.label,
                              f"ID format no longer observed ({plural(fb[fmt][1], 'occurrence')})",
                              before=fmt.value(), evidence=sorted(places)))
    for fmt in added:
        out.append(change("id_formats.added", "added", fmt.label,
                          f"new ID format ({plural(fh[fmt][1], 'occurrence')})", after=fmt.value(),
                          evidence=sorted(fh[fmt][0])))
    return out
