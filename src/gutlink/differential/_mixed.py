"""Random intercept per subject for every feature at once (REML), FaST-LMM style.

With ``V = sigma^2 (I + delta Z Z')`` and one intercept per block, ``V^-1`` only needs the block sums of the
design and of the responses: ``X' V^-1 Y = X'Y - sum_g c_g sx_g sy_g'`` with ``c_g = delta / (1 + delta n_g)``.
That is the shared rotation (block means vs within-block deviations), computed once; each feature then needs
only a one-dimensional search over the variance ratio ``delta``, done for all features together: a grid on
``log delta`` followed by a vectorised golden-section refinement of the profiled REML criterion

``-2 l_R(delta) = (n - p) log(rss / (n - p)) + log|I + delta Z Z'| + log|X' V_delta^-1 X|``.

Degrees of freedom follow the between-within rule: a term constant within every block (e.g. disease status of a
subject) is tested on ``G - p_between`` df, any other on ``n - G - p_within``.

Examples
--------
>>> rng = np.random.default_rng(1)
>>> blocks = np.repeat(np.arange(10), 4)
>>> x = np.column_stack([np.ones(40), rng.normal(size=40)])
>>> y = rng.normal(size=(10, 3))[blocks] + rng.normal(size=(40, 3))
>>> fit = lmm(x, y, blocks)
>>> fit.delta.shape, bool((fit.delta >= 0).all())
((3,), True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DesignError
from ._linmod import TermFit

__all__ = ["BlockStats", "LMMFit", "lmm", "lmm_terms"]

_GRID = np.linspace(-9.0, 7.0, 33)  # log delta: variance ratios from 1e-4 to 1e3
_GOLDEN = (np.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class BlockStats:
    """Sufficient statistics of a random-intercept model: everything the REML search needs."""

    xtx: np.ndarray
    xty: np.ndarray
    yty: np.ndarray
    sx: np.ndarray
    sy: np.ndarray
    sizes: np.ndarray
    n: int

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray, blocks: np.ndarray) -> BlockStats:
        """Block sums (G × p and G × m) and cross-products of the design *x* and responses *y*."""
        codes, _ = pd.factorize(pd.Series(blocks))
        g = int(codes.max()) + 1
        ind = np.zeros((g, x.shape[0]))
        ind[codes, np.arange(x.shape[0])] = 1.0
        return cls(x.T @ x, x.T @ y, np.einsum("ij,ij->j", y, y), ind @ x, ind @ y, ind.sum(axis=1), x.shape[0])


@dataclass(frozen=True)
class LMMFit:
    """REML fit per feature: coefficients (p × m), their covariance (m × p × p), delta and sigma^2 (m)."""

    coef: np.ndarray
    cov: np.ndarray
    delta: np.ndarray
    sigma2: np.ndarray
    criterion: np.ndarray


def _gls(st: BlockStats, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For per-feature *delta* (m): X'V^-1X (m×p×p), coefficients (p×m), rss (m), -2 REML (m)."""
    c = delta[None, :] / (1.0 + delta[None, :] * st.sizes[:, None])  # G × m
    xvx = st.xtx[None] - np.einsum("gj,gp,gq->jpq", c, st.sx, st.sx)
    xvy = st.xty - st.sx.T @ (c * st.sy)
    yvy = st.yty - np.einsum("gj,gj->j", c, st.sy**2)
    coef = np.linalg.solve(xvx, xvy.T[..., None])[..., 0].T
    rss = np.maximum(yvy - np.einsum("pj,pj->j", coef, xvy), 1e-300)
    p = st.xtx.shape[0]
    logdet_v = np.log1p(delta[None, :] * st.sizes[:, None]).sum(axis=0)
    crit = (st.n - p) * np.log(rss / (st.n - p)) + logdet_v + np.linalg.slogdet(xvx)[1]
    return xvx, coef, rss, crit


def _search(st: BlockStats, m: int, iterations: int) -> np.ndarray:
    """log delta minimising the REML criterion per feature (grid, then golden section in the bracket)."""
    crits = np.stack([_gls(st, np.full(m, np.exp(g)))[3] for g in _GRID])
    best = np.argmin(crits, axis=0)
    lo = _GRID[np.maximum(best - 1, 0)]
    hi = _GRID[np.minimum(best + 1, _GRID.size - 1)]
    a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    fa, fb = _gls(st, np.exp(a))[3], _gls(st, np.exp(b))[3]
    for _ in range(iterations):
        left = fa < fb
        hi, lo = np.where(left, b, hi), np.where(left, lo, a)
        b_new, a_new = np.where(left, a, lo + _GOLDEN * (hi - lo)), np.where(left, hi - _GOLDEN * (hi - lo), b)
        a, b = a_new, b_new
        changed = np.where(left, a, b)
        fc = _gls(st, np.exp(changed))[3]
        fa, fb = np.where(left, fc, fb), np.where(left, fa, fc)
    return (lo + hi) / 2


def lmm(x: np.ndarray, y: np.ndarray, blocks: np.ndarray, *, iterations: int = 45) -> LMMFit:
    """Random-intercept REML fit of every column of *y* on *x* with intercepts per *blocks* level."""
    st = BlockStats.of(x, y, blocks)
    m = y.shape[1]
    log_delta = _search(st, m, iterations)
    delta = np.exp(log_delta)
    at_zero = _gls(st, np.zeros(m))[3]
    xvx, coef, rss, crit = _gls(st, delta)
    boundary = (log_delta <= _GRID[0] + 1e-6) & (at_zero <= crit)
    delta = np.where(boundary, 0.0, delta)
    xvx, coef, rss, crit = _gls(st, delta)
    sigma2 = rss / (st.n - x.shape[1])
    cov = np.linalg.inv(xvx) * sigma2[:, None, None]
    return LMMFit(coef, cov, delta, sigma2, crit)


def between_within_df(x: np.ndarray, blocks: np.ndarray, contrast: np.ndarray) -> float:
    """Degrees of freedom of a contrast under the between-within rule."""
    codes, _ = pd.factorize(pd.Series(blocks))
    g = int(codes.max()) + 1
    frame = pd.DataFrame(x)
    between = (frame.groupby(codes).nunique() <= 1).all(axis=0).to_numpy()
    used = np.abs(contrast) > 0
    if between[used].all():
        return float(max(g - between.sum(), 1))
    return float(max(x.shape[0] - g - (~between).sum(), 1))


def check_blocks(blocks: pd.Series, name: str) -> None:
    """A random intercept needs some block with two or more samples."""
    sizes = blocks.value_counts()
    if (sizes < 2).all():
        raise DesignError(f"every {name!r} value occurs once ({len(sizes)} subjects for {len(blocks)} samples): a "
                          "random effect per subject is not estimable. Drop the subject column (ordinary linear "
                          "model) or check that it holds subject IDs rather than sample IDs.")
    if blocks.isna().any():
        raise DesignError(f"{int(blocks.isna().sum())} sample(s) have no {name!r} value; fill or drop them.")


def lmm_terms(x: np.ndarray, blocks: np.ndarray,
              contrasts: Sequence[np.ndarray]) -> Callable[[np.ndarray], list[TermFit]]:
    """A fitter: response matrix → one :class:`TermFit` per contrast, from the random-intercept model."""
    dfs = [between_within_df(x, blocks, vec) for vec in contrasts]

    def fit(y: np.ndarray) -> list[TermFit]:
        res = lmm(x, y, blocks)
        out = []
        for vec, df in zip(contrasts, dfs):
            var = np.einsum("p,jpq,q->j", vec, res.cov, vec)
            out.append(TermFit(vec @ res.coef, np.sqrt(np.maximum(var, 0)), df))
        return out

    return fit
