"""Association layer: alpha tests, dysbiosis score, case/control design — hand-checkable and against R."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from skbio.diversity import alpha_diversity as sk_alpha
from skbio.diversity import beta_diversity as sk_beta

from gutlink import Cohort, DesignError, lineage_table
from gutlink.community import alpha_diversity, alpha_test, beta_diversity, dysbiosis_score, hodges_lehmann
from gutlink.datasets import franzosa2019, toy
from gutlink.design import case_control

# R 4.x: wilcox.test(a, b, conf.int=TRUE, exact=FALSE, correct=FALSE) -> estimate 1.79994, CI 1.00002 2.50001;
#        wilcox.test(a, b, exact=FALSE, correct=TRUE)$p.value = 3.44463471185e-05, W = 336.5
A = np.array([2.1, 3.4, 1.9, 5.6, 4.4, 3.3, 2.8, 6.1, 4.9, 3.0, 2.2, 5.1, 4.0, 3.9, 2.7, 4.8, 5.5, 3.6, 2.5, 4.1, 3.8])
B = np.array([1.2, 2.0, 1.5, 3.1, 2.9, 0.8, 1.7, 2.4, 2.2, 1.1, 3.5, 1.9, 2.6, 0.9, 1.4, 2.8, 1.6, 2.3])


def test_hodges_lehmann_matches_r_wilcox():
    shift, lo, hi = hodges_lehmann(A, B)
    assert shift == pytest.approx(1.79994, abs=1e-3)  # R solves by uniroot; the exact median of differences is 1.8
    assert lo == pytest.approx(1.00002, abs=1e-3) and hi == pytest.approx(2.50001, abs=1e-3)


def _two_group_cohort(a_values, b_values):
    n = len(a_values) + len(b_values)
    meta = pd.DataFrame({"dx": ["IBD"] * len(a_values) + ["healthy"] * len(b_values)},
                        index=[f"s{i}" for i in range(n)])
    x = np.ones((n, 3))
    return case_control(Cohort(x, metadata=meta, taxonomy=lineage_table(["a", "b", "c"])),
                        group="dx", case=["IBD"], control="healthy")


def test_mann_whitney_row_matches_r(monkeypatch):
    c = _two_group_cohort(A, B)
    values = pd.DataFrame({"shannon": np.concatenate([A, B])}, index=c.sample_ids)
    monkeypatch.setattr("gutlink.community.alpha.alpha_diversity", lambda cohort, metrics=None: values)
    row = alpha_test(c).tests.iloc[0]
    assert row.statistic == 336.5
    assert row.p_value == pytest.approx(3.44463471185e-05, rel=1e-8)
    assert (row.n_case, row.n_control) == (21, 18)


def test_alpha_equals_scikit_bio():
    c = toy()
    ours = alpha_diversity(c)
    counts = c.dense().astype(int)
    for metric, sk in [("observed", "observed_features"), ("shannon", "shannon"), ("simpson", "simpson"),
                       ("chao1", "chao1")]:
        assert np.allclose(ours[metric], sk_alpha(sk, counts))
    # Gini–Simpson by hand for one sample
    p = counts[0] / counts[0].sum()
    assert ours["simpson"].iloc[0] == pytest.approx(1 - (p**2).sum())


def test_beta_equals_scikit_bio_and_aitchison_by_hand():
    c = franzosa2019().subset(samples=np.arange(10))
    bc = beta_diversity(c, "braycurtis")
    assert np.allclose(bc.data, sk_beta("braycurtis", c.relative()).data)
    ai = beta_diversity(c, "aitchison").data
    z = c.clr().to_numpy()
    assert ai[0, 1] == pytest.approx(np.linalg.norm(z[0] - z[1]))
    ja = beta_diversity(c, "jaccard").data
    a, b = c.dense()[0] > 0, c.dense()[1] > 0
    assert ja[0, 1] == pytest.approx(1 - (a & b).sum() / (a | b).sum())


def test_case_control_errors_name_the_problem():
    c = toy()
    with pytest.raises(DesignError, match="no group column 'Group'.*'group'"):
        case_control(c, group="Group", case=["case"], control="control")
    with pytest.raises(DesignError, match="'T1D' does not occur"):
        case_control(c, group="group", case=["T1D"], control="control")
    small = c.subset(samples=np.r_[np.flatnonzero(c.metadata.group == "case"), np.flatnonzero(c.metadata.group == "control")[:2]])
    with pytest.raises(DesignError, match="control group has 2 sample"):
        case_control(small, group="group", case=["case"], control="control")


def test_dysbiosis_score_is_leave_one_out_median_by_brute_force():
    c = case_control(toy(), group="group", case=["case"], control="control")
    res = dysbiosis_score(c)
    d = beta_diversity(c, "braycurtis").data
    ref = np.flatnonzero(c.metadata.group_label == "control")
    for i in range(c.n_samples):
        others = [j for j in ref if j != i]
        assert res.scores["score"].iloc[i] == pytest.approx(np.median(d[i, others]))
    assert res.threshold == pytest.approx(np.quantile(res.scores["score"].iloc[ref], 0.9))
    assert set(res.tests.test) == {"mann_whitney", "fisher_exact"}


def test_dysbiosis_excludes_same_subject():
    base = case_control(toy(), group="group", case=["case"], control="control")
    meta = base.metadata.copy()
    ctrl = np.flatnonzero(meta.group_label == "control")
    meta.iloc[ctrl[1], meta.columns.get_loc("subject")] = meta.iloc[ctrl[0]]["subject"]
    c = base.with_metadata(meta)
    res = dysbiosis_score(c, subject="subject")
    d = beta_diversity(c, "braycurtis").data
    others = [j for j in ctrl if j not in (ctrl[0], ctrl[1])]
    assert res.scores["score"].iloc[ctrl[0]] == pytest.approx(np.median(d[ctrl[0], others]))


def test_shuffled_labels_give_no_systematic_alpha_signal():
    """Negative control: with labels shuffled, Shannon p-values are not concentrated below 0.05."""
    c = franzosa2019()
    rng = np.random.default_rng(7)
    ps = []
    for _ in range(40):
        meta = c.metadata.copy()
        meta["Diagnosis"] = rng.permutation(meta["Diagnosis"].to_numpy())
        cc = case_control(c.with_metadata(meta), group="Diagnosis", case=["CD"], control="Control")
        ps.append(alpha_test(cc, metrics=("shannon",)).tests.p_value.iloc[0])
    assert np.mean(np.array(ps) < 0.05) <= 0.15


@pytest.mark.realdata
def test_franzosa_cd_has_lower_shannon_and_higher_dysbiosis():
    c = case_control(franzosa2019(), group="Diagnosis", case=["CD"], control="Control")
    t = alpha_test(c, covariates=["Age"]).tests
    sh = t[(t.metric == "shannon") & (t.test == "mann_whitney")].iloc[0]
    assert sh.effect < 0 and sh.q_value < 0.01 and sh.ci_high < 0
    ols = t[(t.metric == "shannon") & (t.test == "ols")].iloc[0]
    assert ols.effect < 0 and ols.ci_low < ols.effect < ols.ci_high
    d = dysbiosis_score(c)
    assert d.tests.iloc[0].effect > 0 and d.tests.iloc[0].p_value < 1e-6


def test_dysbiosis_strata_compare_within_stratum_only():
    c = case_control(franzosa2019(), group="Diagnosis", case=["CD"], control="Control")
    meta = c.metadata.assign(site=np.where(np.arange(c.n_samples) % 2 == 0, "a", "b"))
    c = c.with_metadata(meta)
    res = dysbiosis_score(c, strata="site")
    d = beta_diversity(c, "braycurtis").data
    ref = np.flatnonzero(meta.group_label == "control")
    i = int(np.flatnonzero(meta.group_label == "case")[0])
    same = [j for j in ref if meta.site.iloc[j] == meta.site.iloc[i]]
    assert res.scores["score"].iloc[i] == pytest.approx(np.median(d[i, same]))
