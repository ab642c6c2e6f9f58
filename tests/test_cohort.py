"""Cohort: construction invariants, alignment, subset, aggregate, filter, transforms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from gutlink import Cohort, DesignError, InputFormatError, SampleMismatchError, lineage_table
from gutlink.datasets import franzosa2019, toy


def small(units: str = "counts", x=None) -> Cohort:
    x = np.array([[10, 0, 5, 5], [3, 3, 3, 1], [0, 8, 0, 2]], dtype=float) if x is None else x
    tax = lineage_table(["g__A|s__A_x", "g__A|s__A_y", "g__B|s__B_z", "p__P|g__"],
                        index=["ax", "ay", "bz", "unk"])
    meta = pd.DataFrame({"group": ["CD", "control", "CD"], "age": [30, 40, 50]}, index=["s1", "s2", "s3"])
    return Cohort(x, metadata=meta, taxonomy=tax, units=units)


def test_shape_and_ids():
    c = small()
    assert (c.n_samples, c.n_features) == (3, 4)
    assert list(c.sample_ids) == ["s1", "s2", "s3"]
    assert list(c.feature_ids) == ["ax", "ay", "bz", "unk"]


@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (-1.0, "negative"), (np.inf, "infinite")])
def test_bad_values_name_sample_and_feature(bad, what):
    x = np.ones((3, 4))
    x[1, 2] = bad
    with pytest.raises(InputFormatError) as err:
        small(x=x)
    assert "'s2'" in str(err.value) and "'bz'" in str(err.value)
    assert err.value.hint


def test_units_sum_checked():
    x = np.full((3, 4), 0.5)  # rows sum to 2: not fractions
    with pytest.raises(InputFormatError, match="sums to 2"):
        small("fraction", x)
    assert small("percent", x * 10).units == "percent"


def test_duplicate_ids_rejected():
    meta = pd.DataFrame(index=["a", "a"])
    with pytest.raises(InputFormatError, match="duplicate sample"):
        Cohort(np.ones((2, 2)), metadata=meta)


def test_align_reports_unmatched_and_keeps_order():
    c = small()
    meta = pd.DataFrame({"bmi": [20.0, 25.0, 30.0]}, index=["s3", "s1", "zz"])
    al = c.alignment(meta)
    assert al.abundance_only == ("s2",) and al.metadata_only == ("zz",)
    aligned = c.align(meta)
    assert list(aligned.sample_ids) == ["s1", "s3"]
    assert aligned.metadata.loc["s3", "bmi"] == 20.0
    assert aligned.dense()[1].tolist() == [0, 8, 0, 2]
    assert aligned.history[-1]["n_metadata_only"] == 1
    with pytest.raises(SampleMismatchError, match="none of its 1 sample IDs"):
        c.align(pd.DataFrame(index=["nope"]))


def test_subset_and_immutability():
    c = small()
    s = c.subset(samples=["s3", "s1"], features=np.array([True, False, True, False]))
    assert s.dense().tolist() == [[0, 0], [10, 5]]
    assert c.n_samples == 3  # original untouched
    with pytest.raises(SampleMismatchError):
        c.subset(samples=["nope"])


def test_aggregate_sums_and_labels_unclassified():
    g = small().aggregate("genus")
    assert list(g.feature_ids) == ["A", "B", "P_unclassified"]
    assert g.dense().tolist() == [[10, 5, 5], [6, 3, 1], [8, 0, 2]]
    assert g.history[-1] == {"op": "aggregate", "rank": "genus", "n_features": 3}


def test_aggregate_sparse_equals_dense():
    c = small()
    cs = Cohort(sparse.csr_array(c.dense()), metadata=c.metadata, taxonomy=c.taxonomy)
    assert np.allclose(cs.aggregate("genus").dense(), c.aggregate("genus").dense())


def test_filter_by_prevalence():
    f = small().filter(min_prevalence=0.7)
    kept = set(f.feature_ids)
    assert kept == {"unk"}  # the only feature present in all three samples; ≥ 0.7 needs 3 of 3
    with pytest.raises(DesignError):
        small().filter(min_prevalence=1.1)


def test_closure_and_clr():
    c = small()
    cl = c.closure()
    assert np.allclose(cl.dense().sum(axis=1), 1) and cl.units == "fraction"
    z = c.clr(pseudocount=1.0)
    assert np.allclose(z.sum(axis=1), 0)
    expected = np.log(c.dense()[0] + 1) - np.log(c.dense()[0] + 1).mean()
    assert np.allclose(z.iloc[0], expected)
    zm = c.clr(method="multiplicative")
    assert np.isfinite(zm.to_numpy()).all() and np.allclose(zm.sum(axis=1), 0)


def test_rarefy_depth_and_reproducible():
    c = toy()
    r1 = c.rarefy(1000, rng=3)
    r2 = c.rarefy(1000, rng=3)
    assert np.array_equal(r1.dense(), r2.dense())
    assert (r1.dense().sum(axis=1) == 1000).all()
    assert (r1.dense() <= c.dense()).all()
    with pytest.raises(DesignError, match="needs counts"):
        franzosa2019().rarefy(10)


def test_franzosa_bundled_matches_source(shared_data):
    c = franzosa2019()
    raw = pd.read_csv(shared_data / "ibd" / "franzosa2019_prism" / "ibd_taxa.csv", index_col=0)
    assert c.to_frame().loc["PRISM.7122", "Methanobrevibacter_smithii"] == raw.loc["Methanobrevibacter_smithii", "PRISM.7122"]
    assert c.taxonomy.loc["Methanobrevibacter_smithii", "kingdom"] == "Archaea"
