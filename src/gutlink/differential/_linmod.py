"""All features at once: OLS by one QR of the design, and the compositional bias correction.

On the CLR scale every coefficient of feature *j* estimates ``beta_j - b``, where ``b`` is the same unknown shift
for all features (the change of the log geometric mean). When most features do not change, ``b`` is the mode of
the coefficients across features (LinDA, Zhou et al. 2022 Genome Biol 23:95), estimated here by a Gaussian-kernel
mean shift started at the highest point of a kernel density estimate. Each feature counts with its precision
(``1 / se^2``, capped at the 90th percentile) and the bandwidth is ``min(sd, IQR / 1.349) m^(-1/7)``, the rate
suited to locating a mode (wider than Silverman's density bandwidth, which makes the mode needlessly noisy).

Standard errors account for the estimated mode. The mean-shift mode is an M-estimator,
``sum_k w_k psi((beta_k - b) / h) = 0`` with ``psi(r) = r phi(r)`` and precision weights ``w``; linearised,
``b_hat - b = sum_k a_k (beta_k - b_k)`` with influence weights ``a_k = w_k psi'(r_k) / sum w psi'(r)`` (sum 1). So the corrected coefficient is, to
first order, the coefficient of the log-ratio of feature *j* to the weighted reference ``Y a`` of the features
at the mode, and its standard error is that of the log-ratio's regression: ``se_j^2 = v ||e_j - E a||^2 / (n - p)``
(``E``: residuals, ``v = L (X'X)^-1 L'``). It tends to LinDA's plain SE when features are many and independent;
with tens of samples and a few hundred correlated taxa the mode's own noise is not negligible, and the plain SE
made tests liberal in our implantation benchmark (false-discovery proportion 0.1–0.2 at a nominal 0.05).

Examples
--------
>>> rng = np.random.default_rng(0)
>>> x = np.column_stack([np.ones(40), np.repeat([0.0, 1.0], 20)])
>>> y = rng.normal(size=(40, 200)) + 0.7 * x[:, [1]]     # every feature shifted: pure compositional bias
>>> fit = ols(x, y)
>>> b, a = mode_weights(fit.coef[1])
>>> round(b, 1), round(float(a.sum()), 6)
(0.7, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg, stats

__all__ = ["CorrectedTerm", "OLSFit", "TermFit", "bias_corrected", "mode_weights", "ols", "ols_terms"]


@dataclass(frozen=True)
class OLSFit:
    """Coefficients (p × m), residuals (n × m) and ``(X'X)^-1`` of a shared-design OLS fit."""

    coef: np.ndarray
    resid: np.ndarray
    xtx_inv: np.ndarray

    @property
    def df(self) -> int:
        """Residual degrees of freedom."""
        return int(self.resid.shape[0] - self.coef.shape[0])

    @property
    def sigma2(self) -> np.ndarray:
        """Residual variance per feature."""
        return np.einsum("ij,ij->j", self.resid, self.resid) / self.df


@dataclass(frozen=True)
class TermFit:
    """One term's estimates across features: estimate, standard error, degrees of freedom."""

    estimate: np.ndarray
    se: np.ndarray
    df: float
    p_value: np.ndarray | None = None  # when the test is not the Wald t (e.g. a likelihood-ratio test)


@dataclass(frozen=True)
class CorrectedTerm:
    """A bias-corrected term: effect, SE, df, the bias removed, and the raw (uncorrected) estimate."""

    effect: np.ndarray
    se: np.ndarray
    df: float
    bias: float
    raw: np.ndarray


def ols(x: np.ndarray, y: np.ndarray) -> OLSFit:
    """Least squares of every column of *y* on the design *x* (one QR, no loop over features)."""
    q, r = linalg.qr(x, mode="economic")
    coef = linalg.solve_triangular(r, q.T @ y)
    resid = y - x @ coef
    r_inv = linalg.solve_triangular(r, np.eye(r.shape[0]))
    return OLSFit(coef, resid, r_inv @ r_inv.T)


def ols_terms(x: np.ndarray, contrasts: Sequence[np.ndarray]) -> Callable[[np.ndarray], list[TermFit]]:
    """A fitter: response matrix → one :class:`TermFit` per contrast row ``L`` (estimate ``L @ coef``)."""

    def fit(y: np.ndarray) -> list[TermFit]:
        res = ols(x, y)
        s2 = res.sigma2
        out = []
        for vec in contrasts:
            v = float(vec @ res.xtx_inv @ vec)
            out.append(TermFit(vec @ res.coef, np.sqrt(v * s2), float(res.df)))
        return out

    return fit


def _bandwidth(values: np.ndarray) -> float:
    sd = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
    iqr = float(np.subtract(*np.percentile(values, [75, 25]))) / 1.349
    scale = min(sd, iqr) if iqr > 0 else sd
    if scale <= 0:
        scale = max(float(np.abs(values).max()), 1.0) * 1e-6
    return scale * values.size ** (-1 / 7)  # the rate for estimating a mode, wider than a density's m^-1/5


def _kde_peak(values: np.ndarray, weights: np.ndarray, h: float) -> float:
    grid = np.linspace(values.min() - h, values.max() + h, 512)
    dens = np.zeros_like(grid)
    for idx in np.array_split(np.arange(values.size), max(1, values.size // 2048)):
        dens += np.exp(-0.5 * ((grid[:, None] - values[None, idx]) / h) ** 2) @ weights[idx]
    return float(grid[np.argmax(dens)])


def precision_weights(se: np.ndarray, cap_quantile: float = 0.9) -> np.ndarray:
    """Inverse-variance weights for locating the mode, capped so that a few precise features cannot dominate."""
    ok = np.isfinite(se) & (se > 0)
    w = np.zeros(se.shape)
    w[ok] = 1.0 / se[ok] ** 2
    if ok.any():
        w = np.minimum(w, np.quantile(w[ok], cap_quantile))
    return w


def mode_weights(values: np.ndarray, precision: np.ndarray | None = None, *,
                 max_iter: int = 500) -> tuple[float, np.ndarray]:
    """Mode of *values* (Gaussian mean shift, optionally precision-weighted) and each value's influence on it.

    The influence weights sum to 1; non-finite values get weight 0 and do not enter the estimate.
    """
    pw = np.ones(values.shape) if precision is None else np.asarray(precision, dtype=float)
    ok = np.isfinite(values) & np.isfinite(pw) & (pw > 0)
    v, pw_ok = values[ok], pw[ok]
    weights = np.zeros(values.shape)
    if v.size == 0:
        return float("nan"), weights
    h = _bandwidth(v)
    b = _kde_peak(v, pw_ok, h)
    for _ in range(max_iter):
        k = pw_ok * np.exp(-0.5 * ((v - b) / h) ** 2)
        new = float((k * v).sum() / k.sum())
        if abs(new - b) < 1e-12 * max(1.0, h):
            b = new
            break
        b = new
    r = (v - b) / h
    k = pw_ok * np.exp(-0.5 * r**2)
    infl = k * (1 - r**2)
    if infl.sum() <= 1e-12 * k.sum():  # flat top: fall back to the kernel weights
        infl = k
    weights[ok] = infl / infl.sum()
    return b, weights


def bias_corrected(fit: Callable[[np.ndarray], list[TermFit]], y: np.ndarray, *,
                   correct: bool = True, weighted: bool = True) -> list[CorrectedTerm]:
    """Fit every term, remove each term's mode across features, and re-derive the SE of the corrected effect.

    The SE comes from refitting the log-ratio of each feature to the term's reference ``y @ a`` (see module
    docstring). With ``correct=False`` (absolute abundances) the raw fit is returned unchanged.
    """
    raw = fit(y)
    if not correct:
        return [CorrectedTerm(t.estimate, t.se, t.df, 0.0, t.estimate) for t in raw]
    out = []
    for i, term in enumerate(raw):
        b, a = mode_weights(term.estimate, precision_weights(term.se) if weighted else None)
        ratio = fit(y - (y @ a)[:, None])[i]
        out.append(CorrectedTerm(term.estimate - b, ratio.se, ratio.df, b, term.estimate))
    return out


def t_test(effect: np.ndarray, se: np.ndarray, df: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """t statistics and two-sided p-values (NaN where the SE is zero or undefined)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(se > 0, effect / se, np.nan)
    p = 2 * stats.t.sf(np.abs(stat), df)
    return stat, p


def confidence(effect: np.ndarray, se: np.ndarray, df: float | np.ndarray,
               level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """t-based confidence interval."""
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return effect - half, effect + half
