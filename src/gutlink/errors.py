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
    "ResourceError",
    "UnknownConditionError",
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


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MiB"


class ResourceError(GutlinkError, MemoryError):
    """A step would need more memory than the machine has available; raised *before* it starts.

    Parameters
    ----------
    step
        What would run (``"Bray–Curtis distances of 100,000 samples"``).
    needed
        The step's estimated peak, in bytes.
    available
        The memory gutlink may use, in bytes (available memory, or a limit the user set).
    hint
        What lowers the need (fewer samples or permutations, one metric, a coarser rank).
    """

    def __init__(self, step: str, *, needed: int, available: int, hint: str | None = None) -> None:
        self.step, self.needed, self.available, self.hint = step, int(needed), int(available), hint
        self.message = (f"{step} would need about {_gib(self.needed)} of memory but only {_gib(self.available)} "
                        "is available; stopped before starting it.")
        super().__init__(self.message + (f" {hint}" if hint else ""))


class UnknownConditionError(GutlinkError, ValueError):
    """A condition name that neither gutlink's vocabulary nor BugSigDB knows.

    Parameters
    ----------
    name
        The name as given.
    suggestions
        The nearest known names (may be empty).
    """

    def __init__(self, name: str, suggestions: tuple[str, ...] = ()) -> None:
        self.name = name
        self.suggestions = tuple(suggestions)
        near = (" Nearest names: " + ", ".join(repr(s) for s in self.suggestions) + ".") if self.suggestions else ""
        super().__init__(f"condition {printable(name)!r} is not in BugSigDB's condition labels nor in gutlink's "
                         f"vocabulary (RA, MS, T1D, CD, UC, IBD, AS, SLE, celiac, psoriasis, …).{near} Pass one of "
                         "these, or an exact BugSigDB label (see gutlink.literature.condition_labels()).")
