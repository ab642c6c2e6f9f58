"""The few per-sample numbers the paper figures need and the results do not otherwise keep: each sample's level of
the group column (to colour the PCoA by every case level) and the relative abundance of the top differential taxa
(for the per-taxon abundance plots).

``link`` can store :func:`figure_data` in ``LinkResult.extra``; the renderers draw these figures only when
it is there. No statistic is computed here: levels are copied, abundances are closed to proportions.

Examples
--------
>>> from gutlink.datasets import toy
>>> data = figure_data(toy(), group="group")
>>> sorted(data), data["levels"].index.name
(['levels', 'top_abundance'], 'sample_id')
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .cohort import Cohort

__all__ = ["LEVELS", "TOP_ABUNDANCE", "TOP_TAXA", "figure_data", "top_features"]

#: Keys of :func:`figure_data` (and of ``LinkResult.extra``).
LEVELS, TOP_ABUNDANCE = "levels", "top_abundance"
#: Taxa in the per-taxon abundance plots.
TOP_TAXA = 6


def top_features(table: pd.DataFrame, *, term: str | None = None, n: int = TOP_TAXA,
                 alpha: float = 0.05) -> list[str]:
    """The *n* taxa with the smallest q (joint q where the table has it) of *term* (default: the first), among
    those with q < *alpha*; empty when none passes."""
    if table.empty:
        return []
    term = term if term is not None else str(table["term"].iloc[0])
    rows = table[table["term"] == term]
    q = "q_joint" if "q_joint" in rows.columns else "q_value"
    rows = rows[rows[q] < alpha].sort_values([q, "p_value"], kind="stable")
    return [str(f) for f in rows["feature_id"].head(n)]


def figure_data(cohort: Cohort, *, group: str, differential: Any = None, n: int = TOP_TAXA) -> dict[str, Any]:
    """Per-sample group levels and the top taxa's relative abundances of *cohort* (the analysed samples).

    Parameters
    ----------
    cohort
        The cohort as analysed (same samples and features as the results).
    group
        The metadata column of the comparison.
    differential
        A :class:`~gutlink.differential.DifferentialResult` of the same cohort (its top taxa are kept).
    n
        How many top taxa.
    """
    levels = cohort.metadata[group].astype(str).rename(group)
    levels.index.name = "sample_id"
    top: list[str] = []
    if differential is not None:
        top = [f for f in top_features(differential.table, n=n, alpha=differential.alpha)
               if f in set(cohort.feature_ids)]
    frame = pd.DataFrame(index=pd.Index(cohort.sample_ids, name="sample_id"))
    if top:
        cols = cohort.feature_ids.get_indexer(top)
        abundance = cohort.abundance
        totals = np.asarray(abundance.sum(axis=1), dtype=float).ravel()
        part = abundance[:, cols]
        part = part.toarray() if hasattr(part, "toarray") else np.asarray(part)
        with np.errstate(invalid="ignore", divide="ignore"):
            frame = pd.DataFrame(part / totals[:, None], index=frame.index, columns=top)
    return {LEVELS: levels, TOP_ABUNDANCE: frame}
