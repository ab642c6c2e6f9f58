"""Prediction on matched and confounded designs: blocks (households) kept in one fold with within-pair
discrimination, and design checks (study-confounded cases, perfectly separating features) on the result.

Household pairs are simulated from real healthy stool profiles (MetAML MetaPhlAn2 species, stool subset):
each household has a real "home" profile that both members share (70 %), mixed with each member's own real
profile (30 %); the case member carries a planted 2.7-fold shift of ten prevalent species.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutlink import Cohort
from gutlink.datasets import franzosa2019
from gutlink.errors import DesignError
from gutlink.io import read
from gutlink.predict import cross_validate, fit_model, loso
from gutlink.predict.checks import design_checks
from gutlink.predict.cv import permuted_labels
from gutlink.predict.design import prepare
from gutlink.predict.metrics import within_block_discrimination

pytestmark = pytest.mark.realdata

CV = dict(group="group", case="case", control="control", n_repeats=2, n_folds=5)


@pytest.fixture(scope="module")
def stool(shared_data) -> Cohort:
    return read(shared_data / "ibd" / "metaml" / "abundance_stoolsubset.txt.bz2")


@pytest.fixture(scope="module")
def healthy(stool) -> np.ndarray:
    sub = stool.subset(samples=(stool.metadata["disease"].astype(str) == "n").to_numpy())
    return sub.dense() / 100.0


def households(x: np.ndarray, *, n: int = 60, share: float = 0.7, effect: float = 1.0, seed: int = 0) -> Cohort:
    """*n* case–control households from real profiles *x* (rows sum to 1), rows in random order."""
    g = np.random.default_rng(seed)
    idx = g.choice(x.shape[0], size=(n, 3), replace=False)
    home = share * x[idx[:, 0]]
    case, control = home + (1 - share) * x[idx[:, 1]], home + (1 - share) * x[idx[:, 2]]
    case[:, np.argsort(-(x > 0).mean(axis=0), kind="stable")[10:20]] *= np.exp(effect)
    both = np.vstack([case, control])
    both /= both.sum(axis=1, keepdims=True)
    meta = pd.DataFrame({"group": ["case"] * n + ["control"] * n, "household": np.tile([f"hh{i}" for i in range(n)], 2),
                         "person": [f"p{i}" for i in range(2 * n)]}, index=[f"s{i}" for i in range(2 * n)])
    order = g.permutation(2 * n)
    keep = both.sum(axis=0) > 0
    return Cohort(both[order][:, keep], metadata=meta.iloc[order], units="fraction")


@pytest.fixture(scope="module")
def paired(healthy) -> Cohort:
    return households(healthy)


@pytest.fixture(scope="module")
def paired_result(paired):
    return cross_validate(paired, block="household", rng=0, **CV)


# ----------------------------------------------------------------------------- blocks
def _blocks_split(fold_ids: np.ndarray, blocks: np.ndarray) -> int:
    """How many (repeat, block) combinations put a block's samples in more than one fold."""
    return int((pd.DataFrame(fold_ids.T).groupby(blocks).nunique() > 1).to_numpy().sum())


def test_folds_never_split_a_block(paired, paired_result):
    blocks = paired_result.predictions["block"].to_numpy()
    assert paired_result.fold_ids.shape == (2, 120) and (paired_result.fold_ids >= 0).all()
    assert _blocks_split(paired_result.fold_ids, blocks) == 0
    # the same check on ungrouped CV finds split households: it can fail
    plain = cross_validate(paired, rng=0, **CV)
    assert _blocks_split(plain.fold_ids, paired.metadata.loc[plain.predictions.index, "household"].to_numpy()) > 10


def test_within_pair_discrimination_equals_a_hand_count(paired_result):
    pred = paired_result.predictions
    wins = []
    for _, hh in pred.groupby("block"):
        p_case = hh.loc[hh["y"] == 1, "probability"].iloc[0]
        p_control = hh.loc[hh["y"] == 0, "probability"].iloc[0]
        wins.append(1.0 if p_case > p_control else 0.5 if p_case == p_control else 0.0)
    w = paired_result.within_block
    assert w["block_column"] == "household" and w["n_pairs"] == 60 and w["n_blocks"] == 60
    assert w["fraction_case_higher"] == pytest.approx(np.mean(wins), abs=1e-12)
    assert w["ci_low"] <= w["fraction_case_higher"] <= w["ci_high"]
    table = paired_result.table.set_index("metric")
    assert table.loc["within_block_discrimination", "value"] == w["fraction_case_higher"]
    assert paired_result.summary()["within_block"]["n_pairs"] == 60


def test_shared_household_makes_the_within_pair_contrast_stronger(paired_result):
    w = paired_result.within_block
    assert w["ci_low"] > 0.75  # the planted shift is seen inside households
    assert w["fraction_case_higher"] > paired_result.auroc + 0.05  # the home profile is noise between households


def test_no_signal_gives_chance_within_pairs(healthy):
    res = cross_validate(households(healthy, effect=0.0, seed=3), block="household", rng=1, **CV)
    w = res.within_block
    # a lasso that selects nothing scores every sample alike: all pairs tie, fraction and CI are exactly 0.5
    assert w["ci_low"] <= 0.5 <= w["ci_high"] and abs(w["fraction_case_higher"] - 0.5) < 0.15


def test_within_block_counts_every_case_control_pair_with_ties():
    y = np.array([1, 1, 0, 1, 0, 0, 1, 1])
    s = np.array([0.9, 0.2, 0.5, 0.4, 0.4, 0.1, 0.7, 0.8])
    b = np.array(["a", "a", "a", "b", "b", "b", "c", "c"])  # a: 2×1 pairs; b: 1×2 (one tie); c: no control
    r = within_block_discrimination(y, s, b, rng=0)
    assert r["n_pairs"] == 4 and r["n_blocks"] == 2 and r["n_blocks_without_contrast"] == 1
    assert r["fraction_case_higher"] == pytest.approx((1 + 0 + 0.5 + 1) / 4)


def test_label_permutation_stays_within_households(paired):
    design = prepare(paired, group="group", case="case", control="control", block="household")
    shuffled = permuted_labels(design, np.random.default_rng(0))
    per_block = pd.Series(shuffled).groupby(design.blocks).sum()
    assert (per_block == 1).all() and not np.array_equal(shuffled, design.y)


def test_household_as_subject_is_refused_with_the_block_hint(paired):
    with pytest.raises(DesignError, match=r"60 subject\(s\) of column 'household'.*block='household'.*--block"):
        cross_validate(paired, subject="household", rng=0, **CV)


def test_subjects_must_nest_in_blocks(paired):
    meta = paired.metadata.copy()
    first = meta.index[meta["household"] == "hh0"][0]
    other = meta.index[meta["household"] == "hh1"][0]
    meta.loc[other, "person"] = meta.loc[first, "person"]
    meta.loc[other, "group"] = meta.loc[first, "group"]
    with pytest.raises(DesignError, match="appear in more than one block of 'household'"):
        prepare(paired.with_metadata(meta), group="group", case="case", control="control", subject="person",
                block="household")


def test_loso_and_fit_model_take_a_block(paired):
    meta = paired.metadata.assign(site=lambda m: np.where(m["household"].str[2:].astype(int) % 2, "A", "B"))
    c = paired.with_metadata(meta)
    res = loso(c, group="group", case="case", control="control", study="site", block="household", matrix=False,
               rng=0)
    assert res.within_block is not None and res.within_block["n_pairs"] == 60
    assert res.protocol["block"] == "household"
    model = fit_model(c, group="group", case="case", control="control", block="household", grid={}, rng=0)
    assert model.info["block"] == "household"
    mixed = c.with_metadata(meta.assign(site=np.where(np.arange(120) % 2, "A", "B")))
    with pytest.raises(DesignError, match="span several studies"):
        loso(mixed, group="group", case="case", control="control", study="site", block="household", matrix=False)


# ----------------------------------------------------------------------------- design checks
def _one_study_cases(stool: Cohort, control_studies: list[str]) -> Cohort:
    m = stool.metadata
    ds, dis = m["dataset_name"].astype(str), m["disease"].astype(str)
    keep = ((ds == "Quin_gut_liver_cirrhosis") & (dis == "cirrhosis")) | (ds.isin(control_studies) & (dis == "n"))
    return stool.subset(samples=keep.to_numpy())


def _red(checks, column):
    return [c for c in checks if c["status"] == "red" and c["column"] == column]


def test_cases_from_one_study_only_flag_red(stool):
    c = _one_study_cases(stool, ["metahit", "Zeller_fecal_colorectal_cancer"])
    res = cross_validate(c, group="disease", case="cirrhosis", control="n", study="dataset_name", n_repeats=1,
                         n_folds=3, rng=0)
    (row,) = _red(res.design_checks, "dataset_name")
    assert row["check"] == "confounding" and "Cramér's V 1.00" in row["message"]
    assert "leave-one-study-out" in row["fix"] and "Within-dataset_name controls" in row["fix"]
    assert not res.trusted and res.summary()["design_status"] == "red"
    with pytest.raises(DesignError, match="design check.*red.*dataset_name"):
        cross_validate(c, group="disease", case="cirrhosis", control="n", study="dataset_name", n_repeats=1,
                       n_folds=3, strict=True, rng=0)


def test_in_study_controls_clear_the_study_check(stool):
    c = _one_study_cases(stool, ["metahit", "Quin_gut_liver_cirrhosis"])  # Quin's own controls included
    checks = design_checks(c, group="disease", case="cirrhosis", control="n", study="dataset_name")
    assert not _red(checks, "dataset_name")
    assert any(r["column"] == "dataset_name" and r["status"] == "amber" for r in checks)


def _plant_separator(cohort: Cohort, feature_index: int) -> Cohort:
    """A real taxon made present in every case and absent from every control (renormalised)."""
    x = cohort.dense().astype(float)
    case = cohort.metadata["Diagnosis"].isin(["CD", "UC"]).to_numpy()
    j = feature_index
    x[~case, j] = 0.0
    x[case, j] = np.maximum(x[case, j], 1e-4)
    x /= x.sum(axis=1, keepdims=True)
    return Cohort(x, metadata=cohort.metadata, taxonomy=cohort.taxonomy, units="fraction")


def test_a_perfectly_separating_feature_flags_red():
    c = franzosa2019()
    kw = dict(group="Diagnosis", case=["CD", "UC"], control="Control", n_repeats=1, n_folds=3, rng=0)
    clean = cross_validate(c, **kw)
    assert not [r for r in clean.design_checks if r["check"] == "perfect separation" and r["status"] == "red"]
    feature = str(c.feature_ids[7])
    planted = cross_validate(_plant_separator(c, 7), **kw)
    (row,) = [r for r in planted.design_checks if r["check"] == "perfect separation"]
    assert row["status"] == "red" and feature in row["column"] and feature in row["message"]
    assert planted.auroc > 0.95 and not planted.trusted and clean.trusted
