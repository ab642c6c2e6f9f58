"""gutlink.literature: the bundled BugSigDB copy, the condition vocabulary, taxon mapping and the concordance test.

Real-data criteria (issue 15): PRISM CD (Franzosa 2019, bundled) and MetAML MetaHIT IBD (MetaHIT + Nielsen, one
sample per subject, adjusted for country) are concordant with BugSigDB's Crohn's / IBD signatures (enrichment
q < 0.05 and direction agreement above the random-signature null); label-shuffled copies are not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutlink import differential
from gutlink.datasets import franzosa2019
from gutlink.errors import DesignError, GutlinkError, UnknownConditionError
from gutlink.literature import (
    ConcordanceResult,
    concordance,
    condition_labels,
    genus_names,
    map_features,
    orient,
    provenance,
    resolve,
    signatures,
)
from gutlink.literature.signatures import incidence

CASES = dict(group="Diagnosis", case=["CD"], control="Control", n_shuffles=0)


@pytest.fixture(scope="module")
def prism():
    return franzosa2019().aggregate("genus")


@pytest.fixture(scope="module")
def prism_da(prism):
    return differential.test(prism, "~ Diagnosis", **CASES)


@pytest.fixture(scope="module")
def metaml(shared_data):
    """MetAML MetaHIT IBD at genus rank: metahit + Nielsen stool samples, one per subject (as known_biology_ibd)."""
    from gutlink.io import read

    raw = read(shared_data / "ibd" / "metaml" / "abundance_stoolsubset.txt.bz2")
    m = raw.metadata
    keep = m["dataset_name"].isin(["metahit", "Neilsen_genome_assembly"]) & m["disease"].isin(
        ["n", "ibd_crohn_disease", "ibd_ulcerative_colitis"])
    c = raw.subset(samples=keep.to_numpy())
    c = c.subset(samples=np.argsort(c.sample_ids.to_numpy()))
    c = c.subset(samples=~c.metadata["subjectID"].duplicated().to_numpy())
    status = np.where(c.metadata["disease"].astype(str).str.startswith("ibd"), "IBD", "control")
    return c.with_metadata(c.metadata.assign(status=status)).aggregate("genus")


def _metaml_da(c):
    return differential.test(c, "~ status + country", group="status", case=["IBD"], control="control",
                             n_shuffles=0)


# ----------------------------------------------------------------------------- bundled data
def test_bundled_copy_matches_the_export():
    s = signatures()
    assert len(s) == 6321 and s["study"].nunique() == 1310
    assert s["direction"].value_counts().to_dict() == {"UP": 3350, "DOWN": 2957, "NA": 14}
    assert (genus_names() != "").sum() == 1466 and len(genus_names()) == 1469
    p = provenance()
    assert p["export"] == "2025-08-05" and "CC BY 4.0" in p["licence"] and "Geistlinger" in p["citation"]
    m, cols = incidence()
    assert m.shape == (6321, 1469) and int(m.sum()) == int(s["n_taxa"].sum())
    # the README's spot check: Faecalibacterium in 9 Crohn's DOWN signatures, in no Crohn's UP one
    crohn = s[s["condition"] == "Crohn's-disease"]
    has = crohn["taxids"].str.split(";").apply(lambda t: "216851" in t)
    assert int((has & (crohn["direction"] == "DOWN")).sum()) == 9 and not (has & (crohn["direction"] == "UP")).any()


# ----------------------------------------------------------------------------- vocabulary
@pytest.mark.parametrize("name, label", [
    ("RA", "Rheumatoid-arthritis"), ("rheumatoid arthritis", "Rheumatoid-arthritis"), ("CD", "Crohn's-disease"),
    ("Crohn disease", "Crohn's-disease"), ("MS", "Multiple-sclerosis"), ("T1D", "Type-I-diabetes-mellitus"),
    ("UC", "Ulcerative-colitis"), ("IBD", "Inflammatory-bowel-disease"), ("AS", "Ankylosing-spondylitis"),
    ("SLE", "Systemic-lupus-erythematosus"), ("celiac", "Celiac-disease"), ("Type-II-diabetes-mellitus",
                                                                            "Type-II-diabetes-mellitus")])
def test_condition_vocabulary(name, label):
    cond = resolve(name)
    assert label in cond.labels and set(cond.labels) <= set(condition_labels())


def test_unknown_condition_names_the_nearest():
    with pytest.raises(UnknownConditionError) as err:
        resolve("rheumatoid artritis x")
    assert isinstance(err.value, GutlinkError) and isinstance(err.value, ValueError)
    assert "rheumatoid arthritis" in err.value.suggestions and "Nearest names" in str(err.value)


def test_contrast_orientation():
    terms = ("rheumatoid", "ra", "arthritis")
    assert orient("Rheumatoid-Arthritis", "Non-Rheumatoid-Arthritis", terms) == "case_control"
    assert orient("healthy-controls", "RA-patients", terms) == "control_case"
    assert orient("NORA---[New-Onset-Rheumatoid-Arthritis]-Patient", "Healthy-controls", terms) == "case_control"
    assert orient("Current-Smokers", "Never-Smokers", terms) == "other"
    assert orient("Prednisolone", "No-prednisolone", terms) == "other"
    assert orient("rheumatoid-arthritis", "Osteoarthritis", terms) == "other"


# ----------------------------------------------------------------------------- mapping
def test_mapping_across_vocabularies():
    feats = ["ncbi_216851", "k__Bacteria|p__Firmicutes|g__Roseburia", "D_0__Bacteria;D_5__Blautia",
             "k__Bacteria; p__Firmicutes; g__Ruminococcus_B", "[Ruminococcus] gnavus", "Bacteroides_fragilis",
             "f__Lachnospiraceae", "Lachnospiraceae_unclassified"]
    m = map_features(feats)
    names = genus_names()
    got = [names.get(t, "") if t >= 0 else "" for t in m["taxid"]]
    assert got == ["Faecalibacterium", "Roseburia", "Blautia", "Ruminococcus", "Ruminococcus", "Bacteroides", "", ""]
    assert m["how"].tolist()[:4] == ["taxid", "exact", "exact", "gtdb"]
    assert m["how"].tolist()[-2:] == ["above_genus", "missing"]
    # MetaPhlAn 3/4 clade taxid paths, given separately: a genus path maps by taxid; a species taxid is not a
    # BugSigDB genus, so the feature falls back on its genus name
    assert map_features(["g__x"], taxids=["2|1239|186801|186802|216572|216851"])["how"].tolist() == ["taxid"]
    sp = map_features(["k__Bacteria|g__Faecalibacterium|s__Faecalibacterium_prausnitzii"],
                      taxids=["2|1239|186801|186802|216572|216851|853"])
    assert sp["taxid"].tolist() == [216851] and sp["how"].tolist() == ["exact"]


# ----------------------------------------------------------------------------- concordance on real data
def test_prism_cd_is_concordant(prism_da):
    res = concordance(prism_da, condition="CD", rng=0)
    assert isinstance(res, ConcordanceResult) and res.verdict == "concordant"
    t = res.tests.set_index("test")
    assert t.loc["enrichment", "q_value"] < 0.05
    assert t.loc["direction_agreement", "statistic"] > t.loc["direction_agreement", "null_mean"]
    assert t.loc["direction_agreement", "p_value"] < 0.05
    assert res.coverage["fraction_features_matched"] > 0.8 and res.coverage["n_features_without_taxid"] > 0
    taxa = res.taxa.set_index("genus")
    assert taxa.loc["Faecalibacterium", "consensus"] == "down" and taxa.loc["Faecalibacterium", "agrees"]
    assert not res.contradictions().shape[0]
    d = res.to_dict()
    assert d["verdict"] == "concordant" and d["source"]["licence"].startswith("CC BY 4.0")


@pytest.mark.realdata
def test_metaml_ibd_is_concordant(metaml):
    res = concordance(_metaml_da(metaml), condition="IBD", rng=0)
    t = res.tests.set_index("test")
    assert res.verdict == "concordant" and t.loc["enrichment", "q_value"] < 0.05
    assert t.loc["direction_agreement", "statistic"] > t.loc["direction_agreement", "null_mean"]


@pytest.mark.realdata
def test_shuffled_labels_are_not_concordant(prism, metaml):
    rng = np.random.default_rng(0)
    verdicts = []
    for _ in range(4):
        m = prism.metadata.copy()
        m["Diagnosis"] = rng.permutation(m["Diagnosis"].to_numpy())
        da = differential.test(prism.with_metadata(m), "~ Diagnosis", **CASES)
        verdicts.append(concordance(da, condition="CD", rng=0, n_permutations=499).verdict)
        m = metaml.metadata.copy()
        for _, idx in m.groupby("country").indices.items():  # within country, as the design is
            m.iloc[idx, m.columns.get_loc("status")] = rng.permutation(m["status"].to_numpy()[idx])
        verdicts.append(concordance(_metaml_da(metaml.with_metadata(m)), condition="IBD", rng=0,
                                    n_permutations=499).verdict)
    assert "concordant" not in verdicts


def test_per_signature_and_study_tables(prism_da):
    res = concordance(prism_da, condition="IBD", rng=1, n_permutations=199)
    s = res.table
    assert {"bsdb_id", "study", "direction_in_disease", "n_visible", "score", "agreement", "p_value",
            "q_value"} <= set(s.columns)
    assert (s["contrast"] != "other").all() and s["q_value"].dropna().between(0, 1).all()
    assert res.studies["study"].is_unique and len(res.studies) == res.overall["n_studies"]
    # study weighting: duplicating one study's signatures changes nothing
    assert np.isfinite(res.overall["z"])


def test_seed_reproducible_and_row_order_free(prism_da):
    a = concordance(prism_da, condition="CD", rng=3, n_permutations=199)
    b = concordance(prism_da, condition="CD", rng=3, n_permutations=199)
    pd.testing.assert_frame_equal(a.tests, b.tests)
    shuffled = prism_da.table.sample(frac=1.0, random_state=0)
    c = concordance(shuffled, condition="CD", rng=3, n_permutations=199)
    assert c.overall["score"] == pytest.approx(a.overall["score"])


def test_planted_opposite_is_discordant(prism_da):
    t = prism_da.table.copy()
    t["effect"] = -t["effect"]
    res = concordance(t, condition="CD", statistic="abundance", rng=0)
    assert res.verdict == "discordant"


# ----------------------------------------------------------------------------- not assessable and bad input
def test_empty_result_is_not_assessable():
    res = concordance(pd.DataFrame(columns=["feature_id", "term", "effect", "p_value"]), condition="RA")
    assert res.verdict == "not assessable" and "empty" in res.reason


def test_zero_overlap_is_not_assessable():
    t = pd.DataFrame({"feature_id": ["Nothingbacter", "Zzzcoccus"], "term": "g[T.case]", "effect": [1.0, -1.0],
                      "p_value": [0.01, 0.02]})
    res = concordance(t, condition="MS")
    assert res.verdict == "not assessable" and res.coverage["n_features_without_taxid"] == 2


def test_rank_above_genus_is_a_design_error():
    t = pd.DataFrame({"feature_id": ["f__Lachnospiraceae", "f__Ruminococcaceae"], "term": "g[T.case]",
                      "effect": [1.0, -1.0], "p_value": [0.01, 0.02],
                      "lineage": ["k__Bacteria|f__Lachnospiraceae", "k__Bacteria|f__Ruminococcaceae"]})
    with pytest.raises(DesignError, match="genus"):
        concordance(t, condition="CD")


def test_unknown_condition_in_concordance(prism_da):
    with pytest.raises(UnknownConditionError):
        concordance(prism_da, condition="Crohnz diseese of the toe")


def test_species_rows_are_combined_per_genus():
    c = franzosa2019()
    da = differential.test(c, "~ Diagnosis", **CASES)
    res = concordance(da, condition="CD", rng=0, n_permutations=199)
    assert any("combined per genus" in n for n in res.notes)
    assert res.coverage["n_features"] > res.coverage["n_genera_visible"]
