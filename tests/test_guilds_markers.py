"""Host-marker association: real PRISM calprotectin and iHMP cytokines, planted signals, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutlink import read
from gutlink.datasets import franzosa2019
from gutlink.errors import DesignError, InputFormatError
from gutlink.guilds import marker_association, parse_marker


def test_prism_calprotectin_tracks_the_barrier_guilds():
    res = marker_association(franzosa2019(), markers=["Fecal.Calprotectin"], covariates=["Age"])
    t = res.table.set_index("predictor")
    assert t.loc["Escherichia_coli", "effect"] > 0 and t.loc["Escherichia_coli", "q_value"] < 0.1
    assert t.loc["Faecalibacterium_prausnitzii", "effect"] < 0 and t.loc["Faecalibacterium_prausnitzii", "q_value"] < 0.1
    assert t.loc["barrier_balance", "effect"] < 0 and t.loc["barrier_balance", "q_value"] < 0.1
    assert t.loc["butyrate_producer", "effect"] < 0  # sign only: q ≈ 0.2 on these 93 samples
    assert (t["n"] == 93).all()


def test_fwl_equals_statsmodels_ols():
    import statsmodels.api as sm

    c = franzosa2019()
    res = marker_association(c, markers=["Fecal.Calprotectin"], covariates=["Age"], taxa=False)
    row = res.table.set_index("predictor").loc["lps_producer"]
    from gutlink.guilds import guild_scores

    load = guild_scores(c).wide("load").reindex(c.sample_ids)["lps_producer"]
    x = np.log((load + 1e-6) / (1 - load + 1e-6))
    frame = pd.DataFrame({"y": c.metadata["Fecal.Calprotectin"], "x": x, "age": c.metadata["Age"]}).dropna()
    fit = sm.OLS(frame["y"], sm.add_constant(frame[["x", "age"]])).fit()
    assert np.isclose(row["effect"], fit.params["x"]) and np.isclose(row["p_value"], fit.pvalues["x"])
    assert np.isclose(row["ci_low"], fit.conf_int().loc["x", 0])


@pytest.fixture(scope="module")
def ihmp(shared_data):
    d = shared_data / "host" / "ihmp_t2d_cytokines"
    c = read(d / "stool_16s_data.tsv")
    meta = pd.read_csv(d / "stool_meta_data.tsv", sep="\t", index_col=0)
    cyt = pd.read_csv(d / "stool_cytokine_data.tsv", sep="\t", index_col=0)
    return c.align(meta.reindex(c.sample_ids)), cyt


@pytest.mark.parametrize("repeated", ["random", "within"])
def test_subject_models_find_a_planted_signal_and_not_a_between_subject_one(ihmp, repeated):
    c, _ = ihmp
    rng = np.random.default_rng(0)
    clr = c.clr()
    subj = c.metadata["SubjectID"].astype(str)
    within = clr["Bacteroides"] - clr["Bacteroides"].groupby(subj).transform("mean")
    between = pd.Series(rng.normal(size=subj.nunique()), index=subj.unique()).reindex(subj).to_numpy()
    markers = pd.DataFrame({"planted": 0.5 * within.to_numpy() + rng.normal(size=len(subj)),
                            "person_level": between + 0.1 * rng.normal(size=len(subj)),
                            "noise": rng.normal(size=len(subj))}, index=c.sample_ids)
    res = marker_association(c, markers=markers, subject="SubjectID", taxa=True, repeated=repeated)
    t = res.table
    hit = t[(t["marker"] == "planted") & (t["predictor"] == "Bacteroides")]
    assert hit["q_value"].iloc[0] < 0.05 and hit["effect"].iloc[0] > 0
    assert (t.loc[t["marker"] == "noise", "q_value"].dropna() > 0.05).all()
    assert (t.loc[t["marker"] == "person_level", "q_value"].dropna() > 0.05).mean() > 0.95
    absent = t["predictor"] == "flagellin_tlr5_evasive"  # no member genus in this 16S table: untestable, NaN
    assert t.loc[absent, "p_value"].isna().all()
    assert ("within-subject" if repeated == "within" else "(1 | SubjectID)") in res.model
    if repeated == "random":  # a person-level marker is almost all between-subject variance
        icc = res.variance.set_index("marker")["icc"]
        assert icc["person_level"] > 0.9 and icc["noise"] < 0.05 and res.variance["converged"].all()


def test_cytokine_panel_runs_on_the_whole_grid(ihmp):
    c, cyt = ihmp
    res = marker_association(c, markers=cyt.iloc[:, :5], subject="SubjectID")
    assert res.table["marker"].nunique() == 5 and res.table["n"].min() > 500
    assert res.table["q_value"].dropna().between(0, 1).all() and res.table["q_value"].notna().mean() > 0.9


def test_bad_markers_are_clear_errors():
    with pytest.raises(InputFormatError) as err:
        parse_marker(pd.Series(["1.0", "2.0", "high"], index=["a", "b", "c"]), name="CRP")
    assert err.value.column == "CRP" and "'high'" in str(err.value) and "'c'" in str(err.value)
    c = franzosa2019()
    with pytest.raises(DesignError, match="marker column"):
        marker_association(c, markers=["Fecal.Calprotectin.typo"])
    meta = c.metadata.assign(flat=1.0, empty=np.nan)
    with pytest.raises(DesignError, match="no marker could be tested"):
        marker_association(c.with_metadata(meta), markers=["flat", "empty"], taxa=False)
    table = pd.DataFrame({"crp": ["<0.5", "3", "LOD"]}, index=["nope1", "nope2", "nope3"])
    with pytest.raises(DesignError, match="no marker row matches"):
        marker_association(c, markers=table)


def test_censored_values_and_absent_samples_are_said():
    c = franzosa2019()
    ids = list(c.sample_ids[:40])
    vals = [str(v) for v in np.random.default_rng(1).lognormal(size=40)]
    vals[:3] = ["<0.5", "LOD", "<0.5"]
    table = pd.DataFrame({"crp": vals + ["1.0"]}, index=ids + ["not_a_sample"])
    res = marker_association(c, markers=table, taxa=False)
    assert any("1 marker row" in n for n in res.notes)
    note = next(n for n in res.notes if n.startswith("crp:"))
    assert "below the stated limit 0.5" in note and "no value substituted" in note
    under = sum(float(v) < 0.5 for v in vals[3:])
    assert f"{under} measured value(s) under that limit censored" in note and f"{3 + under} value(s)" in note
    assert res.transforms["crp"] == "rank-normal (censored)"


def test_censored_scores_tie_at_the_bottom_and_keep_the_order():
    from gutlink.guilds import censored_scores

    v, cens = parse_marker(pd.Series(["<1", "0.4", "2", "LOD", "5", "3"]), name="IL6")
    assert cens.tolist() == [True, False, False, True, False, False]
    s, how = censored_scores(v, cens)
    assert s[0] == s[1] == s[3] and s[0] < s[2] < s[5] < s[4]  # 0.4 < the limit 1: not orderable, censored
    assert "3 value(s)" in how and "1 measured value(s) under that limit" in how


def test_censored_calprotectin_keeps_its_signs():
    """PRISM calprotectin with its lowest 40 % reported as '<limit': the signs of the known associations hold."""
    c = franzosa2019()
    cal = c.metadata["Fecal.Calprotectin"]
    limit = float(cal.quantile(0.4))
    text = cal.map(lambda v: None if pd.isna(v) else (f"<{limit:g}" if v < limit else str(v)))
    res = marker_association(c, markers=pd.DataFrame({"calpro": text}, index=c.sample_ids), covariates=["Age"])
    t = res.table.set_index("predictor")
    assert res.transforms["calpro"] == "rank-normal (censored)"
    assert t.loc["Escherichia_coli", "effect"] > 0 and t.loc["Faecalibacterium_prausnitzii", "effect"] < 0
    assert t.loc["barrier_balance", "effect"] < 0 and t.loc["barrier_balance", "q_value"] < 0.1


def test_random_intercept_matches_statsmodels_mixedlm(ihmp):
    import statsmodels.formula.api as smf

    from gutlink.guilds.mixed import null_fit

    c, cyt = ihmp
    y = cyt["IL17F"].reindex(c.sample_ids)
    res = marker_association(c, markers=pd.DataFrame({"IL17F": y}), subject="SubjectID")
    row = res.table.set_index("predictor").loc["Blautia"]
    frame = pd.DataFrame({"y": y, "x": c.clr()["Blautia"], "s": c.metadata["SubjectID"].astype(str)}).dropna()
    full = smf.mixedlm("y ~ x", frame, groups=frame["s"]).fit(reml=True)
    null = smf.mixedlm("y ~ 1", frame, groups=frame["s"]).fit(reml=True)
    fit = null_fit(frame["y"].to_numpy(), np.ones((len(frame), 1)), frame["s"].to_numpy())
    assert np.isclose(fit.tau2, float(null.cov_re.iloc[0, 0]), rtol=1e-3)
    assert np.isclose(fit.sigma2, null.scale, rtol=1e-3)
    se = full.bse["x"]
    assert abs(row["effect"] - full.params["x"]) < 0.05 * se  # GLS at the null variance ratio ≈ the full REML fit
    assert abs((row["ci_high"] - row["ci_low"]) / (2 * 1.96 * se) - 1) < 0.05


def test_random_intercept_falls_back_with_a_reason():
    c = franzosa2019()
    meta = c.metadata.assign(person=[f"p{i}" for i in range(c.n_samples)])  # every subject one sample
    res = marker_association(c.with_metadata(meta), markers=["Fecal.Calprotectin"], subject="person", taxa=False)
    assert not res.variance["converged"].any() and "one sample" in res.variance["reason"].iloc[0]
    assert any("fixed intercepts instead" in n for n in res.notes)


def test_report_escapes_marker_names(tmp_path):
    from gutlink.report import write
    from gutlink.run import Run

    c = franzosa2019()
    hostile = "<script>alert(1)</script>"
    table = pd.DataFrame({hostile: c.metadata["Fecal.Calprotectin"]}, index=c.sample_ids)
    res = marker_association(c, markers=table, taxa=True)
    out = write(Run(subcommand="guilds", results=(res,)), tmp_path / "r")
    html = (out / "report.html").read_text()
    assert hostile not in html and "&lt;script&gt;" in html


@pytest.fixture(scope="module")
def diabimmune(shared_data):
    from gutlink.io import read_metadata

    d = shared_data / "t1d" / "kostic2015_wgs"
    meta = read_metadata(d / "diabimmune_t1d_wgs_metadata.csv", duplicate_ids="collapse")
    return read(d / "diabimmune_t1d_metaphlan_table.txt", rank="species").aggregate("species").align(meta)


AUTOANTIBODIES = ["IAA_Level", "GADA_Level", "IA2A_Level", "ZNT8A_Level", "AAB_Post_FistPos"]


def test_diabimmune_autoantibodies_vs_guilds_hinge_on_the_age_adjustment(diabimmune):
    """19 infants, 124 samples: titres and seroconversion status against guilds with a random intercept per
    infant (t on between-within df: 103 for guilds, which vary within infants). Unadjusted, the hexa-acylated
    LPS load falls with IAA (q < 0.001). Adjusted linearly for age at collection (E. coli dominates early infancy,
    titres rise with age) the hexa-acylated LPS pairs keep q 0.03-0.045 (AAB status, IAA, GADA; negative); with
    age and age² no pair reaches q < 0.05 (lowest 0.072), and within infants (fixed intercepts) none comes near
    (lowest q 0.22): the association is not separable from the age trend with 19 infants."""
    kw = {"markers": AUTOANTIBODIES, "subject": "Subject_ID", "taxa": False}
    raw = marker_association(diabimmune, **kw)
    adj = marker_association(diabimmune, covariates=["Age_at_Collection"], **kw)
    assert set(adj.table["n_groups"]) == {19} and set(adj.table["n"]) == {124}
    assert adj.variance["converged"].all() and len(adj.table) == 5 * 16
    assert any(n.startswith("AAB_Post_FistPos: a 0/1 status") for n in adj.notes)
    r = raw.table.set_index(["marker", "predictor"]).loc[("IAA_Level", "lps_hexa_acylated")]
    a = adj.table.set_index(["marker", "predictor"]).loc[("IAA_Level", "lps_hexa_acylated")]
    assert r["q_value"] < 0.001 and r["effect"] < 0
    assert 0.01 < a["q_value"] < 0.05 and a["effect"] < 0 and a["df"] == 103
    age = diabimmune.metadata["Age_at_Collection"] / 365
    c2 = diabimmune.with_metadata(diabimmune.metadata.assign(age_y=age, age2=(age - age.mean()) ** 2))
    quad = marker_association(c2, covariates=["age_y", "age2"], **kw)
    within = marker_association(c2, covariates=["age_y", "age2"], repeated="within", **kw)
    assert 0.05 < quad.table["q_value"].min() < 0.1 and within.table["q_value"].min() > 0.2


@pytest.mark.parametrize("repeated", ["random", "within"])
def test_taxon_direction_matches_statsmodels(ihmp, repeated):
    """taxon CLR ~ IL17F (+ a random intercept, or subject fixed intercepts): every genus at once equals one
    statsmodels fit per genus (MixedLM REML, or OLS with subject dummies)."""
    import statsmodels.formula.api as smf

    from gutlink.guilds.mixed import null_fit
    from gutlink.guilds.reverse import null_ratios

    c, cyt = ihmp
    y = cyt["IL17F"].reindex(c.sample_ids)
    res = marker_association(c, markers=pd.DataFrame({"IL17F": y}), subject="SubjectID", direction="taxon",
                             repeated=repeated)
    t = res.table.set_index("predictor")
    clr = c.clr()
    subj = c.metadata["SubjectID"].astype(str)
    for genus in ("Blautia", "Bacteroides", "Sutterella"):
        frame = pd.DataFrame({"t": clr[genus], "x": y, "s": subj})
        if repeated == "random":
            fit = smf.mixedlm("t ~ x", frame, groups=frame["s"]).fit(reml=True)
            assert abs(t.loc[genus, "effect"] - fit.params["x"]) < 0.05 * fit.bse["x"], genus
        else:
            fit = smf.ols("t ~ x + C(s)", frame).fit()
            assert np.isclose(t.loc[genus, "effect"], fit.params["x"]) and np.isclose(t.loc[genus, "p_value"],
                                                                                      fit.pvalues["x"]), genus
    if repeated == "random":
        cols = clr[["Blautia", "Bacteroides", "Sutterella", "Alistipes"]].to_numpy()
        g = pd.factorize(subj)[0]
        ratios = null_ratios(cols, np.ones((len(g), 1)), g)
        expected = [null_fit(cols[:, j], np.ones((len(g), 1)), g).ratio for j in range(4)]
        assert np.allclose(ratios, expected, rtol=1e-4)
        assert len(res.variance) == len(t) and res.variance["icc"].between(0, 1).all()


def test_blocks_group_correlated_markers_and_find_a_weak_shared_signal(ihmp):
    """Six correlated markers (a shared person factor and a shared sample factor) each tied to the same
    real genus: the block pair (the six markers × that genus' block) reaches block q < 0.05; ten independent
    noise markers form their own blocks and no block of theirs reaches q < 0.05."""
    from gutlink.guilds.blocks import simes

    c, _ = ihmp
    rng = np.random.default_rng(4)
    clr = c.clr()
    z = ((clr["Bacteroides"] - clr["Bacteroides"].mean()) / clr["Bacteroides"].std()).to_numpy()
    subj = pd.factorize(c.metadata["SubjectID"])[0]
    shared = rng.normal(size=subj.max() + 1)[subj] + rng.normal(size=len(subj))
    cols = {f"s{i}": shared + 0.5 * rng.normal(size=len(subj)) + 0.3 * z for i in range(6)}
    cols |= {f"n{i}": rng.normal(size=subj.max() + 1)[subj] + rng.normal(size=len(subj)) for i in range(10)}
    res = marker_association(c, markers=pd.DataFrame(cols, index=c.sample_ids), subject="SubjectID")
    b = res.blocks
    hit = b[b["taxa"].str.split(", ").map(lambda t: "Bacteroides" in t)].iloc[0]
    assert set(hit["markers"].split(", ")) == {f"s{i}" for i in range(6)} and hit["q_value"] < 0.05
    noise = b[b["markers"].str.startswith("n")]
    assert len(noise) > 0 and (noise["q_value"] > 0.05).all()
    t = res.table[(res.table["marker"].isin(hit["markers"].split(", "))) & (res.table["predictor"].isin(
        hit["taxa"].split(", ")))]
    assert np.isclose(hit["p_simes"], simes(t["p_value"].to_numpy())) and hit["n_pairs"] == len(t)
