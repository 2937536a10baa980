"""Exceptions that make a whole input or command unusable.

Anything that is wrong with one record, packet, body or event is *not* an exception: it is a
counted warning in :class:`archcmp.diagnostics.Diagnostics`. Everything else is a bug and keeps
its traceback. The CLI turns an :class:`ArchcmpError` into one line on stderr and exit code 2::

    ArchcmpError
    ├── UnknownFormat        the bytes are not a capture format archcmp reads
    ├── CaptureError         a capture archcmp recognises but cannot read as a whole
    │   └── TruncatedCapture the file ends (or breaks) before its structure is complete
    ├── BadKeyLog            a key log that cannot be used at all
    ├── RuleError            a classification rule file is invalid (names file:line)
    ├── StoreError           the workspace store cannot be opened, read or written
    └── UsageError           arguments that do not make sense together
"""

from __future__ import annotations

__all__ = [
    "ArchcmpError",
    "BadKeyLog",
    "CaptureError",
    "RuleError",
    "StoreError",
    "TruncatedCapture",
    "UnknownFormat",
    "UsageError",
]


class ArchcmpError(Exception):
    """Base of every error the CLI reports as one line and exit 2."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class UnknownFormat(ArchcmpError):
    """The file's bytes match no reader."""


class CaptureError(ArchcmpError):
    """The capture is recognised but unusable as a whole (e.g. not a HAR `log`)."""


class TruncatedCapture(CaptureError):
    """The capture ends before its structure is complete (cut JSON, cut pcap block)."""


class BadKeyLog(ArchcmpError):
    """The key log cannot be read at all."""


class RuleError(ArchcmpError):
    """A rule file is invalid; the message names file:line and how to fix it."""


class StoreError(ArchcmpError):
    """The workspace store cannot be opened, read or written."""


class UsageError(ArchcmpError):
    """Arguments or options that cannot work together."""
