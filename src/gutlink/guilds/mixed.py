"""A random intercept per subject for a whole grid of regressions at once.

For ``y ~ z + (1 | group)`` the covariance of one group's ``n_i`` samples is ``σ²(I + γJ)`` (compound symmetry,
``γ = τ²/σ²``). Its inverse square root is a quasi-demeaning: ``a ← a − (1 − w_i)·mean_i(a)`` with
``w_i = 1/√(1 + n_i γ)``. The variance ratio is estimated once per outcome by restricted maximum likelihood (REML,
the criterion of ``statsmodels`` ``MixedLM(reml=True)``; tests check the two agree) of the null model, profiled to
one dimension; every predictor column is then quasi-demeaned with it and fitted by ordinary least squares
(generalised least squares with the null model's variance ratio, as EMMAX / GRAMMAR do in genetics). Under the
null hypothesis this is the exact mixed model; with a strong predictor the variance ratio is slightly off, which
costs a little power and does not inflate false positives.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> g = np.repeat(np.arange(30), 5)
>>> y = rng.normal(size=30)[g] + rng.normal(size=150)
>>> fit = null_fit(y, np.ones((150, 1)), g)
>>> bool(0.3 < fit.ratio < 3), fit.converged
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse

__all__ = ["NullFit", "between_within_df", "null_fit", "quasi_demean"]

#: Bounds of log(γ) searched (γ = between-group variance / residual variance).
_LOG_RATIO = (-12.0, 7.0)


@dataclass(frozen=True)
class NullFit:
    """REML fit of ``y ~ z + (1 | group)``: variance ratio ``τ²/σ²``, ``sigma2``, ``tau2``, number of groups."""

    ratio: float
    sigma2: float
    tau2: float
    n_groups: int
    converged: bool
    reason: str = ""


@dataclass(frozen=True)
class Groups:
    """Group codes and sizes of the samples, and the sparse indicator that takes group means."""

    codes: np.ndarray
    counts: np.ndarray
    ind: sparse.csr_array
    ind_t: sparse.csr_array

    @classmethod
    def of(cls, groups: np.ndarray) -> Groups:
        codes = pd.factorize(pd.Series(np.asarray(groups)))[0]
        m = int(codes.max()) + 1 if codes.size else 0
        ind = sparse.csr_array((np.ones(codes.size), (np.arange(codes.size), codes)), shape=(codes.size, m))
        return cls(codes, np.bincount(codes, minlength=m).astype(float), ind, ind.T.tocsr())

    def means(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(self.ind_t @ a) / (self.counts[:, None] if a.ndim == 2 else self.counts)

    def demean(self, a: np.ndarray, means: np.ndarray, ratio: float) -> np.ndarray:
        shrink = 1.0 - 1.0 / np.sqrt(1.0 + self.counts * ratio)
        return a - (means * (shrink[:, None] if a.ndim == 2 else shrink))[self.codes]


def quasi_demean(a: np.ndarray, groups: np.ndarray, ratio: float) -> np.ndarray:
    """``V^{-1/2} a`` (up to σ) for a random intercept with variance ratio *ratio*: each row minus
    ``1 − 1/√(1 + n_i·ratio)`` times its group's mean (every column of *a* at once)."""
    g = Groups.of(groups)
    return g.demean(a, g.means(a), ratio)


def _reml(log_ratio: float, y: np.ndarray, z: np.ndarray, g: Groups, ym: np.ndarray, zm: np.ndarray) -> float:
    """−2 × restricted log-likelihood (up to a constant), σ² profiled out."""
    ratio = float(np.exp(log_ratio))
    ty, tz = g.demean(y, ym, ratio), g.demean(z, zm, ratio)
    beta, *_ = np.linalg.lstsq(tz, ty, rcond=None)
    rss = float(((ty - tz @ beta) ** 2).sum())
    k = tz.shape[1]
    sign, logdet = np.linalg.slogdet(tz.T @ tz)
    if rss <= 0 or sign <= 0:
        return np.inf
    return (len(y) - k) * np.log(rss / (len(y) - k)) + float(np.log1p(g.counts * ratio).sum()) + logdet


def _full_rank(z: np.ndarray) -> np.ndarray:
    """The columns of *z* that are not linear combinations of earlier ones."""
    _, r = np.linalg.qr(z)
    d = np.abs(np.diag(r))
    return z[:, d > d.max() * max(z.shape) * np.finfo(float).eps] if d.size else z


def null_fit(y: np.ndarray, z: np.ndarray, groups: np.ndarray) -> NullFit:
    """REML variance components of ``y ~ z + (1 | groups)``.

    ``converged`` is False (with a ``reason``) when the criterion is not finite at the optimum, or the design
    cannot separate the random intercept (every group a single sample, or a single group).
    """
    z = _full_rank(z)
    g = Groups.of(groups)
    m, n = len(g.counts), g.counts
    if m < 2 or (n > 1).sum() == 0:
        return NullFit(np.nan, np.nan, np.nan, m, False, "every subject has one sample" if m >= 2 else
                       "a single subject")
    ym, zm = g.means(y), g.means(z)
    opt = optimize.minimize_scalar(_reml, bounds=_LOG_RATIO, method="bounded", args=(y, z, g, ym, zm),
                                   options={"xatol": 1e-6})
    if not (opt.success and np.isfinite(opt.fun)):
        return NullFit(np.nan, np.nan, np.nan, m, False, f"REML optimiser failed ({opt.message})")
    log_ratio = float(opt.x)
    if _reml(_LOG_RATIO[0], y, z, g, ym, zm) <= opt.fun:  # the optimum is on the boundary: no subject variance
        log_ratio = _LOG_RATIO[0]
    ratio = float(np.exp(log_ratio))
    ty, tz = g.demean(y, ym, ratio), g.demean(z, zm, ratio)
    beta, *_ = np.linalg.lstsq(tz, ty, rcond=None)
    sigma2 = float(((ty - tz @ beta) ** 2).sum()) / (len(y) - np.linalg.matrix_rank(tz))
    return NullFit(ratio, sigma2, ratio * sigma2, m, True)


def between_within_df(x: np.ndarray, z: np.ndarray, groups: Groups) -> np.ndarray:
    """Degrees of freedom of the t test of each column of *x* in ``y ~ x + z + (1 | group)`` by the
    between-within rule (SAS ``DDFM=BETWITHIN``): a predictor that varies within groups is tested on
    ``N − groups − (covariates varying within groups) − 1`` df, one constant within groups (a person-level
    trait) on ``groups − (covariates constant within groups, intercept included) − 1``."""
    def varies(a: np.ndarray) -> np.ndarray:
        a2 = a if a.ndim == 2 else a[:, None]
        within = a2 - groups.means(a2)[groups.codes]
        spread = np.linalg.norm(a2 - a2.mean(axis=0), axis=0)
        return np.linalg.norm(within, axis=0) > 1e-8 * np.maximum(spread, 1e-300)

    zr = _full_rank(z)
    k_within = int(varies(zr).sum())
    k_between = zr.shape[1] - k_within
    n, m = len(groups.codes), len(groups.counts)
    return np.where(varies(x), n - m - k_within - 1, m - k_between - 1).astype(float)
