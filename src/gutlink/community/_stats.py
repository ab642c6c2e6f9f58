"""Two-group statistics shared by the community tests.

Mann–Whitney with Hodges–Lehmann; on matched designs the Wilcoxon signed-rank test with the paired
Hodges–Lehmann estimate (pairs) or van Elteren's stratified test with the stratified estimate (larger blocks);
Kruskal–Wallis; OLS and a mixed model with a random intercept per block or subject.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..design import LABEL
from ..errors import DesignError
from ..multitest import bh
from ..results import TEST_COLUMNS

__all__ = ["hodges_lehmann", "paired_hodges_lehmann", "stratified_hodges_lehmann", "van_elteren"]


def _test_row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(TEST_COLUMNS, np.nan)
    row.update(values)
    return row


def _tests_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=TEST_COLUMNS)
    frame["q_value"] = bh(frame["p_value"].to_numpy(dtype=float))
    return frame


def hodges_lehmann(case: np.ndarray, control: np.ndarray, *, level: float = 0.95) -> tuple[float, float, float]:
    """Hodges–Lehmann shift (median of case − control differences) with its distribution-free CI.

    The interval is the Moses interval from order statistics of the pairwise differences (normal
    approximation for the critical rank), the interval R's ``wilcox.test(conf.int=TRUE)`` reports for large
    samples. An empty side gives NaN for all three (there is nothing to compare).

    Examples
    --------
    >>> hodges_lehmann(np.array([5.0, 6, 7, 8]), np.array([1.0, 2, 3, 4]))[0]
    4.0
    """
    case, control = np.asarray(case, dtype=float), np.asarray(control, dtype=float)
    n1, n2 = case.size, control.size
    if n1 == 0 or n2 == 0:
        return float("nan"), float("nan"), float("nan")
    z = stats.norm.ppf(0.5 + level / 2)
    k = int(np.floor(n1 * n2 / 2 - z * np.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)))
    total = n1 * n2
    if total <= _HL_DENSE:
        diffs = np.sort((case[:, None] - control[None, :]).ravel())
        shift = float(np.median(diffs))
        if k < 0:
            return shift, float("nan"), float("nan")
        return shift, float(diffs[k]), float(diffs[diffs.size - k - 1])
    a, b = np.sort(case), np.sort(control)
    half = (total - 1) // 2
    shift = _kth_difference(a, b, half) if total % 2 else (
        _kth_difference(a, b, half) + _kth_difference(a, b, half + 1)) / 2
    if k < 0:
        return float(shift), float("nan"), float("nan")
    return float(shift), _kth_difference(a, b, k), _kth_difference(a, b, total - k - 1)


_HL_LIST = 100_000  # a bracket holding at most this many differences (or 8 per sample) is listed and sorted
_HL_DENSE = 1_000_000  # up to this many pairwise differences, sort them all (8 MB); beyond, select without them


def _kth_difference(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """The k-th smallest (0-based) of all ``a[i] - b[j]`` without forming them (O((n1 + n2) log) memory).

    Bisection on the value, counting differences <= t with one ``searchsorted`` per step, until the
    bracket (lo, hi] holds few enough differences to list them; ``a`` and ``b`` must be sorted.
    """
    n2 = b.size

    def count_le(t: float) -> int:
        return int((n2 - np.searchsorted(b, a - t, side="left")).sum())

    lo, hi = float(a[0] - b[-1]), float(a[-1] - b[0])
    lo -= 1.0 + abs(lo)  # strictly below every difference even after rounding a - lo
    c_lo = count_le(lo)
    limit = max(8 * (a.size + n2), _HL_LIST)
    while True:
        c_hi = count_le(hi)
        if c_hi - c_lo <= limit:
            start = np.searchsorted(b, a - hi, side="left")
            stop = np.searchsorted(b, a - lo, side="left")
            sizes = stop - start
            rows = np.repeat(np.arange(a.size), sizes)
            offsets = np.arange(rows.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            values = np.sort(a[rows] - b[start[rows] + offsets])
            return float(values[min(max(k - c_lo, 0), values.size - 1)])
        mid = lo + (hi - lo) / 2
        if mid <= lo or mid >= hi:  # adjacent floats: the only value in (lo, hi] is hi
            return hi
        c_mid = count_le(mid)
        if c_mid > k:
            hi = mid
        else:
            lo, c_lo = mid, c_mid


def _centred_u(burden: np.ndarray, is_case: np.ndarray) -> np.ndarray:
    """Mann–Whitney U of cases minus its null mean, for each column of *burden* (samples × columns)."""
    ranks = stats.rankdata(burden, axis=0)
    n1, n2 = int(is_case.sum()), int((~is_case).sum())
    return ranks[is_case].sum(axis=0) - n1 * (n1 + 1) / 2 - n1 * n2 / 2


def _blocks(strata: np.ndarray | None, n: int) -> list[np.ndarray]:
    """Row indices of each stratum (one block of every row without strata)."""
    if strata is None:
        return [np.arange(n)]
    return [np.flatnonzero(strata == code) for code in np.unique(strata)]


def _weights(blocks: list[np.ndarray]) -> np.ndarray:
    """van Elteren's stratum weights ``1 / (n_s + 1)``."""
    return np.array([1.0 / (b.size + 1) for b in blocks])


def _stratified_u(burden: np.ndarray, is_case: np.ndarray, blocks: list[np.ndarray]) -> np.ndarray:
    """Centred U of each block (rows) for each column of *burden*: ``(n_blocks, n_columns)``."""
    return np.stack([_centred_u(burden[b], is_case[b]) for b in blocks])


def _tie_variance(values: np.ndarray, is_case: np.ndarray) -> float:
    """Null variance of U with the tie correction."""
    n1, n2 = int(is_case.sum()), int((~is_case).sum())
    n = n1 + n2
    if n < 2:
        return 0.0
    _, t = np.unique(values, return_counts=True)
    return n1 * n2 / 12 * ((n + 1) - float(np.sum(t ** 3 - t)) / (n * (n - 1)))


def _codes(strata: Any, n: int) -> np.ndarray | None:
    if strata is None:
        return None
    codes = pd.factorize(pd.Series(np.asarray(strata, dtype=object)), sort=True)[0]
    if codes.size != n or (codes < 0).any():
        raise DesignError("strata must give one non-missing value per sample.")
    return codes


def van_elteren(values: Any, is_case: Any, strata: Any = None) -> tuple[float, float]:
    """van Elteren's stratified Wilcoxon rank-sum test (two-sided, normal approximation with tie correction).

    Each stratum's Mann–Whitney U of the cases, minus its null mean, is weighted by ``1 / (n_s + 1)`` (the
    locally most powerful weights under a constant shift); the weighted sum is divided by its null standard
    deviation. Without strata it is the Mann–Whitney z without continuity correction.

    Returns
    -------
    tuple of float
        ``z`` and its two-sided p-value (both NaN when every stratum is tied throughout).

    Examples
    --------
    >>> z, p = van_elteren([1.0, 2, 3, 4, 5, 6, 7, 8], [0, 0, 1, 1, 0, 0, 1, 1], strata=list("aaaabbbb"))
    >>> round(z, 3), round(p, 4)
    (2.191, 0.0285)
    """
    x = np.asarray(values, dtype=float)
    case = np.asarray(is_case, dtype=bool)
    blocks = _blocks(_codes(strata, x.size), x.size)
    w = _weights(blocks)
    t = float(w @ _stratified_u(x[:, None], case, blocks)[:, 0])
    var = float(sum(wb ** 2 * _tie_variance(x[b], case[b]) for wb, b in zip(w, blocks)))
    if var <= 0:
        return float("nan"), float("nan")
    z = t / np.sqrt(var)
    return float(z), float(2 * stats.norm.sf(abs(z)))


def stratified_hodges_lehmann(values: Any, is_case: Any, strata: Any = None, *,
                              level: float = 0.95) -> tuple[float, float, float]:
    """The shift estimate and CI that invert the van Elteren test: a weighted median of within-stratum differences.

    Every case − control difference within a stratum carries that stratum's weight ``1 / (n_s + 1)``; the
    estimate is the weighted median and the interval's ends are the weighted order statistics where the
    van Elteren statistic crosses its critical value (normal approximation). Without strata (one stratum) it
    equals :func:`gutlink.community.hodges_lehmann`: the median of differences and the Moses interval.

    Examples
    --------
    >>> stratified_hodges_lehmann([5.0, 6, 7, 8, 1, 2, 3, 4], [1, 1, 1, 1, 0, 0, 0, 0])[0]
    4.0
    >>> stratified_hodges_lehmann([3.0, 1, 10, 12], [1, 0, 1, 0], strata=list("aabb"))[0]
    0.0
    """
    x = np.asarray(values, dtype=float)
    case = np.asarray(is_case, dtype=bool)
    blocks = _blocks(_codes(strata, x.size), x.size)
    pairs = sum(int(case[b].sum()) * int((~case[b]).sum()) for b in blocks)
    if pairs > _HL_DENSE:
        return _stratified_hl_selected(x, case, blocks, level)
    diffs, weights = [], []
    var = 0.0
    for wb, b in zip(_weights(blocks), blocks):
        a, c = x[b][case[b]], x[b][~case[b]]
        d = (a[:, None] - c[None, :]).ravel()
        diffs.append(d)
        weights.append(np.full(d.size, wb))
        var += wb ** 2 * a.size * c.size * (b.size + 1) / 12
    order = np.argsort(np.concatenate(diffs), kind="stable")
    d, w = np.concatenate(diffs)[order], np.concatenate(weights)[order]
    if d.size == 0:
        return float("nan"), float("nan"), float("nan")
    below, above = np.cumsum(w), np.cumsum(w[::-1])[::-1]
    half, eps = below[-1] / 2, 1e-9 * below[-1]
    shift = (d[np.argmax(below >= half - eps)] + d[np.argmax(below > half + eps)]) / 2
    a = half - stats.norm.ppf(0.5 + level / 2) * np.sqrt(var)
    if a < 0:
        return float(shift), float("nan"), float("nan")
    lo = d[np.argmax(below > a + eps)]
    hi = d[np.flatnonzero(above > a + eps)[-1]]
    return float(shift), float(lo), float(hi)


class _WeightedDifferences:
    """The weighted within-stratum differences ``a - c`` (case minus control, weight ``w`` per stratum), never
    formed: counts by ``searchsorted`` on each stratum's sorted values, O(n) memory."""

    def __init__(self, parts: list[tuple[np.ndarray, np.ndarray, float]]) -> None:
        self.parts = [(np.sort(a), np.sort(c), w) for a, c, w in parts if a.size and c.size]

    def counts(self, t: float) -> tuple[float, int]:
        """Weighted and plain number of differences <= t."""
        weighted, plain = 0.0, 0
        for a, c, w in self.parts:
            k = int((c.size - np.searchsorted(c, a - t, side="left")).sum())
            weighted, plain = weighted + w * k, plain + k
        return weighted, plain

    def between(self, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        """The differences in (lo, hi] and their weights, sorted by value (stable: stratum order within ties)."""
        values, weights = [], []
        for a, c, w in self.parts:
            start = np.searchsorted(c, a - hi, side="left")
            stop = np.searchsorted(c, a - lo, side="left")
            sizes = stop - start
            rows = np.repeat(np.arange(a.size), sizes)
            offsets = np.arange(rows.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            values.append(a[rows] - c[start[rows] + offsets])
            weights.append(np.full(rows.size, w))
        v, wt = np.concatenate(values), np.concatenate(weights)
        order = np.argsort(v, kind="stable")
        return v[order], wt[order]

    def first(self, x: float, *, strict: bool, eps: float) -> float:
        """The smallest difference v whose weighted count of differences <= v reaches *x* (exceeds it: *strict*)."""
        def reached(weighted: float) -> bool:
            return weighted > x + eps if strict else weighted >= x - eps

        lo = min(float(a[0] - c[-1]) for a, c, _ in self.parts)
        hi = max(float(a[-1] - c[0]) for a, c, _ in self.parts)
        lo -= 1.0 + abs(lo)
        (w_lo, n_lo), limit = self.counts(lo), max(8 * sum(a.size + c.size for a, c, _ in self.parts), _HL_LIST)
        while True:
            n_hi = self.counts(hi)[1]
            mid = lo + (hi - lo) / 2
            if n_hi - n_lo <= limit or mid <= lo or mid >= hi:
                v, w = self.between(lo, hi)
                cum = w_lo + np.cumsum(w)
                hit = np.flatnonzero(cum > x + eps) if strict else np.flatnonzero(cum >= x - eps)
                return float(v[hit[0]]) if hit.size else float(v[-1])
            w_mid, n_mid = self.counts(mid)
            if reached(w_mid):
                hi = mid
            else:
                lo, w_lo, n_lo = mid, w_mid, n_mid


def _stratified_hl_selected(x: np.ndarray, case: np.ndarray, blocks: list[np.ndarray],
                            level: float) -> tuple[float, float, float]:
    """:func:`stratified_hodges_lehmann` by selection (beyond ``_HL_DENSE`` differences): the same order
    statistics of the weighted differences, found by bisection on the value."""
    parts, var = [], 0.0
    for wb, b in zip(_weights(blocks), blocks):
        a, c = x[b][case[b]], x[b][~case[b]]
        parts.append((a, c, wb))
        var += wb ** 2 * a.size * c.size * (b.size + 1) / 12
    up = _WeightedDifferences(parts)
    if not up.parts:
        return float("nan"), float("nan"), float("nan")
    down = _WeightedDifferences([(c, a, w) for a, c, w in parts])  # c - a: the upper end from below
    total = up.counts(float("inf"))[0]
    half, eps = total / 2, 1e-9 * total
    shift = (up.first(half, strict=False, eps=eps) + up.first(half, strict=True, eps=eps)) / 2
    a_crit = half - stats.norm.ppf(0.5 + level / 2) * np.sqrt(var)
    if a_crit < 0:
        return float(shift), float("nan"), float("nan")
    lo = up.first(a_crit, strict=True, eps=eps)
    hi = -down.first(a_crit, strict=True, eps=eps)
    return float(shift), float(lo), float(hi)


def _signed_rank_counts(n: int) -> np.ndarray:
    """Null counts of the signed-rank statistic V = 0 .. n(n+1)/2 (exact distribution, no ties)."""
    counts = np.ones(1)
    for i in range(1, n + 1):  # n < 50 steps of one vector addition
        grown = np.zeros(counts.size + i)
        grown[: counts.size] += counts
        grown[i:] += counts
        counts = grown
    return counts


def paired_hodges_lehmann(differences: Any, *, level: float = 0.95) -> tuple[float, float, float]:
    """Hodges–Lehmann estimate of the within-pair shift (median of the Walsh averages) with its CI.

    The interval inverts the Wilcoxon signed-rank test: its ends are Walsh averages at the critical rank, from
    the exact null distribution when there are fewer than 50 differences, none zero or tied (then equal to R's
    ``wilcox.test(x, y, paired=TRUE, conf.int=TRUE)``), else from the normal approximation. The estimate uses every
    difference, zeros included. Missing differences are dropped; none left gives NaN.

    Examples
    --------
    >>> x = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
    >>> y = np.array([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])
    >>> [round(v, 3) for v in paired_hodges_lehmann(x - y)]
    [0.46, 0.01, 0.786]
    """
    d = np.asarray(differences, dtype=float).ravel()
    d = d[np.isfinite(d)]
    n = d.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    total = n * (n + 1) // 2
    ds = np.sort(d)
    walsh = None
    if total <= _HL_DENSE:
        i, j = np.triu_indices(n)
        walsh = np.sort((d[i] + d[j]) / 2)

    def kth(k: int) -> float:  # beyond _HL_DENSE, select the Walsh averages without forming them
        return float(walsh[k]) if walsh is not None else _kth_walsh(ds, k)
    half = (total - 1) // 2
    shift = float(kth(half)) if total % 2 else float((kth(half) + kth(half + 1)) / 2)
    if n < 50 and np.all(d != 0) and np.unique(np.abs(d)).size == n:
        cdf = np.cumsum(_signed_rank_counts(n)) / 2.0 ** n
        qu = max(int(np.searchsorted(cdf, (1 - level) / 2 - 1e-12)), 1)  # R's qsignrank(alpha / 2, n), at least 1
        return shift, float(kth(qu - 1)), float(kth(total - qu))
    z = stats.norm.ppf(0.5 + level / 2)
    k = int(np.floor(total / 2 - z * np.sqrt(n * (n + 1) * (2 * n + 1) / 24)))
    if k < 0:
        return shift, float("nan"), float("nan")
    return shift, float(kth(k)), float(kth(total - k - 1))


def _kth_walsh(d: np.ndarray, k: int) -> float:
    """The k-th smallest (0-based) Walsh average ``(d[i] + d[j]) / 2``, i <= j, of sorted *d*, in O(n) memory."""
    idx = np.arange(d.size)

    def count_le(t: float) -> int:
        return int(np.maximum(np.searchsorted(d, t - d, side="right") - idx, 0).sum())

    lo, hi = float(2 * d[0]), float(2 * d[-1])
    lo -= 1.0 + abs(lo)
    c_lo = count_le(lo)
    limit = max(8 * d.size, _HL_LIST)
    while True:
        c_hi = count_le(hi)
        if c_hi - c_lo <= limit:
            start = np.maximum(np.searchsorted(d, lo - d, side="right"), idx)
            sizes = np.maximum(np.searchsorted(d, hi - d, side="right") - start, 0)
            rows = np.repeat(idx, sizes)
            offsets = np.arange(rows.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            values = np.sort((d[rows] + d[start[rows] + offsets]) / 2)
            return float(values[min(max(k - c_lo, 0), values.size - 1)])
        mid = lo + (hi - lo) / 2
        if mid <= lo or mid >= hi:
            return hi / 2
        c_mid = count_le(mid)
        if c_mid > k:
            hi = mid
        else:
            lo, c_lo = mid, c_mid


def _signed_rank(differences: np.ndarray) -> tuple[float, float]:
    """R's V (sum of the ranks of the positive non-zero differences) and scipy's two-sided signed-rank p."""
    d = differences[np.isfinite(differences)]
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return float("nan"), float("nan")
    v = float(stats.rankdata(np.abs(nonzero))[nonzero > 0].sum())
    return v, float(stats.wilcoxon(nonzero, alternative="two-sided").pvalue)


def _pairs(values: np.ndarray, is_case: np.ndarray, blocks: np.ndarray) -> np.ndarray | None:
    """Case − control difference of each block that holds one case and one control, or None when some informative
    block holds more (then the design is stratified, not paired)."""
    frame = pd.DataFrame({"block": blocks, "case": is_case, "value": values})
    n = frame.groupby(["block", "case"], observed=True).size().unstack(fill_value=0).reindex(columns=[False, True],
                                                                                              fill_value=0)
    informative = n[(n[True] > 0) & (n[False] > 0)]
    if informative.empty or not ((informative[True] == 1) & (informative[False] == 1)).all():
        return None
    both = frame[frame["block"].isin(informative.index)]
    means = both.groupby(["block", "case"], observed=True)["value"].first().unstack()
    return (means[True] - means[False]).to_numpy(dtype=float)


def _paired_row(diffs: np.ndarray, *, analysis: str, metric: str, block: str, unit: str) -> dict[str, Any]:
    v, p = _signed_rank(diffs)
    shift, lo, hi = paired_hodges_lehmann(diffs)
    return _test_row(analysis=analysis, metric=metric, test="wilcoxon_signed_rank",
                     comparison=f"case vs control within {diffs.size} pairs of {block!r}{unit}", statistic=v,
                     p_value=p, effect=shift, effect_name="paired_hodges_lehmann_shift", ci_low=lo, ci_high=hi,
                     n_case=diffs.size, n_control=diffs.size)


def _stratified_row(values: np.ndarray, is_case: np.ndarray, blocks: np.ndarray, *, analysis: str, metric: str,
                    block: str, unit: str) -> dict[str, Any]:
    frame = pd.DataFrame({"b": blocks, "c": is_case})
    keep = frame.groupby("b", observed=True)["c"].transform("nunique").to_numpy() == 2  # blocks with both classes
    x, case, codes = values[keep], is_case[keep], blocks[keep]
    z, p = van_elteren(x, case, codes) if keep.any() else (float("nan"), float("nan"))
    shift, lo, hi = stratified_hodges_lehmann(x, case, codes)
    return _test_row(analysis=analysis, metric=metric, test="van_elteren",
                     comparison=f"case vs control within {pd.unique(codes).size} blocks of {block!r}{unit}",
                     statistic=z, p_value=p, effect=shift, effect_name="stratified_hodges_lehmann_shift", ci_low=lo,
                     ci_high=hi, n_case=int(case.sum()), n_control=int((~case).sum()))


def subject_means(values: pd.Series, meta: pd.DataFrame, subject: str, block: str | None = None) -> pd.DataFrame:
    """One row per subject: the mean of its samples' values, its label and (when given) its block.

    A subject is one unit of a test: its samples are repeated measures, not independent replicates. Raises
    :class:`DesignError` when a subject's samples carry different labels or blocks.
    """
    cols = [LABEL, *([block] if block else [])]
    frame = meta[[subject, *cols]].astype(str).assign(value=values.to_numpy(dtype=float))
    varies = frame.groupby(subject, observed=True)[cols].nunique().gt(1).any(axis=1)
    if varies.any():
        raise DesignError(f"{int(varies.sum())} subject(s) of {subject!r} (e.g. {varies[varies].index[0]!r}) have "
                          f"samples with different case/control labels{' or blocks' if block else ''}; a subject "
                          "holds one class. If the column holds households or pairs, give it as block=.")
    grouped = frame.groupby(subject, observed=True, sort=True)
    return grouped[cols].first().assign(value=grouped["value"].mean())


def two_group_row(values: pd.Series, meta: pd.DataFrame, *, analysis: str, metric: str, subject: str | None = None,
                  block: str | None = None) -> dict[str, Any]:
    """The case/control rank test that respects the design.

    Independent samples: Mann–Whitney U with the Hodges–Lehmann shift. *subject*: the same on per-subject means
    (one unit per subject). *block*: the Wilcoxon signed-rank test of within-pair differences with the paired
    Hodges–Lehmann shift when every block holding both classes is one case + one control, else van Elteren's
    stratified test with the stratified shift; blocks holding one class add nothing and are left out.
    """
    unit = ""
    if subject is not None:
        frame = subject_means(values, meta, subject, block)
        values, meta, unit = frame["value"], frame, " (subject means)"
    labels = meta[LABEL].astype(str)
    if block is None:
        row = _mann_whitney(values, labels, analysis=analysis, metric=metric)
        return {**row, "comparison": row["comparison"] + unit}
    ok = values.notna().to_numpy()
    x, case = values.to_numpy(dtype=float)[ok], (labels == "case").to_numpy()[ok]
    codes = meta[block].astype(str).to_numpy()[ok]
    diffs = _pairs(x, case, codes)
    if diffs is not None:
        return _paired_row(diffs, analysis=analysis, metric=metric, block=block, unit=unit)
    return _stratified_row(x, case, codes, analysis=analysis, metric=metric, block=block, unit=unit)


def _mann_whitney(values: pd.Series, labels: pd.Series, *, analysis: str, metric: str,
                  comparison: str = "case vs control") -> dict[str, Any]:
    a = values[labels == "case"].dropna().to_numpy(dtype=float)
    b = values[labels == "control"].dropna().to_numpy(dtype=float)
    if a.size == 0 or b.size == 0:  # nothing to compare: a row of NaN, never a crash
        return _test_row(analysis=analysis, metric=metric, test="mann_whitney", comparison=comparison,
                         effect_name="hodges_lehmann_shift", n_case=a.size, n_control=b.size)
    if np.ptp(np.r_[a, b]) == 0:  # constant (e.g. richness 1 on a single-taxon table): nothing to rank, not assessable
        return _test_row(analysis=analysis, metric=metric, test="mann_whitney", comparison=comparison,
                         effect=0.0, effect_name="hodges_lehmann_shift", n_case=a.size, n_control=b.size)
    res = stats.mannwhitneyu(a, b, alternative="two-sided")
    shift, lo, hi = hodges_lehmann(a, b)
    return _test_row(analysis=analysis, metric=metric, test="mann_whitney", comparison=comparison,
                     statistic=float(res.statistic), p_value=float(res.pvalue), effect=shift,
                     effect_name="hodges_lehmann_shift", ci_low=lo, ci_high=hi, n_case=a.size, n_control=b.size)


def _kruskal(values: pd.Series, levels: pd.Series, *, analysis: str, metric: str) -> dict[str, Any]:
    groups = [values[levels == lev].dropna().to_numpy(dtype=float) for lev in sorted(levels.unique())]
    h, p = stats.kruskal(*groups)
    n = sum(g.size for g in groups)
    return _test_row(analysis=analysis, metric=metric, test="kruskal_wallis",
                     comparison=" vs ".join(sorted(levels.unique())), statistic=float(h), p_value=float(p),
                     effect=float(h / (n - 1)), effect_name="epsilon_squared", n_case=n, n_control=np.nan)


def _ols(values: pd.Series, meta: pd.DataFrame, covariates: Sequence[str], *, analysis: str,
         metric: str) -> dict[str, Any]:
    import statsmodels.api as sm

    design = _covariate_design(meta, covariates)
    y = values.to_numpy(dtype=float)
    fit = sm.OLS(y, design).fit()
    lo, hi = fit.conf_int().loc["case"]
    labels = meta[LABEL].astype(str)
    return _test_row(analysis=analysis, metric=metric, test="ols", comparison="case vs control | " + " + ".join(covariates),
                     statistic=float(fit.tvalues["case"]), p_value=float(fit.pvalues["case"]),
                     effect=float(fit.params["case"]), effect_name="adjusted_mean_difference", ci_low=float(lo),
                     ci_high=float(hi), n_case=int((labels == "case").sum()), n_control=int((labels == "control").sum()))


def _mixed(values: pd.Series, meta: pd.DataFrame, covariates: Sequence[str], groups: str, *, analysis: str,
           metric: str) -> dict[str, Any]:
    """``metric ~ case + covariates`` with a random intercept per *groups* value (statsmodels MixedLM, REML).

    The effect is the adjusted case − control difference with its Wald 95 % CI. A fit on the boundary (no
    between-group variance) equals OLS; a fit that did not converge says so in ``comparison``.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    design = _covariate_design(meta, covariates)
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always")  # local: recorded, and a boundary fit (singular random effect) is fine
        fit = sm.MixedLM(values.to_numpy(dtype=float), design, groups=meta[groups].astype(str).to_numpy()).fit(
            reml=True)
    failed = not fit.converged or any(issubclass(w.category, ConvergenceWarning) and "converge" in str(w.message)
                                      for w in caught)
    lo, hi = fit.conf_int().loc["case"]
    labels = meta[LABEL].astype(str)
    note = " [mixed model did not converge]" if failed else ""
    return _test_row(analysis=analysis, metric=metric, test="mixedlm",
                     comparison=f"case vs control | {' + '.join(covariates)} + (1 | {groups}){note}",
                     statistic=float(fit.tvalues["case"]), p_value=float(fit.pvalues["case"]),
                     effect=float(fit.params["case"]), effect_name="adjusted_mean_difference", ci_low=float(lo),
                     ci_high=float(hi), n_case=int((labels == "case").sum()), n_control=int((labels == "control").sum()))


def _covariate_design(meta: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Intercept, a 0/1 ``case`` column and dummy-coded covariates (first level as reference)."""
    parts = [pd.Series(1.0, index=meta.index, name="const"),
             (meta[LABEL].astype(str) == "case").astype(float).rename("case")]
    for cov in covariates:
        col = meta[cov]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            parts.append(col.astype(float).rename(cov))
        else:
            dummies = pd.get_dummies(col.astype("string"), prefix=cov, drop_first=True, dtype=float)
            parts.extend(dummies[c] for c in dummies.columns)
    design = pd.concat(parts, axis=1)
    if np.linalg.matrix_rank(design.to_numpy()) < design.shape[1]:
        raise DesignError(f"the covariates {list(covariates)} are collinear with the groups or each other.")
    return design
