"""Progress inside long community steps: the shared mechanism of :mod:`gutlink._progress`, importable from here."""

from __future__ import annotations

from .._progress import Sink, Ticker, progress_to

__all__ = ["Sink", "Ticker", "progress_to"]
