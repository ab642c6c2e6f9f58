"""Known IBD biology across two real cohorts (MetAML MetaHIT, PRISM), pooled by random effects.

The same analysis, with a table of every number, is ``benchmarks/known_biology_ibd.py`` →
``benchmarks/results/known_biology_ibd.md``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutlink import Cohort, differential, meta
from gutlink.datasets import franzosa2019
from gutlink.io import read

TERM = "status[T.case]"
DOWN, UP = ["Faecalibacterium_prausnitzii", "Roseburia"], ["Escherichia_coli", "Ruminococcus_gnavus"]


def _metaml(shared_data) -> Cohort:
    raw = read(shared_data / "ibd" / "metaml" / "abundance.txt.bz2")
    m = raw.metadata
    keep = m["dataset_name"].isin(["metahit", "Neilsen_genome_assembly"]) & m["disease"].isin(
        ["n", "ibd_crohn_disease", "ibd_ulcerative_colitis"])
    c = raw.subset(samples=keep.to_numpy())
    c = c.subset(samples=np.argsort(c.sample_ids.to_numpy()))
    return c.subset(samples=~c.metadata["subjectID"].duplicated().to_numpy())  # Nielsen re-sequenced MetaHIT


def _status(c: Cohort, column: str, cases: list[str], control: str) -> Cohort:
    sub = c.subset(samples=c.metadata[column].astype(str).isin([*cases, control]).to_numpy())
    return sub.with_metadata(sub.metadata.assign(
        status=np.where(sub.metadata[column].astype(str).isin(cases), "case", "control")))


def _analyse(metaml: Cohort, prism: Cohort, metaml_cases: list[str], prism_cases: list[str]) -> dict:
    """Per-cohort tables and the pooled table of the status term, species and genus rows together."""
    out: dict = {"MetAML": [], "PRISM": [], "pooled": []}
    for rank in ("species", "genus"):
        a = differential.test(_status(metaml, "disease", metaml_cases, "n").aggregate(rank), "~ status + country",
                              reference={"status": "control"}, prevalence=False)
        b = differential.test(_status(prism, "Diagnosis", prism_cases, "Control").aggregate(rank), "~ status",
                              reference={"status": "control"}, prevalence=False)
        out["MetAML"].append(a.table[a.table["term"] == TERM])
        out["PRISM"].append(b.table[b.table["term"] == TERM])
        pooled = meta.combine({"MetAML": a, "PRISM": b}).table
        out["pooled"].append(pooled[pooled["term"] == TERM])
    return {k: pd.concat(v).set_index("feature_id") for k, v in out.items()}


@pytest.fixture(scope="module")
def cohorts(shared_data) -> tuple[Cohort, Cohort]:
    return _metaml(shared_data), franzosa2019()


@pytest.mark.realdata
def test_ibd_signs_replicate_and_pooled_increases(cohorts):
    metaml, prism = cohorts
    assert metaml.n_samples == 296 and metaml.metadata["subjectID"].is_unique
    res = _analyse(metaml, prism, ["ibd_crohn_disease", "ibd_ulcerative_colitis"], ["CD", "UC"])
    for taxon, sign in [*[(t, -1) for t in DOWN], *[(t, 1) for t in UP]]:
        assert np.sign(res["MetAML"].loc[taxon, "effect"]) == sign, taxon
        assert np.sign(res["PRISM"].loc[taxon, "effect"]) == sign, taxon
        assert res["pooled"].loc[taxon, "n_same_sign"] == 2
    for taxon in UP:
        assert res["pooled"].loc[taxon, "q_value"] < 0.1, taxon
    for taxon in DOWN:  # strongly lower in PRISM; MetaHIT (84 % UC) barely: heterogeneous, see the results file
        assert res["PRISM"].loc[taxon, "q_value"] < 0.01 and res["pooled"].loc[taxon, "i2"] > 0.5


@pytest.mark.realdata
def test_crohns_disease_signature_across_cohorts(cohorts):
    metaml, prism = cohorts
    res = _analyse(metaml, prism, ["ibd_crohn_disease"], ["CD"])
    for taxon in ["Roseburia", *UP]:
        row = res["pooled"].loc[taxon]
        assert row["q_value"] < 0.1 and row["n_same_sign"] == 2, taxon
    assert res["pooled"].loc["Roseburia", "effect"] < 0
    for cohort in ("MetAML", "PRISM"):
        row = res[cohort].loc["Faecalibacterium_prausnitzii"]
        assert row["effect"] < 0 and row["q_value"] < 0.1, cohort
