"""write_tsv / write_biom: round trips through read, and atomic replacement."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gutlink.cohort import Cohort
from gutlink.datasets import franzosa2019, toy
from gutlink.io import read, write_biom, write_tsv, writers
from gutlink.taxonomy import RANKS

DATA = Path(__file__).parent / "data"


def _same(a: Cohort, b: Cohort, *, metadata: bool) -> None:
    assert a.sample_ids.tolist() == b.sample_ids.tolist()
    assert a.feature_ids.tolist() == b.feature_ids.tolist()
    np.testing.assert_array_equal(a.dense(), b.dense())  # exact: floats are written with repr precision
    assert a.units == b.units
    pd.testing.assert_frame_equal(a.taxonomy[list(RANKS)], b.taxonomy[list(RANKS)])
    if metadata:
        pd.testing.assert_frame_equal(a.metadata, b.metadata, check_dtype=False, check_like=True)  # HDF5 sorts keys


@pytest.mark.parametrize("cohort", [toy, franzosa2019, lambda: read(DATA / "metaphlan3_merged.tsv"),
                                    lambda: read(DATA / "metaphlan3_merged.tsv", rank="strain"),
                                    lambda: read(DATA / "kraken"), lambda: read(DATA / "tiny_v1.biom")],
                         ids=["toy", "franzosa", "metaphlan", "metaphlan-sgb", "kraken", "biom"])
def test_tsv_round_trip(tmp_path, cohort):
    c = cohort()
    write_tsv(c, tmp_path / "out.tsv")
    back = read(tmp_path / "out.tsv")
    _same(c, back, metadata=False)
    assert back.history[0]["units_from"] == "file"


def test_tsv_layout(tmp_path):
    write_tsv(read(DATA / "kraken"), tmp_path / "k.tsv")
    lines = (tmp_path / "k.tsv").read_text().splitlines()
    assert lines[0].startswith("# gutlink feature table: units=counts")
    assert lines[1] == "feature_id\tlineage\tS1\tS2"
    assert lines[2].startswith("853\tk__Bacteria|p__Firmicutes|c__Clostridia|") and lines[2].endswith("\t250\t100")


def test_tsv_percent_stays_percent_even_when_sums_are_small(tmp_path):
    c = read(DATA / "metaphlan3_merged.tsv")
    small = Cohort(c.dense() / 1000, metadata=c.metadata, taxonomy=c.taxonomy, units="percent")
    write_tsv(small, tmp_path / "p.tsv")
    assert read(tmp_path / "p.tsv").units == "percent"  # stated in the header, not re-detected as fraction


@pytest.mark.parametrize("cohort", [toy, franzosa2019, lambda: read(DATA / "metaml_cut.tsv.bz2"),
                                    lambda: read(DATA / "tiny_v1.biom"), lambda: read(DATA / "sokol_gg_cut.qza")],
                         ids=["toy", "franzosa", "metaml", "biom", "qza"])
def test_biom_round_trip_with_metadata(tmp_path, cohort):
    c = cohort()
    write_biom(c, tmp_path / "out.biom")
    back = read(tmp_path / "out.biom")
    _same(c, back, metadata=True)
    assert back.history[0]["format"] == "biom" and back.history[0]["units_from"] == "file"


def test_biom_keeps_metadata_dtypes(tmp_path):
    c = franzosa2019()
    write_biom(c, tmp_path / "f.biom")
    m = read(tmp_path / "f.biom").metadata
    assert m["Age"].dtype == np.int64 and m["Fecal.Calprotectin"].dtype == np.float64
    assert m["Diagnosis"].value_counts().to_dict() == {"CD": 68, "UC": 53, "Control": 34}


def test_writes_are_atomic(tmp_path, monkeypatch):
    target = tmp_path / "out.tsv"
    target.write_text("previous content\n")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_tsv(toy(), target)
    assert target.read_text() == "previous content\n"  # untouched
    assert os.listdir(tmp_path) == ["out.tsv"]  # no temp file left behind


def test_biom_write_failure_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(writers.biom.Table, "to_hdf5", lambda *a, **k: (_ for _ in ()).throw(OSError("io")))
    with pytest.raises(OSError):
        write_biom(toy(), tmp_path / "x.biom")
    assert os.listdir(tmp_path) == []


def test_lineage_string():
    assert writers.lineage_string({"kingdom": "Bacteria", "genus": "Blautia", "species": None}) == \
        "k__Bacteria|p__|c__|o__|f__|g__Blautia"
    assert writers.lineage_string({}) == ""
