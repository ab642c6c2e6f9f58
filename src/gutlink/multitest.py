"""The one place where multiple-testing correction happens.

Examples
--------
>>> bh([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
[0.04, 0.053, 0.053, 0.5]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["bh"]


def bh(p_values: ArrayLike) -> np.ndarray:
    """Benjamini–Hochberg q-values; NaN p-values stay NaN and do not count as tests."""
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return q
    pv = p[ok]
    order = np.argsort(pv)
    ranked = pv[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.clip(ranked, 0, 1)
    q[ok] = out
    return q
