"""Alpha and beta diversity and PCoA, with scikit-bio underneath.

Examples
--------
>>> from gutlink.datasets import toy
>>> c = toy()
>>> alpha_diversity(c).columns.tolist()
['observed', 'shannon', 'simpson', 'chao1']
>>> beta_diversity(c, "braycurtis").shape == (c.n_samples, c.n_samples)
True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist, squareform
from skbio import DistanceMatrix
from skbio.diversity import alpha_diversity as _sk_alpha
from skbio.diversity import beta_diversity as _sk_beta
from skbio.stats.ordination import pcoa as _sk_pcoa

from ..cohort import Cohort
from ..errors import DesignError
from ..results import Result

__all__ = ["ALPHA_METRICS", "BETA_METRICS", "alpha_diversity", "beta_diversity", "distances_for", "pcoa",
           "OrdinationResult"]

ALPHA_METRICS = ("observed", "shannon", "simpson", "chao1")
BETA_METRICS = ("braycurtis", "jaccard", "aitchison")
_SKBIO_ALPHA = {"observed": "observed_features", "shannon": "shannon", "simpson": "simpson", "chao1": "chao1"}
BetaMetric = Literal["braycurtis", "jaccard", "aitchison"]


def alpha_diversity(cohort: Cohort, metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Per-sample alpha diversity (samples × metrics).

    Observed features, Shannon (natural log) and Gini–Simpson (1 − Σp²) on every table; Chao1 only on counts
    (it needs singletons and doubletons, which relative abundances do not have). Values are scikit-bio's.
    """
    if metrics is None:
        metrics = ALPHA_METRICS if cohort.units == "counts" else ALPHA_METRICS[:3]
    unknown = set(metrics) - set(ALPHA_METRICS)
    if unknown:
        raise DesignError(f"unknown alpha metric(s) {sorted(unknown)}; use {', '.join(ALPHA_METRICS)}.")
    if "chao1" in metrics and cohort.units != "counts":
        raise DesignError("chao1 needs integer counts; this cohort holds " + cohort.units + ".")
    x = cohort.dense()
    if cohort.units == "counts":
        x = np.rint(x).astype(np.int64)
    ids = list(cohort.sample_ids)
    out = {m: _sk_alpha(_SKBIO_ALPHA[m], x, ids=ids).to_numpy(dtype=float) for m in metrics}
    return pd.DataFrame(out, index=cohort.sample_ids)


def beta_diversity(cohort: Cohort, metric: BetaMetric = "braycurtis", *, pseudocount: float | None = None) -> DistanceMatrix:
    """Sample × sample distances.

    ``braycurtis`` on relative abundances (each sample closed to 1, so sequencing depth does not count),
    ``jaccard`` on presence/absence, ``aitchison`` = Euclidean distance between CLR-transformed samples
    (zeros replaced by *pseudocount*, see :meth:`Cohort.clr`).
    """
    ids = list(cohort.sample_ids)
    if metric == "braycurtis":
        return _sk_beta("braycurtis", cohort.relative(), ids=ids)
    if metric == "jaccard":
        return _sk_beta("jaccard", cohort.dense() > 0, ids=ids)
    if metric == "aitchison":
        z = cohort.clr(pseudocount=pseudocount).to_numpy()
        return DistanceMatrix(squareform(pdist(z, "euclidean"), checks=False), ids=ids)
    raise DesignError(f"unknown beta metric {metric!r}; use {', '.join(BETA_METRICS)}.")


@dataclass(frozen=True)
class OrdinationResult(Result):
    """Principal coordinates of one distance matrix."""

    metric: str
    coordinates: pd.DataFrame
    proportion_explained: pd.Series

    @property
    def table(self) -> pd.DataFrame:
        """Sample coordinates (``PC1`` … ``PCk``)."""
        return self.coordinates


def pcoa(distances: DistanceMatrix, *, metric: str = "", dimensions: int = 10) -> OrdinationResult:
    """Principal coordinates analysis (scikit-bio; fast SVD for more than 500 samples)."""
    n = distances.shape[0]
    dims = max(1, min(dimensions, n - 1))
    method = "fsvd" if n > 500 else "eigh"
    with warnings.catch_warnings():  # local: non-Euclidean distances (Bray–Curtis) have negative eigenvalues
        warnings.filterwarnings("ignore", message=".*negative eigenvalues.*", category=RuntimeWarning)
        res = _sk_pcoa(distances, number_of_dimensions=dims, method=method)
    coords = res.samples.iloc[:, :dims].copy()
    coords.columns = [f"PC{i + 1}" for i in range(coords.shape[1])]
    coords.index = pd.Index(distances.ids, dtype=object, name="sample_id")
    prop = res.proportion_explained.iloc[:dims].copy()
    prop.index = coords.columns
    return OrdinationResult(metric=metric, coordinates=coords, proportion_explained=prop)


def distances_for(cohort: Cohort, metric: str, distances: DistanceMatrix | None) -> DistanceMatrix:
    """The cohort's distance matrix: *distances* (re-ordered to the cohort's samples) or computed with *metric*."""
    if distances is None:
        return beta_diversity(cohort, metric)  # type: ignore[arg-type]
    if list(distances.ids) != list(cohort.sample_ids):
        distances = distances.filter(list(cohort.sample_ids))
    return distances
