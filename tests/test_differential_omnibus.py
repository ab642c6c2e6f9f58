"""Omnibus tests of a multi-level term: F for abundance, penalised LR for presence, against references and the null."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import linalg, optimize, special, stats

from gutlink import Cohort, DesignError, differential
from gutlink.cli import main
from gutlink.datasets import franzosa2019
from gutlink.differential import _linmod, _mixed, _prevalence
from gutlink.differential._design import build_design, omnibus_terms
from gutlink.differential._transform import log_ratios
from gutlink.io import write_tsv

FORMULA = "~ Diagnosis + Age"
REF = {"Diagnosis": "Control"}


@pytest.fixture(scope="module")
def prism() -> Cohort:
    return franzosa2019()


@pytest.fixture(scope="module")
def result(prism: Cohort) -> differential.DifferentialResult:
    return differential.test(prism, FORMULA, reference=REF)


# ----------------------------------------------------------------------------- exposure
def test_omnibus_table_next_to_the_per_level_terms(result):
    omni = result.omnibus
    assert omni is not None and omni.columns[:12].tolist() == differential.OMNIBUS_COLUMNS
    assert omni["term"].unique().tolist() == ["Diagnosis"] and (omni["df_num"] == 2).all()
    assert omni["comparison"].iloc[0] == "Diagnosis: any difference among Control, CD, UC"
    assert len(omni) == result.n_features and (omni["df_prevalence"] == 2).all()
    assert omni["q_value"].dropna().between(0, 1).all() and omni["q_joint"].dropna().between(0, 1).all()
    # the single-df table is unchanged: no omnibus rows, same columns
    assert "Diagnosis" not in set(result.table["term"])
    doc = result.to_dict()
    assert doc["omnibus_discoveries"]["Diagnosis"] == int((omni["q_value"] < 0.05).sum()) > 0
    assert doc["omnibus_joint_discoveries"]["Diagnosis"] >= doc["omnibus_discoveries"]["Diagnosis"]
    json.dumps(doc, allow_nan=False)


def test_which_terms_get_an_omnibus(prism):
    meta = prism.metadata.assign(site=np.array(["a", "b", "c"])[np.arange(prism.n_samples) % 3])
    design = build_design(meta, "~ Age + Diagnosis + site + antibiotic", reference=REF)
    assert [o.name for o in omnibus_terms(design)] == ["Diagnosis"]  # the first categorical column
    assert [o.name for o in omnibus_terms(design, True)] == ["Diagnosis", "site"]  # 3+ levels only
    assert [o.name for o in omnibus_terms(design, ["site", "antibiotic"])] == ["site", "antibiotic"]
    assert omnibus_terms(design, False) == []
    with pytest.raises(DesignError, match="categorical"):
        omnibus_terms(design, "Age")
    two = differential.test(prism, FORMULA, group="Diagnosis", case="CD", control="Control", prevalence=False)
    assert two.omnibus is None  # a case-control comparison has two levels: nothing to add
    assert differential.test(prism, FORMULA, reference=REF, omnibus=False, prevalence=False).omnibus is None


def test_two_level_omnibus_is_the_squared_t(prism):
    """One row: F = t², same p (bias-corrected, presence mask, OLS and random intercept)."""
    res = differential.test(prism, "~ antibiotic + Diagnosis", omnibus="antibiotic", prevalence=False)
    t = res.table[res.table["term"] == "antibiotic[T.Yes]"].reset_index(drop=True)
    o = res.omnibus
    np.testing.assert_allclose(o["statistic"], t["statistic"] ** 2, rtol=1e-9)
    np.testing.assert_allclose(o["p_value"], t["p_value"], rtol=1e-7)
    gen = np.random.default_rng(0)
    meta = prism.metadata.assign(subject=gen.integers(0, 60, prism.n_samples).astype(str))
    mixed = differential.test(prism.with_metadata(meta), "~ Diagnosis", subject="subject", reference=REF,
                              omnibus="Diagnosis", prevalence=False)
    assert mixed.model == "linda-lmm"
    one = differential.test(prism.with_metadata(meta), "~ antibiotic", subject="subject", omnibus="antibiotic",
                            prevalence=False)
    t = one.table.reset_index(drop=True)
    np.testing.assert_allclose(one.omnibus["statistic"], t["statistic"] ** 2, rtol=1e-9)
    np.testing.assert_allclose(one.omnibus["p_value"], t["p_value"], rtol=1e-7)
    assert np.isfinite(mixed.omnibus["p_value"]).sum() > 100


# ----------------------------------------------------------------------------- abundance: exact algebra
def _responses(cohort: Cohort, formula: str, reference: dict) -> tuple[np.ndarray, np.ndarray, list[str], list]:
    """What test() regresses: the log-ratios of the kept features (NaN where absent), and the design."""
    from gutlink.differential import _features, _tested_columns

    design = build_design(cohort.metadata, formula, reference=reference)
    sub = cohort.subset(samples=design.keep)
    depth = np.asarray(sub.dense().sum(axis=1), dtype=float)
    sub = _features(sub, 0.1)
    y, _ = log_ratios(sub.dense(), sub.units, depth=depth, depth_design=_tested_columns(design), winsor=0.03)
    return y, design.matrix, list(sub.feature_ids), design.columns


def test_abundance_omnibus_equals_statsmodels_f_test_without_bias_correction(prism):
    res = differential.test(prism, FORMULA, reference=REF, bias_correction=False, prevalence=False)
    y, x, features, columns = _responses(prism, FORMULA, REF)
    assert res.omnibus["feature_id"].tolist() == features
    contrast = np.zeros((2, x.shape[1]))
    contrast[0, columns.index("Diagnosis[T.CD]")] = contrast[1, columns.index("Diagnosis[T.UC]")] = 1.0
    checked = 0
    for j in range(0, len(features), 9):
        rows = np.isfinite(y[:, j])
        row = res.omnibus.iloc[j]
        if not np.isfinite(row["statistic"]):
            continue
        ols = sm.OLS(y[rows, j], x[rows]).fit()
        cd = res.table[(res.table["term"] == "Diagnosis[T.CD]")].iloc[j]
        assert cd["effect"] == pytest.approx(ols.params[1], abs=1e-9)  # the same responses
        ref = ols.f_test(contrast)
        assert row["statistic"] == pytest.approx(float(np.squeeze(ref.fvalue)), rel=1e-8)
        assert row["p_value"] == pytest.approx(float(ref.pvalue), rel=1e-7)
        assert (row["df_num"], row["df"]) == (ref.df_num, ref.df_denom)
        restricted = sm.OLS(y[rows, j], np.delete(x[rows], [1, 2], axis=1)).fit()
        assert row["statistic"] == pytest.approx(ols.compare_f_test(restricted)[0], rel=1e-8)
        checked += 1
    assert checked >= 10


def test_corrected_omnibus_covariance_matches_its_definition():
    """C = own covariance + k (sa_r'sa_s - u_rj'sa_s - u_sj'sa_r), computed here feature by feature."""
    gen = np.random.default_rng(5)
    n, m = 60, 40
    x = np.column_stack([np.ones(n), np.repeat(np.eye(3)[:, 1:], 20, axis=0), gen.normal(size=n)])
    y = gen.normal(size=(n, m)) + gen.normal(size=(n, 1)) + x[:, [1]] * 0.4
    w = gen.random((n, m)) < 0.85
    rows = [np.eye(4)[1], np.eye(4)[2]]
    fits = _linmod.bias_corrected(_linmod.ols_terms(x, rows, w), np.where(w, y, 0.0), keep=True)
    omni = _linmod.omnibus_f(fits, rows)
    k = w.sum(axis=0) / (w.sum(axis=0) - 4)
    u = np.zeros((2, n, m))
    own = np.zeros((m, 2, 2))
    for j in range(m):
        use = w[:, j]
        ols = sm.OLS(y[use, j], x[use]).fit()
        own[j] = ols.cov_params()[1:3, 1:3]
        for r, vec in enumerate(rows):
            u[r, use, j] = np.linalg.solve(x[use].T @ x[use], vec) @ x[use].T * ols.resid
    sa = [u[r] @ fits[r].weights for r in range(2)]
    for j in range(m):
        cov = own[j].copy()
        for r in range(2):
            for s in range(2):
                cov[r, s] += k[j] * (sa[r] @ sa[s] - u[r][:, j] @ sa[s] - u[s][:, j] @ sa[r])
        d = np.array([fits[0].effect[j], fits[1].effect[j]])
        assert omni.statistic[j] == pytest.approx(d @ np.linalg.solve(cov, d) / 2, rel=1e-8)
    assert omni.df_num == 2 and (omni.df == w.sum(axis=0) - 4).all()


def test_lmm_omnibus_uses_the_model_covariance():
    gen = np.random.default_rng(2)
    blocks = np.repeat(np.arange(30), 3)
    n = blocks.size
    x = np.column_stack([np.ones(n), np.repeat(np.eye(3)[np.arange(30) % 3][:, 1:], 3, axis=0)])
    y = gen.normal(size=(30, 25))[blocks] + gen.normal(size=(n, 25))
    rows = [np.eye(3)[1], np.eye(3)[2]]
    fits = _linmod.bias_corrected(_mixed.lmm_terms(x, blocks, rows), y, correct=False, keep=True)
    omni = _linmod.omnibus_f(fits, rows)
    res = _mixed.lmm(x, y, blocks)
    for j in range(25):
        d = res.coef[1:, j]
        assert omni.statistic[j] == pytest.approx(d @ np.linalg.solve(res.cov[j][1:, 1:], d) / 2, rel=1e-9)
    assert (omni.df == 30 - 3).all()  # a between-subject term: subjects minus between-subject columns


# ----------------------------------------------------------------------------- presence: penalised LR
def _firth(x: np.ndarray, y: np.ndarray, keep: list[int] | None = None) -> float:
    """Penalised log-likelihood at the Firth estimate of ONE feature, with only the columns *keep* free (the
    others fixed at 0) and the full design's penalty: textbook hat matrix, root of the modified score."""
    keep = list(range(x.shape[1])) if keep is None else keep

    def parts(beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mu = special.expit(x @ beta)
        wt = mu * (1 - mu)
        info = x.T @ (x * wt[:, None])
        half = x * np.sqrt(wt)[:, None]
        return mu, info, np.diag(half @ np.linalg.solve(info, half.T))

    def full(g: np.ndarray) -> np.ndarray:
        beta = np.zeros(x.shape[1])
        beta[keep] = g
        return beta

    def score(g: np.ndarray) -> np.ndarray:
        mu, _, hat = parts(full(g))
        return (x.T @ (y - mu + hat * (0.5 - mu)))[keep]

    beta = full(optimize.root(score, np.zeros(len(keep)), method="hybr", tol=1e-13).x)
    _, info, _ = parts(beta)
    eta = x @ beta
    return float(y @ eta - np.logaddexp(0, eta).sum() + 0.5 * np.linalg.slogdet(info)[1])


def test_prevalence_omnibus_lr_equals_the_reference(prism):
    design = build_design(prism.metadata, FORMULA, reference=REF)
    x = design.matrix.copy()
    x[:, 3] = (x[:, 3] - x[:, 3].mean()) / x[:, 3].std()  # Age standardised: a well-scaled root search
    dense = prism.subset(samples=design.keep).dense()
    pick = [j for j in np.flatnonzero((dense > 0).mean(axis=0) > 0.15)][:40:8]
    present = (dense[:, pick] > 0).astype(float)
    omni = omnibus_terms(design)[0]
    terms, tests = _prevalence.prevalence_tests(x, present, [design.terms[0].contrast], [omni.matrix])
    assert tests[0].df == 2
    for j in range(present.shape[1]):
        lr = 2 * (_firth(x, present[:, j]) - _firth(x, present[:, j], keep=[0, 3]))
        assert tests[0].statistic[j] == pytest.approx(lr, rel=1e-6, abs=1e-8)
        assert tests[0].p_value[j] == pytest.approx(stats.chi2.sf(lr, 2), rel=1e-6)
    # the single-df terms of the same call are unchanged by the omnibus
    alone = _prevalence.prevalence_terms(x, present, [design.terms[0].contrast])[0]
    np.testing.assert_allclose(terms[0].p_value, alone.p_value, rtol=1e-12)


def test_restricted_start_for_a_contrast_matrix_satisfies_it():
    gen = np.random.default_rng(1)
    x = np.column_stack([np.ones(90), np.repeat(np.eye(3)[:, 1:], 30, axis=0), gen.normal(size=90)])
    y = (gen.random((90, 6)) < 0.5).astype(float)
    fit = _prevalence.firth_logistic(x, y)
    matrix = np.array([[0, 1.0, 0, 0], [0, 0, 1.0, 0]])
    start = _prevalence.restricted_start(fit.coef, fit.cov, matrix)
    np.testing.assert_allclose(matrix @ start, 0.0, atol=1e-10)
    basis = linalg.null_space(matrix)
    warm = _prevalence.firth_logistic(x, y, basis=basis, start=start)
    cold = _prevalence.firth_logistic(x, y, basis=basis)
    np.testing.assert_allclose(warm.loglik, cold.loglik, rtol=1e-10)


# ----------------------------------------------------------------------------- the null
def test_shuffled_labels_give_uniform_omnibus_p_values(prism):
    gen = np.random.default_rng(11)
    p_f, p_lr = [], []
    for _ in range(12):
        labels = gen.permutation(prism.metadata["Diagnosis"].to_numpy())
        res = differential.test(prism.with_metadata(prism.metadata.assign(Diagnosis=labels)), FORMULA,
                                reference=REF)
        p_f.append(res.omnibus["p_value"].dropna().to_numpy())
        p_lr.append(res.omnibus["p_value_prevalence"].dropna().to_numpy())
    for p in (np.concatenate(p_f), np.concatenate(p_lr)):
        assert p.size > 1500
        assert 0.025 < (p < 0.05).mean() < 0.075
        assert 0.06 < (p < 0.1).mean() < 0.14
        assert abs(np.median(p) - 0.5) < 0.06


# ----------------------------------------------------------------------------- CLI
def test_cli_writes_the_omnibus_table(prism, tmp_path, capsys):
    write_tsv(prism, tmp_path / "abundance.tsv")
    prism.metadata.to_csv(tmp_path / "metadata.tsv", sep="\t")
    base = ["differential", str(tmp_path / "abundance.tsv"), "--metadata", str(tmp_path / "metadata.tsv"),
            "--formula", FORMULA, "--reference", "Diagnosis=Control", "--shuffles", "0"]
    assert main([*base, "--out", str(tmp_path / "auto")]) == 0
    assert "Omnibus" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "auto" / "omnibus.tsv", sep="\t")
    assert set(table["term"]) == {"Diagnosis"} and {"statistic", "p_value", "q_joint"} <= set(table.columns)
    summary = json.loads((tmp_path / "auto" / "summary.json").read_text())
    assert "omnibus.tsv" in summary["report"]["files"]
    assert summary["differential"]["omnibus_discoveries"]["Diagnosis"] > 0
    assert main([*base, "--no-omnibus", "--out", str(tmp_path / "none")]) == 0
    assert not (tmp_path / "none" / "omnibus.tsv").exists()
    assert main([*base, "--formula", "~ Diagnosis + antibiotic", "--omnibus", "antibiotic", "--out",
                 str(tmp_path / "named")]) == 0
    assert set(pd.read_csv(tmp_path / "named" / "omnibus.tsv", sep="\t")["term"]) == {"antibiotic"}
    assert main([*base, "--omnibus", "Age", "--out", str(tmp_path / "bad")]) == 2
    assert "categorical" in capsys.readouterr().err and not (tmp_path / "bad").exists()
