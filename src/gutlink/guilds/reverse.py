"""The taxon ~ marker direction (MaAsLin's): every taxon (and guild) as the outcome, the marker as the predictor.

``outcome_j ~ marker + covariates [+ (1 | subject)]`` for every outcome column *j* at once. With a random
intercept each outcome has its own variance ratio ``γ_j = τ_j²/σ_j²`` (REML of its null model), so the
quasi-demeaning differs per column; nothing here loops over columns. Every cross product a model needs is
built from per-group sums: for one group of ``n_i`` samples with means ``m``, the quasi-demeaned cross product
of two columns is ``Σ a b − c_i m_a m_b`` with ``c_i = (2 s_i − s_i²) n_i`` and ``s_i = 1 − 1/√(1 + n_i γ)``
(``s_i = 1``, full demeaning, for fixed subject intercepts). The REML criterion of all outcomes is then a coarse
grid over ``log γ`` followed by a golden-section search in the best grid cell, both vectorised over outcomes.

Examples
--------
>>> rng = np.random.default_rng(1)
>>> g = np.repeat(np.arange(40), 6)
>>> y = np.c_[rng.normal(size=40)[g] + rng.normal(size=240), rng.normal(size=240)]
>>> ratio = null_ratios(y, np.ones((240, 1)), g)
>>> bool(0.4 < ratio[0] < 2.5), bool(ratio[1] < 0.2)
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .mixed import _LOG_RATIO, Groups, _full_rank, between_within_df

__all__ = ["GroupSums", "null_ratios", "reverse_fit"]

_GOLD = (np.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class GroupSums:
    """Per-group sizes and means of the columns of one design, and the total cross products."""

    counts: np.ndarray  # (m,)
    means: np.ndarray  # (m, c)
    cross: np.ndarray  # (c, c) Σ over samples of a a'

    @classmethod
    def of(cls, a: np.ndarray, groups: Groups) -> GroupSums:
        return cls(groups.counts, groups.means(a), a.T @ a)


def _weights(counts: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """``c_i`` per group (rows) and outcome (columns) for variance ratios *ratio* (one per outcome)."""
    s = 1.0 - 1.0 / np.sqrt(1.0 + counts[:, None] * ratio[None, :])
    return (2.0 * s - s**2) * counts[:, None]


def _criterion(ratio: np.ndarray, y: np.ndarray, ys: GroupSums, zs: GroupSums, zy: np.ndarray,
               n: int) -> np.ndarray:
    """−2 restricted log-likelihood (up to a constant) of ``y_j ~ z + (1|g)`` at ``ratio_j``, every j."""
    c = _weights(zs.counts, ratio)  # (m, p)
    k = zs.cross.shape[0]
    zz = zs.cross[None] - np.einsum("ip,ik,il->pkl", c, zs.means, zs.means, optimize=True)
    zyd = zy.T - np.einsum("ip,ik,ip->pk", c, zs.means, ys.means, optimize=True)
    yy = (y**2).sum(axis=0) - (c * ys.means**2).sum(axis=0)
    beta = np.linalg.solve(zz, zyd[..., None])[..., 0]
    rss = yy - (zyd * beta).sum(axis=1)
    sign, logdet = np.linalg.slogdet(zz)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (n - k) * np.log(rss / (n - k)) + np.log1p(zs.counts[:, None] * ratio[None, :]).sum(axis=0) + logdet
    return np.where((rss > 0) & (sign > 0), out, np.inf)


def null_ratios(y: np.ndarray, z: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """REML variance ratios ``τ²/σ²`` of ``y[:, j] ~ z + (1 | groups)`` for every column *j* of *y* at once.

    A grid of step 0.5 over ``log γ`` in [−12, 7] brackets each column's minimum, 40 golden-section steps refine
    it (to ~1e-8 in ``log γ``); a minimum on the lower edge means no subject variance (γ = e⁻¹²).
    """
    z = _full_rank(z)
    g = Groups.of(groups)
    ys, zs, zy, n = GroupSums.of(y, g), GroupSums.of(z, g), z.T @ y, y.shape[0]
    grid = np.arange(_LOG_RATIO[0], _LOG_RATIO[1] + 1e-9, 0.5)
    crit = np.stack([_criterion(np.full(y.shape[1], np.exp(t)), y, ys, zs, zy, n) for t in grid])
    best = crit.argmin(axis=0)
    lo = grid[np.maximum(best - 1, 0)]
    hi = grid[np.minimum(best + 1, len(grid) - 1)]
    a, b = hi - _GOLD * (hi - lo), lo + _GOLD * (hi - lo)
    fa, fb = (_criterion(np.exp(v), y, ys, zs, zy, n) for v in (a, b))
    for _ in range(40):
        left = fa < fb
        hi, lo = np.where(left, b, hi), np.where(left, lo, a)
        b_new, a_new = np.where(left, a, lo + _GOLD * (hi - lo)), np.where(left, hi - _GOLD * (hi - lo), b)
        f_new = _criterion(np.exp(np.where(left, a_new, b_new)), y, ys, zs, zy, n)
        fa, fb = np.where(left, f_new, fb), np.where(left, fa, f_new)
        a, b = a_new, b_new
    opt = (lo + hi) / 2
    edge = crit[0] <= _criterion(np.exp(opt), y, ys, zs, zy, n)
    return np.exp(np.where(edge, _LOG_RATIO[0], opt))


def reverse_fit(y: np.ndarray, x: np.ndarray, z: np.ndarray, groups: np.ndarray | None, mode: str, *,
                ratio: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Coefficient of the single predictor *x* (n,) in ``y_j ~ x + z`` for every outcome column of *y* (n, p).

    *mode*: ``"none"`` (OLS), ``"random"`` (GLS at each outcome's REML null variance ratio; t on
    between-within degrees of freedom as in :func:`marker_association`), ``"within"`` (fixed
    intercept per group; columns of *z* constant within groups are absorbed). *ratio*: the outcomes' null
    variance ratios when already known (they depend only on *y*, *z* and the groups).
    Returns arrays of length p: ``effect, ci_low, ci_high, partial_r, statistic, p_value, df`` and ``ratio``.
    """
    n, p = y.shape
    if mode == "none" or groups is None:
        g = Groups.of(np.zeros(n, int))
        c = np.zeros((1, p))
        z = _full_rank(z)
        df = resid_df = n - z.shape[1] - 1
        ratio = np.full(p, np.nan)
    else:
        g = Groups.of(groups)
        if mode == "random":
            ratio = null_ratios(y, z, groups) if ratio is None else ratio
            c = _weights(g.counts, ratio)
            z = _full_rank(z)
            df, resid_df = int(between_within_df(x, z, g)[0]), n - z.shape[1] - 1
        else:
            scale = np.linalg.norm(z, axis=0)
            dz = z - g.means(z)[g.codes]
            z = z[:, np.linalg.norm(dz, axis=0) > 1e-8 * np.maximum(scale, 1e-300)]
            z = _full_rank(z) if z.shape[1] else z
            c = np.repeat(g.counts[:, None], p, axis=1)
            df = resid_df = n - len(g.counts) - z.shape[1] - 1
            ratio = np.full(p, np.inf)
    return _fwl(y, x, z, g, c, df, resid_df) | {"ratio": ratio}


def _fwl(y: np.ndarray, x: np.ndarray, z: np.ndarray, g: Groups, c: np.ndarray, df: int,
         resid_df: int) -> dict[str, np.ndarray]:
    my, mx = g.means(y), g.means(x)
    yy = (y**2).sum(axis=0) - (c * my**2).sum(axis=0)
    xx = float((x**2).sum()) - (c * (mx**2)[:, None]).sum(axis=0)
    xy = x @ y - (c * mx[:, None] * my).sum(axis=0)
    if z.shape[1]:
        mz = g.means(z)
        zz = (z.T @ z)[None] - np.einsum("ip,ik,il->pkl", c, mz, mz, optimize=True)
        zx = (z.T @ x)[None] - np.einsum("ip,ik,i->pk", c, mz, mx, optimize=True)
        zy = (z.T @ y).T - np.einsum("ip,ik,ip->pk", c, mz, my, optimize=True)
        inv_zx = np.linalg.solve(zz, zx[..., None])[..., 0]
        inv_zy = np.linalg.solve(zz, zy[..., None])[..., 0]
        xx = xx - (zx * inv_zx).sum(axis=1)
        xy = xy - (zx * inv_zy).sum(axis=1)
        yy = yy - (zy * inv_zy).sum(axis=1)
    xx = np.where(xx > 1e-10 * max(float((x**2).sum()), 1e-300), xx, np.nan)  # x constant within groups
    yy = np.where(yy > 1e-10 * np.maximum((y**2).sum(axis=0), 1e-300), yy, np.nan)  # outcome constant: untestable
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = xy / xx
        rss = np.maximum(yy - beta * xy, 0.0)
        se = np.sqrt(rss / resid_df / xx)
        tval = beta / se
        r = xy / np.sqrt(xx * yy)
    ok = df > 0 and resid_df > 0
    crit = stats.t.ppf(0.975, df) if ok else np.nan
    pval = 2 * stats.t.sf(np.abs(tval), df) if ok else np.full(len(beta), np.nan)
    return {"effect": beta, "ci_low": beta - crit * se, "ci_high": beta + crit * se, "partial_r": r,
            "statistic": tval, "p_value": pval, "df": np.full(len(beta), float(df))}
