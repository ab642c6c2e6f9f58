"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The real public datasets: $GUTLINK_SHARED_DATA, else ../shared/data beside the checkout.
SHARED_DATA = Path(os.environ.get("GUTLINK_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
_MISSING = f"real data folder {SHARED_DATA} not present (set GUTLINK_SHARED_DATA to its path)"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public datasets (skips when the folder is absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(_MISSING)
    return SHARED_DATA


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests were skipped for want of the real data, so a short run is never mistaken for a full one."""
    skipped = terminalreporter.stats.get("skipped", [])
    missing = sum(1 for r in skipped if _MISSING in str(getattr(r, "longrepr", "")))
    if missing:
        terminalreporter.write_line(f"gutlink: {missing} real-data test(s) skipped: {_MISSING}.", yellow=True)
