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
from .diversity import distances_for as _distances
from .permanova import _as_distance_array, _check_labels, _permutation_p, _permutation_stream, gower_centre, restriction

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
    codes, levels = _group_codes(groups, d.shape[0])
    k = len(levels)
    stream = _permutation_stream(d.shape[0], n_permutations, strata, rng, plots)
    z = _centroid_distances(gower_centre(d), codes, k)
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
    dm = _distances(cohort, metric, distances)
    order = np.argsort(np.asarray(cohort.sample_ids, dtype=str), kind="stable")
    meta = cohort.metadata.iloc[order]
    plots = None if subject is None else meta[subject].astype(str).to_numpy()
    stat, p, groups = permdisp_table(dm.data[np.ix_(order, order)], _labels(cohort).to_numpy()[order],
                                     n_permutations=n_permutations, strata=restriction(meta, strata, block),
                                     plots=plots, rng=rng)
    return PermdispResult(metric=metric, statistic=float(stat), p_value=float(p), permutations=n_permutations,
                          groups=groups)
