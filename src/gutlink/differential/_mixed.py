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
from functools import partial

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import DesignError
from ._linmod import TermFit, fittable

__all__ = ["BlockStats", "LMMFit", "between_within_df", "lmm", "lmm_terms"]

_GRID = np.linspace(-9.0, 7.0, 33)  # log delta: variance ratios from 1e-4 to 1e3
_GOLDEN = (np.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class BlockStats:
    """Sufficient statistics of a random-intercept model per feature: everything the REML search needs.

    Shapes: ``xtx`` m × p × p, ``xty`` p × m, ``yty`` m, ``sx`` G × m × p, ``sy`` G × m, ``sizes`` G × m, ``n`` m.
    Without a presence mask the design parts are shared by every feature (broadcast views, no copies).
    """

    xtx: np.ndarray
    xty: np.ndarray
    yty: np.ndarray
    sx: np.ndarray
    sy: np.ndarray
    sizes: np.ndarray
    n: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray, blocks: np.ndarray, w: np.ndarray | None = None) -> BlockStats:
        """Block sums and cross-products of the design *x* and responses *y* (samples where *w* is set)."""
        ind = indicator(blocks)
        (n, p), m, g = x.shape, y.shape[1], ind.shape[0]
        if w is None:
            return cls(np.broadcast_to(x.T @ x, (m, p, p)), x.T @ y, np.einsum("ij,ij->j", y, y),
                       np.broadcast_to((ind @ x)[:, None, :], (g, m, p)), ind @ y,
                       np.broadcast_to(ind.sum(axis=1)[:, None], (g, m)), np.full(m, float(n)))
        wf = w.astype(float)
        yw = np.where(w, y, 0.0)
        xtx = (wf.T @ (x[:, :, None] * x[:, None, :]).reshape(n, p * p)).reshape(m, p, p)
        sx = np.stack([ind @ (wf * x[:, [k]]) for k in range(p)], axis=-1)
        return cls(xtx, x.T @ yw, np.einsum("ij,ij->j", yw, yw), sx, ind @ yw, ind @ wf, wf.sum(axis=0))


def indicator(blocks: np.ndarray) -> sparse.csr_array:
    """G × n 0/1 matrix (sparse: n non-zeros, never G × n numbers): which samples belong to which block."""
    codes, _ = pd.factorize(pd.Series(blocks))
    n = len(codes)
    return sparse.csr_array((np.ones(n), (codes, np.arange(n))), shape=(int(codes.max()) + 1, n))


@dataclass(frozen=True)
class LMMFit:
    """REML fit per feature: coefficients (p × m), their covariance (m × p × p), delta and sigma^2 (m), and the
    quantities the bias correction needs (``xvx``: X'V^-1X / sigma^2, ``c``: the per-block shrinkage)."""

    coef: np.ndarray
    cov: np.ndarray
    delta: np.ndarray
    sigma2: np.ndarray
    criterion: np.ndarray
    xvx: np.ndarray
    c: np.ndarray
    fitted: np.ndarray
    sx: np.ndarray


def _gls(st: BlockStats, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For per-feature *delta* (m): X'V^-1X (m×p×p), coefficients (p×m), rss (m), -2 REML (m)."""
    c = delta[None, :] / (1.0 + delta[None, :] * st.sizes)  # G × m
    xvx = st.xtx - np.einsum("gj,gjp,gjq->jpq", c, st.sx, st.sx)
    xvy = st.xty - np.einsum("gj,gjp,gj->pj", c, st.sx, st.sy)
    yvy = st.yty - np.einsum("gj,gj->j", c, st.sy**2)
    coef = np.linalg.solve(xvx, xvy.T[..., None])[..., 0].T
    rss = np.maximum(yvy - np.einsum("pj,pj->j", coef, xvy), 1e-300)
    p = st.xtx.shape[1]
    logdet_v = np.log1p(delta[None, :] * st.sizes).sum(axis=0)
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


def lmm(x: np.ndarray, y: np.ndarray, blocks: np.ndarray, w: np.ndarray | None = None, *,
        iterations: int = 45) -> LMMFit:
    """Random-intercept REML fit of every column of *y* on *x* with intercepts per *blocks* level.

    With a presence mask *w* each feature uses only its own samples; features whose samples cannot support the
    design get NaN estimates (``fitted`` is False for them).
    """
    m, p = y.shape[1], x.shape[1]
    fitted = np.ones(m, dtype=bool)
    if w is not None:
        n, wf = x.shape[0], w.astype(float)
        info = (wf.T @ (x[:, :, None] * x[:, None, :]).reshape(n, p * p)).reshape(m, p, p)
        fitted = fittable(info, wf.sum(axis=0), p)
        w = w | ~fitted[None, :]  # keep the numerics of unfitted features harmless; reported as NaN below
    st = BlockStats.of(x, y, blocks, w)
    log_delta = _search(st, m, iterations)
    delta = np.exp(log_delta)
    at_zero = _gls(st, np.zeros(m))[3]
    xvx, coef, rss, crit = _gls(st, delta)
    boundary = (log_delta <= _GRID[0] + 1e-6) & (at_zero <= crit)
    delta = np.where(boundary, 0.0, delta)
    xvx, coef, rss, crit = _gls(st, delta)
    sigma2 = rss / (st.n - p)
    cov = np.linalg.inv(xvx) * sigma2[:, None, None]
    coef[:, ~fitted] = np.nan
    c = delta[None, :] / (1.0 + delta[None, :] * st.sizes)
    return LMMFit(coef, cov, delta, sigma2, crit, xvx, c, fitted, st.sx)


def _between(x: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    codes, _ = pd.factorize(pd.Series(blocks))
    return (pd.DataFrame(x).groupby(codes).nunique() <= 1).all(axis=0).to_numpy()


def between_within_df(x: np.ndarray, blocks: np.ndarray, contrast: np.ndarray,
                      w: np.ndarray | None = None) -> float | np.ndarray:
    """Degrees of freedom of a contrast under the between-within rule (per feature when *w* is given)."""
    between = _between(x, blocks)
    ind = indicator(blocks)
    if w is None:
        g, n = float(ind.shape[0]), float(x.shape[0])
    else:
        g, n = (ind @ w.astype(float) > 0).sum(axis=0).astype(float), w.sum(axis=0).astype(float)
    used = np.abs(contrast) > 0
    if between[used].all():
        df = np.maximum(g - between.sum(), 1.0)
    else:
        df = np.maximum(n - g - (~between).sum(), 1.0)
    return float(df) if w is None else df


def check_blocks(blocks: pd.Series, name: str) -> None:
    """A random intercept needs some block with two or more samples."""
    sizes = blocks.value_counts()
    if (sizes < 2).all():
        raise DesignError(f"every {name!r} value occurs once ({len(sizes)} subjects for {len(blocks)} samples): a "
                          "random effect per subject is not estimable. Drop the subject column (ordinary linear "
                          "model) or check that it holds subject IDs rather than sample IDs.")
    if blocks.isna().any():
        raise DesignError(f"{int(blocks.isna().sum())} sample(s) have no {name!r} value; fill or drop them.")


def _influence(res: LMMFit, x: np.ndarray, y: np.ndarray, codes: np.ndarray, w: np.ndarray,
               vec: np.ndarray) -> np.ndarray:
    """Each sample's contribution ``g_ij e_ij`` to the GLS estimate ``L beta_j`` (zero where not modelled)."""
    h = np.linalg.solve(res.xvx, np.broadcast_to(vec, (res.xvx.shape[0], vec.size))[..., None])[..., 0]  # m × p
    shrink = (res.c * np.einsum("gjp,jp->gj", res.sx, h))[codes]  # n × m
    g = x @ h.T - shrink
    resid = y - x @ np.nan_to_num(res.coef)
    return np.where(w & res.fitted[None, :], g * resid, 0.0)


def _cross(cov: np.ndarray, vec: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Model-based covariance of ``vec @ beta_j`` and ``other @ beta_j`` for every feature."""
    return np.einsum("p,jpq,q->j", vec, cov, other)


def lmm_terms(x: np.ndarray, blocks: np.ndarray, contrasts: Sequence[np.ndarray],
              w: np.ndarray | None = None) -> Callable[[np.ndarray], list[TermFit]]:
    """A fitter: response matrix → one :class:`TermFit` per contrast, from the random-intercept model.

    Each term carries the per-sample influence on its estimate, summed within subjects by the bias correction.
    """
    dfs = [between_within_df(x, blocks, vec, w) for vec in contrasts]
    codes = pd.factorize(pd.Series(blocks))[0]
    mask = np.ones((x.shape[0], 1), dtype=bool) if w is None else w

    def fit(y: np.ndarray) -> list[TermFit]:
        res = lmm(x, y, blocks, w)
        full = np.broadcast_to(mask, y.shape)
        n_used = full.sum(axis=0).astype(float)
        g = (indicator(blocks) @ full.astype(float) > 0).sum(axis=0).astype(float)
        scale = g / np.maximum(g - 1, 1) * (n_used - 1) / np.maximum(n_used - x.shape[1], 1)
        out = []
        for vec, df in zip(contrasts, dfs):
            var = np.einsum("p,jpq,q->j", vec, res.cov, vec)
            se = np.where(res.fitted, np.sqrt(np.maximum(var, 0)), np.nan)
            infl = partial(_influence, res, x, y, codes, full, vec)
            cross = partial(_cross, res.cov, vec)
            out.append(TermFit(vec @ res.coef, se, df, influence=infl, clusters=codes, scale=scale, cross=cross))
        return out

    return fit
