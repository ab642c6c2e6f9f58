"""Readers on small hand-checkable fixtures (tests/data; see tests/data/README.md)."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gutlink.io import FORMATS, read
from gutlink.io._detect import detect
from gutlink.io._source import Source

DATA = Path(__file__).parent / "data"
FP = "k__Bacteria|p__Firmicutes|c__Clostridia|o__Clostridiales|f__Ruminococcaceae|g__Faecalibacterium"


# ----------------------------------------------------------------------------------------------- detection
@pytest.mark.parametrize(("name", "fmt"), [
    ("metaphlan3_merged.tsv", "metaphlan"), ("metaml_cut.tsv.bz2", "metaphlan"),
    ("profiles/A_profile.txt", "metaphlan"), ("profiles/B_profile.txt", "metaphlan"),
    ("kraken/S1.kreport", "kraken"), ("kraken/S2.k2report", "kraken"), ("kraken_combined.txt", "kraken"),
    ("S3_bracken_species.kreport", "kraken"), ("bracken/S1.bracken", "bracken"),
    ("bracken_combined.tsv", "bracken"), ("tiny_v1.biom", "biom"), ("sokol_gg_cut.biom", "biom"),
    ("sokol_gg_cut.qza", "qza"), ("franzosa/ibd_taxa.csv", "table"),
    ("gmrepo/rawdata/RA_Metagenomics_species.csv", "table"),
])
def test_detect_format_from_content(name, fmt):
    assert detect(Source.load(DATA / name)) == fmt
    assert read(DATA / name).history[0]["format"] == fmt


def test_formats_listed():
    assert FORMATS == ("metaphlan", "biom", "qza", "kraken", "bracken", "table")


# ----------------------------------------------------------------------------------------------- MetaPhlAn
def test_metaphlan_merged_defaults_to_species_rows():
    c = read(DATA / "metaphlan3_merged.tsv")
    assert c.units == "percent" and c.sample_ids.tolist() == ["S1", "S2", "S3"]
    assert c.taxonomy["species"].tolist() == ["Faecalibacterium_prausnitzii", "Blautia_obeum",
                                              "Bacteroides_fragilis", "Bacteroides_vulgatus"]
    frame = c.to_frame()
    assert frame.loc["S2", f"{FP}|s__Faecalibacterium_prausnitzii"] == 10.0
    np.testing.assert_allclose(frame.sum(axis=1), [100.0, 100.0, 100.0])  # one level only: never 700 %
    assert c.taxonomy["taxid"].tolist() == ["853", "40520", "817", "821"]
    h = c.history[0]
    assert h["rank"] == "species" and h["n_rows_other_levels"] == 16  # UNKNOWN, 13 higher clades, 2 SGBs


@pytest.mark.parametrize(("rank", "n", "first"), [("genus", 3, "Faecalibacterium"), ("phylum", 2, "Firmicutes"),
                                                  ("strain", 2, "SGB15316"), ("kingdom", 1, "Bacteria")])
def test_metaphlan_rank_selects_one_level(rank, n, first):
    c = read(DATA / "metaphlan3_merged.tsv", rank=rank)
    assert c.n_features == n and c.taxonomy[rank].iloc[0] == first
    assert np.all(c.to_frame().sum(axis=1) <= 100.0 + 1e-9)


def test_metaphlan_genus_rows_match_the_file_not_a_sum():
    c = read(DATA / "metaphlan3_merged.tsv", rank="g")
    assert c.to_frame().loc["S3"].tolist() == [70.0, 30.0, 0.0]


def test_metaphlan_profiles_directory_and_list_combine():
    c = read(DATA / "profiles")
    assert c.sample_ids.tolist() == ["A", "B"]  # file names minus _profile.txt
    frame = c.to_frame().rename(columns=lambda f: f.rsplit("s__", 1)[1])
    assert frame.loc["A"].to_dict() == {"Blautia_obeum": 70.0, "Bacteroides_fragilis": 30.0,
                                        "Bacteroides_vulgatus": 0.0}
    assert frame.loc["B", "Bacteroides_vulgatus"] == 40.0
    assert [h["op"] for h in c.history] == ["read", "read", "combine"]
    listed = read([DATA / "profiles/B_profile.txt", DATA / "profiles/A_profile.txt"])
    assert listed.sample_ids.tolist() == ["B", "A"]


def test_metaml_layout_metadata_and_unique_ids():
    c = read(DATA / "metaml_cut.tsv.bz2")
    assert c.sample_ids.tolist() == ["H10", "H11", "Chatelier_gut_obesity:MH0002", "Chatelier_gut_obesity:MH0003",
                                     "metahit:MH0002", "metahit:MH0003", "Neilsen_genome_assembly:MH0002"]
    m = c.metadata
    assert m.shape[1] == 211 and m.loc["metahit:MH0002", "sampleID"] == "MH0002"
    assert m["age"].dtype == np.float64 and m.loc["metahit:MH0002", "age"] == 59.0
    assert np.isnan(m.loc["Chatelier_gut_obesity:MH0002", "age"])  # 'nd' is missing
    assert m.loc["H10", "gender"] == "female" and m["pubmedid"].dtype == np.int64
    assert m.loc["metahit:MH0003", "bmi"] == 33.19 and m.loc["Chatelier_gut_obesity:MH0003", "disease"] == "obesity"
    assert c.to_frame().loc["H10"].iloc[0] == pytest.approx(0.24169)  # M. smithii, H10 (line 218 of the file)
    assert c.history[0]["layout"] == "metaml" and c.history[0]["n_samples_renamed"] == 5


def test_metaml_duplicate_ids_renamed_only_when_duplicated():
    ids = read(DATA / "metaml_cut.tsv.bz2").sample_ids.tolist()
    assert "H10" in ids and "Chatelier_gut_obesity:MH0003" in ids and "metahit:MH0003" in ids
    assert len(set(ids)) == len(ids) == 7


# ------------------------------------------------------------------------------------------------- Kraken
def test_kraken_report_species_clade_reads_and_lineage_from_indentation():
    c = read(DATA / "kraken/S1.kreport")
    assert c.units == "counts" and c.sample_ids.tolist() == ["S1"]
    assert c.to_frame().loc["S1"].to_dict() == {"853": 250.0, "40520": 180.0, "817": 200.0, "821": 100.0}
    lin = c.taxonomy.loc["817"]
    assert (lin["kingdom"], lin["phylum"], lin["family"], lin["genus"]) == (
        "Bacteria", "Bacteroidota", "Bacteroidaceae", "Bacteroides")
    assert c.history[0]["n_unclassified_reads"] == [100]


@pytest.mark.parametrize(("rank", "expected"), [
    ("genus", {"216851": 280.0, "572511": 180.0, "816": 370.0}),
    ("strain", {"411483": 50.0}),
    ("phylum", {"1239": 500.0, "976": 380.0}),
])
def test_kraken_rank(rank, expected):
    assert read(DATA / "kraken/S1.kreport", rank=rank).to_frame().loc["S1"].to_dict() == expected


def test_kraken_directory_with_minimizer_columns():
    c = read(DATA / "kraken")
    assert c.sample_ids.tolist() == ["S1", "S2"]
    frame = c.to_frame()
    assert frame.loc["S2"].to_dict() == {"853": 100.0, "40520": 0.0, "817": 300.0, "821": 0.0, "562": 50.0}
    assert c.taxonomy.loc["562", "family"] == "Enterobacteriaceae"


def test_combine_kreports_table_matches_single_reports():
    combined = read(DATA / "kraken_combined.txt")
    single = read(DATA / "kraken")
    assert combined.sample_ids.tolist() == ["S1", "S2"]
    assert combined.to_frame().equals(single.to_frame()[combined.feature_ids])
    assert combined.taxonomy.loc["562", "genus"] == "Escherichia"


def test_bracken_species_kreport():
    c = read(DATA / "S3_bracken_species.kreport")
    assert c.sample_ids.tolist() == ["S3"] and c.to_frame().loc["S3"].to_dict() == {"817": 200.0, "821": 100.0}


def test_bracken_outputs():
    c = read(DATA / "bracken")
    assert c.sample_ids.tolist() == ["S1", "S2"] and c.units == "counts"
    assert c.to_frame().loc["S1", "817"] == 240.0 and c.to_frame().loc["S2", "562"] == 55.0
    assert c.taxonomy.loc["562", "species"] == "Escherichia coli" and c.taxonomy.loc["562", "genus"] is None
    combined = read(DATA / "bracken_combined.tsv")
    assert combined.to_frame().equals(c.to_frame()[combined.feature_ids])


# ------------------------------------------------------------------------------------------ BIOM and .qza
def test_biom_json_v1_taxonomy_list_and_string_and_metadata():
    c = read(DATA / "tiny_v1.biom")
    assert c.to_frame().loc["S1"].tolist() == [10.0, 5.0, 0.0] and c.units == "counts"
    assert c.taxonomy.loc["OTU_1", "genus"] == "Blautia" and c.taxonomy.loc["OTU_1", "species"] is None
    assert c.taxonomy.loc["OTU_2", "species"] == "fragilis" and c.taxonomy.loc["OTU_3"].isna().all()
    assert c.metadata["age"].dtype == np.int64 and c.metadata.loc["S2", "calprotectin"] == 12.5
    assert np.isnan(c.metadata.loc["S1", "calprotectin"])


def test_biom_hdf5_real_cut_and_rank():
    c = read(DATA / "sokol_gg_cut.biom")
    assert (c.n_samples, c.n_features, c.units) == (6, 12, "counts")
    assert c.sample_ids[0] == "100109.518535"
    lach = "k__Bacteria; p__Firmicutes; c__Clostridia; o__Clostridiales; f__Lachnospiraceae"
    assert c.to_frame().loc["100109.518535", lach] == 588.0  # first cell of the source taxa table
    genus = read(DATA / "sokol_gg_cut.biom", rank="genus")
    assert genus.history[-1]["op"] == "aggregate"
    np.testing.assert_allclose(genus.to_frame().sum(axis=1), c.to_frame().sum(axis=1))


def test_qza_reads_like_its_biom_and_uses_artifact_type():
    q = read(DATA / "sokol_gg_cut.qza")
    b = read(DATA / "sokol_gg_cut.biom")
    assert q.to_frame().equals(b.to_frame())
    assert q.history[0]["format"] == "qza" and q.history[0]["units_from"] == "file"


def _qza(tmp_path: Path, kind: str, biom_bytes: bytes | None, name: str = "t.qza") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("abc/metadata.yaml", f"uuid: abc\ntype: {kind}\nformat: BIOMV210DirFmt\n")
        z.writestr("abc/VERSION", "QIIME 2\narchive: 5\n")
        if biom_bytes is not None:
            z.writestr("abc/data/feature-table.biom", biom_bytes)
    return path


def test_qza_relative_frequency_is_fraction(tmp_path):
    from gutlink.io import write_biom

    counts = read(DATA / "sokol_gg_cut.biom")
    write_biom(counts.closure(), tmp_path / "rel.biom")
    path = _qza(tmp_path, "FeatureTable[RelativeFrequency]", (tmp_path / "rel.biom").read_bytes())
    c = read(path)
    assert c.units == "fraction"
    np.testing.assert_allclose(c.to_frame().sum(axis=1), 1.0)


# ------------------------------------------------------------------------------------------ generic tables
def test_table_with_sibling_lineage_file():
    c = read(DATA / "franzosa/ibd_taxa.csv")
    assert c.units == "fraction" and c.n_samples == 6 and c.n_features == 8
    assert c.to_frame().loc["PRISM.7147", "Methanobrevibacter_smithii"] == pytest.approx(1.92e-05)
    assert c.taxonomy.loc["Rothia_mucilaginosa", "family"] == "Micrococcaceae"
    assert c.history[0]["lineage_file"].endswith("ibd_lineages.csv")


def test_table_explicit_lineage_argument(tmp_path):
    shutil.copy(DATA / "franzosa/ibd_taxa.csv", tmp_path / "taxa.csv")
    bare = read(tmp_path / "taxa.csv")
    assert bare.taxonomy[["kingdom", "genus", "species"]].isna().all().all()
    named = read(tmp_path / "taxa.csv", rank="species")
    assert named.taxonomy.loc["Rothia_mucilaginosa", "species"] == "Rothia_mucilaginosa"
    lin = read(tmp_path / "taxa.csv", lineage=DATA / "franzosa/ibd_lineages.csv")
    assert lin.taxonomy.loc["Methanobrevibacter_smithii", "kingdom"] == "Archaea"


def test_gmrepo_layout_taxids_metadata_and_row_numbers():
    c = read(DATA / "gmrepo/rawdata/RA_Metagenomics_species.csv")
    assert c.sample_ids.tolist()[:2] == ["SAMEA2737653", "SAMEA2737654"]  # Row.names, not R's row numbers
    assert c.to_frame().loc["SAMEA2737654", "ncbi_817"] == pytest.approx(0.209832041966408)
    assert c.taxonomy.loc["ncbi_817", "species"] == "Bacteroides fragilis"
    assert c.taxonomy.loc["ncbi_821", "genus"] == "Phocaeicola" and c.taxonomy.loc["ncbi_821", "kingdom"] == "Bacteria"
    m = c.metadata
    assert list(m.columns) == ["Group", "Bodysite", "disease_stage", "country", "sex", "host_age", "BMI", "pair_rank"]
    assert m["pair_rank"].dtype == np.int64 and m["host_age"].dtype == np.float64
    assert m.loc["SAMEA2737669", "host_age"] == 37.0 and np.isnan(m.loc["SAMEA2737653", "BMI"])


def test_table_samples_as_rows_with_plain_names(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("sample\tBlautia\tDorea\tgroup\tage\nA\t3\t5\tcase\t31\nB\t0\t7\tcontrol\t\n")
    c = read(path, rank="genus")
    assert c.feature_ids.tolist() == ["Blautia", "Dorea"] and c.units == "counts"
    assert c.metadata["group"].tolist() == ["case", "control"] and c.metadata["age"].dtype == np.float64


def test_table_r_header_without_row_name_column(tmp_path):
    path = tmp_path / "r.tsv"
    path.write_text("S1\tS2\ng__Blautia\t0.25\t0.5\ng__Dorea\t0.75\t0.5\n")
    c = read(path)
    assert c.sample_ids.tolist() == ["S1", "S2"] and c.units == "fraction"


def test_table_classic_otu_table_with_taxonomy_column(tmp_path):
    path = tmp_path / "otu.txt"
    path.write_text("# Constructed from biom file\n#OTU ID\tS1\tS2\ttaxonomy\n"
                    "1\t4\t0\tk__Bacteria; p__Firmicutes; g__Blautia\n2\t1\t9\tk__Bacteria; p__Bacteroidetes\n")
    c = read(path)
    assert c.feature_ids.tolist() == ["1", "2"] and c.taxonomy.loc["1", "genus"] == "Blautia"
    assert c.to_frame().loc["S2"].tolist() == [0.0, 9.0]


# ------------------------------------------------------------------------------------ compression, history
@pytest.mark.parametrize("kind", ["gzip", "bz2", "xz", "zip"])
def test_compressed_input_by_magic_bytes_not_name(tmp_path, kind):
    raw = (DATA / "metaphlan3_merged.tsv").read_bytes()
    path = tmp_path / "table.dat"  # a misleading name: the content decides
    if kind == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("table.tsv", raw)
    else:
        path.write_bytes({"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind](raw))
    c = read(path)
    assert c.to_frame().equals(read(DATA / "metaphlan3_merged.tsv").to_frame())
    assert c.history[0]["compression"] == kind


def test_history_records_path_format_sha256_units():
    path = DATA / "metaphlan3_merged.tsv"
    h = read(path).history[0]
    assert h["op"] == "read" and h["path"] == str(path) and h["format"] == "metaphlan"
    assert h["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert h["units"] == "percent" and h["units_from"] == "detected"


def test_declared_units_win():
    c = read(DATA / "franzosa/ibd_taxa.csv", units="percent")
    assert c.units == "percent" and c.history[0]["units_from"] == "declared"
