"""Performance measures of out-of-fold predictions: AUROC with a cluster-bootstrap CI, ROC band, calibration.

Examples
--------
>>> import numpy as np
>>> y = np.array([0, 0, 1, 1]); s = np.array([0.1, 0.4, 0.35, 0.8])
>>> auroc(y, s)
0.75
>>> float(weighted_auroc(y, s, np.ones((1, 4)))[0])
0.75
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, balanced_accuracy_score, brier_score_loss, roc_curve

__all__ = ["auroc", "column_auroc", "weighted_auroc", "bootstrap_ci", "compare_auroc", "roc_band", "calibration_table",
           "summary_metrics", "within_block_discrimination"]


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted half); NaN when a class is absent."""
    return float(column_auroc(y, np.asarray(score)[:, None])[0])


def column_auroc(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """:func:`auroc` of every column of *x* (n × k) at once (Mann–Whitney U / n1 n0, ties counted half)."""
    pos = np.asarray(y) == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return np.full(x.shape[1], np.nan)
    ranks = rankdata(x, axis=0)
    return (ranks[pos].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)


def weighted_auroc(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC of one score vector (length n) under many sample weightings ``(B, n)`` at once.

    Used for the bootstrap: each row of *weights* holds resampling counts. Ties between a case and a control
    count one half, as in :func:`auroc`.
    """
    values, codes = np.unique(score, return_inverse=True)
    onehot = sparse.csr_array((np.ones(codes.size), (np.arange(codes.size), codes)), shape=(codes.size, values.size))
    wpos = (weights * (y == 1)) @ onehot  # (B, n_unique) case weight at each distinct score
    wneg = (weights * (y == 0)) @ onehot
    below = np.cumsum(wneg, axis=1) - wneg
    num = (wpos * (below + 0.5 * wneg)).sum(axis=1)
    den = wpos.sum(axis=1) * wneg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _bootstrap_weights(y: np.ndarray, units: np.ndarray, n_boot: int, gen: np.random.Generator) -> np.ndarray:
    """Cluster-bootstrap counts per sample: units (subjects) resampled within each class.

    When a unit holds both classes (a household or matched pair) units are resampled as wholes, without
    stratification (a draw that lacks a class gives a NaN AUROC, which the quantiles skip).
    """
    weights = np.zeros((n_boot, y.size))
    codes, uniq = pd.factorize(pd.Series(units.astype(str)))
    per_unit = pd.Series(y).groupby(codes)
    if int(per_unit.nunique().max()) > 1:
        counts = _cluster_counts(uniq.size, n_boot, gen)
        return counts[:, codes]
    unit_class = per_unit.first().to_numpy()
    for c in (0, 1):
        members = np.flatnonzero(unit_class == c)
        draws = gen.integers(0, members.size, size=(n_boot, members.size))
        counts = np.zeros((n_boot, uniq.size))
        np.add.at(counts, (np.repeat(np.arange(n_boot), members.size), members[draws].ravel()), 1.0)
        weights += counts[:, codes] * (y == c)
    return weights


def _cluster_counts(n_units: int, n_boot: int, gen: np.random.Generator) -> np.ndarray:
    """How often each of *n_units* clusters is drawn in each of *n_boot* bootstrap resamples, ``(n_boot, n_units)``."""
    return gen.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_boot).astype(float)


_CHUNK = 250  # bootstrap draws evaluated at once (bounds the memory of the weight matrices)


def _boot_mean_auroc(y: np.ndarray, score_sets: list[np.ndarray], units: np.ndarray, n_boot: int,
                     gen: np.random.Generator) -> list[np.ndarray]:
    """Mean-over-repeats AUROC of each score matrix under the same *n_boot* cluster-bootstrap draws."""
    out: list[list[np.ndarray]] = [[] for _ in score_sets]
    for start in range(0, n_boot, _CHUNK):
        w = _bootstrap_weights(y, units, min(_CHUNK, n_boot - start), gen)
        for k, scores in enumerate(score_sets):
            per_repeat = np.vstack([weighted_auroc(y, s, w) for s in np.atleast_2d(scores)])
            out[k].append(np.nanmean(per_repeat, axis=0))
    return [np.concatenate(parts) for parts in out]


def bootstrap_ci(y: np.ndarray, scores: np.ndarray, units: np.ndarray, *, n_boot: int = 1000, level: float = 0.95,
                 rng: np.random.Generator | int | None = None) -> tuple[float, float]:
    """Percentile CI of the mean-over-repeats AUROC, resampling units (samples or subjects) within class.

    *scores* is ``(n_repeats, n)``: the out-of-fold predictions of each CV repeat.
    """
    (boot,) = _boot_mean_auroc(y, [scores], units, n_boot, np.random.default_rng(rng))
    alpha = (1 - level) / 2
    return float(np.nanquantile(boot, alpha)), float(np.nanquantile(boot, 1 - alpha))


def compare_auroc(y: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray, units: np.ndarray, *,
                  n_boot: int = 2000, level: float = 0.95,
                  rng: np.random.Generator | int | None = None) -> dict[str, float]:
    """Paired difference of mean-over-repeats AUROC, A − B, with a bootstrap CI (same resamples for both).

    Both score matrices must come from the same samples (ideally the same CV splits, i.e. the same ``rng``).
    """
    boot_a, boot_b = _boot_mean_auroc(y, [scores_a, scores_b], units, n_boot, np.random.default_rng(rng))
    diff = boot_a - boot_b
    point = float(np.mean([auroc(y, s) for s in np.atleast_2d(scores_a)])
                  - np.mean([auroc(y, s) for s in np.atleast_2d(scores_b)]))
    alpha = (1 - level) / 2
    return {"difference": point, "ci_low": float(np.nanquantile(diff, alpha)),
            "ci_high": float(np.nanquantile(diff, 1 - alpha)), "p_not_better": float(np.mean(diff <= 0))}


def roc_band(y: np.ndarray, scores: np.ndarray, *, n_points: int = 101) -> pd.DataFrame:
    """Mean ROC curve over repeats on a fixed false-positive-rate grid, with its min–max band."""
    grid = np.linspace(0, 1, n_points)
    curves = []
    for s in np.atleast_2d(scores):
        fpr, tpr, _ = roc_curve(y, s)
        curve = np.interp(grid, fpr, tpr)
        curve[0] = 0.0
        curves.append(curve)
    arr = np.vstack(curves)
    return pd.DataFrame({"fpr": grid, "tpr": arr.mean(axis=0), "tpr_low": arr.min(axis=0),
                         "tpr_high": arr.max(axis=0)})


def calibration_table(y: np.ndarray, prob: np.ndarray, *, n_bins: int = 10) -> pd.DataFrame:
    """Reliability table on quantile bins of the predicted probability."""
    edges = np.unique(np.quantile(prob, np.linspace(0, 1, n_bins + 1)))
    bins = np.clip(np.searchsorted(edges, prob, side="right") - 1, 0, max(edges.size - 2, 0))
    frame = pd.DataFrame({"bin": bins, "p": prob, "y": y})
    out = frame.groupby("bin").agg(mean_predicted=("p", "mean"), fraction_case=("y", "mean"), n=("y", "size"))
    return out.reset_index()


def summary_metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """AUROC, AUPRC and balanced accuracy (threshold 0.5) averaged over repeats; Brier of the mean prediction."""
    scores = np.atleast_2d(scores)
    aucs = np.array([auroc(y, s) for s in scores])
    return {
        "auroc": float(np.nanmean(aucs)),
        "auroc_sd": float(np.nanstd(aucs, ddof=1)) if len(aucs) > 1 else 0.0,
        "auprc": float(np.mean([average_precision_score(y, s) for s in scores])),
        "balanced_accuracy": float(np.mean([balanced_accuracy_score(y, (s >= 0.5).astype(int)) for s in scores])),
        "brier": float(brier_score_loss(y, np.clip(scores.mean(axis=0), 0, 1))),
    }


def _block_pairs(y: np.ndarray, score: np.ndarray, blocks: np.ndarray) -> pd.DataFrame:
    """Every case–control pair inside a block, with its concordance (1 case higher, 0.5 tie, 0 control higher)."""
    frame = pd.DataFrame({"block": np.asarray(blocks).astype(str), "s": np.asarray(score, dtype=float)})
    pos = np.asarray(y) == 1
    pairs = frame[pos].merge(frame[~pos], on="block", suffixes=("_case", "_control"))
    diff = pairs["s_case"].to_numpy() - pairs["s_control"].to_numpy()
    return pd.DataFrame({"block": pairs["block"].to_numpy(), "concordant": (diff > 0) + 0.5 * (diff == 0)})


def within_block_discrimination(y: np.ndarray, score: np.ndarray, blocks: np.ndarray, *, n_boot: int = 2000,
                                level: float = 0.95,
                                rng: np.random.Generator | int | None = None) -> dict[str, float | int | str]:
    """Within-block (within-pair) discrimination: the share of case–control pairs inside one block where the
    case scores higher (ties count one half), pooled over all such pairs.

    Only blocks holding both a case and a control contribute; a block of *a* cases and *b* controls gives
    *a b* pairs. The CI is a percentile bootstrap over those blocks (whole blocks resampled), so pairs of one
    block stay together. 0.5 is chance; for 1:1 pairs this is the conditional (within-pair) AUROC.

    Examples
    --------
    >>> r = within_block_discrimination(np.array([1, 0, 1, 0]), np.array([0.9, 0.2, 0.3, 0.3]),
    ...                                 np.array(["a", "a", "b", "b"]), rng=0)
    >>> r["fraction_case_higher"], r["n_pairs"], r["n_blocks"]
    (0.75, 2, 2)
    """
    pairs = _block_pairs(y, score, blocks)
    n_blocks_all = int(pd.unique(np.asarray(blocks).astype(str)).size)
    per = pairs.groupby("block")["concordant"].agg(["sum", "size"])
    out: dict[str, float | int | str] = {"n_blocks": int(len(per)), "n_blocks_without_contrast":
                                         n_blocks_all - int(len(per)), "n_pairs": int(len(pairs)),
                                         "ci_method": f"percentile bootstrap over blocks ({n_boot} resamples)"}
    if per.empty:
        return {**out, "fraction_case_higher": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    total, size = per["sum"].to_numpy(dtype=float), per["size"].to_numpy(dtype=float)
    counts = _cluster_counts(len(per), n_boot, np.random.default_rng(rng))
    boot = (counts @ total) / (counts @ size)
    alpha = (1 - level) / 2
    return {**out, "fraction_case_higher": float(total.sum() / size.sum()),
            "ci_low": float(np.quantile(boot, alpha)), "ci_high": float(np.quantile(boot, 1 - alpha))}
