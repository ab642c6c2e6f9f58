"""The differential model on real designs: repeated subjects, sequencing depth, household blocks, row order.

Every test here failed before the presence model got its depth term and its subject / block structure:
(a) whole-subject label shuffles on the DIABIMMUNE 16S genera gave 14 % of presence p-values below 0.05 on the six
shuffles used here (18 % over 30), (b) a 3× depth difference between random groups gave 14 % and 10 presence
discoveries at q < 0.1 over four data sets (checked by running these tests' data through the previous commit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gutlink import differential, io
from gutlink.cohort import Cohort
from gutlink.differential import _shuffle
from gutlink.errors import DesignError

T1D = Path("t1d") / "kostic2015_16s_metabolome"


@pytest.fixture(scope="module")
def t1d(shared_data: Path) -> Cohort:
    """DIABIMMUNE 16S genus counts (103 samples of 19 infants) with Subject, Age and Study.Group."""
    folder = shared_data / T1D
    meta = io.read_metadata(folder / "metadata.tsv")
    cohort = io.read(folder / "genera.counts.tsv")
    return cohort.with_metadata(meta.reindex(cohort.sample_ids)).aggregate("genus")


def _subject_shuffle(cohort: Cohort, gen: np.random.Generator) -> Cohort:
    status = cohort.metadata.groupby("Subject")["Study.Group"].first()
    perm = pd.Series(gen.permutation(status.to_numpy()), index=status.index)
    return cohort.with_metadata(cohort.metadata.assign(shuf=cohort.metadata["Subject"].map(perm).to_numpy()))


def _presence_fraction(res: differential.DifferentialResult, term: str) -> float:
    p = res.prevalence.loc[res.prevalence["term"] == term, "p_value"].dropna()
    return float((p < 0.05).mean())


# ----------------------------------------------------------------------------- (a) whole-subject shuffles
@pytest.mark.realdata
def test_whole_subject_shuffles_give_nominal_presence_p_values(t1d):
    gen = np.random.default_rng(20)
    fractions, joint = [], []
    for _ in range(6):
        res = differential.test(_subject_shuffle(t1d, gen), "~ shuf + Age", subject="Subject",
                                reference={"shuf": "control"})
        fractions.append(_presence_fraction(res, "shuf[T.case]"))
        tab = res.table[res.table["term"] == "shuf[T.case]"]
        joint.append(int((tab["q_joint"] < 0.1).sum()))
    assert res.presence_model["clusters"] == "Subject" and res.presence_model["n_clusters"] == 19
    assert res.presence_model["depth_covariate"] is not None
    # the old presence model (independent samples, no depth term) gave a mean of 0.14 on these six shuffles
    assert np.mean(fractions) <= 0.075, fractions
    assert np.mean(joint) <= 2, joint


@pytest.mark.realdata
def test_builtin_control_shuffles_whole_subjects_and_reports_each_part(t1d):
    meta = t1d.metadata.assign(dx=t1d.metadata["Study.Group"])
    res = differential.test(t1d.with_metadata(meta), "~ dx + Age", subject="Subject", reference={"dx": "control"},
                            n_shuffles=3, rng=4)
    nc = res.negative_control
    assert nc["permuted_by"] == "subject" and set(nc["parts"]) == {"abundance", "presence", "joint"}
    assert set(nc["terms"]) == {"dx[T.case]"}
    frac = nc["parts"]["presence"]["fraction_p_below_0.05"]
    assert len(frac) == 3 and all(0 <= f <= 0.2 for f in frac)
    assert nc["discoveries"] == nc["parts"]["abundance"]["discoveries"]
    text = differential.describe_control(nc)
    assert "(whole subjects)" in text and "presence model" in text and "joint test" in text
    assert f"{100 * nc['parts']['presence']['mean_fraction_p_below_0.05']:.1f} % of presence p-values" in text


def test_shuffles_follow_the_design():
    gen = np.random.default_rng(0)
    subjects = np.repeat([f"s{i}" for i in range(8)], 3)
    blocks = np.repeat([f"h{i}" for i in range(4)], 6)  # two subjects per household
    labels = pd.Series(np.repeat(["case", "control"] * 4, 3), index=[f"x{i}" for i in range(24)])
    for _ in range(5):
        out = _shuffle.shuffle(labels, blocks=blocks, subjects=subjects, gen=gen)
        assert (out.groupby(subjects).nunique() == 1).all()  # whole subjects
        for h in np.unique(blocks):  # within households: one case and one control subject each
            assert sorted(out[blocks == h]) == sorted(labels[blocks == h])
    varying = pd.Series(np.tile(["pre", "post", "pre"], 8), index=labels.index)
    units, _, how = _shuffle.plan(varying, subjects=subjects)
    assert units is None and how == {"permuted_by": "sample", "permuted_within": "subjects"}
    out = _shuffle.shuffle(varying, subjects=subjects, gen=gen)
    assert (out.groupby(subjects).apply(sorted) == varying.groupby(subjects).apply(sorted)).all()
    with pytest.raises(DesignError, match="spans several strata"):
        _shuffle.plan(labels, strata=np.tile([0, 1], 12), subjects=subjects)


# ----------------------------------------------------------------------------- (b) depth confounding
def _depth_confounded(cohort: Cohort, seed: int, ratio: float = 3.0) -> Cohort:
    """Random groups (no signal); cases resampled (multinomial) at 3x the controls' depth, around 500 reads."""
    gen = np.random.default_rng(seed)
    x = cohort.dense()
    n = x.shape[0]
    case = gen.permutation(np.arange(n) < n // 2)
    base = 500 * np.exp(gen.normal(0, 0.3, n))
    depth = np.round(np.where(case, ratio * base, base)).astype(np.int64)
    counts = gen.multinomial(depth, x / x.sum(axis=1, keepdims=True)).astype(float)
    meta = cohort.metadata.assign(dx=np.where(case, "case", "control"))
    return Cohort(counts, metadata=meta, taxonomy=cohort.taxonomy, units="counts")


@pytest.mark.realdata
@pytest.mark.parametrize("abundance_depth", [False, None])
def test_depth_confounded_groups_give_no_presence_discoveries(t1d, abundance_depth):
    fractions, presence, joint, features = [], 0, 0, 0
    for seed in range(4):
        res = differential.test(_depth_confounded(t1d, seed), "~ dx", reference={"dx": "control"},
                                abundance_depth=abundance_depth)
        fractions.append(_presence_fraction(res, "dx[T.case]"))
        tab, prev = res.table[res.table["term"] == "dx[T.case]"], res.prevalence[res.prevalence["term"] == "dx[T.case]"]
        presence += int((prev["q_value"] < 0.1).sum())
        joint += int((tab["q_joint"] < 0.1).sum())
        features += len(tab)
    if abundance_depth is None:  # log depth correlates with dx: it enters the formula, so both parts are adjusted
        assert res.transform["abundance_depth"]["added"] and "log_depth" in res.terms
        assert res.presence_model["added_columns"] == []
        assert res.presence_model["depth_covariate"] == "log library size already in the formula"
    else:
        assert res.presence_model["added_columns"] == ["log_depth"] and "log_depth" not in res.terms
    # without the depth term: mean fraction ~0.14 and 10 presence discoveries over these four data sets
    assert np.mean(fractions) <= 0.07, fractions
    assert presence <= 2 and joint <= 4 and joint / features < 0.02, (presence, joint)


@pytest.mark.realdata
def test_abundance_depth_term_removes_depth_driven_abundance_calls(t1d):
    """Cases at 3x the depth, no signal: the non-zero values of near-detection-limit taxa rise with shallowness.
    Over 20 data sets the abundance part without the depth term makes 7 false calls (q < 0.1), with it (auto) 1."""
    plain = auto = 0
    for seed in range(20):
        data = _depth_confounded(t1d, seed)
        for ad in (False, None):
            res = differential.test(data, "~ dx", reference={"dx": "control"}, abundance_depth=ad, prevalence=False)
            n = int((res.table.loc[res.table["term"] == "dx[T.case]", "q_value"] < 0.1).sum())
            plain, auto = (plain + n, auto) if ad is False else (plain, auto + n)
    assert auto <= 2 and plain >= auto + 4, (plain, auto)


def test_abundance_depth_is_not_added_to_fractions_or_when_switched_off(t1d):
    rel = Cohort(t1d.dense() / t1d.dense().sum(axis=1, keepdims=True), metadata=t1d.metadata,
                 taxonomy=t1d.taxonomy, units="fraction")
    res = differential.test(rel, "~ `Study.Group`", prevalence=False, abundance_depth=True)
    assert res.transform["abundance_depth"] == {"added": False, "reason": "not count data"}
    res = differential.test(t1d, "~ `Study.Group`", prevalence=False, abundance_depth=False)
    assert not res.transform["abundance_depth"]["added"] and "log_depth" not in res.terms


@pytest.mark.realdata
def test_depth_term_can_be_switched_off_and_is_skipped_without_counts(t1d):
    res = differential.test(_depth_confounded(t1d, 0), "~ dx", reference={"dx": "control"}, presence_depth=False)
    assert res.presence_model["depth_covariate"] is None and res.presence_model["added_columns"] == []
    rel = t1d.with_metadata(t1d.metadata.assign(dx=t1d.metadata["Study.Group"]))
    rel = Cohort(rel.dense() / rel.dense().sum(axis=1, keepdims=True), metadata=rel.metadata,
                 taxonomy=rel.taxonomy, units="fraction")
    res = differential.test(rel, "~ dx", reference={"dx": "control"})
    assert res.presence_model["depth_covariate"] is None  # no library size in relative abundances


# ----------------------------------------------------------------------------- (c) household blocks
def _households(cohort: Cohort, seed: int, n_planted: int = 10, fold: float = 2.0) -> tuple[Cohort, set[str]]:
    """Each real sample becomes a household: a control and a case drawn (multinomial, same depth) from its
    composition, the case with *n_planted* common taxa raised *fold*-fold (before closure)."""
    gen = np.random.default_rng(seed)
    x = cohort.dense()
    depth = x.sum(axis=1).astype(np.int64)
    p = x / depth[:, None]
    planted = gen.choice(np.flatnonzero((x > 0).mean(axis=0) >= 0.5), n_planted, replace=False)
    case = p.copy()
    case[:, planted] *= fold
    case /= case.sum(axis=1, keepdims=True)
    counts = np.vstack([gen.multinomial(depth, p), gen.multinomial(depth, case)]).astype(float)
    ids = [f"h{i}" for i in range(len(depth))]
    meta = pd.DataFrame({"household": ids * 2, "dx": ["control"] * len(ids) + ["case"] * len(ids)},
                        index=[f"{h}_{r}" for r in ("a", "b") for h in ids])
    return Cohort(counts, metadata=meta, taxonomy=cohort.taxonomy, units="counts"), set(cohort.feature_ids[planted])


@pytest.mark.realdata
def test_household_block_gives_more_power(t1d):
    found = {None: 0, "household": 0}
    false = {None: 0, "household": 0}
    for seed in range(3):
        cohort, truth = _households(t1d, seed)
        for block in found:
            res = differential.test(cohort, "~ dx", reference={"dx": "control"}, block=block)
            hits = set(res.table.loc[res.table["q_joint"] < 0.1, "feature_id"])
            found[block] += len(hits & truth)
            false[block] += len(hits - truth)
    assert res.model == "linda-lmm" and res.random_effect["grouping"] == "household"
    assert res.presence_model["within_block"] == "household"
    assert found["household"] >= found[None] + 5, found  # 30/30 planted vs ~20/30 unpaired
    assert found["household"] >= 27
    assert false["household"] / max(found["household"] + false["household"], 1) <= 0.2, false


def test_block_conditions_the_presence_model_on_within_block_differences():
    """Households differ in prevalence and in their share of cases: a within-block model sees no effect."""
    gen = np.random.default_rng(5)
    n_house, size, m = 60, 4, 40
    house = np.repeat(np.arange(n_house), size)
    share = np.repeat(gen.integers(1, size, n_house), size)  # 1-3 cases per household of four
    case = (np.tile(np.arange(size), n_house) < share).astype(float)
    logit = np.repeat(gen.normal(0, 1.5, (n_house, 1)) + 0.8 * (share[::size, None] - 2), size, axis=0)
    present = gen.random((n_house * size, m)) < 1 / (1 + np.exp(-logit))  # prevalence follows the case share
    counts = present * gen.integers(5, 50, present.shape) + (np.arange(m) == 0) * 1000
    meta = pd.DataFrame({"dx": np.where(case == 1, "case", "control"), "house": house.astype(str)},
                        index=[f"s{i}" for i in range(n_house * size)])
    cohort = Cohort(counts.astype(float), metadata=meta, units="counts")
    no_depth = {"presence_depth": False, "abundance_depth": False, "min_prevalence": 0.05}
    marginal = differential.test(cohort, "~ dx", reference={"dx": "control"}, **no_depth)
    within = differential.test(cohort, "~ dx", reference={"dx": "control"}, block="house", **no_depth)
    assert within.presence_model["added_columns"] == ["block_mean[1]"]
    assert _presence_fraction(marginal, "dx[T.case]") > 0.3  # confounded by the household
    assert _presence_fraction(within, "dx[T.case]") <= 0.15


def test_subject_must_nest_in_block():
    meta = pd.DataFrame({"dx": list("ab") * 6, "subject": np.repeat(list("pqrstu"), 2),
                         "house": list("xy") * 6}, index=[f"s{i}" for i in range(12)])
    cohort = Cohort(np.random.default_rng(0).integers(1, 50, (12, 5)).astype(float), metadata=meta,
                    units="counts")
    with pytest.raises(DesignError, match="appear in several blocks"):
        differential.test(cohort, "~ dx", subject="subject", block="house")
    with pytest.raises(DesignError, match="no block column 'home'"):
        differential.test(cohort, "~ dx", block="home")


# ----------------------------------------------------------------------------- (d) row order
@pytest.mark.realdata
def test_row_order_gives_identical_tables_and_control(t1d):
    meta = t1d.metadata.assign(dx=t1d.metadata["Study.Group"])
    cohort = t1d.with_metadata(meta)
    order = np.random.default_rng(9).permutation(cohort.n_samples)
    kwargs = {"subject": "Subject", "reference": {"dx": "control"}, "n_shuffles": 2, "rng": 3}
    a = differential.test(cohort, "~ dx + Age", **kwargs)
    b = differential.test(cohort.subset(samples=order), "~ dx + Age", **kwargs)
    for name in ("table", "prevalence"):
        ta = getattr(a, name).set_index(["feature_id", "term"])
        tb = getattr(b, name).set_index(["feature_id", "term"]).loc[ta.index]
        # equal to rounding: the REML search for the variance ratio amplifies summation order to ~1e-7
        pd.testing.assert_frame_equal(ta, tb, check_exact=False, rtol=1e-5, atol=1e-6)
    assert a.negative_control == b.negative_control


# ----------------------------------------------------------------------------- (e) subjects within blocks
def _nested_null(seed: int, houses: int = 20, samples: int = 4, m: int = 80, sd_subject: float = 1.0) -> Cohort:
    """Households of one case and one control subject, *samples* samples each; a household and a subject effect
    on every taxon, no case effect (log-normal Poisson counts)."""
    gen = np.random.default_rng(seed)
    house = np.repeat(np.arange(houses), 2 * samples)
    subject = np.repeat(np.arange(2 * houses), samples)
    logp = (gen.normal(3, 1, m) + gen.normal(0, 1, (houses, m))[house] + gen.normal(0, sd_subject, (2 * houses, m))
            [subject] + gen.normal(0, 0.5, (len(house), m)))
    meta = pd.DataFrame({"dx": np.tile(np.repeat(["control", "case"], samples), houses),
                         "house": [f"h{h}" for h in house], "person": [f"p{s}" for s in subject]},
                        index=[f"x{i}" for i in range(len(house))])
    return Cohort(gen.poisson(20 * np.exp(logp)).astype(float) + 1, metadata=meta, units="counts")


def test_subjects_within_blocks_keep_the_null_calibrated():
    """Repeated samples of one subject are not independent inside a household. The block intercept alone (the
    model before nested intercepts, still used with block= only) puts ~20 % of p-values below 0.05 here; the
    nested model (subject within block) tests on subjects: the household pairs' B - 1 df."""
    shares = {"block": [], "nested": []}
    for seed in range(3):
        cohort = _nested_null(seed)
        for name, words in (("block", {"block": "house"}), ("nested", {"block": "house", "subject": "person"})):
            res = differential.test(cohort, "~ dx", reference={"dx": "control"}, prevalence=False,
                                    abundance_depth=False, **words)
            tab = res.table[res.table["term"] == "dx[T.case]"]
            shares[name].append(float((tab["p_value"] < 0.05).mean()))
    assert set(tab["df"]) == {19.0}  # 40 subjects - 20 households - 1
    assert res.random_effect["structure"] == "subjects of 'person' within blocks of 'house'"
    assert res.random_effect["median_icc_subject"] > 0.3 and res.random_effect["n_subjects"] == 40
    assert np.mean(shares["block"]) > 0.12, shares  # can fail: pseudo-replication is visible
    assert np.mean(shares["nested"]) <= 0.07, shares


def test_nested_fit_equals_dense_gls():
    """Coefficients, covariance and per-sample influence equal the dense GLS with H = I + d_s Z_s Z_s' +
    d_b Z_b Z_b' at the fitted ratios, with a presence mask, on an unbalanced design."""
    from gutlink.differential._nested import _codes, _influence, nested_lmm

    gen = np.random.default_rng(3)
    subj, house = [], []
    for h in range(12):
        for k in range(2 + h % 2):
            size = 2 + int(gen.integers(0, 3))
            subj += [f"{h}_{k}"] * size
            house += [h] * size
    subj_a, house_a = np.array(subj), np.array(house)
    n, m = len(subj), 4
    s, b, _ = _codes(subj_a, house_a)
    x = np.column_stack([np.ones(n), (pd.Series(subj).str.endswith("_0")).to_numpy(float), gen.normal(size=n)])
    y = gen.normal(0, 1, (12, m))[b] + gen.normal(0, 0.8, (s.max() + 1, m))[s] + 0.5 * gen.normal(size=(n, m))
    w = gen.random((n, m)) > 0.2
    fit = nested_lmm(x, y, subj_a, house_a, w)
    vec = np.array([0.0, 1.0, 0.0])
    infl = _influence(fit, x, y, s, b, w, vec)
    for j in range(m):
        k = w[:, j]
        zs, zb = (s[k][:, None] == np.arange(s.max() + 1)), (b[k][:, None] == np.arange(b.max() + 1))
        h_inv = np.linalg.inv(np.eye(k.sum()) + fit.delta_subject[j] * zs @ zs.T + fit.delta_block[j] * zb @ zb.T)
        cov = np.linalg.inv(x[k].T @ h_inv @ x[k])
        beta = cov @ x[k].T @ h_inv @ y[k, j]
        e = y[k, j] - x[k] @ beta
        np.testing.assert_allclose(fit.coef[:, j], beta, rtol=1e-8)
        np.testing.assert_allclose(fit.cov[j], cov * (e @ h_inv @ e) / (k.sum() - 3), rtol=1e-8)
        np.testing.assert_allclose(infl[k, j], (h_inv @ x[k] @ cov @ vec) * e, rtol=1e-7, atol=1e-12)
        assert (infl[~k, j] == 0).all()
    assert (fit.delta_subject > 0).all() and (fit.delta_block > 0).all()


def test_nested_negative_control_moves_whole_subjects_within_blocks():
    cohort = _nested_null(7, houses=10, samples=3, m=30)
    res = differential.test(cohort, "~ dx", reference={"dx": "control"}, subject="person", block="house",
                            n_shuffles=3, rng=1)
    nc = res.negative_control
    assert nc["permuted_by"] == "subject" and nc["permuted_within"] == "blocks"
    labels = cohort.metadata["dx"]
    gen = np.random.default_rng(0)
    person, house = cohort.metadata["person"].to_numpy(), cohort.metadata["house"].to_numpy()
    for _ in range(4):
        out = _shuffle.shuffle(labels, subjects=person, blocks=house, gen=gen)
        assert (out.groupby(person).nunique() == 1).all()
        assert (out.groupby(house).apply(sorted) == labels.groupby(house).apply(sorted)).all()
    crossed = np.where(np.arange(len(person)) % 2 == 0, house, np.roll(house, 3))
    with pytest.raises(DesignError, match="spans several strata or blocks"):
        _shuffle.plan(labels, subjects=person, blocks=crossed)


def _household_pairs(seed: int, lfc: float, houses: int = 30, m: int = 60, planted: int = 8) -> tuple[Cohort, set]:
    """One case and one control per household; a shared household effect (sd 1) on every taxon's log abundance,
    a private one (sd 0.4); *planted* taxa shifted 2^±lfc in the cases."""
    gen = np.random.default_rng(seed)
    house = np.tile(np.arange(houses), 2)
    case = np.arange(2 * houses) < houses
    shift = np.zeros(m)
    shift[:planted] = np.log(2.0) * lfc * np.where(np.arange(planted) % 2 == 0, 1, -1)
    logp = (gen.normal(3, 1, m) + gen.normal(0, 1, (houses, m))[house] + gen.normal(0, 0.4, (2 * houses, m))
            + case[:, None] * shift)
    meta = pd.DataFrame({"dx": np.where(case, "case", "control"), "house": [f"h{h}" for h in house]},
                        index=[f"s{i}" for i in range(2 * houses)])
    counts = gen.poisson(30 * np.exp(logp)).astype(float) + 1
    return Cohort(counts, metadata=meta, units="counts"), {f"feature_{j}" for j in range(planted)}


def test_household_pairs_gain_power_and_keep_the_false_discoveries_down():
    """Shared households: the paired (block) analysis finds the planted taxa that the unpaired one misses, and
    makes no more false calls, with or without a planted change."""
    found, false = {None: 0, "house": 0}, {None: 0, "house": 0}
    for seed in range(2):
        for lfc in (0.0, 1.0):
            cohort, truth = _household_pairs(seed, lfc)
            names = dict(zip(cohort.feature_ids, [f"feature_{j}" for j in range(cohort.n_features)]))
            for block in found:
                res = differential.test(cohort, "~ dx", reference={"dx": "control"}, block=block,
                                        abundance_depth=False)
                tab = res.table[res.table["term"] == "dx[T.case]"]
                hits = {names[f] for f in tab.loc[tab["q_joint"] < 0.05, "feature_id"]}
                found[block] += len(hits & truth) if lfc else 0
                false[block] += len(hits - truth) if lfc else len(hits)
    assert found["house"] >= 14 and found["house"] >= found[None] + 6, found  # of 16 planted
    assert false["house"] <= 2, false
