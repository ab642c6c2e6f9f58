"""Mediation (product of coefficients, bootstrap over whole subjects): known indirect effects, no-effect data,
clustered samples, bad input, the report section."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutlink.cohort import Cohort
from gutlink.datasets import franzosa2019
from gutlink.design import case_control
from gutlink.errors import DesignError
from gutlink.guilds import guild_scores, mediation


def _cohort(meta: pd.DataFrame, rng: np.random.Generator) -> Cohort:
    tax = franzosa2019().taxonomy.iloc[:20]
    counts = rng.poisson(20, size=(len(meta), 20)).astype(float) + 1
    return Cohort(counts, metadata=meta, taxonomy=tax, units="counts")


def _simulated(n: int, a: float, b: float, direct: float, rng: np.random.Generator,
               subjects: int | None = None) -> Cohort:
    x = rng.integers(0, 2, size=n).astype(float)
    u = rng.normal(size=subjects)[np.arange(n) % subjects] if subjects else 0.0
    if subjects:  # subject-level exposure, shared subject effects in mediator and outcome
        x = (np.arange(n) % subjects < subjects // 2).astype(float)
    m = a * x + u + rng.normal(size=n)
    y = b * m + direct * x + u + rng.normal(size=n)
    meta = pd.DataFrame({"x": x, "m": m, "y": y, "age": rng.normal(size=n),
                         "subject": [f"p{i % subjects}" if subjects else f"p{i}" for i in range(n)]},
                        index=[f"s{i}" for i in range(n)])
    return _cohort(meta, rng)


def test_a_known_indirect_effect_is_recovered():
    """a = 0.8, b = 0.5: indirect 0.4, direct 0.3, total 0.7, on 400 samples."""
    rng = np.random.default_rng(3)
    res = mediation(_simulated(400, 0.8, 0.5, 0.3, rng), exposure="x", mediator="m", outcome="y",
                    covariates=["age"], n_boot=1000, rng=1)
    t = res.table.set_index("effect")
    for effect, truth in (("indirect", 0.4), ("direct", 0.3), ("total", 0.7), ("a_path", 0.8), ("b_path", 0.5)):
        assert t.loc[effect, "ci_low"] < truth < t.loc[effect, "ci_high"], effect
    assert t.loc["indirect", "ci_low"] > 0.2 and t.loc["indirect", "p_value"] < 0.01
    assert np.isclose(t.loc["indirect", "estimate"] + t.loc["direct", "estimate"], t.loc["total", "estimate"])
    assert 0.4 < res.proportion_mediated < 0.75 and res.resampled == "samples"


def test_no_effect_data_rarely_show_an_indirect_effect():
    """b = 0 (the mediator does not act on the outcome) with a = 0.8: over 40 data sets the indirect effect's
    95% interval excludes 0 in at most 10 % (product-of-coefficient intervals are conservative here)."""
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(40):
        res = mediation(_simulated(150, 0.8, 0.0, 0.4, rng), exposure="x", mediator="m", outcome="y",
                        n_boot=400, rng=rng)
        ind = res.table.set_index("effect").loc["indirect"]
        hits += bool(ind["ci_low"] > 0 or ind["ci_high"] < 0)
    assert hits <= 4


def test_whole_subjects_are_resampled():
    """30 subjects × 8 samples with shared subject effects: resampling samples as if independent gives
    intervals far too narrow; resampling subjects widens them and keeps the truth (indirect 0.25) inside."""
    rng = np.random.default_rng(5)
    c = _simulated(240, 0.5, 0.5, 0.0, rng, subjects=30)
    by_subject = mediation(c, exposure="x", mediator="m", outcome="y", subject="subject", n_boot=1000, rng=2)
    naive = mediation(c, exposure="x", mediator="m", outcome="y", n_boot=1000, rng=2)
    ws, wn = ((r.table.set_index("effect").loc["a_path", "ci_high"] - r.table.set_index("effect").loc["a_path",
              "ci_low"]) for r in (by_subject, naive))
    assert ws > 1.5 * wn
    assert by_subject.table["n_groups"].iloc[0] == 30 and "whole subjects" in by_subject.resampled


def test_guild_mediator_on_real_prism_abundances():
    """PRISM CD v control, with an outcome built from the real barrier balance (b = 0.5 per unit) plus noise:
    the indirect effect is negative (CD lowers the balance), its paths are the least-squares ones, a·b exactly."""
    rng = np.random.default_rng(0)
    c = case_control(franzosa2019(), group="Diagnosis", case="CD", control="Control")
    bal = guild_scores(c).wide("load").reindex(c.sample_ids)["barrier_balance"]
    meta = c.metadata.assign(sim=0.5 * bal.to_numpy() + rng.normal(scale=2.0, size=c.n_samples))
    res = mediation(c.with_metadata(meta), exposure="group_label", mediator="barrier_balance", outcome="sim",
                    n_boot=1000, rng=0)
    t = res.table.set_index("effect")
    assert t.loc["a_path", "estimate"] < 0 and t.loc["indirect", "ci_high"] < 0
    import statsmodels.api as sm

    x = (meta["group_label"] == "case").astype(float)
    ols = sm.OLS(meta["sim"], sm.add_constant(np.c_[x, bal])).fit()  # b path and direct effect, same numbers
    assert np.isclose(t.loc["b_path", "estimate"], ols.params.iloc[2])
    assert np.isclose(t.loc["direct", "estimate"], ols.params.iloc[1])
    assert np.isclose(t.loc["indirect", "estimate"], t.loc["a_path", "estimate"] * t.loc["b_path", "estimate"])
    assert any("'case' coded 1" in n for n in res.notes)
    real = mediation(c, exposure="group_label", mediator="barrier_balance", outcome="Fecal.Calprotectin",
                     n_boot=500, rng=0)  # the real calprotectin: 68 samples with it, no evidence through the balance
    ind = real.table.set_index("effect").loc["indirect"]
    assert ind["ci_low"] < 0 < ind["ci_high"] and real.table["n"].iloc[0] == 68


def test_bad_input():
    c = franzosa2019()
    with pytest.raises(DesignError, match="has 3 levels"):
        mediation(c, exposure="Diagnosis", mediator="barrier_balance", outcome="Fecal.Calprotectin", n_boot=200)
    with pytest.raises(DesignError, match="n_boot must be at least 200"):
        mediation(c, exposure="Age", mediator="barrier_balance", outcome="Fecal.Calprotectin", n_boot=50)
    with pytest.raises(DesignError, match="three different"):
        mediation(c, exposure="Age", mediator="Age", outcome="Fecal.Calprotectin")
    with pytest.raises(DesignError, match="no feature 'Nope'"):
        mediation(c, exposure="Age", mediator="taxon:Nope", outcome="Fecal.Calprotectin")
    with pytest.raises(DesignError, match="exposure"):
        mediation(c, exposure="no_such_column", mediator="barrier_balance", outcome="Fecal.Calprotectin")


def test_report_section_escapes_and_states_the_assumptions(tmp_path):
    from gutlink.report import write
    from gutlink.run import Run

    rng = np.random.default_rng(1)
    c = _simulated(120, 0.8, 0.5, 0.0, rng)
    hostile = "<b>m</b>"
    c = c.with_metadata(c.metadata.rename(columns={"m": hostile}))
    res = mediation(c, exposure="x", mediator=hostile, outcome="y", n_boot=300, rng=0)
    out = write(Run(subcommand="guilds", results=(res,)), tmp_path / "r")
    html = (out / "report.html").read_text()
    assert hostile not in html and "&lt;b&gt;m&lt;/b&gt;" in html
    assert "Mediation" in html and "no unmeasured confounding" in html and "Indirect effect through" in html
    assert (out / "mediation.tsv").is_file()


def test_agrees_with_statsmodels_mediation():
    """statsmodels' Mediation (quasi-Bayesian simulation of the same two OLS models) on the known-effect data:
    measured ACME 0.313 (0.195, 0.441) with 500 draws vs ours 0.312 (0.210, 0.440) with 1,000 bootstrap draws.
    Here with 200 simulation draws (statsmodels draws from numpy's global generator: tolerances cover it)."""
    import statsmodels.api as sm
    from statsmodels.stats.mediation import Mediation

    c = _simulated(400, 0.8, 0.5, 0.3, np.random.default_rng(3))
    d = c.metadata
    ref = Mediation(sm.OLS.from_formula("y ~ x + m + age", d), sm.OLS.from_formula("m ~ x + age", d), "x",
                    "m").fit(n_rep=200).summary()
    ours = mediation(c, exposure="x", mediator="m", outcome="y", covariates=["age"], n_boot=1000, rng=1)
    t = ours.table.set_index("effect")
    for name, row in (("ACME (average)", "indirect"), ("ADE (average)", "direct"), ("Total effect", "total")):
        assert abs(ref.loc[name, "Estimate"] - t.loc[row, "estimate"]) < 0.03, name
        assert abs(ref.loc[name, "Lower CI bound"] - t.loc[row, "ci_low"]) < 0.08, name
        assert abs(ref.loc[name, "Upper CI bound"] - t.loc[row, "ci_high"]) < 0.08, name
