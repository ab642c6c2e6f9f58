"""Presence / absence per feature: Firth-penalised logistic regression, all features in one batched IRLS.

Firth's penalty (Jeffreys prior) keeps the estimates finite when a feature is absent from every sample of one
group (separation), the common case for a taxon that is lost rather than reduced. Each iteration builds every
feature's information matrix ``X' W_j X`` from one matrix product with the row-wise outer products of ``X``, so
there is no Python loop over features. p-values come from the penalised likelihood-ratio test (Heinze & Schemper
2002 Stat Med 21:2409; Wald tests are badly underpowered under separation), the reduced model being the same
design restricted to ``L beta = 0`` with the full model's penalty, as in logistf; CIs are Wald intervals on the penalised fit.

Speed: features are fitted in chunks (memory bounded by samples × chunk, work arrays that stay in cache),
feature-major, with only the ``p(p+1)/2`` distinct row products; a feature stops iterating once converged; each
restricted fit starts from the full fit's constrained quadratic optimum, and its information matrix is projected
from the full one rather than rebuilt; the penalised log-likelihood comes out of the fit's last pass; the
batched products run on one BLAS thread (see :func:`single_threaded_blas`).

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

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import linalg, special, stats
from threadpoolctl import threadpool_limits

from ..parallel import current_scheduler, run_tasks
from ._linmod import TermFit

__all__ = ["LRTest", "LogisticFit", "firth_logistic", "prevalence_terms", "prevalence_tests"]

_MAX_STEP = 5.0
#: Elements of one samples × features work array: features are fitted in chunks of this size, so memory stays
#: bounded by the chunk (not samples × features) and the work arrays stay in cache.
_CHUNK = 2**19
#: At most this many features per chunk, so that small data sets still split into chunks for threads.
_MAX_CHUNK_FEATURES = 128


@dataclass(frozen=True)
class LogisticFit:
    """Coefficients (p × m), covariance (m × p × p), whether each feature's fit converged (m), and the
    Firth-penalised log-likelihood at the estimate (m; the penalty of the full design, also for a restricted fit)."""

    coef: np.ndarray
    cov: np.ndarray
    converged: np.ndarray
    loglik: np.ndarray | None = None


@dataclass(frozen=True)
class LRTest:
    """A penalised likelihood-ratio test of ``L beta = 0`` per feature: the statistic, its df, the p-value."""

    statistic: np.ndarray
    df: int
    p_value: np.ndarray


class _Products:
    """The distinct row products ``x_ir x_is`` (r <= s) of a design: every feature's ``X' W_j X`` is one matrix
    product with them, and so is the diagonal of every feature's hat matrix."""

    def __init__(self, x: np.ndarray) -> None:
        p = x.shape[1]
        self.p = p
        self.rows, self.cols = np.triu_indices(p)
        self.xx = x[:, self.rows] * x[:, self.cols]  # n × p(p+1)/2
        self.twice = np.where(self.rows == self.cols, 1.0, 2.0)

    def information(self, w: np.ndarray) -> np.ndarray:
        """``X' W_j X`` (k × p × p) for feature-major weights *w* (k × n)."""
        flat = w @ self.xx
        out = np.empty((w.shape[0], self.p, self.p))
        out[:, self.rows, self.cols] = flat
        out[:, self.cols, self.rows] = flat
        return out

    def quadratic(self, inv: np.ndarray) -> np.ndarray:
        """``x_i' B_j x_i`` (k × n) for symmetric *inv* (k × p × p)."""
        return (inv[:, self.rows, self.cols] * self.twice) @ self.xx.T


def _start(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Starting values (p × m): the intercept at the logit of the (smoothed) prevalence, slopes at 0."""
    beta = np.zeros((x.shape[1], y.shape[1]))
    ones = np.flatnonzero(np.all(x == 1.0, axis=0))
    if ones.size:
        beta[ones[0]] = special.logit((y.sum(axis=0) + 0.5) / (y.shape[0] + 1.0))
    return beta


def _expit(eta: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-eta))`` in place (numpy's vectorised exp: several times faster than scipy's expit)."""
    with np.errstate(over="ignore"):
        np.negative(eta, out=eta)
        np.exp(eta, out=eta)
    eta += 1.0
    return np.reciprocal(eta, out=eta)


def _softplus(eta: np.ndarray) -> np.ndarray:
    """``log(1 + exp(eta))`` summed over samples (k), without overflow."""
    t = np.abs(eta)
    np.negative(t, out=t)
    np.exp(t, out=t)
    np.log1p(t, out=t)
    t += np.maximum(eta, 0.0)
    return t.sum(axis=1)


def _weights(eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fitted probabilities and IRLS weights ``mu (1 - mu)`` (floored at 1e-12), feature-major; *eta* is
    overwritten by the probabilities."""
    mu = _expit(eta)
    w = np.subtract(1.0, mu)
    w *= mu
    np.maximum(w, 1e-12, out=w)
    return mu, w


def _fit_chunk(x: np.ndarray, prod: _Products, y: np.ndarray, gamma: np.ndarray, basis: np.ndarray | None,
               max_iter: int, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Modified-score Fisher scoring (Firth) for one chunk: *y* (k × n, feature-major), *gamma* (k × r)."""
    x0 = x if basis is None else x @ basis
    converged = np.zeros(y.shape[0], dtype=bool)
    active = np.arange(y.shape[0])
    ya, ga = y, gamma.copy()
    for _ in range(max_iter):  # iterate only the features still moving
        mu, w = _weights(ga @ x0.T)
        info = prod.information(w)  # the penalty is always the full design's
        inv = np.linalg.inv(info)
        resid = prod.quadratic(inv)
        resid *= w
        resid *= 0.5 - mu  # h (1/2 - mu) + y - mu: the modified score's residual
        resid += ya
        resid -= mu
        score = resid @ x0
        if basis is None:
            step = np.einsum("kpq,kq->kp", inv, score)
        else:
            step = np.linalg.solve(basis.T @ info @ basis, score[..., None])[..., 0]
        biggest = np.abs(step).max(axis=1)
        ga += step * np.minimum(1.0, _MAX_STEP / np.maximum(biggest, 1e-300))[:, None]
        done = biggest < tol
        if done.any():
            gamma[active[done]] = ga[done]
            converged[active[done]] = True
            keep = ~done
            active, ya, ga = active[keep], ya[keep], ga[keep]
            if active.size == 0:
                break
    gamma[active] = ga
    return gamma, converged


def _final(x: np.ndarray, prod: _Products, y: np.ndarray, gamma: np.ndarray,
           basis: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Covariance of *gamma* (k × r × r) and the penalised log-likelihood (k) for one chunk."""
    beta = gamma if basis is None else gamma @ basis.T
    eta = beta @ x.T
    mu = _expit(eta.copy())
    raw = mu * (1 - mu)
    info = prod.information(np.maximum(raw, 1e-12))
    if basis is not None:
        info = basis.T @ info @ basis
    cov = np.linalg.inv(info)
    tiny = raw < 1e-12
    full = prod.information(np.maximum(raw, 1e-300)) if basis is not None or tiny.any() else info
    loglik = np.einsum("kn,kn->k", y, eta) - _softplus(eta) + 0.5 * np.linalg.slogdet(full)[1]
    return cov, loglik


def _fit_columns(x: np.ndarray, prod: _Products, y: np.ndarray, gamma0: np.ndarray, basis: np.ndarray | None,
                 max_iter: int, tol: float, cols: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One chunk of features (bounded memory, no loop over single features): coefficients, converged,
    covariance, penalised log-likelihood."""
    yc = np.ascontiguousarray(y[:, cols].T, dtype=float)
    g, ok = _fit_chunk(x, prod, yc, gamma0[cols].copy(), basis, max_iter, tol)
    c, ll = _final(x, prod, yc, g, basis)
    return g, ok, c, ll


#: Elements (samples × features) of one Dask task: several chunks, fitted one after the other as locally, so
#: that each task is worth its round trip to the scheduler.
_TASK_ELEMENTS = 2**22


def _fit_columns_on_worker(x: np.ndarray, prod: _Products, y: np.ndarray, gamma0: np.ndarray,
                           basis: np.ndarray | None, max_iter: int, tol: float,
                           group: list[slice]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`_fit_columns` for each chunk of *group* on a Dask worker, with one BLAS thread as locally (see
    :func:`single_threaded_blas`)."""
    with single_threaded_blas():
        return [_fit_columns(x, prod, y, gamma0, basis, max_iter, tol, cols) for cols in group]


def firth_logistic(x: np.ndarray, y: np.ndarray, *, basis: np.ndarray | None = None,
                   start: np.ndarray | None = None, max_iter: int = 100, tol: float = 1e-7,
                   n_jobs: int = 1) -> LogisticFit:
    """Firth logistic regression of every 0/1 column of *y* on the design *x*.

    With *basis* ``N`` (p × r, orthonormal columns) the fit is restricted to ``beta = N gamma`` while the
    penalty stays that of the full design (as in logistf), which is what the penalised likelihood-ratio test
    needs; ``coef`` is then ``gamma``. *start* (p × m) are starting coefficients on the full design's scale
    (projected onto the restriction); by default the intercept starts at the logit of the prevalence.

    Features are fitted in chunks (memory bounded by ``n ×`` chunk), and within a chunk a feature stops
    iterating once its step falls below *tol*. With *n_jobs* > 1 the chunks are fitted by that many threads
    (numpy releases the GIL in its array loops; the results are identical, chunk by chunk); inside
    :func:`gutlink.parallel.on_cluster` they are fitted on that Dask cluster, by the same chunk function.
    """
    n, p = x.shape
    m = y.shape[1]
    beta0 = _start(x, y) if start is None else np.asarray(start, dtype=float)
    gamma0 = (beta0 if basis is None else basis.T @ beta0).T.copy()  # m × r
    r = gamma0.shape[1]
    prod = _Products(x)
    coef, cov = np.empty((m, r)), np.empty((m, r, r))
    converged, loglik = np.zeros(m, dtype=bool), np.empty(m)
    size = max(1, min(_CHUNK // max(n, 1), _MAX_CHUNK_FEATURES))  # independent of n_jobs: same results
    chunks = [slice(lo, min(lo + size, m)) for lo in range(0, m, size)]
    scheduler = current_scheduler()

    def place(i: int, part: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
        cols = chunks[i]
        coef[cols], converged[cols], cov[cols], loglik[cols] = part

    if scheduler is None:  # threads write disjoint slices of the outputs: no locking needed
        def fit(cols: slice) -> None:
            place(chunks.index(cols), _fit_columns(x, prod, y, gamma0, basis, max_iter, tol, cols))

        run_tasks(fit, chunks, n_jobs=n_jobs, backend="threads")
    else:  # a Dask cluster: the same chunk function, its results come back (equal to rounding: in another
        # process the arrays sit at other memory alignments, which moves SIMD sums by ~1e-14)
        per = max(1, _TASK_ELEMENTS // max(n * size, 1))
        groups = [list(range(k, min(k + per, len(chunks)))) for k in range(0, len(chunks), per)]

        def placed(g: int, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> None:
            for i, part in zip(groups[g], parts):
                place(i, part)

        run_tasks(partial(_fit_columns_on_worker, x, prod, y, gamma0, basis, max_iter, tol),
                  [[chunks[i] for i in g] for g in groups], scheduler=scheduler, on_done=placed, keep=False)
    return LogisticFit(coef.T, cov, converged, loglik)


def restricted_start(coef: np.ndarray, cov: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Starting values for the fit under ``L beta = 0``: the constrained optimum of the full fit's quadratic
    approximation, ``beta - C L' (L C L')^-1 L beta`` (p × m), for coefficients *coef* (p × m) with covariance
    *cov* (m × p × p); *vec* is one contrast row (p) or a contrast matrix (q × p)."""
    if vec.ndim == 2:
        cl = np.einsum("jpq,rq->jpr", cov, vec)  # m × p × q
        lcl = np.einsum("sp,jpr->jsr", vec, cl)  # m × q × q
        lb = (vec @ coef).T  # m × q
        ok = np.isfinite(lcl).all(axis=(1, 2)) & np.isfinite(lb).all(axis=1)
        ok[ok] = np.linalg.cond(lcl[ok]) < 1e12
        shift = np.zeros(lb.shape)
        if ok.any():
            shift[ok] = np.linalg.solve(lcl[ok], lb[ok][..., None])[..., 0]
        out = coef - np.einsum("jpr,jr->pj", np.where(ok[:, None, None], cl, 0.0), shift)
        return np.where(np.isfinite(out), out, 0.0)
    cl = np.einsum("jpq,q->jp", cov, vec)  # m × p
    lcl = cl @ vec
    shift = np.where(lcl > 0, (vec @ coef) / np.where(lcl > 0, lcl, 1.0), 0.0)
    out = coef - cl.T * shift[None, :]
    return np.where(np.isfinite(out), out, 0.0)


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """One BLAS thread for the duration (restored after), as scikit-learn's KMeans does around its loops.

    The batched fit makes many small matrix products (chunk × p(p+1)/2); threading them costs more than it
    gains, and on a busy machine a multi-threaded BLAS made the prevalence model 4–10 times slower.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def prevalence_terms(x: np.ndarray, present: np.ndarray, contrasts: Sequence[np.ndarray], *,
                     n_jobs: int = 1) -> list[TermFit]:
    """Log odds ratios of presence per contrast: Wald SEs, penalised likelihood-ratio p-values.

    Each restricted fit starts from the full fit's constrained quadratic optimum (:func:`restricted_start`),
    which is close to its solution, so it needs few iterations.
    """
    return prevalence_tests(x, present, contrasts, n_jobs=n_jobs)[0]


def prevalence_tests(x: np.ndarray, present: np.ndarray, contrasts: Sequence[np.ndarray],
                     joint: Sequence[np.ndarray] = (), *, n_jobs: int = 1) -> tuple[list[TermFit], list[LRTest]]:
    """:func:`prevalence_terms`, and a penalised likelihood-ratio test of ``L beta = 0`` for every contrast matrix
    ``L`` (q × p) in *joint*, on q df (the omnibus test of a term with q + 1 levels), from the same full fit."""
    with single_threaded_blas():
        return _prevalence_terms(x, present, contrasts, joint, n_jobs)


def _lr(x: np.ndarray, present: np.ndarray, fit: LogisticFit, matrix: np.ndarray,
        n_jobs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Penalised LR statistic of ``matrix @ beta = 0`` (restricted fit on the null space of *matrix*, with the
    full design's penalty) and whether both fits converged."""
    basis = linalg.null_space(np.atleast_2d(matrix))
    reduced = firth_logistic(x, present, basis=basis, start=restricted_start(fit.coef, fit.cov, matrix),
                             n_jobs=n_jobs)
    assert fit.loglik is not None and reduced.loglik is not None  # firth_logistic always sets it
    return np.maximum(2 * (fit.loglik - reduced.loglik), 0), fit.converged & reduced.converged


def _prevalence_terms(x: np.ndarray, present: np.ndarray, contrasts: Sequence[np.ndarray],
                      joint: Sequence[np.ndarray] = (), n_jobs: int = 1) -> tuple[list[TermFit], list[LRTest]]:
    informative = (present.min(axis=0) < 1) & (present.max(axis=0) > 0)
    present = present[:, informative]
    fit = firth_logistic(x, present, n_jobs=n_jobs)
    out = []
    for vec in contrasts:
        est = vec @ fit.coef
        se = np.sqrt(np.maximum(np.einsum("p,jpq,q->j", vec, fit.cov, vec), 0))
        lr, ok = _lr(x, present, fit, vec, n_jobs)
        out.append(TermFit(_spread(np.where(ok, est, np.nan), informative),
                           _spread(np.where(ok, se, np.nan), informative), np.inf,
                           _spread(np.where(ok, stats.chi2.sf(lr, 1), np.nan), informative)))
    tests = []
    for matrix in joint:
        matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
        lr, ok = _lr(x, present, fit, matrix, n_jobs)
        q = int(np.linalg.matrix_rank(matrix))
        tests.append(LRTest(_spread(np.where(ok, lr, np.nan), informative), q,
                            _spread(np.where(ok, stats.chi2.sf(lr, q), np.nan), informative)))
    return out, tests


def _spread(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Values of the informative features back in the full feature order (NaN for the others)."""
    out = np.full(mask.shape, np.nan)
    out[mask] = values
    return out
