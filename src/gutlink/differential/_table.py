"""The tidy output table: one row per feature and term, with per-group prevalence and mean abundance.

Examples
--------
>>> import pandas as pd
>>> rel = np.array([[0.5, 0.0], [0.2, 0.1], [0.0, 0.3]])
>>> group_summary(rel, pd.Series(["a", "a", "b"]), ["f1", "f2"]).round(2).to_dict("list")
{'prevalence_a': [1.0, 0.5], 'prevalence_b': [0.0, 1.0], 'mean_abundance_a': [0.35, 0.05], 'mean_abundance_b': [0.0, 0.3]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..multitest import bh
from ..taxonomy import RANKS
from ._design import Omnibus, Term
from ._linmod import OmnibusFit, confidence, t_test

__all__ = ["COLUMNS", "OMNIBUS_COLUMNS", "group_summary", "joint", "joint_p", "lineages", "omnibus_frame",
           "term_frame"]

#: Leading columns of every differential table (per-group columns follow).
COLUMNS = ["feature_id", "lineage", "term", "comparison", "effect", "se", "ci_low", "ci_high", "statistic", "df",
           "p_value", "q_value", "effect_name", "model", "n"]

#: Leading columns of the omnibus table (one row per feature and multi-level term; per-group columns follow).
OMNIBUS_COLUMNS = ["feature_id", "lineage", "term", "comparison", "test", "statistic", "df_num", "df", "p_value",
                   "q_value", "model", "n"]


#: Elements of one work array of :func:`group_summary` (features are summarised in column chunks).
SUMMARY_CHUNK = 2**22


def group_summary(rel: np.ndarray, labels: pd.Series | None, features: Sequence[str], *,
                  depth: np.ndarray | None = None) -> pd.DataFrame:
    """Prevalence (fraction of samples with the feature) and mean relative abundance, overall or per group.

    With *depth* (per-sample totals), *rel* holds the abundances and the proportions ``rel / depth`` are formed
    a chunk of features at a time (no second samples × features array).
    """
    n, m = rel.shape
    lab = None if labels is None else np.asarray(labels, dtype=str)
    levels = [None] if labels is None else list(dict.fromkeys(labels.astype(str)))
    rows = [slice(None) if lv is None else np.flatnonzero(lab == lv) for lv in levels]
    prev = np.empty((len(levels), m))
    mean = np.empty((len(levels), m))
    width = max(1, SUMMARY_CHUNK // max(n, 1))
    for lo in range(0, m, width):
        cols = slice(lo, min(lo + width, m))
        for k, r in enumerate(rows):
            part = rel[r, cols] if depth is None else rel[r, cols] / depth[r, None]
            prev[k, cols] = (part > 0).mean(axis=0)
            mean[k, cols] = part.mean(axis=0)
    index = pd.Index(features, name="feature_id")
    if labels is None:
        return pd.DataFrame({"prevalence": prev[0], "mean_abundance": mean[0]}, index=index)
    return pd.DataFrame({**{f"prevalence_{lv}": prev[k] for k, lv in enumerate(levels)},
                         **{f"mean_abundance_{lv}": mean[k] for k, lv in enumerate(levels)}}, index=index)


def lineages(taxonomy: pd.DataFrame) -> pd.Series:
    """``'k__Bacteria|p__…|s__…'``-style lineage strings from the cohort's rank columns."""
    cols = [r for r in RANKS if r in taxonomy.columns]
    parts = []
    for r in cols:
        missing = taxonomy[r].isna().to_numpy()
        parts.append([None if miss else f"{r[0]}__{v}" for v, miss in zip(taxonomy[r].tolist(), missing)])
    joined = ["|".join(p for p in row if p is not None) for row in zip(*parts)] if parts else \
        [""] * len(taxonomy)
    return pd.Series(joined, index=taxonomy.index)


def term_frame(term: Term, effect: np.ndarray, se: np.ndarray, df: float | np.ndarray, *,
               features: Sequence[str], lineage: pd.Series, model: str, n: int | np.ndarray, effect_name: str, extra: dict[str, Any],
               p_value: np.ndarray | None = None) -> pd.DataFrame:
    """One term's rows: effect, SE, t-based CI, p (Wald t unless *p_value* is given) and BH q within the term."""
    stat, p = t_test(effect, se, df)
    if p_value is not None:
        p = p_value
    lo, hi = confidence(effect, se, df)
    frame = pd.DataFrame({
        "feature_id": list(features), "lineage": lineage.reindex(list(features)).to_numpy(),
        "term": term.name, "comparison": term.comparison, "effect": effect, "se": se, "ci_low": lo,
        "ci_high": hi, "statistic": stat, "df": df, "p_value": p, "q_value": bh(p), "effect_name": effect_name,
        "model": model, "n": n, **extra,
    })
    return frame


def effect_name(term: Term, scale: str, prevalence: bool) -> str:
    """What an effect of *term* measures, in words a table reader can use."""
    unit = "" if term.categorical or term.variable is None else "_per_unit"
    if prevalence:
        return f"log_odds_ratio_presence{unit}"
    kind = "_absolute" if scale.startswith("absolute") else ""
    where = "_when_present" if "non-zero" in scale else ""
    return f"log2_fold_change{kind}{where}{unit}"


def joint_p(p_abund: np.ndarray, p_prev: np.ndarray) -> np.ndarray:
    """Šidák-adjusted smaller of two p-values, ``1 - (1 - min p)^2``; the one available where the other is NaN."""
    p_abund, p_prev = np.asarray(p_abund, dtype=float), np.asarray(p_prev, dtype=float)
    low = np.fmin(p_abund, p_prev)
    return np.where(np.isfinite(p_prev) & np.isfinite(p_abund), 1 - (1 - low) ** 2, low)


def joint(table: pd.DataFrame, prevalence: pd.DataFrame) -> pd.DataFrame:
    """Add the prevalence model's p-value and a joint test per feature and term: does the feature differ at all?

    ``p_joint`` is the Šidák-adjusted smaller of the abundance and prevalence p-values, ``1 - (1 - min p)^2``
    (the smaller p itself when only one model could be fitted: e.g. a taxon present in every sample has no
    prevalence test); ``q_joint`` is its BH q-value within the term. Under the null the two parts of a hurdle
    model are nearly independent (abundance is modelled given presence), which is what the Šidák bound needs.

    Examples
    --------
    >>> tab = pd.DataFrame({"feature_id": ["a", "b"], "term": "g", "p_value": [0.01, np.nan]})
    >>> prev = pd.DataFrame({"feature_id": ["a", "b"], "term": "g", "p_value": [0.5, 0.02]})
    >>> joint(tab, prev)["p_joint"].round(4).tolist()
    [0.0199, 0.02]
    """
    keyed = prevalence.set_index(["feature_id", "term"])["p_value"]
    idx = pd.MultiIndex.from_frame(table[["feature_id", "term"]])
    p_prev = keyed.reindex(idx).to_numpy(dtype=float)
    p_joint = joint_p(table["p_value"].to_numpy(dtype=float), p_prev)
    out = table.assign(p_value_prevalence=p_prev, p_joint=p_joint)
    q = np.full(len(out), np.nan)
    for rows in out.groupby("term", sort=False).indices.values():
        q[rows] = bh(p_joint[rows])
    return out.assign(q_joint=q)


def omnibus_frame(spec: Omnibus, fit: OmnibusFit, *, features: Sequence[str], lineage: pd.Series, model: str,
                  n: int | np.ndarray, extra: dict[str, Any], prevalence: Any = None) -> pd.DataFrame:
    """One omnibus term's rows: the abundance model's F test (BH q within the term) and, given the prevalence
    model's penalised LR test (*prevalence*), its statistic, p and q, and the joint p / q as in :func:`joint`."""
    frame = pd.DataFrame({
        "feature_id": list(features), "lineage": lineage.reindex(list(features)).to_numpy(), "term": spec.name,
        "comparison": spec.comparison, "test": "F", "statistic": fit.statistic, "df_num": fit.df_num,
        "df": fit.df, "p_value": fit.p_value, "q_value": bh(fit.p_value), "model": model, "n": n,
    })
    if prevalence is not None:
        p_prev = np.asarray(prevalence.p_value, dtype=float)
        p_joint = joint_p(fit.p_value, p_prev)
        frame = frame.assign(statistic_prevalence=prevalence.statistic, df_prevalence=prevalence.df,
                             p_value_prevalence=p_prev, q_value_prevalence=bh(p_prev), p_joint=p_joint,
                             q_joint=bh(p_joint))
    return frame.assign(**extra)
