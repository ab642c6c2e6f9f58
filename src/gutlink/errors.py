"""Errors raised by gutlink.

Every error a user can cause is a :class:`GutlinkError`.  Each child also
subclasses the matching builtin so generic ``except ValueError`` code keeps
working.  Messages say what went wrong, where, and what to do.
"""

from __future__ import annotations

import re

__all__ = [
    "GutlinkError",
    "InputFormatError",
    "SampleMismatchError",
    "DesignError",
    "ConvergenceError",
    "OutputError",
    "OutputExistsError",
    "printable",
]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """*text* with control characters (ANSI escapes, NUL, CR…) written as ``\\xNN``, so that an error message
    never echoes a terminal escape sequence from a file, a file name or a column name."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


class GutlinkError(Exception):
    """Base class of every error gutlink raises on bad input."""


class InputFormatError(GutlinkError, ValueError):
    """A file or table cannot be read as what it claims to be.

    Parameters
    ----------
    message
        What is wrong.
    path
        The file, when there is one.
    line, column
        Where in the file (1-based), when known.
    hint
        What the user can do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: str | int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.hint = hint
        self.message = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}" if isinstance(self.column, str) else f"column {self.column}")
        text = (", ".join(where) + ": " if where else "") + self.message
        if self.hint:
            text += f" {self.hint}"
        return text


class SampleMismatchError(GutlinkError, ValueError):
    """Sample IDs of two inputs (abundance, metadata) do not match."""


class DesignError(GutlinkError, ValueError):
    """The requested analysis cannot be run on this design (groups, covariates, strata)."""


class ConvergenceError(GutlinkError, RuntimeError):
    """A numerical fit did not converge."""


class OutputExistsError(GutlinkError, FileExistsError):
    """The output folder exists and may not (or cannot safely) be replaced."""


class OutputError(GutlinkError, OSError):
    """The output cannot be written where it was asked (missing permission, not a folder)."""
