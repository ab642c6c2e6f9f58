"""Progress inside long steps (distance blocks, permutation batches, CV folds, scan batches), with an ETA.

The library never prints: a caller installs a *sink* (``sink(text)``, e.g. a function writing one line to stderr)
with :func:`progress_to`, and the long loops report through :class:`Ticker`, at most one line every few seconds.
Without a sink the ticks cost nothing.

Examples
--------
>>> lines = []
>>> with progress_to(lines.append, every=0.0):
...     tick = Ticker("Bray–Curtis distances", 4, unit="blocks")
...     for i in range(4):
...         tick(i + 1)
>>> lines[-1].startswith("Bray–Curtis distances: 4/4 blocks")
True
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar

__all__ = ["Ticker", "progress_to"]

Sink = Callable[[str], None]
_SINK: ContextVar[tuple[Sink, float] | None] = ContextVar("gutlink_progress", default=None)


@contextlib.contextmanager
def progress_to(sink: Sink | None, *, every: float = 5.0) -> Iterator[None]:
    """Send progress lines of the long steps run inside the block to *sink* (None: nowhere).

    Parameters
    ----------
    sink
        Called with one line of text (``"Bray–Curtis distances: 12/40 blocks (30%), 41 s, ETA 1 min 36 s"``).
    every
        Least number of seconds between two lines of one step (the last line always comes).
    """
    token = _SINK.set(None if sink is None else (sink, float(every)))
    try:
        yield
    finally:
        _SINK.reset(token)


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


class Ticker:
    """Report ``done`` of ``total`` units of one step, with the elapsed time and a linear ETA.

    Parameters
    ----------
    label
        What runs (``"PERMANOVA permutations (Bray–Curtis)"``).
    total
        How many units the step has.
    unit
        The name of a unit (``"blocks"``, ``"permutations"``).
    """

    def __init__(self, label: str, total: int, *, unit: str = "blocks") -> None:
        self.label, self.total, self.unit = label, max(int(total), 1), unit
        self.sink = _SINK.get()
        self.start = self.last = time.perf_counter()

    def __call__(self, done: int) -> None:
        """Say that *done* units are finished (a line only if a sink is installed and enough time passed)."""
        if self.sink is None:
            return
        sink, every = self.sink
        now = time.perf_counter()
        if done < self.total and now - self.last < every:
            return
        self.last = now
        elapsed = now - self.start
        text = f"{self.label}: {done}/{self.total} {self.unit} ({100 * done // self.total}%), {_duration(elapsed)}"
        if 0 < done < self.total:
            text += f", ETA {_duration(elapsed * (self.total - done) / done)}"
        sink(text)
