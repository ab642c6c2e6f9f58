"""Presence / absence per feature: Firth-penalised logistic regression, all features in one batched IRLS.

Firth's penalty (Jeffreys prior) keeps the estimates finite when a feature is absent from every sample of one
group (separation), the common case for a taxon that is lost rather than reduced. Each iteration builds every
feature's information matrix ``X' W_j X`` from one matrix product with the row-wise outer products of ``X``, so
there is no Python loop over features. p-values come from the penalised likelihood-ratio test (Heinze & Schemper
2002 Stat Med 21:2409; Wald tests are badly underpowered under separation), the reduced model being the same
design restricted to ``L beta = 0`` with the full model's penalty, as in logistf; CIs are Wald intervals on the penalised fit.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> x = np.column_stack([np.ones(60), np.repeat([0.0, 1.0], 30)])
>>> present = np.column_stack([rng.random(60) < 0.5, np.r_[np.zeros(30), np.ones(30)] > 0])  # 2nd: separated
>>> fit = firth_logistic(x, present.astype(float))
>>> bool(np.isfinite(fit.coef).all()), bool(fit.coef[1, 1] > 2)
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg, special, stats

from ._linmod import TermFit

__all__ = ["LogisticFit", "firth_logistic", "prevalence_terms"]

_MAX_STEP = 5.0


@dataclass(frozen=True)
class LogisticFit:
    """Coefficients (p × m), covariance (m × p × p), and whether each feature's fit converged (m)."""

    coef: np.ndarray
    cov: np.ndarray
    converged: np.ndarray


def _information(xx: np.ndarray, w: np.ndarray, p: int) -> np.ndarray:
    """Every feature's X' W_j X (m × p × p) from the row outer products *xx* (n × p²)."""
    return (w.T @ xx).reshape(-1, p, p)


def _hat(xx: np.ndarray, w: np.ndarray, p: int) -> np.ndarray:
    """Diagonal of the weighted hat matrix of every feature (n × m)."""
    inv = np.linalg.inv(_information(xx, w, p))
    return w * (xx @ inv.reshape(-1, p * p).T)


def _start(x: np.ndarray, y: np.ndarray, basis: np.ndarray | None) -> np.ndarray:
    """Starting values: the intercept at the logit of the (smoothed) prevalence, slopes at 0."""
    beta = np.zeros((x.shape[1], y.shape[1]))
    ones = np.flatnonzero(np.all(x == 1.0, axis=0))
    if ones.size:
        beta[ones[0]] = special.logit((y.sum(axis=0) + 0.5) / (y.shape[0] + 1.0))
    return beta if basis is None else basis.T @ beta


def firth_logistic(x: np.ndarray, y: np.ndarray, *, basis: np.ndarray | None = None, max_iter: int = 100,
                   tol: float = 1e-7) -> LogisticFit:
    """Firth logistic regression of every 0/1 column of *y* on the design *x*.

    With *basis* ``N`` (p × r) the fit is restricted to ``beta = N gamma`` while the penalty stays that of the
    full design (as in logistf), which is what the penalised likelihood-ratio test needs; ``coef`` is then
    ``gamma``.
    """
    n, p = x.shape
    x0 = x if basis is None else x @ basis
    r, m = x0.shape[1], y.shape[1]
    xx, xx0 = (x[:, :, None] * x[:, None, :]).reshape(n, p * p), (x0[:, :, None] * x0[:, None, :]).reshape(n, r * r)
    coef, converged = _start(x, y, basis), np.zeros(m, dtype=bool)
    active = np.arange(m)
    for _ in range(max_iter):  # iterate only the features still moving
        ya, ca = y[:, active], coef[:, active]
        mu = special.expit(x0 @ ca)
        w = np.clip(mu * (1 - mu), 1e-12, None)
        score = x0.T @ (ya - mu + _hat(xx, w, p) * (0.5 - mu))
        step = np.einsum("jpq,qj->pj", np.linalg.inv(_information(xx0, w, r)), score)
        biggest = np.abs(step).max(axis=0)
        coef[:, active] = ca + step * np.minimum(1.0, _MAX_STEP / np.maximum(biggest, 1e-300))[None, :]
        done = biggest < tol
        converged[active[done]] = True
        active = active[~done]
        if active.size == 0:
            break
    mu = special.expit(x0 @ coef)
    inv = np.linalg.inv(_information(xx0, np.clip(mu * (1 - mu), 1e-12, None), r))
    return LogisticFit(coef, inv, converged)


def penalised_loglik(x: np.ndarray, y: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Firth-penalised log-likelihood ``l(beta) + log|X' W X| / 2`` of every feature."""
    n, p = x.shape
    eta = x @ coef
    mu = special.expit(eta)
    xx = (x[:, :, None] * x[:, None, :]).reshape(n, p * p)
    logdet = np.linalg.slogdet(_information(xx, np.clip(mu * (1 - mu), 1e-300, None), p))[1]
    return np.einsum("ij,ij->j", y, eta) - np.logaddexp(0, eta).sum(axis=0) + 0.5 * logdet


def prevalence_terms(x: np.ndarray, present: np.ndarray, contrasts: Sequence[np.ndarray]) -> list[TermFit]:
    """Log odds ratios of presence per contrast: Wald SEs, penalised likelihood-ratio p-values."""
    informative = (present.min(axis=0) < 1) & (present.max(axis=0) > 0)
    present = present[:, informative]
    fit = firth_logistic(x, present)
    full = penalised_loglik(x, present, fit.coef)
    out = []
    for vec in contrasts:
        est = vec @ fit.coef
        se = np.sqrt(np.maximum(np.einsum("p,jpq,q->j", vec, fit.cov, vec), 0))
        basis = linalg.null_space(vec[None, :])
        reduced = firth_logistic(x, present, basis=basis)
        lr = np.maximum(2 * (full - penalised_loglik(x, present, basis @ reduced.coef)), 0)
        ok = fit.converged & reduced.converged
        out.append(TermFit(_spread(np.where(ok, est, np.nan), informative),
                           _spread(np.where(ok, se, np.nan), informative), np.inf,
                           _spread(np.where(ok, stats.chi2.sf(lr, 1), np.nan), informative)))
    return out


def _spread(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Values of the informative features back in the full feature order (NaN for the others)."""
    out = np.full(mask.shape, np.nan)
    out[mask] = values
    return out
