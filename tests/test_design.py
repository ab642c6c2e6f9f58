"""The design layer: one Design, one set of checks, on the shapes real cohorts have."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gutlink.cohort import Cohort
from gutlink.datasets import franzosa2019
from gutlink.design import Design, case_control, check, cramers_v, require_column
from gutlink.errors import DesignError
from gutlink.io import read, read_metadata
from gutlink.taxonomy import lineage_table

CD = Design(group="Diagnosis", case=("CD", "UC"), control=("Control",))


def _status(checks, name, column=None):
    t = checks.table[checks.table["check"] == name]
    if column is not None:
        t = t[t["column"] == column]
    return set(t["status"])


@pytest.fixture(scope="module")
def prism():
    return franzosa2019()


@pytest.fixture(scope="module")
def diabimmune(shared_data):
    folder = shared_data / "t1d" / "kostic2015_16s_metabolome"
    return read(folder / "genera.counts.tsv").align(read_metadata(folder / "metadata.tsv"))


def test_design_words_are_validated_once(prism):
    with pytest.raises(DesignError, match=r"no group column 'diagnosis'.*Did you mean 'Diagnosis'"):
        Design(group="diagnosis", case=("CD",), control=("Control",)).validate(prism)
    with pytest.raises(DesignError, match="cannot be both case and control"):
        Design(group="Diagnosis", case=("CD",), control=("CD",))
    with pytest.raises(DesignError, match="cannot be both the subject and the block"):
        Design(group="Diagnosis", case=("CD",), control=("Control",), subject="h", block="h")
    with pytest.raises(DesignError, match="does not occur"):
        case_control(prism, group="Diagnosis", case="cd", control="Control")
    with pytest.raises(DesignError, match="no covariate column 'bmi'"):
        require_column(prism.metadata, "bmi", "covariate")


def test_control_may_be_several_values(prism):
    c = case_control(prism, group="Diagnosis", case="CD", control=["Control", "UC"])
    assert c.metadata["group_label"].value_counts().to_dict() == {"control": 87, "case": 68}


def test_clean_design_is_green_and_power_is_reported(prism):
    checks = check(prism, CD)
    assert checks.status == "green", checks.table
    row = checks.table.set_index("check").loc["group sizes"]
    assert "121 case and 34 control" in row["message"] and "0.55" in row["message"]  # statsmodels TTestIndPower


def test_repeated_subjects_detected_and_named(diabimmune):
    d = Design(group="Study.Group", case=("case",), control=("control",))
    checks = check(diabimmune, d)
    red = checks.red.set_index("check")
    assert red.loc["repeated subjects", "column"] == "Subject" and "--subject Subject" in red.loc["repeated subjects",
                                                                                                   "fix"]
    given = check(diabimmune, Design(group="Study.Group", case=("case",), control=("control",), subject="Subject"))
    assert _status(given, "repeated subjects") == {"green"} and given.status != "red"


def test_subject_holding_both_classes_points_to_block(prism):
    meta = prism.metadata.assign(household=[f"h{i // 2}" for i in range(prism.n_samples)])
    c = prism.with_metadata(meta)
    checks = check(c, Design(group="Diagnosis", case=("CD", "UC"), control=("Control",), subject="household"))
    row = checks.red.set_index("check").loc["repeated subjects"]
    assert "--block household" in row["fix"]
    ok = check(c, Design(group="Diagnosis", case=("CD", "UC"), control=("Control",), block="household"))
    assert _status(ok, "matched blocks") <= {"green", "amber"}


def test_batch_lined_up_with_diagnosis_is_red(prism):
    labels = prism.metadata["Diagnosis"].isin(["CD", "UC"]).to_numpy()
    rng = np.random.default_rng(0)
    run = np.where(labels, np.where(rng.random(labels.size) < 0.9, "run1", "run0"), "run0")
    c = prism.with_metadata(prism.metadata.assign(seq_run=run))
    checks = check(c, CD)
    row = checks.red.set_index("column").loc["seq_run"]
    assert row["check"] == "confounding" and "--covariates seq_run" in row["fix"]
    v = float(row["message"].split("Cramér's V ")[1].split(";")[0])
    assert v == pytest.approx(cramers_v(run, labels), abs=0.005)
    # the same column with an unassuming name is a caution, not a verdict
    assert _status(check(c.with_metadata(c.metadata.rename(columns={"seq_run": "colour"})), CD),
                   "confounding", "colour") <= {"amber"}


def test_balanced_batch_is_not_flagged(prism):
    rng = np.random.default_rng(1)
    c = prism.with_metadata(prism.metadata.assign(seq_run=rng.choice(["a", "b"], prism.n_samples)))
    assert "seq_run" not in set(check(c, CD).table["column"])


def test_cramers_v_matches_hand_computation():
    rng = np.random.default_rng(2)
    x, y = rng.choice(list("abc"), 200), rng.choice(list("uv"), 200)
    table = pd.crosstab(x, y).to_numpy()
    chi2 = stats.chi2_contingency(table, correction=False)[0]
    n, r, k = 200, 3, 2
    phi2 = max(0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    expected = np.sqrt(phi2 / min(k - (k - 1) ** 2 / (n - 1) - 1, r - (r - 1) ** 2 / (n - 1) - 1))
    assert cramers_v(x, y) == pytest.approx(expected, rel=1e-12)
    assert cramers_v(x, x) == pytest.approx(1.0)


def test_study_confounded_cases_are_red(shared_data):
    raw = read(shared_data / "ibd" / "metaml" / "abundance.txt.bz2")
    m = raw.metadata
    keep = (m["dataset_name"].str.startswith("Loman") | (m["dataset_name"] == "hmpii")).to_numpy()
    c = raw.subset(samples=keep)
    checks = check(c, Design(group="disease", case=("stec2-positive",), control=("n",), study="dataset_name"))
    red = checks.red
    assert "dataset_name" in set(red.loc[red["check"] == "confounding", "column"])
    assert "100% of cases sit in levels without controls" in red.set_index("column").loc["dataset_name", "message"]


def test_clinical_indicator_read_as_taxon_separates_perfectly(prism):
    x = prism.to_frame()
    x["clin.IBD"] = prism.metadata["Diagnosis"].isin(["CD", "UC"]).astype(float).to_numpy()
    frac = x.div(x.sum(axis=1), axis=0)
    c = Cohort(frac.to_numpy(), metadata=prism.metadata, taxonomy=lineage_table(list(x.columns)), units="fraction")
    row = check(c, CD).red.set_index("check").loc["perfect separation"]
    assert "clin.IBD" in row["message"] and "--metadata-columns" in row["fix"]


def test_depth_imbalance_is_flagged(diabimmune):
    counts = diabimmune.dense()
    cases = (diabimmune.metadata["Study.Group"].astype(str) == "case").to_numpy()
    deep = counts.copy()
    deep[cases] *= 3  # cases sequenced three times deeper
    c = Cohort(deep, metadata=diabimmune.metadata, taxonomy=diabimmune.taxonomy, units="counts")
    d = Design(group="Study.Group", case=("case",), control=("control",), subject="Subject")
    deeper = check(c, d).table.set_index("check").loc["sequencing depth"]
    assert deeper["status"] == "amber" and "1.86-fold" in deeper["message"]
    # as published, the controls were sequenced ~1.6 times deeper than the cases: also worth saying
    assert "0.62-fold" in check(diabimmune, d).table.set_index("check").loc["sequencing depth", "message"]
    even = check(Cohort(counts, metadata=diabimmune.metadata.assign(**{"Study.Group": np.where(
        np.arange(len(cases)) % 2, "case", "control")}), taxonomy=diabimmune.taxonomy, units="counts"), d)
    assert _status(even, "sequencing depth") == {"green"}


@pytest.mark.parametrize("column, values, name", [
    ("allnan", lambda n: [np.nan] * n, "missing values"),
    ("const", lambda n: ["x"] * n, "constant covariate"),
    ("ids", lambda n: [f"s{i}" for i in range(n)], "covariate levels"),
])
def test_unfittable_covariates_are_fatal(prism, column, values, name):
    c = prism.with_metadata(prism.metadata.assign(**{column: values(prism.n_samples)}))
    checks = check(c, Design(group="Diagnosis", case=("CD",), control=("Control",), covariates=(column,)))
    assert name in set(checks.fatal["check"]) and column in set(checks.fatal["column"])


def test_strata_without_both_classes_is_fatal(prism):
    meta = prism.metadata.assign(site=prism.metadata["Diagnosis"].astype(str))
    checks = check(prism.with_metadata(meta), Design(group="Diagnosis", case=("CD",), control=("Control",),
                                                     strata="site"))
    assert "strata" in set(checks.fatal["check"])


def test_checks_do_not_depend_on_row_order(diabimmune):
    d = Design(group="Study.Group", case=("case",), control=("control",))
    rev = diabimmune.subset(samples=np.arange(diabimmune.n_samples)[::-1])
    pd.testing.assert_frame_equal(check(diabimmune, d).table, check(rev, d).table)


def test_subject_crossing_blocks_is_fatal_and_nesting_is_green(prism):
    n = prism.n_samples
    house = np.array([f"h{i // 4}" for i in range(n)])
    person = np.array([f"p{i // 2}" for i in range(n)])
    d = Design(group="Diagnosis", case=("CD", "UC"), control=("Control",), subject="person", block="house")
    # a person's label is the diagnosis of their first sample, so that every subject holds one class
    dx = prism.metadata["Diagnosis"].astype(str).to_numpy()
    meta = prism.metadata.assign(Diagnosis=dx[np.arange(n) // 2 * 2], person=person, house=house)
    nested = check(prism.with_metadata(meta), d)
    assert _status(nested, "subjects in blocks") == {"green"}
    crossed = check(prism.with_metadata(meta.assign(house=np.roll(house, 1))), d)
    assert "subjects in blocks" in set(crossed.fatal["check"])
    assert "person" in set(crossed.fatal["column"])
