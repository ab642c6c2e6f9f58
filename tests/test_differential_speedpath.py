"""The fast path of the prevalence model: chunked, warm-started, single-threaded Firth fits equal a plain reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg, optimize, special, stats

from gutlink.differential import _prevalence


def _design_and_presence(n: int = 80, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(seed)
    group = np.repeat([0.0, 1.0], n // 2)
    x = np.column_stack([np.ones(n), group, gen.normal(50, 10, n), gen.random(n) < 0.5])  # unscaled covariate
    cols = [
        gen.random(n) < 0.5,  # ordinary
        gen.random(n) < special.expit(-1 + 1.5 * group),  # an effect
        np.r_[np.zeros(n // 2), gen.random(n // 2) < 0.6],  # separated: absent from every group-0 sample
        np.r_[np.ones(n - 1), 0.0],  # one absence: the penalty dominates
        gen.random(n) < 0.1,  # rare
    ]
    return x, np.column_stack(cols).astype(float)


def _firth_reference(x: np.ndarray, y: np.ndarray, basis: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Textbook Firth for ONE feature: the explicit hat matrix W^1/2 X (X'WX)^-1 X' W^1/2, solved as a root of the
    modified score (restricted to beta = basis gamma if given), then the penalised log-likelihood there."""
    basis = np.eye(x.shape[1]) if basis is None else basis

    def parts(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mu = special.expit(x @ beta)
        w = mu * (1 - mu)
        info = x.T @ (x * w[:, None])
        half = x * np.sqrt(w)[:, None]
        hat = np.diag(half @ np.linalg.solve(info, half.T))
        return mu, info, hat

    def score(gamma: np.ndarray) -> np.ndarray:
        mu, _, hat = parts(basis @ gamma)
        return basis.T @ (x.T @ (y - mu + hat * (0.5 - mu)))

    gamma = optimize.root(score, np.zeros(basis.shape[1]), method="hybr", tol=1e-13).x
    beta = basis @ gamma
    mu, info, _ = parts(beta)
    eta = x @ beta
    loglik = y @ eta - np.logaddexp(0, eta).sum() + 0.5 * np.linalg.slogdet(info)[1]
    return beta, loglik


def test_batched_firth_equals_the_textbook_reference_including_separation():
    x, y = _design_and_presence()
    fit = _prevalence.firth_logistic(x, y)
    assert fit.converged.all()
    for j in range(y.shape[1]):
        beta, loglik = _firth_reference(x, y[:, j])
        np.testing.assert_allclose(fit.coef[:, j], beta, rtol=1e-6, atol=1e-7)
        assert fit.loglik[j] == pytest.approx(loglik, rel=1e-9)
        mu = special.expit(x @ beta)
        cov = np.linalg.inv(x.T @ (x * (mu * (1 - mu))[:, None]))
        np.testing.assert_allclose(fit.cov[j], cov, rtol=1e-5, atol=1e-12)
    assert np.isfinite(fit.coef[:, 2]).all() and fit.coef[1, 2] > 2  # separated: finite, large


def test_penalised_lr_p_values_equal_the_reference():
    x, y = _design_and_presence()
    vec = np.array([0.0, 1.0, 0.0, 0.0])
    term = _prevalence.prevalence_terms(x, y, [vec])[0]
    basis = linalg.null_space(vec[None, :])
    for j in range(y.shape[1]):
        full, l_full = _firth_reference(x, y[:, j])
        _, l_reduced = _firth_reference(x, y[:, j], basis)
        assert term.estimate[j] == pytest.approx(full[1], rel=1e-6)
        assert term.p_value[j] == pytest.approx(stats.chi2.sf(2 * (l_full - l_reduced), 1), rel=1e-6)


def test_chunks_and_warm_starts_do_not_change_the_fit(monkeypatch):
    x, y = _design_and_presence(n=120, seed=8)
    y = np.repeat(y, 7, axis=1)[:, :33]  # several chunks, the last one partial
    whole = _prevalence.firth_logistic(x, y)
    monkeypatch.setattr(_prevalence, "_CHUNK", 4 * x.shape[0])  # four features per chunk
    chunked = _prevalence.firth_logistic(x, y)
    np.testing.assert_allclose(chunked.coef, whole.coef, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(chunked.loglik, whole.loglik, rtol=1e-12)
    vec = np.array([0.0, 1.0, 0.0, 0.0])
    basis = linalg.null_space(vec[None, :])
    cold = _prevalence.firth_logistic(x, y, basis=basis)
    warm = _prevalence.firth_logistic(x, y, basis=basis, start=_prevalence.restricted_start(whole.coef, whole.cov, vec))
    assert cold.converged.all() and warm.converged.all()
    np.testing.assert_allclose(warm.coef, cold.coef, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(warm.loglik, cold.loglik, rtol=1e-10)
    assert np.abs(vec @ (basis @ warm.coef)).max() < 1e-12  # the restriction holds


def test_restricted_start_satisfies_the_restriction():
    x, y = _design_and_presence()
    fit = _prevalence.firth_logistic(x, y)
    vec = np.array([0.0, 1.0, -1.0, 0.0])
    start = _prevalence.restricted_start(fit.coef, fit.cov, vec)
    np.testing.assert_allclose(vec @ start, 0.0, atol=1e-10)


def test_threads_give_the_same_fit_bit_for_bit():
    """n_jobs only spreads the feature chunks over threads: every number is identical to one thread's."""
    gen = np.random.default_rng(7)
    n, m = 120, 300  # more features than one chunk holds, so several chunks run at once
    x = np.column_stack([np.ones(n), np.repeat([0.0, 1.0], n // 2), gen.normal(size=n)])
    y = (gen.random((n, m)) < special.expit(gen.normal(-0.5, 1.5, size=m))[None, :]).astype(float)
    y = y[:, (y.min(axis=0) < 1) & (y.max(axis=0) > 0)]
    assert y.shape[1] > _prevalence._MAX_CHUNK_FEATURES
    one = _prevalence.firth_logistic(x, y)
    two = _prevalence.firth_logistic(x, y, n_jobs=2)
    for a, b in [(one.coef, two.coef), (one.cov, two.cov), (one.loglik, two.loglik), (one.converged, two.converged)]:
        assert np.array_equal(a, b)
    tests_one = _prevalence.prevalence_terms(x, y, [np.array([0.0, 1.0, 0.0])])
    tests_two = _prevalence.prevalence_terms(x, y, [np.array([0.0, 1.0, 0.0])], n_jobs=2)
    assert np.array_equal(tests_one[0].p_value, tests_two[0].p_value, equal_nan=True)
