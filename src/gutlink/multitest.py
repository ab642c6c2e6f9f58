"""The one place where multiple-testing correction happens.

Examples
--------
>>> bh([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
[0.04, 0.053, 0.053, 0.5]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["bh"]


def bh(p_values: ArrayLike) -> np.ndarray:
    """Benjamini–Hochberg q-values; NaN p-values stay NaN and do not count as tests."""
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if not ok.any():
        return q
    q[ok] = stats.false_discovery_control(p[ok], method="bh")
    return q
