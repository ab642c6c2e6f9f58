"""read_metadata and the dtype inference shared by every reader."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

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
