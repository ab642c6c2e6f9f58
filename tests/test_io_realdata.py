"""Every reader on the full real files in ../shared/data (known shapes and cells, checked with awk/cut)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from gutlink.io import read, read_metadata

pytestmark = pytest.mark.realdata

FP = "k__Bacteria|p__Firmicutes|c__Clostridia|o__Clostridiales|f__Ruminococcaceae|g__Faecalibacterium" \
     "|s__Faecalibacterium_prausnitzii"


@pytest.fixture(scope="module")
def metaml(shared_data):
    start = time.perf_counter()
    cohort = read(shared_data / "ibd/metaml/abundance.txt.bz2")
    return cohort, time.perf_counter() - start


def test_metaml_full_table(metaml):
    c, seconds = metaml
    assert (c.n_samples, c.n_features, c.units) == (3610, 1291, "percent")  # 1291 s__ rows (awk)
    assert seconds < 20, f"reading the 31 MB MetAML table took {seconds:.1f} s"
    assert c.metadata.shape[1] == 211
    assert c.history[0]["compression"] == "bz2" and c.history[0]["n_samples_renamed"] == 415
    assert np.all(c.to_frame().sum(axis=1) <= 100 * 1.02)


def test_metaml_metahit_ibd_task(metaml):
    c, _ = metaml
    m = c.metadata
    metahit = m[m["dataset_name"] == "metahit"]
    assert len(metahit) == 110
    assert metahit["disease"].value_counts().to_dict() == {"n": 85, "ibd_ulcerative_colitis": 21,
                                                           "ibd_crohn_disease": 4}
    nielsen = m[m["dataset_name"] == "Neilsen_genome_assembly"]["disease"].value_counts().to_dict()
    assert (nielsen["n"], nielsen["ibd_ulcerative_colitis"], nielsen["ibd_crohn_disease"]) == (187, 127, 21)
    assert m["age"].dtype == np.float64 and m["bmi"].dtype == np.float64 and m["pubmedid"].dtype == np.float64


def test_metaml_known_cells(metaml):
    c, _ = metaml
    frame = c.to_frame()
    # bzcat … | awk -F'\t' '$1 ~ /s__Faecalibacterium_prausnitzii$/ {print $2, $40, $1810, $1920}'
    assert frame.loc["H10", FP] == pytest.approx(11.25515)
    assert frame.loc["Chatelier_gut_obesity:MH0002", FP] == pytest.approx(2.49956)
    assert frame.loc["metahit:MH0002", FP] == pytest.approx(2.49977)
    assert frame.loc["Neilsen_genome_assembly:MH0002", FP] == pytest.approx(1.37018)


@pytest.mark.parametrize(("rank", "n"), [("genus", 447), ("strain", 1226)])
def test_metaml_other_ranks(shared_data, rank, n):
    assert read(shared_data / "ibd/metaml/abundance_stoolsubset.txt.bz2", rank=rank).history[0]["rank"] == rank
    assert read(shared_data / "ibd/metaml/abundance.txt.bz2", rank=rank).n_features == n


def test_metaml_stool_subset(shared_data):
    c = read(shared_data / "ibd/metaml/abundance_stoolsubset.txt.bz2")
    assert (c.n_samples, c.n_features) == (1989, 826) and set(c.metadata["bodysite"]) == {"stool"}


def test_diabimmune_metaphlan_table(shared_data):
    c = read(shared_data / "t1d/kostic2015_wgs/diabimmune_t1d_metaphlan_table.txt")
    assert (c.n_samples, c.n_features, c.units) == (124, 217, "percent")  # 380 clades, 217 of them species
    assert c.to_frame().loc["G36448"].filter(like="s__Faecalibacterium_prausnitzii").item() == pytest.approx(7.76311)


def test_franzosa_table_with_lineage_and_metadata(shared_data):
    folder = shared_data / "ibd/franzosa2019_prism"
    c = read(folder / "ibd_taxa.csv")
    assert (c.n_samples, c.n_features, c.units) == (155, 201, "fraction")
    assert c.to_frame().loc["PRISM.7147", "Faecalibacterium_prausnitzii"] == pytest.approx(0.0842688)
    assert c.taxonomy.loc["Faecalibacterium_prausnitzii", "family"] == "Ruminococcaceae"
    m = read_metadata(folder / "ibd_metadata.csv")
    assert m["Diagnosis"].value_counts().to_dict() == {"CD": 68, "UC": 53, "Control": 34}
    assert m["Age"].dtype == np.int64 and m["Fecal.Calprotectin"].dtype == np.float64
    assert c.align(m).n_samples == 155


@pytest.mark.parametrize("name", ["AS_Metagenomics_genus", "AS_Metagenomics_species", "CD_Amplicon_genus",
                                  "CD_Metagenomics_genus", "CD_Metagenomics_species", "IBD_Metagenomics_genus",
                                  "IBD_Metagenomics_species", "JA_Amplicon_genus", "MS_Amplicon_genus",
                                  "RA_Amplicon_genus", "RA_Metagenomics_genus", "RA_Metagenomics_species",
                                  "UC_Amplicon_genus", "UC_Metagenomics_genus", "UC_Metagenomics_species"])
def test_gmrepo_every_table(shared_data, name):
    c = read(shared_data / f"multi/gmrepo_benchmark/rawdata/{name}.csv")
    assert c.units == "fraction" and c.history[0]["orientation"] == "samples as rows"
    assert list(c.metadata.columns) == ["Group", "Bodysite", "disease_stage", "country", "sex", "host_age", "BMI",
                                        "pair_rank"]
    assert set(c.metadata["Group"]) == {"Case", "Control"} and c.metadata["pair_rank"].dtype == np.int64
    rank = name.rsplit("_", 1)[1]
    assert c.taxonomy[rank].notna().mean() > 0.75  # names from species_id_names.csv / genus_id_names.csv


def test_gmrepo_known_values(shared_data):
    ra = read(shared_data / "multi/gmrepo_benchmark/rawdata/RA_Metagenomics_species.csv")
    assert (ra.n_samples, ra.n_features) == (404, 517)
    assert ra.metadata["Group"].value_counts().to_dict() == {"Case": 213, "Control": 191}
    assert ra.metadata["pair_rank"].value_counts().to_dict() == {2: 168, 1: 147, 3: 89}
    ms = read(shared_data / "multi/gmrepo_benchmark/rawdata/MS_Amplicon_genus.csv")
    assert ms.to_frame().loc["SRS4329808", "ncbi_816"] == pytest.approx(0.00375725301205226)
    assert ms.taxonomy.loc["ncbi_816", "genus"] == "Bacteroides" and ms.taxonomy.loc["ncbi_816", "taxid"] == "816"


@pytest.mark.parametrize(("path", "shape"), [
    ("ibd/mlrepo/gevers/gg/taxatable.txt.gz", (1359, 446)),
    ("ibd/mlrepo/gevers/refseq/taxatable.txt.gz", (1358, 992)),
    ("ibd/mlrepo/sokol_morgan2012/gg/taxatable.txt.gz", (233, 367)),  # awk END{print NR-1}
    ("ibd/mlrepo/sokol_morgan2012/refseq/taxatable.txt.gz", (233, 877)),
    ("ibd/mlrepo/gevers/refseq/otutable.txt.gz", (1358, 943)),
])
def test_mlrepo_tables(shared_data, path, shape):
    c = read(shared_data / path)
    assert (c.n_samples, c.n_features, c.units) == (*shape, "counts")
    assert c.history[0]["orientation"] == "features as rows"


def test_mlrepo_greengenes_lineage_and_cell(shared_data):
    c = read(shared_data / "ibd/mlrepo/gevers/gg/taxatable.txt.gz")
    bacteroides = "k__Bacteria; p__Bacteroidetes; c__Bacteroidia; o__Bacteroidales; f__Bacteroidaceae; g__Bacteroides"
    assert c.to_frame().loc["100052.1246453", bacteroides] == 280  # zcat | awk 'NR==2 {print $2}'
    assert c.taxonomy.loc[bacteroides, "genus"] == "Bacteroides"
    tasks = read_metadata(shared_data / "ibd/mlrepo/gevers/task-ileum.txt.gz")
    assert tasks["Var"].value_counts().to_dict() == {"CD": 78, "no": 62}
    assert c.align(tasks).n_samples == 140


def test_kostic_16s_genera(shared_data):
    folder = shared_data / "t1d/kostic2015_16s_metabolome"
    counts = read(folder / "genera.counts.tsv")
    assert (counts.n_samples, counts.n_features, counts.units) == (103, 584, "counts")
    col = "d__Bacteria;p__Bacteroidota;c__Bacteroidia;o__Bacteroidales;f__Bacteroidaceae;g__Bacteroides"
    assert counts.to_frame().loc["G36448", col] == 7870
    assert counts.taxonomy.loc[col, "phylum"] == "Bacteroidota"
    rel = read(folder / "genera.tsv")
    assert rel.units == "fraction" and rel.feature_ids.equals(counts.feature_ids)
    meta = read_metadata(folder / "metadata.tsv")
    assert meta.index.name == "sample_id" and "G36448" in meta.index and meta["Age"].dtype == np.int64


def test_real_mapping_files(shared_data):
    orig = read_metadata(shared_data / "ibd/mlrepo/gevers/mapping-orig.txt.gz")
    assert orig.shape == (1359, 69) and orig.index[0] == "SKBTI.1325.1246591"
    suppl = read_metadata(shared_data / "ibd/mlrepo/gevers/mapping-suppl.txt.gz")  # old Mac \r line endings
    assert len(suppl) == 1040 and set(suppl["Diagnosis"].dropna()) >= {"CD"}
