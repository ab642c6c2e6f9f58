"""`link`: end to end on real data, a planted effect is found, shuffled labels give no evidence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gutlink import DesignError
from gutlink.datasets import franzosa2019, toy
from gutlink.link import link
from gutlink.results import TEST_COLUMNS


@pytest.fixture(scope="module")
def prism_cd():
    return link(franzosa2019(), group="Diagnosis", case=["CD"], control="Control", covariates=["Age"],
                n_permutations=199, rng=1)


@pytest.mark.realdata
def test_prism_cd_vs_control_differs(prism_cd):
    """Franzosa 2019: CD differs from controls (PERMANOVA), lower Shannon, higher dysbiosis score."""
    t = prism_cd.tests
    bc = t[(t.analysis == "permanova") & (t.metric == "braycurtis")].iloc[0]
    assert bc.q_value < 0.05 and 0 < bc.effect < 1
    sh = t[(t.analysis == "alpha") & (t.metric == "shannon") & (t.test == "mann_whitney")].iloc[0]
    assert sh.effect < 0 and sh.q_value < 0.05
    dys = t[(t.analysis == "dysbiosis") & (t.test == "mann_whitney")].iloc[0]
    assert dys.effect > 0 and dys.q_value < 0.05
    assert prism_cd.verdict["level"] == "evidence"
    assert prism_cd.n_per_group == {"case": 68, "control": 34}


@pytest.mark.realdata
def test_prism_cd_differential_layer_finds_known_biology(prism_cd):
    """Franzosa 2019: F. prausnitzii is less abundant in CD, R. gnavus more; both named in the report."""
    diff = prism_cd.differential
    assert diff is not None and diff.terms[0] == "group_label[T.case]" and "Age" in diff.terms
    tab = diff.table[diff.table["term"] == diff.terms[0]].set_index("feature_id")
    fp = tab.loc["Faecalibacterium_prausnitzii"]
    assert fp["effect"] < -2 and fp["q_value"] < 0.001 and fp["ci_high"] < 0
    assert tab.loc["Ruminococcus_gnavus", "effect"] > 0 and tab.loc["Ruminococcus_gnavus", "q_value"] < 0.05
    sentence = next(s for s in prism_cd.verdict["sentences"] if s.startswith("Which taxa differ"))
    assert "Faecalibacterium prausnitzii" in sentence and "less abundant in cases" in sentence
    assert any("label shuffles of the case/control labels" in s for s in prism_cd.verdict["sentences"])
    assert prism_cd.differential.negative_control["n_shuffles"] == 10
    from gutlink.report import render_html

    html = render_html(prism_cd)
    section = html[html.index('id="differential"'):html.index('id="tests"')]
    assert "Faecalibacterium prausnitzii" in section and 'id="differential-table"' in section


def test_differential_layer_never_changes_the_verdict_level():
    c = franzosa2019()
    args = {"group": "Diagnosis", "case": ["UC"], "control": "Control", "n_permutations": 49, "rng": 4,
            "metrics": ("braycurtis",)}
    with_layer, without = link(c, **args), link(c, differential=False, **args)
    assert without.differential is None and with_layer.differential is not None
    assert with_layer.verdict["level"] == without.verdict["level"]
    assert with_layer.verdict["headline"] == without.verdict["headline"]
    assert with_layer.tests.equals(without.tests)  # the community tests and their family are untouched
    assert len(with_layer.verdict["sentences"]) == len(without.verdict["sentences"]) + 2
    assert json.dumps(with_layer.to_dict(), allow_nan=False)


def test_tests_table_is_tidy_and_q_is_bh(prism_cd):
    t = prism_cd.tests
    assert list(t.columns) == TEST_COLUMNS
    p = t.p_value.to_numpy()
    order = np.argsort(p)
    q_sorted = t.q_value.to_numpy()[order]
    assert np.all(np.diff(q_sorted) >= -1e-12) and np.all(t.q_value >= t.p_value - 1e-12)


def test_summary_is_json_safe(prism_cd):
    d = prism_cd.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert '"verdict"' in text and d["versions"]["gutlink"]
    assert d["seed"] == 1


def test_no_evidence_when_labels_are_shuffled():
    """Negative control on real data: labels permuted at random → the verdict is not 'evidence' most times."""
    c = franzosa2019()
    rng = np.random.default_rng(11)
    levels = []
    for _ in range(6):
        meta = c.metadata.copy()
        meta["Diagnosis"] = rng.permutation(meta["Diagnosis"].to_numpy())
        res = link(c.with_metadata(meta), group="Diagnosis", case=["CD"], control="Control", n_permutations=99,
                   rng=2, metrics=("braycurtis",))
        levels.append(res.verdict["level"])
        assert "No evidence" in res.verdict["headline"] or res.verdict["level"] != "none"
    assert levels.count("evidence") <= 1


def test_planted_shift_is_found_in_real_controls():
    """Split real control samples into two pseudo-groups and boost a few taxa in one: link must see it."""
    c = franzosa2019()
    ctrl = c.subset(samples=(c.metadata.Diagnosis == "Control").to_numpy())
    x = ctrl.dense().copy()
    half = np.arange(ctrl.n_samples) % 2 == 0
    top = np.argsort(x.mean(axis=0))[::-1][:5]
    x[np.ix_(half, top)] *= 4
    x = x / x.sum(axis=1, keepdims=True)
    meta = ctrl.metadata.assign(pseudo=np.where(half, "A", "B"))
    from gutlink import Cohort

    planted = Cohort(x, metadata=meta, taxonomy=ctrl.taxonomy, units="fraction")
    res = link(planted, group="pseudo", case=["A"], control="B", n_permutations=199, rng=3, metrics=("braycurtis",))
    assert res.permanova["braycurtis"].term().p_value < 0.05
    null = link(ctrl.with_metadata(meta), group="pseudo", case=["A"], control="B", n_permutations=199, rng=3,
                metrics=("braycurtis",))
    assert res.permanova["braycurtis"].term().r2 > 1.5 * null.permanova["braycurtis"].term().r2


def test_missing_covariates_are_dropped_and_recorded():
    res = link(franzosa2019(), group="Diagnosis", case=["UC"], control="Control", covariates=["antibiotic"],
               n_permutations=49, metrics=("braycurtis",))
    ops = [h for h in res.cohort_summary["history"] if h["op"] == "drop_missing_covariates"]
    assert ops and ops[0]["n_dropped"] >= 1
    assert sum(res.n_per_group.values()) == res.cohort_summary["n_samples_analysed"]


def test_bad_design_errors():
    with pytest.raises(DesignError, match="no column 'bmi'"):
        link(toy(), group="group", case=["case"], control="control", covariates=["bmi"])
    c = toy()
    x = c.dense().copy()
    x[0] = 0
    from gutlink import Cohort

    empty = Cohort(x, metadata=c.metadata, taxonomy=c.taxonomy, units="counts")
    with pytest.raises(DesignError, match="all-zero"):
        link(empty, group="group", case=["case"], control="control")
    res = link(empty, group="group", case=["case"], control="control", drop_empty=True, n_permutations=19,
               metrics=("braycurtis",))
    assert res.cohort_summary["n_samples_analysed"] == c.n_samples - 1


def test_repeated_subjects_use_every_sample_and_say_so():
    c = toy()
    meta = c.metadata.copy()
    cases = np.flatnonzero(meta.group == "case")
    meta.iloc[cases[1], meta.columns.get_loc("subject")] = meta.iloc[cases[0]]["subject"]
    kw = dict(group="group", case=["case"], control="control", subject="subject", n_permutations=19,
              metrics=("braycurtis",))
    res = link(c.with_metadata(meta), **kw)
    assert res.n_per_group == {"case": 11, "control": 8}  # every sample
    sh = res.alpha.tests[res.alpha.tests.metric == "shannon"].iloc[0]
    assert (sh.n_case, sh.n_control) == (10, 8) and "subject means" in sh.comparison  # one unit per subject
    assert res.permanova["braycurtis"].scheme.startswith("whole subjects of 'subject'")
    assert res.structure["repeated_subjects"] and res.structure["n_subjects"] == 18
    assert any("permute whole subjects" in s for s in res.verdict["sentences"])
    # the differential layer keeps every sample, with a random intercept for the repeated subject
    assert res.differential.n_samples == c.n_samples and res.differential.model.endswith("-lmm")
    one = link(c.with_metadata(meta), one_per_subject="first-by:age_days", **kw)
    assert one.n_per_group == {"case": 10, "control": 8}
    op = [h for h in one.cohort_summary["history"] if h["op"] == "one_sample_per_subject"][0]
    assert op["rule"] == "first-by:age_days" and op["n_dropped"] == 1
    ctrl = np.flatnonzero(meta.group == "control")
    meta.iloc[ctrl[0], meta.columns.get_loc("subject")] = meta.iloc[cases[0]]["subject"]
    with pytest.raises(DesignError, match=r"paired design.*block='subject'"):
        link(c.with_metadata(meta), group="group", case=["case"], control="control", subject="subject")


def test_sequential_and_marginal_group_term_agree_when_group_is_last():
    """adonis2 semantics: with the group term last, its sequential and marginal tests are the same test."""
    kw = dict(group="Diagnosis", case=["CD"], control="Control", covariates=["Age"], n_permutations=99, rng=4,
              metrics=("braycurtis",), differential=False)
    margin = link(franzosa2019(), by="margin", **kw).permanova["braycurtis"]
    terms = link(franzosa2019(), by="terms", **kw).permanova["braycurtis"]
    assert (margin.by, terms.by) == ("margin", "terms")
    assert margin.term().statistic == pytest.approx(terms.term().statistic)
    assert terms.table.term.tolist()[:2] == ["Age", "group_label"]


def test_prediction_layer_is_out_of_sample_and_reported():
    res = link(franzosa2019(), group="Diagnosis", case=["CD"], control="Control", n_permutations=19,
               metrics=("braycurtis",), predict=True, rng=6)
    assert 0.7 < res.prediction.auroc <= 1 and res.prediction.auroc_ci[0] < res.prediction.auroc
    assert any("Out of sample" in s for s in res.verdict["sentences"])
    assert set(res.prediction.predictions.index) <= set(franzosa2019().sample_ids)
    meta = franzosa2019().metadata.copy()
    meta["Diagnosis"] = np.random.default_rng(3).permutation(meta["Diagnosis"].to_numpy())
    null = link(franzosa2019().with_metadata(meta), group="Diagnosis", case=["CD"], control="Control",
                n_permutations=19, metrics=("braycurtis",), predict=True, rng=6)
    assert null.prediction.auroc < 0.7  # shuffled labels: no skill out of sample


def test_unadjusted_alpha_signal_explained_by_covariate_does_not_decide(monkeypatch):
    """With covariates, an unadjusted alpha difference that vanishes once adjusted must not make 'evidence'."""
    from gutlink.verdict import _decisive
    from gutlink.verdict import community_verdict as _verdict

    res = link(toy(), group="group", case=["case"], control="control", covariates=["sex"], n_permutations=19,
               metrics=("braycurtis",), differential=False)
    tests = res.tests.copy()
    unadj = (tests.analysis == "alpha") & (tests.test == "mann_whitney") & (tests.metric == "observed")
    tests.loc[unadj, ["p_value", "q_value"]] = 1e-6
    assert not _decisive(tests)[unadj].any()
    verdict = _verdict(tests, res.permanova, res.permdisp, res.dysbiosis, res.n_per_group)
    assert verdict["level"] != "evidence"
    assert any("not once sex is adjusted for" in s for s in verdict["sentences"])


def test_rarefaction_for_alpha_only_and_depth_caveat():
    plain = link(toy(), group="group", case=["case"], control="control", n_permutations=19, metrics=("braycurtis",),
                 differential=False)
    assert any("unrarefied read counts" in s for s in plain.verdict["sentences"])
    depth = int(toy().dense().sum(axis=1).min())
    rare = link(toy(), group="group", case=["case"], control="control", n_permutations=19, metrics=("braycurtis",),
                differential=False, rarefy=depth, rng=2)
    assert not any("unrarefied" in s for s in rare.verdict["sentences"])
    ops = [h for h in rare.cohort_summary["history"] if h["op"] == "rarefy"]
    assert ops and ops[0]["depth"] == depth and ops[0]["scope"] == "alpha diversity only"
    obs_plain = plain.alpha.values["observed"]
    obs_rare = rare.alpha.values["observed"]
    assert (obs_rare <= obs_plain).all() and (obs_rare < obs_plain).any()
    # distances are unchanged: PERMANOVA still runs on all samples' relative abundances
    assert rare.permanova["braycurtis"].term().statistic == pytest.approx(plain.permanova["braycurtis"].term().statistic)
    with pytest.raises(DesignError, match="needs read counts"):
        link(franzosa2019(), group="Diagnosis", case=["CD"], control="Control", rarefy=1000)
