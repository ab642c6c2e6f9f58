"""Community layer and `link` on matched (household / pair) and repeated-measure (subject) designs.

Paired statistics are checked against scipy; whole-subject permutations by property; household pairs are built from
real cohorts (PRISM, DIABIMMUNE 16S counts); row order of the real T1D table must change no output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gutlink import Cohort, DesignError
from gutlink.community import alpha_test, dysbiosis_score, hodges_lehmann, permanova, permutation_matrix
from gutlink.community._stats import paired_hodges_lehmann, stratified_hodges_lehmann, two_group_row, van_elteren
from gutlink.datasets import franzosa2019
from gutlink.design import LABEL, case_control
from gutlink.io import read, read_metadata
from gutlink.link import link

# --------------------------------------------------------------------------- paired statistics vs scipy


def _inverted_ci(d: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The CI by brute-force inversion of scipy's signed-rank test: Walsh averages where p crosses 1 - level."""
    i, j = np.triu_indices(d.size)
    walsh = np.sort((d[i] + d[j]) / 2)
    mids = (walsh[1:] + walsh[:-1]) / 2
    inside = np.array([stats.wilcoxon(d - mu).pvalue > 1 - level for mu in mids])
    first, last = np.flatnonzero(inside)[[0, -1]]
    return float(walsh[first]), float(walsh[last + 1])


def test_paired_hodges_lehmann_inverts_scipy_signed_rank():
    rng = np.random.default_rng(3)
    for n in (9, 17, 30):
        d = rng.normal(0.4, 1.0, n)
        shift, lo, hi = paired_hodges_lehmann(d)
        i, j = np.triu_indices(n)
        assert shift == pytest.approx(np.median((d[i] + d[j]) / 2))
        assert (lo, hi) == pytest.approx(_inverted_ci(d), abs=1e-12)
    # R wilcox.test(x, y, paired=TRUE) on its help-page data: V = 40, p = 0.03906 (exact)
    x = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
    y = np.array([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])
    meta = pd.DataFrame({LABEL: ["case"] * 9 + ["control"] * 9, "pair": [f"p{k}" for k in range(9)] * 2})
    row = two_group_row(pd.Series(np.r_[x, y]), meta, analysis="alpha", metric="m", block="pair")
    assert row["test"] == "wilcoxon_signed_rank" and row["statistic"] == 40.0
    assert row["p_value"] == pytest.approx(stats.wilcoxon(x, y).pvalue, rel=1e-12)
    assert row["p_value"] == pytest.approx(0.0390625, rel=1e-9)
    assert (row["effect"], row["ci_low"], row["ci_high"]) == pytest.approx(paired_hodges_lehmann(x - y))
    assert (row["n_case"], row["n_control"]) == (9, 9)


def test_large_paired_interval_is_the_normal_approximation_of_the_inversion():
    d = np.random.default_rng(4).normal(0.3, 1.0, 80)
    _, lo, hi = paired_hodges_lehmann(d)
    ref_lo, ref_hi = _inverted_ci(d)
    walsh_step = np.ptp(d) / 80 ** 2 * 40  # a few Walsh averages apart at most
    assert abs(lo - ref_lo) < walsh_step and abs(hi - ref_hi) < walsh_step


def test_stratified_design_uses_van_elteren():
    values = np.arange(12.0)
    meta = pd.DataFrame({LABEL: ["case", "case", "control"] * 4, "family": np.repeat(["a", "b", "c", "d"], 3)})
    row = two_group_row(pd.Series(values), meta, analysis="alpha", metric="m", block="family")
    case = meta[LABEL].eq("case").to_numpy()
    assert row["test"] == "van_elteren"
    assert (row["statistic"], row["p_value"]) == pytest.approx(van_elteren(values, case, meta.family))
    assert row["effect"] == pytest.approx(stratified_hodges_lehmann(values, case, meta.family)[0])


def test_empty_side_gives_nan_not_index_error():
    assert all(np.isnan(hodges_lehmann(np.array([1.0, 2.0]), np.array([]))))
    assert all(np.isnan(paired_hodges_lehmann([])))


# --------------------------------------------------------------------------- whole-subject permutations


def test_whole_subject_permutations_keep_subjects_together():
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 5, 40)
    subject = np.repeat([f"s{k:02d}" for k in range(40)], sizes)
    order = rng.permutation(subject.size)  # subjects' samples scattered through the table
    subject = subject[order]
    site = np.where(np.char.add(subject, "").astype("U3") < "s20", "north", "south")
    perms = permutation_matrix(subject.size, 300, strata=site, plots=subject, rng=1)
    codes = pd.factorize(subject)[0]
    size_of = np.bincount(codes)[codes]
    for p in perms[:50]:
        moved = pd.DataFrame({"to": codes, "from": codes[p]})
        assert (moved.groupby("to")["from"].nunique() == 1).all()  # a subject's places get one subject's samples
        assert (size_of[p] == size_of).all() and (site[p] == site).all()
        for s in np.unique(codes)[:10]:  # within-subject order is kept (Within(type="none"))
            idx = np.flatnonzero(codes == s)
            assert (np.diff(p[idx]) > 0).all()
    assert (perms != np.arange(subject.size)).any(axis=1).mean() > 0.95  # they do move
    with pytest.raises(DesignError, match="split a subject"):
        permutation_matrix(4, np.array([[1, 0, 2, 3]]), plots=["a", "b", "b", "c"])
    with pytest.raises(DesignError, match="several strata"):
        permutation_matrix(4, 5, strata=["x", "y", "y", "y"], plots=["a", "a", "b", "b"])


def test_whole_subject_permanova_is_calibrated_where_free_permutations_are_not():
    """Repeated samples of subjects: free permutations make p too small for a subject-level label; whole-subject
    permutations do not (30 subjects × 4 samples, a strong subject effect, no group effect)."""
    rng = np.random.default_rng(11)
    free, whole = [], []
    for rep in range(30):
        centres = rng.normal(size=(30, 5)) * 3
        x = np.repeat(centres, 4, axis=0) + rng.normal(size=(120, 5))
        ids = [f"x{i:03d}" for i in range(120)]
        meta = pd.DataFrame({"subject": np.repeat([f"s{k}" for k in range(30)], 4),
                             "g": np.repeat(rng.permutation(["a", "b"] * 15), 4)}, index=ids)
        z = np.exp(x)
        c = case_control(Cohort(z / z.sum(axis=1, keepdims=True), metadata=meta, units="fraction"), group="g",
                         case="a", control="b")
        free.append(permanova(c, metric="aitchison", n_permutations=99, rng=rep).term().p_value)
        whole.append(permanova(c, metric="aitchison", subject="subject", n_permutations=99, rng=rep).term().p_value)
    assert np.mean(np.array(free) < 0.05) > 0.3
    assert np.mean(np.array(whole) < 0.05) <= 0.15


# --------------------------------------------------------------------------- household pairs from real data


@pytest.fixture(scope="module")
def prism_pairs():
    """PRISM CD cases and controls, each control paired with a CD case into a 'household' (34 pairs; the other
    cases are households of one)."""
    c = case_control(franzosa2019(), group="Diagnosis", case="CD", control="Control")
    meta = c.metadata.copy()
    cases = np.flatnonzero(meta[LABEL] == "case")
    ctrls = np.flatnonzero(meta[LABEL] == "control")
    house = np.array([f"h{k:03d}" for k in range(c.n_samples)], dtype=object)
    house[cases[: ctrls.size]] = house[ctrls]
    return c.with_metadata(meta.assign(household=house))


def test_link_with_household_blocks_is_paired(prism_pairs):
    res = link(prism_pairs, group="Diagnosis", case=["CD"], control="Control", block="household",
               n_permutations=99, rng=2, metrics=("braycurtis",), covariates=["Age"])
    t = res.tests
    sh = t[(t.analysis == "alpha") & (t.metric == "shannon") & (t.test == "wilcoxon_signed_rank")].iloc[0]
    assert (sh.n_case, sh.n_control) == (34, 34) and "34 pairs of 'household'" in sh.comparison
    assert sh.effect < 0 and sh.ci_low < sh.effect < sh.ci_high  # CD: lower Shannon within pairs
    assert set(t.loc[(t.analysis == "alpha"), "test"]) == {"wilcoxon_signed_rank", "mixedlm"}
    assert res.permanova["braycurtis"].scheme == "within levels of 'household'"
    assert res.dysbiosis.scores["score"].notna().all()  # the own block is left out, the reference never empty
    assert set(t.loc[t.analysis == "dysbiosis", "test"]) == {"wilcoxon_signed_rank", "cochran_mantel_haenszel"}
    assert res.structure["block"] == "household" and res.structure["alpha_test"] == "wilcoxon_signed_rank"
    assert any("Matched sets of 'household'" in s for s in res.verdict["sentences"])
    assert res.differential is not None and res.differential.model.endswith("-lmm")


def test_dysbiosis_reference_excludes_the_own_block(prism_pairs):
    res = dysbiosis_score(prism_pairs, block="household")
    from gutlink.community import beta_diversity

    d = beta_diversity(prism_pairs, "braycurtis").data
    meta = prism_pairs.metadata
    ref = np.flatnonzero(meta[LABEL] == "control")
    i = int(np.flatnonzero((meta[LABEL] == "case") & meta.household.isin(meta.household.iloc[ref]))[0])
    others = [j for j in ref if meta.household.iloc[j] != meta.household.iloc[i]]
    assert len(others) == ref.size - 1
    assert res.scores["score"].iloc[i] == pytest.approx(np.median(d[i, others]))


def test_strata_of_pairs_do_not_crash_and_say_why(prism_pairs):
    """`--strata household` with one case + one control per household used to raise IndexError."""
    paired = prism_pairs.subset(samples=prism_pairs.metadata.household.duplicated(keep=False).to_numpy())
    res = link(paired, group="Diagnosis", case=["CD"], control="Control", strata="household", n_permutations=19,
               rng=1, metrics=("braycurtis",), differential=False)
    assert res.dysbiosis.scores["score"].isna().all()
    assert (res.dysbiosis.scores["reason"].str.contains("fewer than 2 control references in its stratum")).all()
    assert any("belongs in block=" in s for s in res.verdict["sentences"])
    dys = res.tests[res.tests.analysis == "dysbiosis"]
    assert dys.p_value.isna().all()


@pytest.fixture(scope="module")
def diabimmune(shared_data):
    folder = shared_data / "t1d" / "kostic2015_16s_metabolome"
    return read(folder / "genera.counts.tsv").align(read_metadata(folder / "metadata.tsv"))


def _households(c: Cohort, rng: np.random.Generator, n_pairs: int, shift: float) -> Cohort:
    """Pairs that share a household environment, from real 16S counts: each household draws a real sample as its
    environment; both members' composition is half their own real sample and half the environment; the case's
    dominant genus is inflated by *shift* (a loss of evenness), and reads are redrawn at the member's own depth."""
    x = c.dense()
    p = x / x.sum(axis=1, keepdims=True)
    picks = rng.choice(c.n_samples, size=(n_pairs, 3), replace=True)  # case, control, environment
    env = p[picks[:, 2]]
    members = np.stack([0.3 * p[picks[:, 0]] + 0.7 * env, 0.3 * p[picks[:, 1]] + 0.7 * env], axis=1)
    top = members[:, 0].argmax(axis=1)
    members[np.arange(n_pairs), 0, top] *= 1 + shift
    members /= members.sum(axis=2, keepdims=True)
    depth = x.sum(axis=1)[picks[:, :2]].astype(np.int64)
    counts = rng.multinomial(depth.ravel(), members.reshape(-1, x.shape[1]))
    ids = [f"h{k:03d}_{m}" for k in range(n_pairs) for m in ("case", "control")]
    meta = pd.DataFrame({"status": ["case", "control"] * n_pairs, "household": np.repeat(
        [f"h{k:03d}" for k in range(n_pairs)], 2)}, index=ids)
    return case_control(Cohort(counts, metadata=meta, units="counts"), group="status", case="case", control="control")


@pytest.mark.realdata
def test_pairs_sharing_environment_give_paired_tests_more_power(diabimmune):
    rng = np.random.default_rng(5)
    paired, unpaired = [], []
    for _ in range(20):
        c = _households(diabimmune, rng, n_pairs=20, shift=0.35)
        paired.append(alpha_test(c, metrics=("shannon",), block="household").tests.p_value.iloc[0])
        unpaired.append(alpha_test(c, metrics=("shannon",)).tests.p_value.iloc[0])
    paired, unpaired = np.array(paired), np.array(unpaired)
    assert np.mean(paired < 0.05) >= np.mean(unpaired < 0.05) + 0.3
    assert np.mean(paired < unpaired) >= 0.8
    c = _households(diabimmune, rng, n_pairs=20, shift=0.35)
    kw = dict(group="status", case=["case"], control="control", n_permutations=199, rng=3, metrics=("braycurtis",),
              differential=False)
    within = link(c, block="household", **kw).permanova["braycurtis"].term()
    free = link(c, **kw).permanova["braycurtis"].term()
    assert within.r2 == pytest.approx(free.r2) and within.p_value <= free.p_value  # same F, sharper null


@pytest.mark.realdata
def test_no_planted_effect_keeps_paired_tests_calibrated(diabimmune):
    rng = np.random.default_rng(6)
    ps = [alpha_test(_households(diabimmune, rng, 20, 0.0), metrics=("shannon",), block="household")
          .tests.p_value.iloc[0] for _ in range(40)]
    assert np.mean(np.array(ps) < 0.05) <= 0.15


# --------------------------------------------------------------------------- repeated subjects: row order


@pytest.mark.realdata
def test_t1d_row_order_changes_nothing(diabimmune):
    kw = dict(group="Study.Group", case=["case"], control="control", subject="Subject", n_permutations=199, rng=4,
              metrics=("braycurtis", "aitchison"), differential=False)
    forward = link(diabimmune, **kw)
    backward = link(diabimmune.subset(samples=np.arange(diabimmune.n_samples)[::-1]), **kw)
    for metric in kw["metrics"]:
        pd.testing.assert_frame_equal(forward.permanova[metric].table, backward.permanova[metric].table)
        assert forward.permanova[metric].scheme.startswith("whole subjects of 'Subject'")
    pd.testing.assert_frame_equal(forward.tests, backward.tests)
    pd.testing.assert_frame_equal(forward.dysbiosis.scores, backward.dysbiosis.scores)
    pd.testing.assert_frame_equal(forward.alpha.values, backward.alpha.values)
    sh = forward.alpha.tests[forward.alpha.tests.metric == "shannon"].iloc[0]
    assert sh.n_case + sh.n_control == 19 and forward.n_per_group == {"case": 66, "control": 37}
    for rule in ("random", "first-by:Age"):
        a = link(diabimmune, one_per_subject=rule, **kw)
        b = link(diabimmune.subset(samples=np.arange(diabimmune.n_samples)[::-1]), one_per_subject=rule, **kw)
        assert sum(a.n_per_group.values()) == 19
        pd.testing.assert_frame_equal(a.tests, b.tests)
    c = case_control(diabimmune, group="Study.Group", case="case", control="control")
    rev = c.subset(samples=np.arange(c.n_samples)[::-1])
    direct = [permanova(x, subject="Subject", n_permutations=199, rng=8).term().p_value for x in (c, rev)]
    assert direct[0] == direct[1]  # the cohort-level function is row-order free on its own
    youngest = link(diabimmune, one_per_subject="first-by:Age", **kw)
    kept = youngest.alpha.values.index
    ages = diabimmune.metadata.Age
    assert (ages.loc[kept].groupby(diabimmune.metadata.Subject.loc[kept]).first()
            == ages.groupby(diabimmune.metadata.Subject).min()).all()
    with pytest.raises(DesignError, match="first-by:COLUMN' or 'random'"):
        link(diabimmune, one_per_subject="last", **kw)
