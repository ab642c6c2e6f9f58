"""Nested random intercepts — subjects within blocks (``(1 | block / subject)``) — for every feature at once (REML).

Several samples per subject and several subjects per block (household, family): samples of one subject share a
subject intercept, subjects of one block share a block intercept. With ``H = I + d_s Z_s Z_s' + d_b Z_b Z_b'``
(``V = sigma^2 H``) the inverse needs only subject and block sums, by two Sherman–Morrison steps: within a
subject of ``n_s`` samples ``A^-1 = I - c_s 1 1'`` with ``c_s = d_s / (1 + d_s n_s)``, and within a block

``H^-1 = A^-1 - e_b (A^-1 1)(A^-1 1)'``, ``e_b = d_b / (1 + d_b t_b)``, ``t_b = sum_s n_s r_s``, ``r_s = 1 / (1 + d_s n_s)``

so ``X'H^-1 Y = X'Y - sum_s c_s sx_s sy_s' - sum_b e_b ux_b uy_b'`` with ``ux_b = sum_{s in b} r_s sx_s``, and
``log|H| = sum_s log(1 + d_s n_s) + sum_b log(1 + d_b t_b)`` (matrix determinant lemma). The two variance ratios
are found per feature by a grid on (log d_s, log d_b) and coordinate-wise golden-section refinement of the
profiled REML criterion, as :mod:`gutlink.differential._mixed` does for one level.

Degrees of freedom follow the containment (between-within) rule at three levels: a contrast of block-level
columns only is tested on ``B - p_block`` df; one that involves a column constant within subjects (but not
within blocks; e.g. case vs control inside households) on ``S - B - p_subject``; any other on
``n - S - p_sample`` (counting the subjects and blocks where the feature is modelled). For one case and one
control subject per household this is the paired test's ``B - 1``.

The independent units are the blocks: the per-sample influence on each estimate is summed within blocks by the
compositional-bias correction.

Examples
--------
>>> rng = np.random.default_rng(2)
>>> blocks, subjects = np.repeat(np.arange(12), 6), np.repeat(np.arange(24), 3)
>>> x = np.column_stack([np.ones(72), np.tile(np.repeat([0.0, 1.0], 3), 12)])
>>> y = rng.normal(size=(12, 4))[blocks] + rng.normal(size=(24, 4))[subjects] + 0.5 * rng.normal(size=(72, 4))
>>> fit = nested_lmm(x, y, subjects, blocks)
>>> bool((fit.delta_subject > 1).all()), fit.coef.shape
(True, (2, 4))
>>> nested_df(x, subjects, blocks, np.array([0.0, 1.0]))  # 12 pairs of subjects: 24 - 12 - 1
11.0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from ..errors import DesignError
from ._linmod import TermFit, fittable
from ._mixed import indicator

__all__ = ["NestedFit", "nested_df", "nested_lmm", "nested_lmm_terms"]

_GRID = np.linspace(-9.0, 7.0, 17)  # log variance ratios from 1e-4 to 1e3, a step of 1
_LOW = _GRID[0]
_GOLDEN = (np.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class _Stats:
    """Per-feature sufficient statistics: ``xtx`` m×p×p, ``xty`` p×m, ``yty`` m, subject sums ``sx`` S×m×p,
    ``sy`` S×m, ``ns`` S×m, the block × subject indicator ``bs`` (B × S) and samples used ``n`` (m)."""

    xtx: np.ndarray
    xty: np.ndarray
    yty: np.ndarray
    sx: np.ndarray
    sy: np.ndarray
    ns: np.ndarray
    bs: np.ndarray
    n: np.ndarray


def _codes(subjects: np.ndarray, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Subject codes per sample, block codes per sample, and the B × S block-of-subject indicator."""
    s = pd.factorize(pd.Series(np.asarray(subjects)).astype(str))[0]
    b = pd.factorize(pd.Series(np.asarray(blocks)).astype(str))[0]
    per = pd.DataFrame({"s": s, "b": b}).groupby("s")["b"].agg(["nunique", "first"])
    if (per["nunique"] > 1).any():
        raise DesignError(f"{int((per['nunique'] > 1).sum())} subject(s) lie in several blocks; subjects must "
                          "nest in blocks (one block per subject).")
    bs = np.zeros((int(b.max()) + 1, len(per)))
    bs[per["first"].to_numpy(), per.index.to_numpy()] = 1.0
    return s, b, bs


def _stats(x: np.ndarray, y: np.ndarray, s: np.ndarray, bs: np.ndarray, w: np.ndarray | None) -> _Stats:
    ind = indicator(s)
    (n, p), m = x.shape, y.shape[1]
    if w is None:
        return _Stats(np.broadcast_to(x.T @ x, (m, p, p)), x.T @ y, np.einsum("ij,ij->j", y, y),
                      np.broadcast_to((ind @ x)[:, None, :], (ind.shape[0], m, p)), ind @ y,
                      np.broadcast_to(ind.sum(axis=1)[:, None], (ind.shape[0], m)), bs, np.full(m, float(n)))
    wf = w.astype(float)
    yw = np.where(w, y, 0.0)
    xtx = (wf.T @ (x[:, :, None] * x[:, None, :]).reshape(n, p * p)).reshape(m, p, p)
    sx = np.stack([ind @ (wf * x[:, [k]]) for k in range(p)], axis=-1)
    return _Stats(xtx, x.T @ yw, np.einsum("ij,ij->j", yw, yw), sx, ind @ yw, ind @ wf, bs, wf.sum(axis=0))


@dataclass(frozen=True)
class _Parts:
    """What one evaluation at (d_s, d_b) gives: X'H^-1X, coefficients, rss, -2 REML, and the shrinkage terms."""

    xvx: np.ndarray
    coef: np.ndarray
    rss: np.ndarray
    crit: np.ndarray
    c: np.ndarray  # S × m: c_s
    r: np.ndarray  # S × m: r_s
    e: np.ndarray  # B × m: e_b
    ux: np.ndarray  # B × m × p


def _gls(st: _Stats, ds: np.ndarray, db: np.ndarray) -> _Parts:
    c = ds[None, :] / (1.0 + ds[None, :] * st.ns)
    r = 1.0 / (1.0 + ds[None, :] * st.ns)
    t = st.bs @ (st.ns * r)
    e = db[None, :] / (1.0 + db[None, :] * t)
    ux = np.einsum("bs,sjp->bjp", st.bs, r[..., None] * st.sx)
    uy = st.bs @ (r * st.sy)
    xvx = st.xtx - np.einsum("sj,sjp,sjq->jpq", c, st.sx, st.sx) - np.einsum("bj,bjp,bjq->jpq", e, ux, ux)
    xvy = st.xty - np.einsum("sj,sjp,sj->pj", c, st.sx, st.sy) - np.einsum("bj,bjp,bj->pj", e, ux, uy)
    yvy = st.yty - np.einsum("sj,sj->j", c, st.sy**2) - np.einsum("bj,bj->j", e, uy**2)
    coef = np.linalg.solve(xvx, xvy.T[..., None])[..., 0].T
    rss = np.maximum(yvy - np.einsum("pj,pj->j", coef, xvy), 1e-300)
    p = st.xtx.shape[1]
    logdet = np.log1p(ds[None, :] * st.ns).sum(axis=0) + np.log1p(db[None, :] * t).sum(axis=0)
    crit = (st.n - p) * np.log(rss / (st.n - p)) + logdet + np.linalg.slogdet(xvx)[1]
    return _Parts(xvx, coef, rss, crit, c, r, e, ux)


def _crit(st: _Stats, ls: np.ndarray, lb: np.ndarray) -> np.ndarray:
    return _gls(st, np.exp(ls), np.exp(lb)).crit


def _golden(f: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray,
            iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised golden-section minimum of *f* in [lo, hi] per feature: (argmin, value)."""
    a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(iterations):
        left = fa < fb
        hi, lo = np.where(left, b, hi), np.where(left, lo, a)
        a_new = np.where(left, hi - _GOLDEN * (hi - lo), b)
        b_new = np.where(left, a, lo + _GOLDEN * (hi - lo))
        a, b = a_new, b_new
        fc = f(np.where(left, a, b))
        fa, fb = np.where(left, fc, fb), np.where(left, fa, fc)
    mid = (lo + hi) / 2
    return mid, f(mid)


def _search(st: _Stats, m: int, rounds: int, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """(log d_s, log d_b) minimising the REML criterion per feature: a grid, then coordinate golden sections."""
    best = np.full(m, np.inf)
    ls, lb = np.zeros(m), np.zeros(m)
    for gs in _GRID:
        for gb in _GRID:
            crit = _crit(st, np.full(m, gs), np.full(m, gb))
            better = crit < best
            best, ls, lb = np.where(better, crit, best), np.where(better, gs, ls), np.where(better, gb, lb)
    step = _GRID[1] - _GRID[0]
    for _ in range(rounds):
        for which in (0, 1):
            cur = ls if which == 0 else lb
            lo, hi = np.maximum(cur - step, _GRID[0]), np.minimum(cur + step, _GRID[-1])
            f = partial(_crit, st, lb=lb) if which == 0 else partial(_crit, st, ls)
            new, val = _golden(f, lo, hi, iterations)
            take = val < best
            best = np.where(take, val, best)
            if which == 0:
                ls = np.where(take, new, ls)
            else:
                lb = np.where(take, new, lb)
    return ls, lb


@dataclass(frozen=True)
class NestedFit:
    """REML fit per feature: coefficients (p × m), covariance (m × p × p), the two variance ratios (m), sigma^2,
    which features were fitted, and the terms the influence of each sample needs."""

    coef: np.ndarray
    cov: np.ndarray
    delta_subject: np.ndarray
    delta_block: np.ndarray
    sigma2: np.ndarray
    fitted: np.ndarray
    parts: _Parts
    sx: np.ndarray


def nested_lmm(x: np.ndarray, y: np.ndarray, subjects: np.ndarray, blocks: np.ndarray,
               w: np.ndarray | None = None, *, rounds: int = 3, iterations: int = 24) -> NestedFit:
    """Nested random-intercept REML fit of every column of *y* on *x* (subjects within *blocks*).

    With a presence mask *w* each feature uses only its own samples; features whose samples cannot support the
    design get NaN estimates (``fitted`` False).
    """
    s, _, bs = _codes(subjects, blocks)
    m, p = y.shape[1], x.shape[1]
    fitted = np.ones(m, dtype=bool)
    if w is not None:
        n, wf = x.shape[0], w.astype(float)
        info = (wf.T @ (x[:, :, None] * x[:, None, :]).reshape(n, p * p)).reshape(m, p, p)
        fitted = fittable(info, wf.sum(axis=0), p)
        w = w | ~fitted[None, :]
    st = _stats(x, y, s, bs, w)
    ls, lb = _search(st, m, rounds, iterations)
    ds, db = np.exp(ls), np.exp(lb)
    best = _gls(st, ds, db).crit
    for zero_s, zero_b in ((True, False), (False, True), (True, True)):  # a variance at the boundary, zero
        cs, cb = (np.zeros(m) if zero_s else ds), (np.zeros(m) if zero_b else db)
        allowed = (ls <= _LOW + 1e-6) | (not zero_s)
        allowed &= (lb <= _LOW + 1e-6) | (not zero_b)
        crit = _gls(st, cs, cb).crit
        take = allowed & (crit <= best)
        ds, db, best = np.where(take, cs, ds), np.where(take, cb, db), np.where(take, crit, best)
    parts = _gls(st, ds, db)
    sigma2 = parts.rss / (st.n - p)
    cov = np.linalg.inv(parts.xvx) * sigma2[:, None, None]
    coef = parts.coef.copy()
    coef[:, ~fitted] = np.nan
    return NestedFit(coef, cov, ds, db, sigma2, fitted, parts, st.sx)


def _levels(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Columns of *x* constant within every level of *codes*."""
    return (pd.DataFrame(x).groupby(codes).nunique() <= 1).all(axis=0).to_numpy()


def nested_df(x: np.ndarray, subjects: np.ndarray, blocks: np.ndarray, contrast: np.ndarray,
              w: np.ndarray | None = None) -> float | np.ndarray:
    """Containment degrees of freedom of a contrast (per feature when *w* is given); see the module docstring."""
    s, b, _ = _codes(subjects, blocks)
    block_level = _levels(x, b)
    subject_level = _levels(x, s) & ~block_level
    used = np.abs(contrast) > 0
    if w is None:
        counts = (float(b.max() + 1), float(s.max() + 1), float(x.shape[0]))
    else:
        wf = w.astype(float)
        counts = tuple((indicator(c) @ wf > 0).sum(axis=0).astype(float) for c in (b, s)) + (wf.sum(axis=0),)
    n_b, n_s, n = counts
    if block_level[used].all():
        df = np.maximum(n_b - block_level.sum(), 1.0)
    elif (block_level | subject_level)[used].all():
        df = np.maximum(n_s - n_b - subject_level.sum(), 1.0)
    else:
        df = np.maximum(n - n_s - (~(block_level | subject_level)).sum(), 1.0)
    return float(df) if w is None else df


def _influence(res: NestedFit, x: np.ndarray, y: np.ndarray, s: np.ndarray, b: np.ndarray, w: np.ndarray,
               vec: np.ndarray) -> np.ndarray:
    """Each sample's contribution ``g_ij e_ij`` to the GLS estimate ``L beta_j`` (zero where not modelled):
    ``g_i = x_i h - c_s sx_s h - e_b r_s ux_b h`` with ``h = (X'H^-1X)^-1 L'`` (row *i* of ``H^-1 X h``)."""
    pt = res.parts
    h = np.linalg.solve(pt.xvx, np.broadcast_to(vec, (pt.xvx.shape[0], vec.size))[..., None])[..., 0]  # m × p
    subj = pt.c * np.einsum("sjp,jp->sj", res.sx, h)  # S × m
    block = pt.e * np.einsum("bjp,jp->bj", pt.ux, h)  # B × m
    g = x @ h.T - subj[s] - pt.r[s] * block[b]
    resid = y - x @ np.nan_to_num(res.coef)
    return np.where(w & res.fitted[None, :], g * resid, 0.0)


def nested_lmm_terms(x: np.ndarray, subjects: np.ndarray, blocks: np.ndarray, contrasts: Sequence[np.ndarray],
                     w: np.ndarray | None = None) -> Callable[[np.ndarray], list[TermFit]]:
    """A fitter: response matrix → one :class:`TermFit` per contrast, from the nested random-intercept model.

    Each term carries the per-sample influence on its estimate, summed within blocks (the independent units)
    by the bias correction.
    """
    dfs = [nested_df(x, subjects, blocks, vec, w) for vec in contrasts]
    s, b, _ = _codes(subjects, blocks)
    mask = np.ones((x.shape[0], 1), dtype=bool) if w is None else w

    def fit(y: np.ndarray) -> list[TermFit]:
        res = nested_lmm(x, y, subjects, blocks, w)
        full = np.broadcast_to(mask, y.shape)
        n_used = full.sum(axis=0).astype(float)
        g = (indicator(b) @ full.astype(float) > 0).sum(axis=0).astype(float)
        scale = g / np.maximum(g - 1, 1) * (n_used - 1) / np.maximum(n_used - x.shape[1], 1)
        out = []
        for vec, df in zip(contrasts, dfs):
            var = np.einsum("p,jpq,q->j", vec, res.cov, vec)
            se = np.where(res.fitted, np.sqrt(np.maximum(var, 0)), np.nan)
            infl = partial(_influence, res, x, y, s, b, full, vec)
            cross = partial(_cross, res.cov, vec)
            out.append(TermFit(vec @ res.coef, se, df, influence=infl, clusters=b, scale=scale, cross=cross))
        return out

    return fit


def _cross(cov: np.ndarray, vec: np.ndarray, other: np.ndarray) -> np.ndarray:
    return np.einsum("p,jpq,q->j", vec, cov, other)
