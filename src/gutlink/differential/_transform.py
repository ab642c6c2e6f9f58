"""Abundances → log2 ratios: winsorisation, zero handling, normalisation (or absolute log abundance with a load).

**Default (``zeros="exclude"``): a hurdle model, as MaAsLin 3 does.** A zero is not a small abundance: it is a
taxon below detection, and presence is modelled on its own (:mod:`gutlink.differential._prevalence`). The
abundance model sees only the non-zero values, as log2 ratios to a per-sample reference that no zero enters: the
median, over the taxa present in the sample, of their log proportion relative to the taxon's typical (mean
non-zero) log proportion — the size factor of DESeq2's ``poscounts`` rule. Closure (one taxon growing shrinks the
proportions of all the others) moves every non-zero value of a sample and its reference alike, so it cancels;
what remains is a shift common to all taxa, removed by the mode correction.

Why not a floor for the zeros: with zeros replaced by a fixed value and the rest centred (CLR), closure moves the
present values of a null taxon but not its zeros, so after the mode correction a taxon seen in 30 % of samples
appears to change while one seen everywhere does not. In our implantation benchmark on MetAML healthy stool this
shifted null t-statistics by up to -0.35 (taxa present in > 95 % of samples) and cost most of the power, since
presence / absence dominated the variance of the floored values.

**All samples (``zeros="adaptive" | "pseudocount" | "imputation"`` or a *pseudocount*)**: counts follow LinDA
(Zhou et al. 2022 Genome Biol 23:95): a pseudocount of 0.5, unless a tested variable correlates with log
sequencing depth (|r| > 0.1), in which case a zero is imputed as the same *proportion* (1 / largest depth) in
every sample; then CLR. Relative abundances (no depth known, e.g. MetaPhlAn) are normalised by the same zero-free
reference and their zeros set one log2 unit below the feature's smallest normalised value, so that zeros move
with the sample's closure as present values do.

Examples
--------
>>> from gutlink.datasets import toy
>>> y, info = log_ratios(toy().dense(), "counts", depth_design=None, zeros="pseudocount")
>>> y.shape, info["zero_handling"]
((19, 30), 'pseudocount 0.5')
>>> bool(abs(y.sum(axis=1)).max() < 1e-9)
True
>>> y, info = log_ratios(toy().dense(), "counts", depth_design=None)
>>> bool(np.isnan(y[toy().dense() == 0]).all()), info["abundance"]
(True, 'non-zero values')
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..errors import DesignError

__all__ = ["ZeroHandling", "log_ratios", "reference", "winsorize", "work_bytes"]

ZeroHandling = Literal["exclude", "adaptive", "pseudocount", "imputation"]
#: |correlation| between a tested design column and log depth above which zeros are imputed (LinDA's corr.cut).
DEPTH_CORRELATION_CUT = 0.1


def winsorize(p: np.ndarray, quantile: float, present: np.ndarray | None = None) -> np.ndarray:
    """Cap each feature's proportions at its ``1 - quantile`` quantile (LinDA's outlier guard).

    With a *present* mask the quantile is taken over the non-zero values only (a rare taxon's top values are
    otherwise nearly all capped).
    """
    if not quantile:
        return p
    if present is None:
        cut = np.quantile(p, 1.0 - quantile, axis=0)
    else:
        cut = np.nanquantile(np.where(present, p, np.nan), 1.0 - quantile, axis=0)
        cut = np.where(np.isfinite(cut), cut, np.inf)
    return np.minimum(p, cut[None, :])


def reference(logp: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per-sample log2 reference from the present features only: median of ``log p_ij - mean_i' log p_i'j``.

    Examples
    --------
    >>> logp = np.log2(np.array([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]]) + 1e-300)
    >>> reference(logp, np.array([[True, True, False], [True, True, True]])).round(3).tolist()
    [0.5, -0.5]
    """
    counts = present.sum(axis=0)
    centre = np.where(present, logp, 0.0).sum(axis=0) / np.maximum(counts, 1)
    dev = np.where(present, logp - centre[None, :], np.nan)
    has = present.any(axis=1)
    out = np.zeros(logp.shape[0])
    out[has] = np.nanmedian(dev[has], axis=1)
    return out


def depth_correlation(depth: np.ndarray, design: np.ndarray | None) -> float:
    """The largest |Pearson r| between log *depth* and a non-constant column of *design* (0 when none)."""
    if design is None or design.size == 0 or np.ptp(np.log(depth)) == 0:
        return 0.0
    logd = np.log(depth)
    best = 0.0
    for col in design.T:
        if np.ptp(col) > 0:
            best = max(best, abs(float(np.corrcoef(col, logd)[0, 1])))
    return best


#: Elements of one work array of the default (non-zero values) path: features are transformed in column chunks
#: and the per-sample reference computed in row chunks of about this size, so the only samples × features arrays
#: are the input and the output (memory: :func:`work_bytes`).
CHUNK_ELEMENTS = 2**22


def _spans(total: int, size: int) -> list[slice]:
    size = max(1, size)
    return [slice(lo, min(lo + size, total)) for lo in range(0, total, size)]


def _nonzero(x: np.ndarray, depth: np.ndarray, winsor: float,
             load: np.ndarray | None) -> tuple[np.ndarray, dict[str, Any]]:
    """log2 of the (winsorised) non-zero proportions ``x / depth``, NaN where zero, minus the zero-free reference.

    Column chunks (winsorisation is per feature) write into one output; the reference is a median per sample,
    computed in row chunks; each value is the one the whole-matrix arithmetic gives.
    """
    n, m = x.shape
    out = np.empty((n, m))
    for cols in _spans(m, CHUNK_ELEMENTS // max(n, 1)):
        rel = x[:, cols] / depth[:, None]
        present = rel > 0
        rel = winsorize(rel, winsor, present)
        with np.errstate(divide="ignore"):
            out[:, cols] = np.where(present, np.log2(np.where(present, rel, 1.0)), np.nan)
    info: dict[str, Any] = {"abundance": "non-zero values",
                            "zero_handling": "excluded: abundance is modelled where the feature is present; "
                                             "presence / absence by the prevalence model"}
    if load is not None:
        info["scale"] = "absolute (log2 proportion × load), non-zero values"
        out += np.log2(load)[:, None]
        return out, info
    info["scale"] = "log2 ratio to the sample's zero-free reference, non-zero values"
    out -= _reference_of(out)[:, None]
    return out, info


def _reference_of(logp: np.ndarray) -> np.ndarray:
    """:func:`reference` of log proportions with NaN where a feature is absent, in chunks (no n × m temporary)."""
    n, m = logp.shape
    counts, total = np.zeros(m), np.zeros(m)
    for cols in _spans(m, CHUNK_ELEMENTS // max(n, 1)):
        part = logp[:, cols]
        present = np.isfinite(part)
        counts[cols] = present.sum(axis=0)
        total[cols] = np.where(present, part, 0.0).sum(axis=0)
    centre = total / np.maximum(counts, 1)
    out = np.zeros(n)
    for rows in _spans(n, CHUNK_ELEMENTS // max(m, 1)):
        part = logp[rows]
        present = np.isfinite(part)
        dev = np.where(present, part - centre[None, :], np.nan)
        has = present.any(axis=1)
        block = np.zeros(part.shape[0])
        block[has] = np.nanmedian(dev[has], axis=1)
        out[rows] = block
    return out


def work_bytes(n: int, m: int, zeros: ZeroHandling = "exclude", pseudocount: float | None = None) -> int:
    """Peak bytes :func:`log_ratios` allocates for *n* samples × *m* features beyond its input: the float64 output,
    plus chunk work arrays on the default path, or four whole-matrix temporaries when zeros are floored."""
    whole = n * m * 8
    if zeros == "exclude" and pseudocount is None:
        return whole + 6 * min(CHUNK_ELEMENTS, n * m) * 8
    return 5 * whole


def _relative_floored(rel: np.ndarray, normalise: bool) -> np.ndarray:
    present = rel > 0
    logp = np.log2(np.where(present, rel, 1.0))
    if normalise:
        logp = logp - reference(logp, present)[:, None]
    floor = np.where(present, logp, np.inf).min(axis=0) - 1.0
    floor = np.where(np.isfinite(floor), floor, 0.0)
    return np.where(present, logp, floor[None, :])


def _floored(x: np.ndarray, units: str, depth: np.ndarray, zeros: ZeroHandling, pseudocount: float | None,
             corr: float, normalise: bool) -> tuple[np.ndarray, str]:
    """log2 values for every sample (no zeros left), and how the zeros were treated."""
    if pseudocount is not None:
        return np.log2((x + pseudocount) / depth[:, None]), f"pseudocount {pseudocount:g}"
    if units != "counts":
        how = "normalised proportion" if normalise else "proportion"
        return _relative_floored(x / depth[:, None], normalise), f"zeros → half the feature's smallest {how}"
    impute = zeros == "imputation" or (zeros == "adaptive" and corr > DEPTH_CORRELATION_CUT)
    if impute:
        filled = np.where(x > 0, x, depth[:, None] / depth.max())
        return np.log2(filled / depth[:, None]), "imputation (zeros → 1 / largest depth, as a proportion)"
    return np.log2((x + 0.5) / depth[:, None]), "pseudocount 0.5"


def log_ratios(x: np.ndarray, units: str, *, depth: np.ndarray | None = None,
               depth_design: np.ndarray | None, zeros: ZeroHandling = "exclude",
               pseudocount: float | None = None, winsor: float = 0.0,
               load: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """log2 ratios (samples × features; NaN where a zero is excluded), or log2 absolute abundances with *load*.

    Parameters
    ----------
    x
        Samples × features abundances on the cohort's scale (counts, fractions or percent).
    units
        The cohort's units; counts get depth-aware zero handling when zeros are not excluded.
    depth
        Per-sample totals before feature filtering (default: row sums of *x*).
    depth_design
        Design columns of the tested terms, to check for a correlation with sequencing depth.
    zeros, pseudocount
        ``"exclude"`` (default): model non-zero values only; otherwise floor the zeros (see module docstring).
        A *pseudocount* implies flooring.
    winsor
        Fraction of the largest proportions of each feature to cap (0: none).
    load
        Total microbial load per sample (qPCR, flow cytometry, spike-in): the response becomes
        ``log2(proportion × load)`` and no normalisation is done.
    """
    depth = x.sum(axis=1) if depth is None else np.asarray(depth, dtype=float)
    if (depth <= 0).any():
        raise DesignError(f"{int((depth <= 0).sum())} sample(s) have all-zero abundances; drop them first "
                          "(Cohort.drop_empty_samples).")
    if zeros == "exclude" and pseudocount is None:
        y, kept = _nonzero(x, depth, winsor, load)
        return y, {**kept, "winsor": winsor, "log_base": 2, "depth_correlation": None}
    corr = depth_correlation(depth, depth_design) if units == "counts" else 0.0
    p = winsorize(x / depth[:, None], winsor) * depth[:, None]
    normalised = units != "counts" and pseudocount is None
    logp, how = _floored(p, units, depth, zeros, pseudocount, corr, normalise=load is None)
    info: dict[str, Any] = {"abundance": "all samples", "zero_handling": how, "winsor": winsor, "log_base": 2,
                            "depth_correlation": round(corr, 4)}
    if load is not None:
        info["scale"] = "absolute (log2 proportion × load)"
        return logp + np.log2(load)[:, None], info
    if normalised:
        info["scale"] = "log2 ratio to the sample's zero-free reference"
        return logp, info
    info["scale"] = "clr"
    return logp - logp.mean(axis=1, keepdims=True), info
