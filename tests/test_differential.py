"""Differential abundance: exact algebra against statsmodels, planted effects, negative controls, biology, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from gutlink import Cohort, DesignError, differential
from gutlink.datasets import franzosa2019, toy
from gutlink.differential import _linmod, _mixed, _prevalence, _shuffle
from gutlink.differential._design import build_design
from gutlink.differential._transform import log_ratios


@pytest.fixture(scope="module")
def prism() -> Cohort:
    return franzosa2019()


@pytest.fixture(scope="module")
def controls(prism: Cohort) -> Cohort:
    return prism.subset(samples=(prism.metadata["Diagnosis"] == "Control").to_numpy())


# ----------------------------------------------------------------------------- exact algebra
def test_vectorised_ols_equals_statsmodels_per_feature(prism):
    design = build_design(prism.metadata, "~ Diagnosis + Age + antibiotic", reference={"Diagnosis": "Control"})
    sub = prism.subset(samples=design.keep)
    x = sub.dense()[:, (sub.dense() > 0).mean(axis=0) > 0.2]
    y, _ = log_ratios(x, "fraction", depth=sub.dense().sum(axis=1), depth_design=None, zeros="adaptive")
    fit = _linmod.ols(design.matrix, y)
    se = np.sqrt(np.diag(fit.xtx_inv)[:, None] * fit.sigma2[None, :])
    for j in range(0, y.shape[1], 7):
        ref = sm.OLS(y[:, j], design.matrix).fit()
        np.testing.assert_allclose(fit.coef[:, j], ref.params, rtol=0, atol=1e-10)
        np.testing.assert_allclose(se[:, j], ref.bse, rtol=1e-10)


def test_weighted_fit_equals_statsmodels_on_the_samples_where_present(prism):
    design = build_design(prism.metadata, "~ Diagnosis + Age", reference={"Diagnosis": "Control"})
    sub = prism.subset(samples=design.keep)
    x = sub.dense()[:, (sub.dense() > 0).mean(axis=0) > 0.1]
    y, info = log_ratios(x, "fraction", depth=sub.dense().sum(axis=1), depth_design=None)
    assert info["abundance"] == "non-zero values" and np.isnan(y[x == 0]).all() and np.isfinite(y[x > 0]).all()
    w = np.isfinite(y)
    fit = _linmod.wls(design.matrix, np.where(w, y, 0.0), w)
    checked = 0
    for j in np.flatnonzero(fit.fitted)[::5]:
        ref = sm.OLS(y[w[:, j], j], design.matrix[w[:, j]]).fit()
        np.testing.assert_allclose(fit.coef[:, j], ref.params, atol=1e-9)
        np.testing.assert_allclose(np.sqrt(np.diag(fit.xtx_inv[j]) * fit.sigma2[j]), ref.bse, rtol=1e-8)
        checked += 1
    assert checked >= 5
    absent_in_controls = (x[design.matrix[:, 1] == 0] == 0).all(axis=0) & (x[design.matrix[:, 1] == 1] > 0).any(axis=0)
    assert not fit.fitted[absent_in_controls].any()  # present in one group only: abundance not estimable


def test_corrected_se_is_the_se_of_the_log_ratio_to_the_mode_reference(prism):
    """Balanced two groups, every sample modelled: the SE equals that of the log-ratio to the reference ``Y a``."""
    meta = prism.metadata
    keep = np.r_[np.flatnonzero(meta["Diagnosis"] == "Control"), np.flatnonzero(meta["Diagnosis"] == "CD")[:34]]
    sub = prism.subset(samples=keep)
    design = build_design(sub.metadata, "~ Diagnosis", group="Diagnosis", case="CD", control="Control")
    x = sub.dense()[:, (sub.dense() > 0).mean(axis=0) > 0.1]
    y, _ = log_ratios(x, "fraction", depth=sub.dense().sum(axis=1), depth_design=None, zeros="adaptive")
    term = design.terms[0]
    raw = _linmod.ols_terms(design.matrix, [term.contrast])(y)[0]
    corrected = _linmod.bias_corrected(_linmod.ols_terms(design.matrix, [term.contrast]), y)[0]
    b, a = _linmod.mode_weights(raw.estimate, _linmod.precision_weights(raw.se))
    assert corrected.bias == pytest.approx(b)
    np.testing.assert_allclose(corrected.effect, raw.estimate - b, atol=1e-12)
    reference = y @ a
    for j in (0, 10, 40):
        ols = sm.OLS(y[:, j] - reference, design.matrix).fit()
        assert corrected.se[j] == pytest.approx(ols.bse[1], rel=1e-10)
    assert corrected.bias < 0 or corrected.bias > 0  # a real, finite shift


def test_corrected_se_with_a_presence_mask_matches_its_definition():
    """Own model-based variance + k (||U a||^2 - 2 u_j'U a), computed here feature by feature with statsmodels."""
    gen = np.random.default_rng(4)
    n, m = 50, 30
    x = np.column_stack([np.ones(n), np.repeat([0.0, 1.0], [20, 30]), gen.normal(size=n)])
    y = gen.normal(size=(n, m)) + gen.normal(size=(n, 1))  # correlated features
    w = gen.random((n, m)) < 0.8
    vec = np.array([0.0, 1.0, 0.0])
    term = _linmod.ols_terms(x, [vec], w)(np.where(w, y, 0.0))[0]
    a = gen.dirichlet(np.ones(m))
    u = np.zeros((n, m))
    own = np.zeros(m)
    for j in range(m):
        rows = w[:, j]
        fit = sm.OLS(y[rows, j], x[rows]).fit()
        g = np.linalg.solve(x[rows].T @ x[rows], vec) @ x[rows].T
        u[rows, j] = g * fit.resid
        own[j] = fit.bse[1] ** 2
    k = w.sum(axis=0) / (w.sum(axis=0) - 3)
    expected = own + k * ((u @ a) @ (u @ a) - 2 * u.T @ (u @ a))
    np.testing.assert_allclose(_linmod.corrected_se(term, a) ** 2, expected, rtol=1e-8)


def test_mode_removes_a_pure_compositional_shift():
    gen = np.random.default_rng(0)
    x = np.column_stack([np.ones(60), np.repeat([0.0, 1.0], 30)])
    truth = np.zeros(300)
    truth[:20] = 3.0  # 20 of 300 features truly change
    y = gen.normal(size=(60, 300)) + x[:, [1]] * (truth - 0.8)[None, :]  # every feature carries a -0.8 bias
    res = _linmod.bias_corrected(_linmod.ols_terms(x, [np.array([0.0, 1.0])]), y)[0]
    assert res.bias == pytest.approx(-0.8, abs=0.12)
    assert np.abs(np.median(res.effect[20:])) < 0.1
    assert np.median(res.effect[:20]) == pytest.approx(3.0, abs=0.2)


# ----------------------------------------------------------------------------- planted effects on real controls
def _implant(cohort: Cohort, seed: int, n_up: int, n_down: int, lfc: float) -> tuple[Cohort, set[str]]:
    """Split real samples at random into A/B and multiply chosen prevalent features by 2**±lfc in B."""
    gen = np.random.default_rng(seed)
    x = cohort.dense().copy()
    chosen = gen.choice(np.flatnonzero((x > 0).mean(axis=0) >= 0.9), n_up + n_down, replace=False)
    labels = np.repeat(["A", "B"], [cohort.n_samples // 2, cohort.n_samples - cohort.n_samples // 2])
    gen.shuffle(labels)
    fold = np.ones(x.shape[1])
    fold[chosen[:n_up]], fold[chosen[n_up:]] = 2.0**lfc, 2.0**-lfc
    x[labels == "B"] *= fold
    meta = cohort.metadata.assign(pseudo=labels)
    planted = Cohort(x / x.sum(axis=1, keepdims=True), metadata=meta, taxonomy=cohort.taxonomy, units="fraction")
    return planted, set(cohort.feature_ids[chosen])


def test_planted_effects_found_and_null_features_not(controls):
    found, false, total, seeds = 0, 0, 0, 10
    for seed in range(seeds):
        planted, truth = _implant(controls, seed, n_up=5, n_down=5, lfc=4.0)
        res = differential.test(planted, "~ pseudo", reference={"pseudo": "A"}, prevalence=False)
        hits = set(res.significant()["feature_id"])
        found += len(hits & truth)
        false += len(hits - truth)
        total += len(hits)
        signs = res.table.set_index("feature_id").loc[sorted(hits & truth), "effect"]
        assert (np.sign(signs) != 0).all()
    assert found / (10 * seeds) >= 0.5, f"recall {found / (10 * seeds):.2f}"
    assert false / max(total, 1) <= 0.1, f"false-discovery proportion {false / max(total, 1):.2f}"


def test_shuffled_labels_give_uniform_p_values_and_few_discoveries(prism):
    gen = np.random.default_rng(7)
    pvals, prev_p, discoveries = [], [], []
    for _ in range(4):
        meta = prism.metadata.assign(shuffled=gen.permutation(prism.metadata["Diagnosis"].to_numpy()))
        res = differential.test(prism.with_metadata(meta), "~ shuffled", reference={"shuffled": "Control"})
        pvals.append(res.table["p_value"].to_numpy())
        prev_p.append(res.prevalence["p_value"].dropna().to_numpy())
        discoveries.append(len(res.significant()))
    p = np.concatenate(pvals)
    assert 0.02 <= (p < 0.05).mean() <= 0.1
    assert 0.01 <= (np.concatenate(prev_p) < 0.05).mean() <= 0.1
    assert np.mean(discoveries) <= 3


def test_builtin_negative_control_on_real_data(prism):
    res = differential.test(prism, "~ Diagnosis + Age", group="Diagnosis", case="CD", control="Control",
                            n_shuffles=3, rng=2, prevalence=False)
    nc = res.negative_control
    assert nc["n_shuffles"] == 3 and len(nc["discoveries"]) == 3
    assert nc["mean_discoveries"] <= 5
    assert len(res.significant()) > 20  # the real labels carry strong signal


# ----------------------------------------------------------------------------- known biology
def test_known_ibd_biology_in_prism(prism):
    res = differential.test(prism, "~ Diagnosis + Age", group="Diagnosis", case="CD", control="Control")
    tab = res.table[res.table["term"] == "Diagnosis[T.CD]"].set_index("feature_id")
    assert tab.loc["Faecalibacterium_prausnitzii", "effect"] < 0
    for taxon in ("Escherichia_coli", "Ruminococcus_gnavus"):
        assert tab.loc[taxon, "effect"] > 0
    for taxon in ("Faecalibacterium_prausnitzii", "Ruminococcus_gnavus"):
        assert tab.loc[taxon, "q_value"] < 0.05
    # E. coli is gained as well as raised: abundance where present q ≈ 0.07, presence and the joint test q < 0.01
    assert tab.loc["Escherichia_coli", "q_value"] < 0.1 and tab.loc["Escherichia_coli", "q_joint"] < 0.01
    prev = res.prevalence[res.prevalence["term"] == "Diagnosis[T.CD]"].set_index("feature_id")
    assert prev.loc["Escherichia_coli", "effect"] > 0 and prev.loc["Escherichia_coli", "q_value"] < 0.01
    row = tab.loc["Escherichia_coli"]
    assert row["ci_low"] < row["effect"] < row["ci_high"]
    assert row["prevalence_CD"] > row["prevalence_Control"]
    assert res.table["lineage"].str.contains("s__Escherichia_coli").any()


def test_result_table_and_dict(prism):
    res = differential.test(prism, "~ Diagnosis", reference={"Diagnosis": "Control"}, contrasts="pairwise")
    assert set(res.table["term"]) == {"Diagnosis[T.CD]", "Diagnosis[T.UC]", "Diagnosis[UC vs CD]"}
    assert list(res.table.columns[:len(differential.COLUMNS)]) == differential.COLUMNS
    for _term, g in res.table.groupby("term"):
        assert g["feature_id"].is_unique
    out = res.to_dict()
    assert out["type"] == "DifferentialResult" and "table" not in out
    assert set(out["discoveries"]) == set(res.terms)
    assert res.prevalence is not None and (res.prevalence["model"] == "firth-logistic").all()


def test_contrast_equals_difference_of_coefficients(prism):
    res = differential.test(prism, "~ Diagnosis", reference={"Diagnosis": "Control"},
                            contrasts=[("Diagnosis", "UC", "CD")], prevalence=False, bias_correction=False)
    t = res.table.pivot(index="feature_id", columns="term", values="effect")
    np.testing.assert_allclose(t["Diagnosis[UC vs CD]"], t["Diagnosis[T.UC]"] - t["Diagnosis[T.CD]"], atol=1e-10)


def test_row_order_does_not_matter(prism):
    order = np.random.default_rng(3).permutation(prism.n_samples)
    a = differential.test(prism, "~ Age", prevalence=False).table.set_index("feature_id")
    b = differential.test(prism.subset(samples=order), "~ Age", prevalence=False).table.set_index("feature_id")
    np.testing.assert_allclose(a["p_value"], b.loc[a.index, "p_value"], rtol=1e-8)


def test_absolute_abundance_with_total_load(controls):
    load = np.exp(np.random.default_rng(0).normal(size=controls.n_samples))
    meta = controls.metadata.assign(load=load, batch=np.tile(["x", "y"], controls.n_samples)[:controls.n_samples])
    res = differential.test(controls.with_metadata(meta), "~ batch", load="load", prevalence=False)
    assert res.model == "absolute-ols" and res.bias == {"batch[T.y]": 0.0}
    assert res.table["effect_name"].eq("log2_fold_change_absolute_when_present").all()
    floored = differential.test(controls.with_metadata(meta), "~ batch", load="load", prevalence=False,
                                zeros="adaptive")
    assert floored.table["effect_name"].eq("log2_fold_change_absolute").all()


# ----------------------------------------------------------------------------- random intercept
def test_lmm_matches_statsmodels_mixedlm():
    gen = np.random.default_rng(3)
    sizes = gen.integers(2, 7, size=25)
    blocks = np.repeat(np.arange(25), sizes)
    n = blocks.size
    x = np.column_stack([np.ones(n), gen.normal(size=n), np.repeat(gen.integers(0, 2, 25), sizes)])
    y = gen.normal(size=(25, 4))[blocks] * np.array([0.3, 1.0, 2.0, 1.5]) + gen.normal(size=(n, 4))
    fit = _mixed.lmm(x, y, blocks)
    for j in range(4):
        with warnings.catch_warnings():  # statsmodels warns about its own optimiser's convergence
            warnings.simplefilter("ignore")
            ref = sm.MixedLM(y[:, j], x, groups=blocks).fit(reml=True, method=["nm", "bfgs"], maxiter=5000)
        delta = float(np.asarray(ref.cov_re)[0, 0] / ref.scale)
        np.testing.assert_allclose(fit.coef[:, j], ref.fe_params, atol=1e-4)
        assert fit.delta[j] == pytest.approx(delta, rel=1e-3, abs=1e-4)
        assert fit.sigma2[j] == pytest.approx(ref.scale, rel=1e-4)
        z = (blocks[:, None] == np.arange(25)[None, :]).astype(float)
        v = np.eye(n) + delta * z @ z.T
        cov = ref.scale * np.linalg.inv(x.T @ np.linalg.solve(v, x))  # the usual (lme4) fixed-effect covariance
        np.testing.assert_allclose(fit.cov[j], cov, rtol=1e-3, atol=1e-6)


def test_between_within_degrees_of_freedom():
    blocks = np.repeat(np.arange(10), 3)
    x = np.column_stack([np.ones(30), np.repeat(np.arange(10) % 2, 3), np.tile([0.0, 1.0, 2.0], 10)])
    assert _mixed.between_within_df(x, blocks, np.array([0, 1.0, 0])) == 8  # 10 subjects - 2 between columns
    assert _mixed.between_within_df(x, blocks, np.array([0, 0, 1.0])) == 19  # 30 - 10 - 1 within column


@pytest.mark.realdata
def test_random_intercept_on_kostic_t1d(shared_data):
    folder = shared_data / "t1d" / "kostic2015_wgs"
    table = pd.read_csv(folder / "diabimmune_t1d_metaphlan_table.txt", sep="\t", index_col=0)
    species = table[table.index.str.contains("s__") & ~table.index.str.contains("t__")]
    samples = pd.read_csv(folder / "t1d_sample_metadata.csv", header=None, names=["sample", "subject", "age"])
    status = pd.read_csv(folder / "t1d_wgs_subject_data.csv").set_index("Subject_ID")["Case_Control"]
    meta = samples.drop_duplicates("sample").set_index("sample").assign(status=lambda d: d["subject"].map(status))
    meta = meta.reindex(species.columns)
    cohort = Cohort(species.T.to_numpy(), metadata=meta, units="percent",
                    taxonomy=pd.DataFrame({"species": species.index}, index=species.index))
    res = differential.test(cohort, "~ status + age", reference={"status": "control"}, subject="subject",
                            n_shuffles=2, rng=0)
    assert res.model == "linda-lmm" and res.random_effect["n_subjects"] == 19
    tab = res.table
    status = tab[tab["term"] == "status[T.case]"].set_index("feature_id")
    x = cohort.subset(features=list(status.index)).dense()
    subjects = pd.DataFrame(x > 0).groupby(meta["subject"].to_numpy()).any().sum().to_numpy()
    np.testing.assert_array_equal(status["df"], np.maximum(subjects - 2, 1))  # subjects with the taxon - 2
    assert 0.05 < res.random_effect["median_icc"] < 0.95
    assert res.negative_control["permuted_by"] == "subject"
    ols = differential.test(cohort, "~ status + age", reference={"status": "control"}, prevalence=False)
    # ignoring the repeated measures overstates the evidence for a subject-level label
    assert (ols.table.query("term == 'status[T.case]'")["q_value"] < 0.05).sum() >= \
        (tab.query("term == 'status[T.case]'")["q_value"] < 0.05).sum()


# ----------------------------------------------------------------------------- prevalence model
def _penalised_loglik(x: np.ndarray, y: np.ndarray, beta: np.ndarray) -> float:
    """Firth-penalised log-likelihood ``l(beta) + log|X' W X| / 2`` of one feature, written out directly."""
    from scipy import special

    eta = x @ beta
    mu = special.expit(eta)
    info = x.T @ (x * (mu * (1 - mu))[:, None])
    return float(y @ eta - np.logaddexp(0, eta).sum() + 0.5 * np.linalg.slogdet(info)[1])


def _firth_one(x: np.ndarray, y: np.ndarray, basis: np.ndarray | None = None) -> np.ndarray:
    """Direct maximisation of the Firth-penalised likelihood (restricted to beta = basis @ gamma if given)."""
    from scipy import optimize

    basis = np.eye(x.shape[1]) if basis is None else basis

    def neg(gamma: np.ndarray) -> float:
        return -_penalised_loglik(x, y, basis @ gamma)

    return basis @ optimize.minimize(neg, np.zeros(basis.shape[1]), method="BFGS", options={"gtol": 1e-10}).x


def test_batched_firth_matches_direct_penalised_likelihood():
    gen = np.random.default_rng(5)
    x = np.column_stack([np.ones(50), np.repeat([0.0, 1.0], 25), gen.normal(size=50)])
    y = np.column_stack([gen.random(50) < 0.3, gen.random(50) < 0.6, np.r_[np.zeros(25), gen.random(25) < 0.5]])
    fit = _prevalence.firth_logistic(x, y.astype(float))
    for j in range(3):
        np.testing.assert_allclose(fit.coef[:, j], _firth_one(x, y[:, j].astype(float)), atol=1e-4)
    assert fit.converged.all()
    term = _prevalence.prevalence_terms(x, y.astype(float), [np.array([0.0, 1.0, 0.0])])[0]
    for j in range(3):
        yj = y[:, j].astype(float)
        full, reduced = _firth_one(x, yj), _firth_one(x, yj, basis=np.eye(3)[:, [0, 2]])
        lr = 2 * (_penalised_loglik(x, yj, full) - _penalised_loglik(x, yj, reduced))
        assert term.p_value[j] == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-4)


def test_prevalence_model_finds_a_lost_taxon(controls):
    x = controls.dense().copy()
    labels = np.repeat(["A", "B"], [17, controls.n_samples - 17])
    target = int(np.argmax(((x > 0).mean(axis=0) > 0.8) & ((x > 0).mean(axis=0) < 1)))
    x[labels == "B", target] = 0.0
    meta = controls.metadata.assign(pseudo=labels)
    cohort = Cohort(x, metadata=meta, taxonomy=controls.taxonomy, units="fraction")
    res = differential.test(cohort, "~ pseudo", reference={"pseudo": "A"})
    row = res.prevalence.set_index("feature_id").loc[controls.feature_ids[target]]
    assert row["effect"] < -2 and row["q_value"] < 0.05
    assert row["prevalence_B"] == 0


# ----------------------------------------------------------------------------- negative-control machinery
def test_shuffle_within_strata_and_by_subject():
    gen = np.random.default_rng(0)
    labels = pd.Series(np.repeat(["a", "b", "a", "b"], 3))
    blocks = np.repeat(np.arange(4), 3)
    out = _shuffle.shuffle(labels, strata=None, blocks=blocks, gen=gen)
    assert all(out[blocks == b].nunique() == 1 for b in range(4))
    strata = np.repeat([0, 1], 6)
    out = _shuffle.shuffle(labels, strata=strata, blocks=None, gen=gen)
    for s in (0, 1):
        assert sorted(out[strata == s]) == sorted(labels[strata == s])


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"formula": "~ diagnosis"}, "not in the metadata"),
    ({"formula": "~ Diagnosis", "group": "Diagnosis", "case": "CDX", "control": "Control"}, "does not occur"),
    ({"formula": "~ Diagnosis", "reference": {"Diagnosis": "Healthy"}}, "has no samples"),
    ({"formula": "y ~ Diagnosis"}, "left-hand side"),
])
def test_bad_formulas(prism, kwargs, needle):
    formula = kwargs.pop("formula")
    with pytest.raises(DesignError, match=needle):
        differential.test(prism, formula, **kwargs)


def test_collinear_covariate_is_named(prism):
    meta = prism.metadata.assign(cd_flag=(prism.metadata["Diagnosis"] == "CD").map({True: "yes", False: "no"}))
    with pytest.raises(DesignError, match="collinear") as err:
        differential.test(prism.with_metadata(meta), "~ Diagnosis + cd_flag", reference={"Diagnosis": "Control"})
    assert "cd_flag[T.yes]" in str(err.value) and "Diagnosis[T.CD]" in str(err.value)


def test_too_few_samples_and_single_level(prism):
    small = prism.subset(samples=np.flatnonzero(prism.metadata["Fecal.Calprotectin"].notna())[:4])
    with pytest.raises(DesignError, match="4 samples for 3 parameters"):
        differential.test(small, "~ Age + `Fecal.Calprotectin`")
    with pytest.raises(DesignError, match="single level"):
        differential.test(prism.subset(samples=(prism.metadata["Diagnosis"] == "CD").to_numpy()), "~ Diagnosis")


def test_non_numeric_continuous_covariate(prism):
    age = prism.metadata["Age"].astype(object)
    age.iloc[[3, 9]] = "unknown"
    with pytest.raises(DesignError, match="non-numeric") as err:
        differential.test(prism.with_metadata(prism.metadata.assign(Age=age)), "~ Age")
    assert "unknown" in str(err.value)


def test_missing_values_are_dropped_and_counted(prism):
    cal = prism.metadata["Fecal.Calprotectin"]
    res = differential.test(prism, "~ `Fecal.Calprotectin`", prevalence=False)
    assert res.design["n_dropped_missing"] == {"Fecal.Calprotectin": int(cal.isna().sum())}
    assert res.n_samples == int(cal.notna().sum())


def test_subject_seen_once_is_not_estimable():
    with pytest.raises(DesignError, match="not estimable"):
        differential.test(toy(), "~ group", subject="subject")


def test_all_features_zero_after_filtering(prism):
    with pytest.raises(DesignError, match="all zero"):
        differential.test(prism, "~ Age", min_prevalence=1.01)
