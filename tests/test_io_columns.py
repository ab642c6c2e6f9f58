"""Sample variables in an abundance table are never read as taxa (issue 10.1): refused with their names, or moved to
the metadata with metadata_columns=; and no real abundance table in ../shared/data is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gutlink.errors import InputFormatError
from gutlink.io import read
from gutlink.io._columns import suspect_columns


def _fractions(n: int, p: int, rng: np.random.Generator) -> pd.DataFrame:
    x = rng.dirichlet(np.full(p, 0.3), size=n)
    return pd.DataFrame(x, index=pd.Index([f"S{i}" for i in range(n)], name="Sample"),
                        columns=[f"Taxon_{j}" for j in range(p)])


def _counts(n: int, p: int, rng: np.random.Generator) -> pd.DataFrame:
    mean = rng.lognormal(1.0, 1.5, p)
    x = rng.negative_binomial(0.5, 0.5 / (0.5 + mean), size=(n, p))
    return pd.DataFrame(x, index=pd.Index([f"S{i}" for i in range(n)], name="SampleID"),
                        columns=[f"OTU{j}" for j in range(p)])


def _clinical(frame: pd.DataFrame, rng: np.random.Generator, names: tuple[str, ...]) -> pd.DataFrame:
    n = len(frame)
    out = frame.copy()
    out.insert(0, "clin.Cohort", rng.choice(["S", "H"], n))
    out[names[0]] = (out["clin.Cohort"] == "S").astype(int)
    out[names[1]] = rng.integers(20, 70, n)
    out[names[2]] = rng.normal(25, 4, n).round(1)
    return out


def _save(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, sep="\t")
    return path


def _refused(path: Path, **kwargs) -> InputFormatError:
    with pytest.raises(InputFormatError) as info:
        read(path, **kwargs)
    return info.value


def test_named_clinical_columns_are_refused_with_the_fix(tmp_path):
    rng = np.random.default_rng(1)
    path = _save(_clinical(_fractions(60, 40, rng), rng, ("clin.SpA", "Age", "BMI")), tmp_path / "t.tsv")
    err = _refused(path)
    assert err.path == str(path) and err.column == "clin.SpA"
    for name in ("clin.SpA", "Age", "BMI"):
        assert repr(name) in err.message
    assert "clin.Cohort" in err.message  # the text column is named as metadata already
    assert "metadata_columns=['clin.SpA', 'Age', 'BMI']" in err.hint and "--metadata-columns" in err.hint
    assert "feature_columns=" in err.hint


def test_metadata_columns_moves_them_out_of_the_features(tmp_path):
    rng = np.random.default_rng(1)
    frame = _clinical(_fractions(60, 40, rng), rng, ("clin.SpA", "Age", "BMI"))
    c = read(_save(frame, tmp_path / "t.tsv"), metadata_columns=["clin.SpA", "Age", "BMI"])
    assert c.feature_ids.tolist() == [f"Taxon_{j}" for j in range(40)] and c.units == "fraction"
    assert list(c.metadata.columns) == ["clin.Cohort", "clin.SpA", "Age", "BMI"]
    assert c.metadata["clin.SpA"].dtype == np.int64 and c.metadata["BMI"].dtype == np.float64
    assert c.metadata["clin.SpA"].tolist() == frame["clin.SpA"].tolist()
    assert c.history[0]["metadata_columns"] == ["clin.Cohort", "clin.SpA", "Age", "BMI"]


@pytest.mark.parametrize("make", [_fractions, _counts])
def test_unnamed_variables_are_found_from_their_values(tmp_path, make):
    rng = np.random.default_rng(2)
    frame = _clinical(make(120, 60, rng), rng, ("v1", "v2", "v3")).drop(columns="clin.Cohort")
    frame["v4"] = rng.integers(1, 4, len(frame))  # a study code 1/2/3
    err = _refused(_save(frame, tmp_path / "t.tsv"))
    found = {n for n in ("v1", "v2", "v3", "v4") if repr(n) in err.message}
    # among counts an integer age looks like a count: only its name could tell
    assert found == ({"v1", "v2", "v3", "v4"} if make is _fractions else {"v1", "v3", "v4"})
    assert not any(f"'OTU{j}'" in err.message or f"'Taxon_{j}'" in err.message for j in range(60))


def test_rare_real_taxon_with_single_reads_is_kept(tmp_path):
    rng = np.random.default_rng(3)
    frame = _counts(200, 50, rng)
    frame["OTU_rare"] = (rng.random(200) < 0.04).astype(int)  # seen once in 4 % of the samples: plausible counts
    c = read(_save(frame, tmp_path / "t.tsv"))
    assert c.n_features == 51 and c.units == "counts" and c.history[0]["orientation"] == "samples as rows"


def test_column_equal_to_given_metadata_is_a_leak(tmp_path):
    rng = np.random.default_rng(4)
    frame = _fractions(50, 30, rng)
    labels = pd.Series(rng.choice(["case", "control"], 50), index=frame.index)
    frame["Taxon_leak"] = np.where(labels == "case", 2e-4, 1e-4)  # a coding of the diagnosis, on the taxa's scale
    meta = pd.DataFrame({"diagnosis": labels})
    path = _save(frame, tmp_path / "t.tsv")
    err = _refused(path, metadata=meta)
    assert err.column == "Taxon_leak" and "equal to the metadata column 'diagnosis'" in err.message
    assert read(path).n_features == 31  # without the metadata it is a plausible taxon


def test_feature_columns_forces_the_features(tmp_path):
    rng = np.random.default_rng(5)
    frame = _clinical(_fractions(40, 10, rng), rng, ("clin.SpA", "Age", "BMI"))
    c = read(_save(frame, tmp_path / "t.tsv"), feature_columns=[f"Taxon_{j}" for j in range(10)])
    assert c.n_features == 10 and set(c.metadata.columns) == {"clin.Cohort", "clin.SpA", "Age", "BMI"}


def test_metadata_rows_of_a_features_as_rows_table(tmp_path):
    path = tmp_path / "rows.tsv"
    path.write_text("feature\tS1\tS2\tS3\nAge\t31\t45\t52\ng__A\t0.5\t0.25\t1\ng__B\t0.5\t0.75\t0\n")
    c = read(path, metadata_columns=["Age"])
    assert c.feature_ids.tolist() == ["g__A", "g__B"] and c.metadata["Age"].tolist() == [31, 45, 52]


def test_unknown_name_is_an_error_with_close_matches(tmp_path):
    rng = np.random.default_rng(6)
    path = _save(_clinical(_fractions(20, 5, rng), rng, ("clin.SpA", "Age", "BMI")), tmp_path / "t.tsv")
    err = _refused(path, metadata_columns=["clin.spa", "Age", "BMI"])
    assert "'clin.spa'" in err.message and "clin.SpA" in err.message and "case-sensitive" in err.hint


def test_metadata_columns_on_a_metaphlan_file_is_refused():
    data = Path(__file__).parent / "data" / "metaphlan3_merged.tsv"
    with pytest.raises(InputFormatError, match="applies to generic tables"):
        read(data, metadata_columns=["Age"])


def test_taxon_named_columns_never_go_through_the_detector(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("sample\tg__A\tg__B\tAge\nS1\t0.5\t0.5\t31\nS2\t0.2\t0.8\t40\nS3\t1\t0\t50\n")
    c = read(path)
    assert c.feature_ids.tolist() == ["g__A", "g__B"] and c.metadata["Age"].tolist() == [31, 40, 50]


def test_sample_id_header_means_samples_are_rows(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("SampleID\tBlautia\tDorea\tRoseburia\nA\t3\t5\t0\nB\t0\t7\t2\n")
    c = read(path)
    assert c.sample_ids.tolist() == ["A", "B"] and c.feature_ids.tolist() == ["Blautia", "Dorea", "Roseburia"]


# --------------------------------------------------------------------------- every real table is accepted
REAL = [
    *[f"multi/gmrepo_benchmark/rawdata/{d}.csv" for d in (
        "AS_Metagenomics_genus", "AS_Metagenomics_species", "CD_Amplicon_genus", "CD_Metagenomics_genus",
        "CD_Metagenomics_species", "IBD_Metagenomics_genus", "IBD_Metagenomics_species", "JA_Amplicon_genus",
        "MS_Amplicon_genus", "RA_Amplicon_genus", "RA_Metagenomics_genus", "RA_Metagenomics_species",
        "UC_Amplicon_genus", "UC_Metagenomics_genus", "UC_Metagenomics_species")],
    *[f"ibd/mlrepo/{s}/{t}.txt.gz" for s, t in (("gevers", "gg/taxatable"), ("gevers", "refseq/taxatable"),
                                                ("gevers", "refseq/otutable"), ("sokol_morgan2012", "gg/taxatable"),
                                                ("sokol_morgan2012", "gg/otutable"),
                                                ("sokol_morgan2012", "refseq/taxatable"),
                                                ("sokol_morgan2012", "refseq/otutable"))],
    "ibd/metaml/abundance_stoolsubset.txt.bz2", "ibd/franzosa2019_prism/ibd_taxa.csv",
    "t1d/kostic2015_wgs/diabimmune_t1d_metaphlan_table.txt", "t1d/kostic2015_16s_metabolome/genera.tsv",
    "t1d/kostic2015_16s_metabolome/genera.counts.tsv", "host/ihmp_t2d_cytokines/stool_16s_data.tsv",
    "gmhi/species_relative_abundances.csv", "dynamics/mdsine2_gibson/healthy/counts.tsv",
    "dynamics/david2014_mlrepo/gg/taxatable.txt", "dynamics/david2014_mlrepo/refseq/taxatable.txt",
    "dynamics/beem_gibbons2017/DB.counts.txt", "dynamics/beem_gibbons2017/F4.counts.txt",
    "dynamics/beem_gibbons2017/M3.counts.txt", "dynamics/clv_joseph2020/data/bucci/data_cdiff/counts.txt",
]
#: Real tables whose "counts" hold non-integer values: read only with units='counts' (never rounded).
NON_INTEGER = ["dynamics/beem_gibbons2017/DA.counts.txt", "dynamics/clv_joseph2020/data/bucci/data_diet/counts.txt"]


@pytest.mark.realdata
@pytest.mark.parametrize("name", REAL + NON_INTEGER)
def test_no_real_abundance_table_is_refused(shared_data, name):
    units = "counts" if name in NON_INTEGER else None
    c = read(shared_data / name, units=units)
    assert c.n_features > 10
    assert suspect_columns(c.dense(), list(c.feature_ids)) == {}  # the detector itself, on the samples × taxa block
    if name.endswith("genera.counts.tsv") or name.endswith("stool_16s_data.tsv"):
        assert c.history[0]["orientation"] == "samples as rows"


@pytest.mark.realdata
@pytest.mark.parametrize("name", NON_INTEGER)
def test_real_non_integer_counts_need_declared_units(shared_data, name):
    err = _refused(shared_data / name)
    assert "not whole numbers" in err.message and err.line is not None


@pytest.mark.realdata
def test_ihmp_16s_is_662_samples_by_167_genera(shared_data):
    c = read(shared_data / "host/ihmp_t2d_cytokines/stool_16s_data.tsv")  # SampleID header: samples are rows
    assert (c.n_samples, c.n_features, c.units) == (662, 167, "counts")


@pytest.mark.realdata
def test_real_cohort_with_clinical_columns_is_refused_then_read(shared_data, tmp_path):
    rng = np.random.default_rng(7)
    prism = read(shared_data / "ibd/franzosa2019_prism/ibd_taxa.csv").to_frame()
    prism.index.name = "Sample"
    frame = _clinical(prism, rng, ("clin.SpA", "Age", "BMI"))
    unnamed = frame.rename(columns={"clin.SpA": "x1", "Age": "x2", "BMI": "x3"}).drop(columns="clin.Cohort")
    err = _refused(_save(unnamed, tmp_path / "u.tsv"))
    assert all(repr(n) in err.message for n in ("x1", "x2", "x3")) and "Faecalibacterium" not in err.message
    c = read(_save(frame, tmp_path / "t.tsv"), metadata_columns=["clin.SpA", "Age", "BMI"])
    assert c.n_features == 201 and "clin.SpA" not in set(c.feature_ids) and c.units == "fraction"
