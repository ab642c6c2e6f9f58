"""Abundances → log2 ratios: winsorisation, zero handling, CLR (or absolute log abundance with a total load).

Zero handling follows LinDA (Zhou et al. 2022 Genome Biol 23:95): counts get a pseudocount of 0.5, unless a
tested variable correlates with log sequencing depth (|r| > 0.1), in which case a zero is imputed as the same
*proportion* (1 / largest depth) in every sample, so that depth differences between groups cannot masquerade as
abundance differences. Relative abundances (no depth known, e.g. MetaPhlAn) get their zeros replaced by half
the feature's smallest non-zero proportion (as MaAsLin 3 does): a table-wide floor far below a feature's usual
range turns presence / absence into most of the variance and costs much power, and presence is modelled on its
own by the prevalence model anyway.

Examples
--------
>>> from gutlink.datasets import toy
>>> y, info = log_ratios(toy().dense(), "counts", depth_design=None)
>>> y.shape, info["zero_handling"]
((19, 30), 'pseudocount 0.5')
>>> bool(abs(y.sum(axis=1)).max() < 1e-9)
True
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..errors import DesignError

__all__ = ["ZeroHandling", "log_ratios", "winsorize"]

ZeroHandling = Literal["adaptive", "pseudocount", "imputation"]
#: |correlation| between a tested design column and log depth above which zeros are imputed (LinDA's corr.cut).
DEPTH_CORRELATION_CUT = 0.1


def winsorize(p: np.ndarray, quantile: float) -> np.ndarray:
    """Cap each feature's proportions at its ``1 - quantile`` quantile (LinDA's outlier guard)."""
    if not quantile:
        return p
    cut = np.quantile(p, 1.0 - quantile, axis=0)
    return np.minimum(p, cut[None, :])


def _depth_correlated(depth: np.ndarray, design: np.ndarray | None) -> float:
    if design is None or design.size == 0 or np.ptp(np.log(depth)) == 0:
        return 0.0
    logd = np.log(depth)
    best = 0.0
    for col in design.T:
        if np.ptp(col) > 0:
            best = max(best, abs(float(np.corrcoef(col, logd)[0, 1])))
    return best


def _zero_replaced(x: np.ndarray, units: str, depth: np.ndarray, zeros: ZeroHandling,
                   pseudocount: float | None, corr: float) -> tuple[np.ndarray, str]:
    """Proportions with no zeros left, and how the zeros were treated."""
    if pseudocount is not None:
        return (x + pseudocount) / depth[:, None], f"pseudocount {pseudocount:g}"
    if units != "counts":
        rel = x / depth[:, None]
        floor = np.where(rel > 0, rel, np.inf).min(axis=0) / 2
        floor = np.where(np.isfinite(floor), floor, 1e-12)
        return np.where(rel > 0, rel, floor[None, :]), "zeros → half the feature's smallest proportion"
    impute = zeros == "imputation" or (zeros == "adaptive" and corr > DEPTH_CORRELATION_CUT)
    if impute:
        filled = np.where(x > 0, x, depth[:, None] / depth.max())
        return filled / depth[:, None], "imputation (zeros → 1 / largest depth, as a proportion)"
    return (x + 0.5) / depth[:, None], "pseudocount 0.5"


def log_ratios(x: np.ndarray, units: str, *, depth: np.ndarray | None = None,
               depth_design: np.ndarray | None, zeros: ZeroHandling = "adaptive",
               pseudocount: float | None = None, winsor: float = 0.0,
               load: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """log2 centred log-ratios (samples × features), or log2 absolute abundances when *load* is given.

    Parameters
    ----------
    x
        Samples × features abundances on the cohort's scale (counts, fractions or percent).
    units
        The cohort's units; counts get depth-aware zero handling.
    depth
        Per-sample totals before feature filtering (default: row sums of *x*).
    depth_design
        Design columns of the tested terms, to check for a correlation with sequencing depth.
    zeros, pseudocount
        Zero handling (see module docstring); a *pseudocount* overrides it.
    winsor
        Fraction of the largest proportions of each feature to cap (0: none).
    load
        Total microbial load per sample (qPCR, flow cytometry, spike-in): the response becomes
        ``log2(proportion × load)`` and no compositional centring is done.
    """
    depth = x.sum(axis=1) if depth is None else np.asarray(depth, dtype=float)
    if (depth <= 0).any():
        raise DesignError(f"{int((depth <= 0).sum())} sample(s) have all-zero abundances; drop them first "
                          "(Cohort.drop_empty_samples).")
    corr = _depth_correlated(depth, depth_design) if units == "counts" else 0.0
    p = winsorize(x / depth[:, None], winsor) * depth[:, None]
    filled, how = _zero_replaced(p, units, depth, zeros, pseudocount, corr)
    logp = np.log2(filled)
    info: dict[str, Any] = {"zero_handling": how, "winsor": winsor, "log_base": 2,
                            "depth_correlation": round(corr, 4)}
    if load is not None:
        info["scale"] = "absolute (log2 proportion × load)"
        return logp + np.log2(load)[:, None], info
    info["scale"] = "clr"
    return logp - logp.mean(axis=1, keepdims=True), info
