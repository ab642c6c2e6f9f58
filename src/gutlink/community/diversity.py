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
import weakref
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.sparse.linalg import eigsh
from scipy.spatial.distance import pdist, squareform
from skbio import DistanceMatrix
from skbio.diversity import alpha_diversity as _sk_alpha
from skbio.diversity import beta_diversity as _sk_beta
from skbio.stats.ordination import pcoa as _sk_pcoa

from ..cohort import Cohort
from ..errors import DesignError
from ..results import Result
from . import _blocked, _memory

__all__ = ["ALPHA_METRICS", "BETA_METRICS", "alpha_diversity", "beta_diversity", "distances_for", "pcoa",
           "OrdinationResult", "euclidean_coordinates", "ordination"]

ALPHA_METRICS = ("observed", "shannon", "simpson", "chao1")
BETA_METRICS = ("braycurtis", "jaccard", "aitchison")
_SKBIO_ALPHA = {"observed": "observed_features", "shannon": "shannon", "simpson": "simpson", "chao1": "chao1"}
BetaMetric = Literal["braycurtis", "jaccard", "aitchison"]
#: From this many samples, distances come from gutlink's blocked kernels (:mod:`._blocked`, equal to scipy's to
#: ~1e-15) and PCoA from scipy's ``eigsh`` (top axes only); below, from scikit-bio, as before.
SCALE_FROM = 2000
_COORDS: dict[int, np.ndarray] = {}  # id(DistanceMatrix) -> its Euclidean coordinates (Aitchison: CLR)


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

    From :data:`SCALE_FROM` samples on, the matrix comes from blocked kernels (Bray–Curtis on each sample's
    non-zero features over threads, Jaccard and Euclidean by matrix products; the same values to ~1e-15), with
    progress lines through :func:`gutlink.community.progress_to`. The full n × n float64 matrix is returned, so
    the memory it needs (8 n² bytes, 3.2 GB at 20,000 samples) is checked first: :class:`ResourceError` names
    the estimate. An Aitchison matrix remembers its CLR coordinates (:func:`euclidean_coordinates`), from which
    PERMANOVA, PERMDISP and PCoA compute the same numbers without n × n work.
    """
    if metric not in BETA_METRICS:
        raise DesignError(f"unknown beta metric {metric!r}; use {', '.join(BETA_METRICS)}.")
    ids = list(cohort.sample_ids)
    n = len(ids)
    large = n >= SCALE_FROM
    if large:
        work = 3 * _blocked.GEMM_ROWS * n * 8 + 3 * n * cohort.n_features * 8
        _memory.check(f"{metric} distances of {n:,} samples", _memory.square_bytes(n) + work)
    if metric == "braycurtis":
        rel = cohort.relative()
        rel = np.asarray(rel.toarray() if hasattr(rel, "toarray") else rel, dtype=float)
        if large and np.all(rel.sum(axis=1) > 0):
            return DistanceMatrix(_blocked.braycurtis(rel), ids=ids, validate=False)
        return _sk_beta("braycurtis", rel, ids=ids)
    if metric == "jaccard":
        if large:
            return DistanceMatrix(_blocked.jaccard(cohort.dense() > 0), ids=ids, validate=False)
        return _sk_beta("jaccard", cohort.dense() > 0, ids=ids)
    z = cohort.clr(pseudocount=pseudocount).to_numpy()
    d = _blocked.euclidean(z) if large else squareform(pdist(z, "euclidean"), checks=False)
    dm = DistanceMatrix(d, ids=ids, validate=not large)
    _COORDS[id(dm)] = z
    weakref.finalize(dm, _COORDS.pop, id(dm), None)
    return dm


def euclidean_coordinates(distances: object) -> np.ndarray | None:
    """The coordinates whose Euclidean distances *distances* holds (an Aitchison matrix made by
    :func:`beta_diversity`: the CLR-transformed samples, in its order), or None for any other matrix.

    Examples
    --------
    >>> from gutlink.datasets import toy
    >>> c = toy()
    >>> euclidean_coordinates(beta_diversity(c, "aitchison")).shape == (c.n_samples, c.n_features)
    True
    >>> euclidean_coordinates(beta_diversity(c, "braycurtis")) is None
    True
    """
    return _COORDS.get(id(distances))


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
    """Principal coordinates analysis: the top *dimensions* axes.

    Below :data:`SCALE_FROM` samples scikit-bio's (``eigh``; fast SVD for more than 500 samples). From
    :data:`SCALE_FROM` on, the top eigenpairs of the Gower-centred matrix by scipy's ``eigsh`` (Lanczos, largest
    algebraic eigenvalues, to machine precision; one n × n copy, checked against the memory first), or, for an
    Aitchison matrix (:func:`euclidean_coordinates`), exactly from the p × p cross-product of the centred CLR
    coordinates (no n × n work). Proportions explained are eigenvalues over the trace of the centred matrix (the
    sum of all eigenvalues), as scikit-bio's; axes with a negative eigenvalue get zero coordinates. Axis signs
    are arbitrary.
    """
    n = distances.shape[0]
    dims = max(1, min(dimensions, n - 1))
    if n >= SCALE_FROM:
        return _large_pcoa(distances, metric, dims)
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


def ordination(cohort: Cohort, metric: str = "braycurtis", *, dimensions: int = 10,
               distances: DistanceMatrix | None = None) -> OrdinationResult:
    """PCoA of the cohort's *metric* distances (or of *distances*), as :func:`pcoa` gives it.

    For Aitchison with more samples than taxa and no *distances*, the axes come from the CLR coordinates
    directly (PCoA of Euclidean distances is the PCA of the centred coordinates): no n × n matrix is formed, so
    this runs at sizes where the distance matrix would not fit (100,000 samples × 2,000 taxa: 1.6 GB).

    Examples
    --------
    >>> from gutlink.datasets import toy
    >>> ordination(toy(), "jaccard", dimensions=2).coordinates.columns.tolist()
    ['PC1', 'PC2']
    """
    if distances is None and metric == "aitchison" and cohort.n_features < cohort.n_samples:
        dims = max(1, min(dimensions, cohort.n_samples - 1))
        return _coordinate_pcoa(cohort.clr().to_numpy(), list(cohort.sample_ids), metric, dims)
    return pcoa(distances_for(cohort, metric, distances), metric=metric, dimensions=dimensions)


def _coordinate_pcoa(z: np.ndarray, ids: list[str], metric: str, dims: int) -> OrdinationResult:
    """PCoA of the Euclidean distances between the rows of *z*, from the p x p cross-product (exact)."""
    zc = z - z.mean(axis=0)
    values, vectors = np.linalg.eigh(zc.T @ zc)  # eigenvalues of G = Zc Zc'
    top = np.argsort(values)[::-1][:dims]
    values, axes = np.clip(values[top], 0.0, None), zc @ vectors[:, top]  # eigenvectors of G x sqrt(eigenvalue)
    axes = np.where(values > 0, axes, 0.0)
    cols = [f"PC{i + 1}" for i in range(len(top))]
    coords = pd.DataFrame(axes, index=pd.Index(ids, dtype=object, name="sample_id"), columns=cols)
    return OrdinationResult(metric=metric, coordinates=coords,
                            proportion_explained=pd.Series(values / float(np.square(zc).sum()), index=cols))


def _large_pcoa(distances: DistanceMatrix, metric: str, dims: int) -> OrdinationResult:
    n = distances.shape[0]
    z = euclidean_coordinates(distances)
    if z is not None and z.shape[1] < n:
        return _coordinate_pcoa(z, list(distances.ids), metric, dims)
    _memory.check(f"PCoA of {n:,} samples ({metric or 'distances'})", _memory.square_bytes(n, 1.2))
    g = np.array(distances.data, dtype=float)
    np.square(g, out=g)
    g *= -0.5
    g -= g.mean(axis=0, keepdims=True)
    g -= g.mean(axis=1, keepdims=True)
    total = float(np.trace(g))
    start = np.random.default_rng(0)  # a fixed start vector: the same axes on every run
    values, vectors = eigsh(g, k=dims, which="LA", v0=start.standard_normal(n))
    del g
    order = np.argsort(values)[::-1]
    values = np.clip(values[order], 0.0, None)
    axes = np.where(values > 0, vectors[:, order] * np.sqrt(values), 0.0)
    cols = [f"PC{i + 1}" for i in range(dims)]
    coords = pd.DataFrame(axes, index=pd.Index(distances.ids, dtype=object, name="sample_id"), columns=cols)
    return OrdinationResult(metric=metric, coordinates=coords,
                            proportion_explained=pd.Series(values / total, index=cols))


def distances_for(cohort: Cohort, metric: str, distances: DistanceMatrix | None) -> DistanceMatrix:
    """The cohort's distance matrix: *distances* (re-ordered to the cohort's samples) or computed with *metric*."""
    if distances is None:
        return beta_diversity(cohort, metric)  # type: ignore[arg-type]
    if list(distances.ids) != list(cohort.sample_ids):
        distances = distances.filter(list(cohort.sample_ids))
    return distances
