"""PERMDISP: homogeneity of multivariate dispersions, equal to vegan's ``betadisper`` + ``permutest``.

Shares the distance checks, Gower centring and permutation machinery of :mod:`gutlink.community.permanova`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from skbio import DistanceMatrix

from ..cohort import Cohort
from ..compat import renamed
from ..design import labels as _labels
from ..errors import DesignError
from ..results import Result
from . import _memory
from .permanova import (
    _BLOCK_BYTES,
    _as_distance_array,
    _check_labels,
    _coordinates_or_distances,
    _count,
    _euclidean,
    _gower_inplace,
    _permutation_p,
    _permutation_stream,
    _ticking,
    gower_centre,
    restriction,
)

__all__ = ["PermdispResult", "permdisp", "permdisp_table"]


@renamed(permutations="n_permutations")
def permdisp_table(
    distances: ArrayLike,
    groups: ArrayLike,
    *,
    n_permutations: int | ArrayLike = 999,
    strata: ArrayLike | None = None,
    plots: ArrayLike | None = None,
    rng: int | np.random.Generator | None = None,
) -> tuple[float, float, pd.DataFrame]:
    """Test of multivariate dispersion, equal to ``vegan::betadisper(type="centroid")`` + ``permutest``.

    Distances to the group centroid are taken in the full PCoA space, the imaginary
    axes of non-Euclidean distances subtracting (vegan's correction; a negative squared
    distance becomes zero).  They are computed from the Gower matrix directly, without
    an eigendecomposition; they differ from vegan's only by the share of the eigenvalues
    vegan rounds to zero (about 1e-14 relative on the golden data).  F is the one-way
    ANOVA F of these distances; the permutation test permutes the ANOVA residuals, as
    ``permutest.betadisper``.  scikit-bio's ``permdisp`` differs on non-Euclidean
    distances: it drops the imaginary axes (and keeps 10 axes by default).

    Parameters
    ----------
    distances
        Square symmetric (n, n) array or skbio ``DistanceMatrix``.
    groups
        Group label of every sample (at least two groups).
    n_permutations
        Number of permutations, or an explicit (P, n) array of 0-based permutations.
    strata, plots
        Restrict the permutations of the residuals as :func:`gutlink.community.permutation_matrix` does (within
        blocks; whole subjects).
    rng
        Seed or ``numpy.random.Generator``.

    Returns
    -------
    statistic : float
        The ANOVA F.
    p_value : float
        Permutation p-value (NaN with 0 permutations).
    per_group : pandas.DataFrame
        Columns ``group, n, mean_distance_to_centroid``, groups sorted.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([0.0, 1.0, 2.0, 10.0, 14.0, 18.0])
    >>> d = np.abs(x[:, None] - x[None, :])
    >>> f, p, per_group = permdisp_table(d, list("aaabbb"), n_permutations=0)
    >>> round(f, 3), per_group["mean_distance_to_centroid"].round(3).tolist()
    (2.118, [0.667, 2.667])
    """
    d = _as_distance_array(distances)
    return _test(d, None, groups, n_permutations=n_permutations, strata=strata, plots=plots, rng=rng, owned=False)


def _test(d: np.ndarray | None, coords: np.ndarray | None, groups: ArrayLike, *, n_permutations: int | ArrayLike,
          strata: ArrayLike | None, plots: ArrayLike | None, rng: int | np.random.Generator | None, owned: bool,
          label: str = "PERMDISP") -> tuple[float, float, pd.DataFrame]:
    """PERMDISP from validated distances *d* (Gower-centred in place when *owned*) or Euclidean coordinates."""
    n = coords.shape[0] if coords is not None else d.shape[0]  # type: ignore[union-attr]
    codes, levels = _group_codes(groups, n)
    k = len(levels)
    stream = _ticking(_permutation_stream(n, n_permutations, strata, rng, plots), _count(n_permutations),
                      label)
    if coords is not None:
        z = _coordinate_distances(coords, codes, k)
    else:
        assert d is not None
        z = _centroid_distances(_gower_inplace(d) if owned else gower_centre(d), codes, k)
        del d
    means = np.bincount(codes, z) / np.bincount(codes)
    f_obs = _anova_f(z[None, :], codes, k)
    resid = z - means[codes]
    p = _permutation_p(f_obs, lambda perms: _anova_f(resid[perms], codes, k), stream)
    per_group = pd.DataFrame({"group": levels, "n": np.bincount(codes), "mean_distance_to_centroid": means})
    return float(f_obs[0]), float(p[0]), per_group


def _group_codes(groups: ArrayLike, n: int) -> tuple[np.ndarray, list]:
    """Integer codes of the groups and the sorted group labels (vegan's factor levels)."""
    labels = _check_labels(groups, n, "groups")
    try:
        codes, levels = pd.factorize(labels, sort=True)
    except TypeError:  # mixed label types cannot be sorted: compare them as text
        codes, levels = pd.factorize(labels.astype(str), sort=True)
    if len(levels) < 2:
        raise DesignError(f"permdisp needs at least two groups; got only {list(levels)!r}.")
    return codes, list(levels)


def _centroid_distances(g: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """Distance of each sample to its group centroid in (pseudo-)Euclidean PCoA space.

    ``|x_i - c_g|² = G_ii - 2 mean_{j in g} G_ij + mean_{j,l in g} G_jl``; negative
    squared distances (possible when imaginary axes dominate) become zero, as in vegan.
    """
    member = np.zeros((len(codes), k))
    member[np.arange(len(codes)), codes] = 1.0 / np.bincount(codes, minlength=k)[codes]
    gm = g @ member
    within = np.einsum("ig,ig->g", member, gm)
    sq = np.diag(g) - 2 * gm[np.arange(len(codes)), codes] + within[codes]
    return np.sqrt(np.clip(sq, 0.0, None))


def _coordinate_distances(coords: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """Euclidean distance of each sample to its group centroid, from coordinates (what
    :func:`_centroid_distances` computes from their Gower matrix, without it)."""
    member = np.zeros((len(codes), k))
    member[np.arange(len(codes)), codes] = 1.0 / np.bincount(codes, minlength=k)[codes]
    centroids = member.T @ coords
    return np.sqrt(np.square(coords - centroids[codes]).sum(axis=1))


def _anova_f(y: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """One-way ANOVA F of each row of y (P, n) against the groups in codes."""
    n = y.shape[1]
    counts = np.bincount(codes, minlength=k)
    member = np.zeros((n, k))
    member[np.arange(n), codes] = 1.0
    means = (y @ member) / counts
    fitted_ss = (means**2) @ counts
    grand = y.mean(axis=1)
    between = fitted_ss - n * grand**2
    within = (y**2).sum(axis=1) - fitted_ss
    with np.errstate(divide="ignore", invalid="ignore"):  # no spread within groups gives F = inf
        return (between / (k - 1)) / (within / (n - k))


@dataclass(frozen=True)
class PermdispResult(Result):
    """Homogeneity of multivariate dispersions (vegan ``betadisper`` + ``permutest``)."""

    metric: str
    statistic: float
    p_value: float
    permutations: int
    groups: pd.DataFrame

    @property
    def table(self) -> pd.DataFrame:
        """Mean distance to centroid per group."""
        return self.groups


@renamed(permutations="n_permutations")
def permdisp(cohort: Cohort, *, metric: str = "braycurtis", n_permutations: int = 999, strata: str | None = None,
             block: str | None = None, subject: str | None = None, rng: int | np.random.Generator | None = None,
             distances: DistanceMatrix | None = None) -> PermdispResult:
    """Test whether cases and controls differ in spread (distance to their group centroid).

    The residuals are permuted as PERMANOVA permutes samples: within *strata* / *block* levels, and as whole
    subjects with *subject* (:func:`gutlink.community.permutation_matrix`), in sample-ID order so that the row
    order of the cohort never changes the p-value.
    """
    dm = _coordinates_or_distances(cohort, metric, distances)
    order = np.argsort(np.asarray(cohort.sample_ids, dtype=str), kind="stable")
    meta = cohort.metadata.iloc[order]
    plots = None if subject is None else meta[subject].astype(str).to_numpy()
    labels = _labels(cohort).to_numpy()[order]
    options = {"n_permutations": n_permutations, "strata": restriction(meta, strata, block), "plots": plots,
               "rng": rng, "label": f"PERMDISP ({metric})"}
    coords = _euclidean(dm)
    if coords is not None and coords.shape[1] < coords.shape[0]:  # Aitchison: from the CLR coordinates, O(n p)
        stat, p, groups = _test(None, coords[order], labels, owned=False, **options)  # type: ignore[arg-type]
    else:
        n = dm.shape[0]
        _memory.check(f"PERMDISP of {n:,} samples ({metric})", _memory.square_bytes(n, 1.125) + _BLOCK_BYTES)
        in_order = bool(np.array_equal(order, np.arange(n)))
        d = _as_distance_array(dm.data if in_order else dm.data[np.ix_(order, order)])
        stat, p, groups = _test(d, None, labels, owned=not in_order, **options)  # type: ignore[arg-type]
        del d
    return PermdispResult(metric=metric, statistic=float(stat), p_value=float(p), permutations=n_permutations,
                          groups=groups)
