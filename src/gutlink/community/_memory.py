"""Memory estimates of the n × n community steps (the shared helpers live in :mod:`gutlink._memory`)."""

from __future__ import annotations

from .. import _memory
from .._memory import available, square_bytes

__all__ = ["HINT", "available", "check", "square_bytes"]

HINT = ("Sample × sample distances grow with the square of the number of samples: keep one sample per subject "
        "(--one-per-subject), analyse fewer samples, or, on a machine with more memory, raise the limit with "
        "GUTLINK_MEMORY=<size> (e.g. 64G).")


def check(step: str, needed: int, *, hint: str = HINT) -> None:
    """Raise :class:`gutlink.errors.ResourceError` when *step* would need more than :func:`available` bytes."""
    _memory.check(step, needed, hint=hint)
