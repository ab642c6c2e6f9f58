"""Issue 13, "How we will know": each check on the real data in ../shared/data, with the numbers it gives.

The same numbers are tabulated by ``python benchmarks/bench_markers_peers.py`` (benchmarks/results/markers_peers.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gutlink import read
from gutlink.datasets import franzosa2019
from gutlink.design import case_control
from gutlink.errors import DesignError, InputFormatError
from gutlink.guilds import guild_scores, guild_test, marker_association
from gutlink.multitest import bh

pytestmark = pytest.mark.realdata


# ----------------------------------------------------------------------------- PRISM calprotectin
def test_prism_calprotectin_signs_and_q_values():
    """93 PRISM samples, calprotectin ~ predictor over the whole 180-predictor grid (guilds + taxa), BH over it.
    Measured: F. prausnitzii −8.0 (q 0.080), E. coli +6.0 (q 0.055), hexa-acylated LPS +6.9 (q 0.085), barrier
    balance −4.6 (q 0.059); butyrate producers −9.9 has the expected sign but p 0.069, q 0.19: the q < 0.1 bar of
    the issue is NOT met for the butyrate guild on these 93 samples."""
    res = marker_association(franzosa2019(), markers=["Fecal.Calprotectin"])
    t = res.table.set_index("predictor")
    for name, sign in (("Faecalibacterium_prausnitzii", -1), ("Escherichia_coli", 1), ("lps_hexa_acylated", 1),
                       ("barrier_balance", -1)):
        assert np.sign(t.loc[name, "effect"]) == sign and t.loc[name, "q_value"] < 0.1, name
    but = t.loc["butyrate_producer"]
    assert but["effect"] < 0 and but["p_value"] < 0.1 and but["q_value"] > 0.1
    assert len(t) == 180 and (t["n"] == 93).all()


def test_prism_calprotectin_same_answer_in_the_maaslin_direction():
    """taxon ~ calprotectin (the MaAsLin direction): without subjects the t test of a simple regression is the
    same in both directions, so the p-values agree and the signs agree; a guild absent from every sample (TLR5-evasive
    flagellins) is untestable in both (NaN), never a p of 0."""
    c = franzosa2019()
    fwd = marker_association(c, markers=["Fecal.Calprotectin"], covariates=["Age"])
    rev = marker_association(c, markers=["Fecal.Calprotectin"], covariates=["Age"], direction="taxon")
    assert np.allclose(fwd.table["p_value"], rev.table["p_value"], rtol=1e-8, atol=1e-12, equal_nan=True)
    ok = fwd.table["p_value"].notna()
    assert (np.sign(fwd.table["effect"][ok]) == np.sign(rev.table["effect"][ok])).all()
    flat = rev.table.set_index("predictor").loc["flagellin_tlr5_evasive"]
    assert np.isnan(flat["p_value"]) and np.isnan(fwd.table.set_index("predictor").loc["flagellin_tlr5_evasive",
                                                                                          "p_value"])
    assert rev.model.startswith("predictor ~ marker") and rev.direction == "taxon"


# ----------------------------------------------------------------------------- PRISM and MetaHIT, CD vs control
@pytest.fixture(scope="module")
def metaml(shared_data):
    return read(shared_data / "ibd" / "metaml" / "abundance.txt.bz2")


def test_lps_load_and_barrier_balance_same_direction_in_prism_and_metahit(metaml):
    """CD vs controls. PRISM (68 v 34): LPS load +0.035 (p 0.42), hexa-acylated +0.0068 (q < 0.001), balance −7.1
    (q < 0.001). MetaHIT / Nielsen 2014 (13 CD subjects v 175, subject means): LPS load +0.105 (p 0.045),
    hexa-acylated +0.0050, balance −9.3 (both q < 0.001). Same direction for all three; the total LPS load
    reaches p < 0.05 only in MetaHIT."""
    nielsen = metaml.subset(samples=(metaml.metadata["dataset_name"] == "Neilsen_genome_assembly").to_numpy())
    prism = guild_test(case_control(franzosa2019(), group="Diagnosis", case="CD", control="Control"), n_shuffles=0)
    meta = guild_test(case_control(nielsen, group="disease", case="ibd_crohn_disease", control="n"),
                      subject="subjectID", n_shuffles=0)
    p, m = (r.tests[r.tests["test"] == "mann_whitney"].set_index("metric") for r in (prism, meta))
    for metric, sign in (("lps_producer", 1), ("lps_hexa_acylated", 1), ("barrier_balance", -1)):
        assert np.sign(p.loc[metric, "effect"]) == np.sign(m.loc[metric, "effect"]) == sign, metric
    for metric in ("lps_hexa_acylated", "barrier_balance"):
        assert p.loc[metric, "q_value"] < 0.01 and m.loc[metric, "q_value"] < 0.01, metric
    assert m.loc["lps_producer", "p_value"] < 0.05 < p.loc["lps_producer", "p_value"]


# ----------------------------------------------------------------------------- LPS coverage
GUT_METAML = ["Candela_Africa", "Chatelier_gut_obesity", "Neilsen_genome_assembly", "Quin_gut_liver_cirrhosis",
              "Tito_subsistence_gut", "WT2D", "Zeller_fecal_colorectal_cancer", "metahit", "t2dmeta_long",
              "t2dmeta_short"]


def test_lps_rule_coverage_on_every_metaphlan_stool_table(shared_data, metaml):
    """The outer-membrane rule places (member or non-member) ≥ 90 % of the abundance in every sample of the
    MetaPhlAn stool tables: PRISM, the ten MetAML stool studies, DIABIMMUNE, GMHI (medians 0.9988-1.0; lowest
    sample 0.967, GMHI)."""
    tables = {"PRISM": franzosa2019(),
              "DIABIMMUNE": read(shared_data / "t1d" / "kostic2015_wgs" / "diabimmune_t1d_metaphlan_table.txt",
                                 rank="species"),
              "GMHI": read(shared_data / "gmhi" / "species_relative_abundances.csv")}
    for ds in GUT_METAML:
        tables[ds] = metaml.subset(samples=(metaml.metadata["dataset_name"] == ds).to_numpy())
    for name, c in tables.items():
        cov = guild_scores(c).coverage.set_index("guild").loc["lps_producer"]
        assert cov["median_assigned"] >= 0.99 and cov["min_assigned"] >= 0.9, name
    doyle = metaml.subset(samples=(metaml.metadata["dataset_name"] == "doyle_bt2").to_numpy())
    assert guild_scores(doyle).coverage.set_index("guild").loc["lps_producer", "min_assigned"] > 0.99  # Candida: 0


# ----------------------------------------------------------------------------- iHMP IL-17 terms
@pytest.fixture(scope="module")
def ihmp(shared_data):
    d = shared_data / "host" / "ihmp_t2d_cytokines"
    meta = pd.read_csv(d / "stool_meta_data.tsv", sep="\t", index_col=0)
    cyt = pd.read_csv(d / "stool_cytokine_data.tsv", sep="\t", index_col=0)
    sub = pd.read_csv(d / "threegroup0425_3cytokine_SD_Scale.csv").set_index("Row.names")
    # upstream prepare-dataset.R: apply() over (Row.names, V1, V2, V3) makes which.max - 1 = 1, 2, 3 for V1..V3
    cluster = pd.Series(sub[["V1", "V2", "V3"]].to_numpy().argmax(axis=1) + 1, index=sub.index)
    meta["cluster"] = cluster.reindex(meta["SubjectID"]).to_numpy()
    meta["cluster3"] = (meta["cluster"] == 3).astype(float)
    date = pd.to_datetime(meta["CollectionDate"])
    meta["days"] = (date - date.groupby(meta["SubjectID"]).transform("min")).dt.days.astype(float)
    c = read(d / "stool_16s_data.tsv")
    c = c.align(meta.reindex(c.sample_ids))
    return c, cyt.reindex(c.sample_ids)


PUBLISHED = {("IL17F", "Blautia"): (0.351, 0.142, 0.566), ("IL17F", "Clostridium XlVa"): (0.420, 0.127, 0.710),
             ("IL17A", "Sutterella"): (5.33, 3.55, 7.30)}


def test_ihmp_il17_interaction_terms_with_the_subject_aware_model(ihmp):
    """The published model (upstream run_glmm.R): ``genus ~ days + (1|SubjectID) + cluster * cytokine`` on clusters
    1 and 3 (29 subjects, 364 samples), brms negative binomial on counts. Ours: the same terms on the genus CLR,
    REML random intercept (``direction="taxon", interaction="cluster3"``), t on 332 between-within df.
    Measured: Blautia × IL17F 0.165 (−0.48, 0.81): sign and overlapping interval, reproduced. Clostridium XlVa × IL17F −0.115 (−0.92, 0.69):
    the interval overlaps the published one but the sign is opposite — not reproduced in sign. Sutterella ×
    IL17A 0.66 (−0.90, 2.22): same sign, no overlap with 3.55-7.30 — not reproduced (a 62 %-zero genus, where
    the published 5.33 log-fold term is a negative-binomial count effect a log-ratio model does not see). None
    of the three is significant here: no contradicting evidence either."""
    c, cyt = ihmp
    sub = c.subset(samples=c.metadata["cluster"].isin([1, 3]).to_numpy())
    res = marker_association(sub, markers=cyt[["IL17F", "IL17A"]], covariates=["days"], subject="SubjectID",
                             direction="taxon", interaction="cluster3", min_prevalence=0.0)
    t = res.table.set_index(["marker", "predictor"])
    assert set(t["n"]) == {364} and set(t["n_groups"]) == {29}
    rows = {k: t.loc[k] for k in PUBLISHED}
    blautia = rows[("IL17F", "Blautia")]
    est, lo, hi = PUBLISHED[("IL17F", "Blautia")]
    assert blautia["effect"] > 0 and blautia["ci_low"] < hi and blautia["ci_high"] > lo
    xlva, sutt = rows[("IL17F", "Clostridium XlVa")], rows[("IL17A", "Sutterella")]
    assert xlva["effect"] < 0 and xlva["ci_high"] > PUBLISHED[("IL17F", "Clostridium XlVa")][1]
    assert sutt["effect"] > 0 and sutt["ci_high"] < PUBLISHED[("IL17A", "Sutterella")][1]
    assert all(r["ci_low"] < 0 < r["ci_high"] for r in rows.values())
    assert "cluster3" in res.model and "(1 | SubjectID)" in res.model


def test_ihmp_interaction_matches_statsmodels_mixedlm(ihmp):
    import statsmodels.formula.api as smf

    c, cyt = ihmp
    sub = c.subset(samples=c.metadata["cluster"].isin([1, 3]).to_numpy())
    res = marker_association(sub, markers=cyt[["IL17F"]], covariates=["days"], subject="SubjectID",
                             direction="taxon", interaction="cluster3", taxa=True, min_prevalence=0.0)
    row = res.table.set_index("predictor").loc["Blautia"]
    frame = sub.metadata[["days", "cluster3", "SubjectID"]].assign(y=sub.clr()["Blautia"],
                                                                   x=cyt["IL17F"].reindex(sub.sample_ids))
    fit = smf.mixedlm("y ~ days + cluster3 * x", frame, groups=frame["SubjectID"]).fit(reml=True)
    assert abs(row["effect"] - fit.params["cluster3:x"]) < 0.05 * fit.bse["cluster3:x"]


def test_ihmp_naive_pooled_spearman_is_about_zero(ihmp):
    """README check 3: summed Clostridium genera vs IL17A / IL17F / IL22 over pooled samples, |rho| < 0.05."""
    c, cyt = ihmp
    rel = pd.DataFrame(c.relative(), index=c.sample_ids, columns=c.feature_ids)
    clost = rel.loc[:, rel.columns.str.startswith("Clostridium")].sum(axis=1)
    for k in ("IL17A", "IL17F", "IL22"):
        assert abs(stats.spearmanr(clost, cyt[k]).statistic) < 0.05, k


# ----------------------------------------------------------------------------- implanted signal on real abundances
def _implant(c, rng, n_markers=20, n_signal=8, beta=0.3):
    """Markers with a subject random effect (ICC ≈ 0.5) and, for *n_signal* of them, 2 real iHMP taxa (CLR,
    standardised) each; returns the markers and the set of true (marker, taxon) pairs."""
    clr = c.clr().loc[:, (c.relative() > 0).mean(axis=0) >= 0.1]
    z = (clr - clr.mean()) / clr.std()
    subj = pd.factorize(c.metadata["SubjectID"])[0]
    cols, truth = {}, set()
    picks = rng.choice(z.columns, size=2 * n_signal, replace=False)
    for m in range(n_markers):
        y = rng.normal(size=subj.max() + 1)[subj] + rng.normal(size=len(subj))
        if m < n_signal:
            for tax in picks[2 * m: 2 * m + 2]:
                y = y + beta * z[tax].to_numpy()
                truth.add((f"m{m}", tax))
        cols[f"m{m}"] = y
    return pd.DataFrame(cols, index=c.sample_ids), truth, z


def _spearman_bh(markers, z):
    rho = stats.spearmanr(markers.to_numpy(), z.to_numpy()).statistic[: markers.shape[1], markers.shape[1]:]
    n = len(markers)
    tval = rho * np.sqrt((n - 2) / (1 - rho**2))
    p = 2 * stats.t.sf(np.abs(tval), n - 2)
    q = bh(p.ravel()).reshape(p.shape)
    return {(markers.columns[i], z.columns[j]) for i, j in zip(*np.nonzero(q < 0.05), strict=True)}


def _false(found, truth, z):
    """Discoveries that are false: on a marker with no implanted taxon, or on a taxon whose CLR correlates
    |r| < 0.1 with every taxon implanted in that marker (a taxon correlated with an implanted one is truly,
    marginally, associated and counts neither way)."""
    signal = {m for m, _ in truth}
    out = set()
    for m, p in found - truth:
        if m not in signal or max(abs(z[p].corr(z[t])) for mm, t in truth if mm == m) < 0.1:
            out.add((m, p))
    return out


def test_implanted_signal_holds_fdr_where_spearman_does_not_and_a_null_finds_nothing(ihmp):
    """20 markers with a subject random effect (ICC 0.5), 8 of them carrying 2 real iHMP taxa each (beta 0.3 per
    SD of CLR), 53 subjects, 662 samples. Measured (seed 11): random-intercept model recall 15/16, 1 false of
    19 found (3 more on taxa correlated with an implanted one); pooled Spearman + BH recall 14/16 with
    ~70 % of its discoveries false (the subjects' repeated samples counted as independent). Pure-noise markers:
    at most 1 pair at q < 0.05 over the grid. Averages over replicates and effect sizes, and the statsmodels
    loops: benchmarks/results/markers_peers.md."""
    c, _ = ihmp
    rng = np.random.default_rng(11)
    markers, truth, z = _implant(c, rng)
    res = marker_association(c, markers=markers, subject="SubjectID", taxa=True)
    t = res.table[(res.table["kind"] == "taxon") & (res.table["q_value"] < 0.05)]
    ours = set(zip(t["marker"], t["predictor"], strict=True))
    naive = _spearman_bh(markers, z)
    assert len(ours & truth) / len(truth) >= 0.75 and len(_false(ours, truth, z)) / len(ours) <= 0.1
    assert len(_false(naive, truth, z)) / len(naive) > 0.5
    null, _, _ = _implant(c, rng, n_signal=0)
    empty = marker_association(c, markers=null, subject="SubjectID", taxa=True)
    assert (empty.table["q_value"] < 0.05).sum() <= 1


# ----------------------------------------------------------------------------- bad input
def test_bad_input_list():
    c = franzosa2019()
    ids = c.sample_ids
    with pytest.raises(InputFormatError) as err:  # non-numeric marker: named, with the first bad value
        marker_association(c, markers=pd.DataFrame({"CRP": ["1.2"] * 150 + ["high"] + ["2"] * 4}, index=ids))
    assert err.value.column == "CRP" and "'high'" in str(err.value)
    lod = pd.DataFrame({"IL6": ["<0.5"] * 40 + [str(v) for v in np.linspace(1, 9, 115)]}, index=ids)
    assert marker_association(c, markers=lod, taxa=False).transforms["IL6"] == "rank-normal (censored)"
    meta = c.metadata.assign(flat=1.0, empty=np.nan)
    with pytest.raises(DesignError, match="flat: skipped .*constant.*empty: skipped"):
        marker_association(c.with_metadata(meta), markers=["flat", "empty"], taxa=False)
    rng = np.random.default_rng(0)
    mixed = rng.lognormal(1, 0.3, size=155) * np.where(np.arange(155) < 30, 1000.0, 1.0)  # µg/L beside mg/L
    res = marker_association(c, markers=pd.DataFrame({"crp": mixed}, index=ids), taxa=False)
    assert any(n.startswith("crp: values jump") and "units mixed" in n for n in res.notes)
    plain = marker_association(c, markers=pd.DataFrame({"crp": mixed[30:].repeat(2)[:155]}, index=ids), taxa=False)
    assert not any("values jump" in n for n in plain.notes)
    extra = pd.DataFrame({"crp": rng.normal(size=158)}, index=[*ids, "x1", "x2", "x3"])
    assert any(n.startswith("3 marker row(s) have no abundance sample") for n in
               marker_association(c, markers=extra, taxa=False).notes)
    with pytest.raises(DesignError, match="interaction needs direction='taxon'"):
        marker_association(c, markers=["Fecal.Calprotectin"], interaction="Age")
    with pytest.raises(DesignError, match="interaction column 'Diagnosis' must be numeric or have two levels"):
        marker_association(c, markers=["Fecal.Calprotectin"], direction="taxon", interaction="Diagnosis")
