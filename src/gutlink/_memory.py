"""Memory estimates of the large steps (n × n community matrices, samples × taxa work arrays), checked before
anything large is allocated.

The limit is the ``GUTLINK_MEMORY`` environment variable (a size such as ``24G``), else the memory the operating
system reports available now. A step whose estimate exceeds it raises :class:`gutlink.errors.ResourceError` naming
the estimate and what lowers it, instead of swapping or being killed minutes later.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputFormatError, ResourceError

__all__ = ["available", "check", "square_bytes"]

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def available() -> int:
    """Bytes gutlink may use: ``GUTLINK_MEMORY`` when set, else the available memory of the machine."""
    text = os.environ.get("GUTLINK_MEMORY", "").strip().upper().removesuffix("B").removesuffix("I")
    if not text:
        return _system_available()
    unit = text[-1] if text[-1] in _UNITS else ""
    try:
        return int(float(text[: len(text) - len(unit)]) * _UNITS[unit])
    except ValueError:
        raise InputFormatError(f"GUTLINK_MEMORY={os.environ['GUTLINK_MEMORY']!r} is not a size.",
                               hint="Give a size such as 24G, 500M or 8000000000.") from None


def _system_available() -> int:
    """MemAvailable of /proc/meminfo (Linux), else free physical pages; a huge number when neither is known."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**62


def square_bytes(n: int, copies: float = 1.0, itemsize: int = 8) -> int:
    """Bytes of *copies* n × n arrays of *itemsize*-byte numbers."""
    return int(copies * n * n * itemsize)


def check(step: str, needed: int, *, hint: str | None = None) -> None:
    """Raise :class:`ResourceError` when *step* would need more than :func:`available` bytes."""
    limit = available()
    if needed > limit:
        raise ResourceError(step, needed=needed, available=limit, hint=hint)
