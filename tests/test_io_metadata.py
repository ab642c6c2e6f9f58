"""read_metadata and the dtype inference shared by every reader."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gutlink.io import infer_dtypes, read_metadata

DATA = Path(__file__).parent / "data"


def test_qiime2_metadata_types_comments_and_blank_lines():
    m = read_metadata(DATA / "q2_metadata.tsv")
    assert m.index.tolist() == ["S1", "S2", "S3"] and m.index.name == "sample_id"
    assert m["age"].dtype == np.float64 and np.isnan(m.loc["S3", "age"])
    assert m.loc["S1", "subject"] == "101"  # declared categorical: stays text although it looks numeric
    assert m["Diagnosis"].tolist() == ["CD", "control", "UC"]


def test_r_write_csv_row_numbers_dropped():
    m = read_metadata(DATA / "metadata_r.csv")
    assert m.index.tolist() == ["SAMEA1", "SAMEA2", "SAMEA3"]
    assert list(m.columns) == ["Group", "host_age", "BMI", "sex"]
    assert m["host_age"].dtype == np.float64 and np.isnan(m.loc["SAMEA2", "BMI"])


def test_sample_column_found_when_not_first(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("Dataset\tSample\tAge\nD1\tG1\t481\nD1\tG2\t42\n")
    m = read_metadata(path)
    assert m.index.tolist() == ["G1", "G2"] and m["Age"].dtype == np.int64


def test_id_column_argument(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("Gid_16S,Gid_shotgun,Subject_ID\nG1,X1,E1\nG2,X2,E1\n")
    assert read_metadata(path, id_column="Gid_shotgun").index.tolist() == ["X1", "X2"]


def test_old_mac_line_endings_and_gzip(tmp_path):
    path = tmp_path / "m.txt.gz"
    path.write_bytes(gzip.compress(b"sample\tsubject\tPCDAI\r01-001.S\tM1\t35\r01-005.S\tM2\t27.5\r"))
    m = read_metadata(path)
    assert m.index.tolist() == ["01-001.S", "01-005.S"] and m["PCDAI"].tolist() == [35.0, 27.5]


def test_ids_that_look_numeric_stay_text(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("#SampleID\tvalue\n100052.1246453\t1\n007\t2\n")
    assert read_metadata(path).index.tolist() == ["100052.1246453", "007"]


def test_infer_dtypes_rules():
    raw = pd.DataFrame({
        "int": ["1", "2", "3"], "float": ["1.5", "nd", "2"], "bool": ["TRUE", "FALSE", "true"],
        "text": ["a", "NA", "b"], "empty": ["nd", "", "NA"], "dash": ["-", "3", "4"],
        "float_whole": ["1.0", "2.0", "3.0"],
    })
    out = infer_dtypes(raw)
    assert out["int"].dtype == np.int64 and out["float"].dtype == np.float64
    assert out["bool"].dtype == bool and out["bool"].tolist() == [True, False, True]
    assert out["text"].isna().tolist() == [False, True, False]
    assert out["empty"].isna().all() and out["dash"].dtype == np.float64
    assert out["float_whole"].dtype == np.float64


def _diabimmune_like(tmp_path, extra=""):
    path = tmp_path / "m.csv"
    path.write_text("Gid_16S,Gid_shotgun,Subject_ID,IAA\nG1,X1,E1,0.5\nG2,X2,E1,0.7\nG2,X3,E1,0.7" + extra + "\n")
    return path


def test_repeated_ids_are_an_error_that_names_the_ways_out(tmp_path):
    from gutlink.errors import InputFormatError

    with pytest.raises(InputFormatError) as err:
        read_metadata(_diabimmune_like(tmp_path))
    e = err.value
    assert e.column == "Gid_16S" and e.line == 4 and "1 sample ID(s) repeat" in str(e)
    assert "differ in ['Gid_shotgun']" in str(e) and "--sample-id-column" in e.hint
    assert "['Gid_shotgun']" in e.hint and "--duplicate-ids collapse" in e.hint and "never picks" in e.hint


def test_repeated_ids_collapse_only_when_the_rows_are_one_sample(tmp_path):
    from gutlink.errors import InputFormatError

    m = read_metadata(_diabimmune_like(tmp_path), duplicate_ids="collapse")
    assert m.index.tolist() == ["G1", "G2"] and m.loc["G2", "Gid_shotgun"] == "X2;X3"
    assert m["IAA"].dtype == np.float64 and m.loc["G2", "IAA"] == 0.7
    path = tmp_path / "c.csv"
    path.write_text("Gid_16S,Gid_shotgun,IAA\nG1,X1,0.5\nG1,X2,0.9\n")
    with pytest.raises(InputFormatError, match=r"disagree in \['IAA'\]") as err:
        read_metadata(path, duplicate_ids="collapse")
    assert err.value.column == "Gid_16S"


@pytest.mark.realdata
def test_diabimmune_wgs_metadata_repeats_16s_ids(shared_data):
    from gutlink.errors import InputFormatError

    path = shared_data / "t1d" / "kostic2015_wgs" / "diabimmune_t1d_wgs_metadata.csv"
    with pytest.raises(InputFormatError, match="4 sample ID"):
        read_metadata(path)
    m = read_metadata(path, duplicate_ids="collapse")
    assert len(m) == 124 and m.index.is_unique and m.loc["G36886", "Gid_shotgun"] == "G45233;G45110"
    assert len(read_metadata(path, id_column="Gid_shotgun")) == 128
