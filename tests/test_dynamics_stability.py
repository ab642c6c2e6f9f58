"""gutlink.dynamics: stability-constrained elastic net, forecast-error penalty choice, vectorised integration,
colonisation resistance, cLV and guild scenarios, readouts (research tool, never medical advice)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutlink.dynamics.analysis import invasion
from gutlink.dynamics.batch import integrate_clv_batch, integrate_glv_batch
from gutlink.dynamics.estimate import solve, stabilise
from gutlink.dynamics.forecast import trajectory
from gutlink.dynamics.models import DynamicsModel, fit
from gutlink.dynamics.readouts import dysbiosis_readout, guild_members, guild_prebiotic, guild_readout
from gutlink.dynamics.scenarios import antibiotic, prebiotic, probiotic, simulate
from gutlink.dynamics.simulate import integrate_clv, integrate_glv, simulate_glv
from gutlink.errors import DesignError

R = np.array([0.9, 0.7, 0.5, 0.8])
A = np.array([[-1.0, -0.3, 0.2, 0.0],
              [-0.2, -1.2, 0.0, 0.3],
              [0.1, -0.4, -0.8, 0.0],
              [0.0, 0.2, -0.3, -1.1]])
B = np.array([[-2.0], [0.0], [-1.0], [0.5]])


def _series(noise=0.02, n_subjects=5):
    return simulate_glv(R, A, effects=B, windows=[(4.0, 6.0)], n_subjects=n_subjects,
                        times=np.arange(0, 12, 0.25), noise=noise, rng=3)


def _random_gram(rng, m=6, k=4, n=400):
    X = np.c_[np.ones(n), rng.normal(size=(n, m - 1))]
    Y = X @ rng.normal(size=(m, k)) + 0.1 * rng.normal(size=(n, k))
    return X.T @ X, X.T @ Y


def test_fista_equals_closed_form_ridge_when_no_constraint_binds():
    rng = np.random.default_rng(0)
    XtX, XtY = _random_gram(rng)
    pen = np.diag([0.0, *[0.5] * 5])
    exact = np.linalg.solve(XtX + pen, XtY)
    # a tiny L1 share forces the proximal-gradient path; the answer must stay the ridge one
    W = solve(XtX, XtY, alpha=0.5, l1_ratio=1e-9, n_state=3, stability="none", max_iter=5000, tol=1e-10)
    assert np.allclose(W, exact, atol=1e-6)


def test_lasso_zeroes_coefficients_and_diagonal_constraint_holds():
    rng = np.random.default_rng(1)
    XtX, XtY = _random_gram(rng)
    W = solve(XtX, XtY, alpha=400.0, l1_ratio=1.0, n_state=3, stability="diagonal")
    diag = W[1 + np.arange(3), np.arange(3)]
    assert np.all(diag <= -1e-3 + 1e-12)
    off = np.delete(W[1:], [0 * 4 + 0, 1 * 4 + 1, 2 * 4 + 2])
    assert (np.abs(off) < 1e-12).sum() >= 3  # the L1 penalty sets some coefficients exactly to zero
    assert not np.allclose(W[0], 0)          # growth rates are not penalised


def test_negdef_projection_is_nearest_and_bounded():
    rng = np.random.default_rng(2)
    M = rng.normal(size=(5, 4, 4))
    S, changed = stabilise(M)
    sym = (S + np.swapaxes(S, 1, 2)) / 2
    assert np.all(np.linalg.eigvalsh(sym).max(axis=1) <= -1e-3 + 1e-10)
    assert np.allclose(S - np.swapaxes(S, 1, 2), M - np.swapaxes(M, 1, 2))  # skew part kept
    already = -np.eye(3) * 2
    S2, ch2 = stabilise(already)
    assert not ch2 and np.allclose(S2, already)


def test_negdef_fit_cannot_blow_up_where_the_unconstrained_one_does():
    # positive feedback between two taxa: the unconstrained fit on a short noisy series diverges from a high start
    r, Ap = np.array([0.5, 0.5]), np.array([[-0.3, 0.4], [0.4, -0.3]])
    ts = simulate_glv(r, Ap, n_subjects=4, times=np.arange(0, 3, 0.25), noise=0.05, rng=0)
    free = fit(ts, model="glv", alphas=[1e-6], l1_ratios=[0.0], stability="none")
    safe = fit(ts, model="glv", alphas=[1e-6], l1_ratios=[0.0], stability="negdef")
    sym = (safe.interactions + safe.interactions.T) / 2
    assert np.linalg.eigvalsh(sym).max() < 0 and safe.stabilised and safe.stability == "negdef"
    start, times = np.array([5.0, 5.0]) * safe.scale, np.linspace(0, 200, 21)
    assert trajectory(free, start, times).status == "blow-up"
    assert trajectory(safe, start, times).status == "ok"


def test_forecast_cv_chooses_among_candidates_and_records_them():
    ts = _series()
    m = fit(ts, model="glv", alphas=[1e-3, 1e-1, 10.0], l1_ratios=[0.0, 0.9])
    assert m.selection == "forecast" and len(m.cv) == 6
    assert {"alpha", "l1_ratio", "cv_error", "n_failed"} <= set(m.cv.columns)
    best = m.cv.sort_values(["n_failed", "cv_error"]).iloc[0]
    assert (m.alpha, m.l1_ratio) == (best["alpha"], best["l1_ratio"])
    one = fit(ts, model="glv", alphas=[1e-3, 1e-1, 10.0], l1_ratios=[0.0, 0.9], select="one-step")
    assert one.selection == "one-step"
    with pytest.raises(DesignError, match="stability"):
        fit(ts, stability="psd")  # type: ignore[arg-type]


def test_batch_integration_matches_lsoda_and_flags_blow_up():
    rng = np.random.default_rng(4)
    K, n = 6, 5
    r = rng.uniform(0.3, 1.0, (K, n))
    Ab = -np.eye(n) + rng.normal(0, 0.1, (K, n, n))
    Bb = rng.normal(0, 1, (K, n, 1))
    times = np.arange(0, 20, 0.5)
    u = ((times >= 3) & (times < 5)).astype(float)[:, None]
    x0 = rng.uniform(0.05, 0.3, n)
    p = integrate_glv_batch(r, Ab, Bb, x0, times, u)
    for k in range(K):
        q = integrate_glv(r[k], Ab[k], Bb[k], x0, times, u)
        assert q.status == p.status[k] == "ok"
        assert np.allclose(np.log(p.states[k]), np.log(q.states), atol=1e-3)
    c = integrate_clv_batch(r[:, 1:], Ab[:, 1:, 1:], Bb[:, 1:], x0 / x0.sum(), times, u, ref_index=0)
    qc = integrate_clv(r[0, 1:], Ab[0, 1:, 1:], Bb[0, 1:], x0 / x0.sum(), times, u, ref_index=0)
    assert np.allclose(c.states[0], qc.states, atol=1e-4)
    bad = integrate_glv_batch(np.ones((2, 1)), np.array([[[0.5]], [[-1.0]]]), np.zeros((2, 1, 0)),
                              np.array([1.0]), np.array([0.0, 100.0]))
    assert bad.status.tolist() == ["blow-up", "ok"]


def test_vectorised_scenario_equals_the_replicates_one_by_one():
    m = fit(_series(), model="glv", alphas=[1e-3], l1_ratios=[0.0], n_boot=12, rng=0)
    start = np.linalg.solve(A, -R)
    times = np.arange(0, 15, 0.5)
    res = simulate(m, start, times=times, interventions=[antibiotic("perturbation0", start=2, end=4)])
    assert res.n_models == 12 and res.replicates.shape == (12, len(times), 4)
    u = ((times >= 2) & (times < 4)).astype(float)[:, None]
    for k in (0, 7):
        q = integrate_glv(m.boot_growth[k], m.boot_interactions[k], m.boot_effects[k], start, times, u)
        assert np.allclose(res.replicates[k], q.states, rtol=1e-3, atol=1e-8)


def test_clv_scenarios_take_fractions():
    ts = _series()
    m = fit(ts, model="clv", alphas=[1e-3], l1_ratios=[0.0], n_boot=5, rng=0)
    p0 = ts.relative.to_numpy()[0].copy()
    target = next(t for t in m.taxa if t != m.reference)
    res = simulate(m, p0, times=np.arange(0, 10, 0.5),
                   interventions=[probiotic(target, dose=0.2, times=[2.0]), prebiotic([target], factor=2.0, start=0,
                                                                                      end=10)])
    assert res.model == "clv" and np.allclose(res.replicates.sum(axis=2), 1.0)
    j = m.taxa.index(target)
    assert np.median(res.replicates[:, -1, j]) > np.median(res.baseline_replicates[:, -1, j])
    with pytest.raises(DesignError, match="fraction"):
        simulate(m, p0, times=np.arange(5.0), interventions=[probiotic(target, dose=5.0, times=[1.0])])


def test_invasion_matches_the_analytic_rate_and_carries_bands():
    # resident a at x* = 1; invader b: 0.3 - 0.5 * 1 = -0.2 (kept out); a into b alone: 1 + 0 * 0.3 > 0
    m = DynamicsModel("glv", ("a", "b"), ("abx",), np.array([1.0, 0.3]), np.array([[-1.0, 0.0], [-0.5, -1.0]]),
                      np.array([[-1.5], [0.0]]), 0.0, 1.0, 1e-5)
    tab = invasion(m).table.set_index("invader")
    assert np.isclose(tab.loc["b", "invasion_rate"], -0.2) and not tab.loc["b", "establishes"]
    assert np.isclose(tab.loc["b", "resistance"], 0.2) and tab.loc["a", "establishes"]
    # the antibiotic lowers a's growth to -0.5: a dies, b meets an empty community and invades
    abx = invasion(m, ("b",), perturbation={"abx": 1.0}).table.iloc[0]
    assert np.isclose(abx["invasion_rate"], 0.3) and abx["establishes"]
    fitted = fit(_series(), model="glv", alphas=[1e-3], l1_ratios=[0.0], n_boot=10, rng=1)
    res = invasion(fitted, ("taxon2",)).table.iloc[0]
    assert res["n_replicates"] == 10 and res["ci_low"] <= res["invasion_rate"] <= res["ci_high"]
    with pytest.raises(DesignError, match="not in the model"):
        invasion(m, ("Lactobacillus",))


def test_guild_prebiotic_and_readouts():
    taxa = ("Faecalibacterium_prausnitzii", "Roseburia_intestinalis", "Escherichia_coli")
    m = DynamicsModel("glv", taxa, (), np.array([0.8, 0.7, 1.0]), -np.eye(3) - 0.1 * (1 - np.eye(3)),
                      np.zeros((3, 0)), 0.0, 1.0, 1e-5)
    assert guild_members(taxa, "butyrate_producer") == list(taxa[:2])
    iv = guild_prebiotic(m, "butyrate_producer", factor=2.0, start=0, end=40)
    assert iv.taxa == taxa[:2] and iv.name == "prebiotic:butyrate_producer"
    res = simulate(m, np.array([0.3, 0.3, 0.6]), times=np.arange(0, 40.0), interventions=[iv])
    g = guild_readout(res).table.set_index("readout")
    assert g.loc["butyrate_producer", "shift"] > 0 and g.loc["lps_producer", "shift"] < 0
    assert g.loc["barrier_balance", "shift"] > 0
    ref = pd.DataFrame([[0.5, 0.4, 0.1]], columns=list(taxa))
    d = dysbiosis_readout(res, ref).table.iloc[0]
    assert d["shift"] < 0 and d["n_replicates"] == 1  # the fibre moves the community towards the reference
    with pytest.raises(DesignError, match="unknown guild"):
        guild_members(taxa, "fibre_lovers")
    with pytest.raises(DesignError, match="no model taxon"):
        guild_prebiotic(DynamicsModel("glv", ("x",), (), np.ones(1), -np.eye(1), np.zeros((1, 0)), 0.0, 1.0, 1e-5),
                        "butyrate_producer", factor=2.0, start=0, end=1)


def test_solver_says_when_it_stops_at_the_iteration_limit():
    from gutlink.dynamics.estimate import solve_info
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 1))
    X = np.c_[np.ones(200), base + 1e-3 * rng.normal(size=(200, 6))]      # six nearly collinear regressors
    Y = X[:, 1:3] @ np.array([[1.0, -0.5], [0.5, 1.0]]) + 0.1 * rng.normal(size=(200, 2))
    _, ok = solve_info(X.T @ X, X.T @ Y, alpha=1e-4, l1_ratio=0.9, n_state=2, stability="diagonal", max_iter=2,
                       tol=1e-14)
    assert not bool(ok)
    W, ok = solve_info(X.T @ X, X.T @ Y, alpha=10.0, l1_ratio=0.9, n_state=2, stability="diagonal")
    assert bool(ok) and np.allclose(W, solve(X.T @ X, X.T @ Y, alpha=10.0, l1_ratio=0.9, n_state=2,
                                             stability="diagonal"))
    ts = _series()
    m = fit(ts, model="glv", alphas=[1e-3, 1e-1], l1_ratios=[0.0, 0.9], select="one-step")
    assert "n_unconverged" in m.cv.columns and (m.cv.loc[m.cv["l1_ratio"] == 0, "n_unconverged"] == 0).all()
    assert isinstance(m.converged, bool)
    assert type(m).from_json(m.to_json()).converged == m.converged


def _exact_by_enumeration(XtX, XtY, alpha, l1_ratio, n_state, margin=1e-3):
    """Reference optimum of the bounded elastic net, column by column, without any iterative solver: every
    pattern (zero / + / − for each penalised coefficient, bound or free for the self-interaction) gives a linear
    system; the optimum is the pattern whose solution satisfies its own sign conditions with the lowest objective."""
    import itertools
    m, n = XtY.shape
    lam, ridge = alpha * l1_ratio, alpha * (1 - l1_ratio)
    H = XtX + ridge * np.diag(np.r_[0.0, np.ones(m - 1)])
    out = np.zeros((m, n))
    for k in range(n):
        best, best_obj = None, np.inf
        for pat in itertools.product((-1, 0, 1), repeat=m - 1):
            pat = np.r_[2, pat]                                   # 2: the free, unpenalised intercept
            d = 1 + k
            for at_bound in (False, True):
                if (pat[d] == 0 and not at_bound) or (at_bound and pat[d] != -1) or pat[d] == 1:
                    continue
                free = (pat != 0) & ~((np.arange(m) == d) & at_bound)
                w = np.zeros(m)
                if at_bound:
                    w[d] = -margin
                sgn = np.where(pat == 2, 0, pat)
                rhs = XtY[:, k] - lam * sgn - H @ w
                w[free] = np.linalg.solve(H[np.ix_(free, free)], rhs[free])
                ok = np.all(np.sign(w[free & (pat != 2)]) == pat[free & (pat != 2)]) and w[d] <= -margin + 1e-12
                obj = 0.5 * w @ H @ w - XtY[:, k] @ w + lam * np.abs(w[1:]).sum()
                if ok and obj < best_obj:
                    best, best_obj = w, obj
        out[:, k] = best
    return out


def test_solver_converges_on_a_collinear_problem_and_matches_the_exact_optimum():
    # one state regressor is within 1e-3 of a mix of the other two: the first solver (relative-change rule,
    # no restart) stopped at its 1,000-iteration cap here; the KKT-checked solver must converge and agree with
    # the optimum found by enumerating every sign pattern
    from gutlink.dynamics.estimate import solve_info
    rng = np.random.default_rng(3)
    N = 200
    x1, x2 = rng.random(N), rng.random(N)
    X = np.c_[np.ones(N), x1, x2, 0.6 * x1 + 0.4 * x2 + 1e-3 * rng.normal(size=N), rng.random(N) < 0.3]
    Wt = np.array([[1.0, 0.8, 0.5], [-1.0, 0.3, 0.0], [0.2, -0.8, 0.0], [0.0, 0.4, -0.6], [0.0, -0.5, 0.3]])
    Y = X @ Wt + 0.05 * rng.normal(size=(N, 3))
    for alpha in (1e-3, 1e-2, 1e-1):
        W, ok = solve_info(X.T @ X, X.T @ Y, alpha=alpha, l1_ratio=0.9, n_state=3, stability="diagonal")
        ref = _exact_by_enumeration(X.T @ X, X.T @ Y, alpha, 0.9, 3)
        assert bool(ok)
        assert np.allclose(W, ref, atol=1e-6), (alpha, np.abs(W - ref).max())
    # a warm start (e.g. a neighbouring fold's solution) reaches the same optimum
    W2, ok2 = solve_info(X.T @ X, X.T @ Y, alpha=1e-2, l1_ratio=0.9, n_state=3, stability="diagonal",
                         start=np.zeros((5, 3)))
    assert bool(ok2) and np.allclose(W2, _exact_by_enumeration(X.T @ X, X.T @ Y, 1e-2, 0.9, 3), atol=1e-6)


def test_selection_prefers_a_converged_candidate_over_a_lower_error_unconverged_one():
    import pandas as pd

    from gutlink.dynamics.models import choose_candidate

    cv = pd.DataFrame({"alpha": [1e-4, 1e-3, 1e-2], "n_failed": [0, 0, 1], "n_unconverged": [3, 0, 0],
                       "cv_error": [0.05, 0.08, 0.01]})
    assert choose_candidate(cv) == 1  # the failed forecast first, then the unconverged one, lose
    assert choose_candidate(cv.assign(n_unconverged=[3, 1, 0], n_failed=0)) == 2
    assert choose_candidate(cv.assign(n_unconverged=3, n_failed=0)) == 2  # all short: the error decides
