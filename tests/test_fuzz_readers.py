"""Property-based tests of every reader (issue 12, defect 11): on any input a reader either reads it or raises a
:class:`~gutlink.errors.GutlinkError` with a message; a valid cohort written by gutlink reads back unchanged.

Inputs: random bytes; the seed corpus of ``benchmarks/fuzz_corpus`` (every format, plain and compressed) mutated
byte-wise; generated hostile tables (ragged rows, quotes and newlines in the header, BOMs and odd encodings,
huge / negative / NaN / inf numbers, duplicate IDs) in both orientations, compressed or not. The regression
cases at the end are the crashes that ``benchmarks/fuzz_readers.py`` found, each fixed in ``gutlink.io``.
Budget and determinism: see ``tests/_fuzz.py``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fuzz import budget, read_or_refuse
from hypothesis import given
from hypothesis import strategies as st

from gutlink.cohort import Cohort
from gutlink.errors import GutlinkError, InputFormatError
from gutlink.io import read, read_metadata, write_biom, write_tsv
from gutlink.io.metadata import infer_dtypes
from gutlink.taxonomy import lineage_table

CORPUS = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz_corpus"
DATA = Path(__file__).resolve().parent / "data" / "fuzz"
SEEDS = sorted(p for p in CORPUS.iterdir() if p.is_file())
#: (name of the fuzzed file, read() keywords; None = read_metadata)
READERS = {
    "detect": ("input.tsv", {}),
    "table": ("input.csv", {"format": "table"}),
    "metaphlan": ("S1_profile.txt", {"format": "metaphlan"}),
    "kraken": ("S1.kreport", {"format": "kraken"}),
    "bracken": ("S1.bracken", {"format": "bracken"}),
    "biom": ("input.biom", {"format": "biom"}),
    "qza": ("input.qza", {"format": "qza"}),
    "genus": ("input.txt", {"rank": "genus"}),
    "metadata": ("metadata.tsv", None),
}


def _run(reader: str, data: bytes) -> object:
    name, kwargs = READERS[reader]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        if kwargs is None:
            return read_or_refuse(read_metadata, path)
        return read_or_refuse(read, path, **kwargs)


# ------------------------------------------------------------------------------------------ random and mutated bytes
@pytest.mark.parametrize("reader", READERS)
@budget()
@given(data=st.binary(max_size=600))
def test_random_bytes_are_read_or_refused(reader, data):
    _run(reader, data)


TOKENS = [b"\t", b",", b"\n", b"\r\n", b"\r", b'"', b"'", b"#", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b"NaN",
          b"inf", b"-inf", b"-1", b"1e308", b"1e400", b"9223372036854775808", b"0.5", b"", b"k__Bacteria|p__",
          b"g__", b"ncbi_816", b"#OTU ID", b"#SampleID", b"#q2:types\tnumeric", b"clade_name", b"taxonomy",
          b"# gutlink feature table: units=counts", b"perc\ttot_all\t", b"NA", b"\xc3\xa9", b"\xe2\x80\xa8", b"=1+2"]

_MUTATION = st.tuples(st.integers(0, 5), st.floats(0, 1), st.sampled_from(TOKENS), st.integers(1, 40))


def _mutate(data: bytes, mutations: list[tuple[int, float, bytes, int]]) -> bytes:
    out = bytearray(data)
    for op, where, token, n in mutations:
        pos = int(where * len(out))
        if op == 0:
            out[pos:pos] = token
        elif op == 1:
            del out[pos:pos + n]
        elif op == 2 and out:
            out[min(pos, len(out) - 1)] ^= 1 << (n % 8)
        elif op == 3:
            out[pos:pos] = out[pos:pos + n]  # duplicate a run: ragged rows, duplicate IDs
        elif op == 4:
            out[pos:pos + n] = token  # overwrite a run
        else:
            out = out[:pos]  # truncate
    return bytes(out)


@pytest.mark.parametrize("reader", READERS)
@budget(2)
@given(seed=st.sampled_from(SEEDS), mutations=st.lists(_MUTATION, min_size=1, max_size=6))
def test_mutated_corpus_files_are_read_or_refused(reader, seed, mutations):
    _run(reader, _mutate(seed.read_bytes(), mutations))


@pytest.mark.parametrize("reader", READERS)
def test_every_seed_reads_or_is_refused(reader):
    for seed in SEEDS:
        _run(reader, seed.read_bytes())


# ------------------------------------------------------------------------------------------ generated hostile tables
_NAME = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_HOSTILE_NAME = st.one_of(_NAME, st.sampled_from(['"', '"a\nb"', "a\tb", "#SampleID", "", " ", "NA", "=cmd", "\ufeffx",
                                                  "k__Bacteria|g__B", "g__B", "sample", "taxonomy", "1", "\r"]))
_NUMBER = st.one_of(st.integers(0, 1000).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["-1", "1e308", "1e400", "-0", "9223372036854775808", "18446744073709551617",
                                     "2e19", "nan", "NA", "", " 5", "1,5", "0x10", "1_000", "TRUE", "∞"]))
_CELL = st.one_of(_NUMBER, _NUMBER, _HOSTILE_NAME)


@st.composite
def hostile_tables(draw) -> bytes:
    """A delimited table: a header, rows of (mostly) numbers, ragged or not, with duplicate IDs now and then."""
    sep = draw(st.sampled_from(["\t", ",", ";"]))
    width = draw(st.integers(1, 6))
    first = draw(st.sampled_from(["feature", "#OTU ID", "Sample", "clade_name", "", "sample-id", "taxon", "id"]))
    header = [first, *draw(st.lists(_HOSTILE_NAME, min_size=width, max_size=width))]
    ids = draw(st.lists(st.one_of(_HOSTILE_NAME, st.sampled_from(["g__A", "g__B", "s1", "s2"])), min_size=1,
                        max_size=6))
    ragged = draw(st.booleans())
    rows = []
    for label in ids:
        n = draw(st.integers(max(0, width - 2), width + 2)) if ragged else width
        rows.append([label, *draw(st.lists(_CELL, min_size=n, max_size=n))])
    quote = draw(st.booleans())
    lines = [sep.join(f'"{f}"' if quote else f for f in row) for row in [header, *rows]]
    if draw(st.booleans()):
        lines.insert(0, draw(st.sampled_from(["# comment", "#q2:types\tnumeric", "# gutlink feature table: units=counts",
                                              "#mpa_v30"])))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = eol.join(lines) + draw(st.sampled_from(["", eol]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    return _compress(data, draw(st.sampled_from([None, "gzip", "bz2", "xz", "zip"])))


def _compress(data: bytes, how: str | None) -> bytes:
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "bz2":
        return bz2.compress(data)
    if how == "xz":
        return lzma.compress(data)
    if how == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as archive:
            archive.writestr("table.tsv", data)
        return buf.getvalue()
    return data


@pytest.mark.parametrize("reader", ["detect", "table", "genus", "metadata", "metaphlan"])
@budget(3)
@given(data=hostile_tables())
def test_hostile_tables_are_read_or_refused(reader, data):
    _run(reader, data)


@budget(3)
@given(data=hostile_tables(), rows=st.booleans())
def test_hostile_tables_with_named_columns(data, rows):
    """metadata_columns= / feature_columns= naming labels that may or may not be in the table."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.tsv"
        path.write_bytes(data)
        key = "metadata_columns" if rows else "feature_columns"
        read_or_refuse(read, path, **{key: ["Age", "g__A", "s1"]})


# ------------------------------------------------------------------------------------------ round trips
_ID = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zl", "Zp"]), min_size=1,
              max_size=10).map(str.strip).filter(bool)


#: Taxon names: lineage parsing drops quotes and reads placeholders ('unclassified', 'NA', 'None') as no name.
_TAXON_NAME = st.text(st.sampled_from("ABCXYZabcxyz019 _-.[]éü"), min_size=1, max_size=12).map(str.strip).filter(
    lambda s: s and s.lower() not in {"unclassified", "unknown", "na", "nan", "none", "uncultured", "__"})


@st.composite
def cohorts(draw) -> Cohort:
    n = draw(st.integers(1, 5))
    p = draw(st.integers(1, 6))
    samples = draw(st.lists(_ID, min_size=n, max_size=n, unique=True))
    features = draw(st.lists(_ID, min_size=p, max_size=p, unique=True))
    units = draw(st.sampled_from(["counts", "fraction", "percent"]))
    if units == "counts":
        x = np.array(draw(st.lists(st.integers(0, 2**53 - 1), min_size=n * p, max_size=n * p)), dtype=float)
    else:
        x = np.array(draw(st.lists(st.floats(0, 1, allow_subnormal=False), min_size=n * p, max_size=n * p)))
        x = x.reshape(n, p)
        x = (x / np.maximum(x.sum(axis=1, keepdims=True), 1.0)).ravel() * (100 if units == "percent" else 1)
    x = x.reshape(n, p)
    genus = draw(st.lists(st.one_of(st.none(), _TAXON_NAME), min_size=p, max_size=p))
    taxonomy = lineage_table([""] * p, index=features)
    taxonomy["genus"] = genus
    taxonomy = taxonomy.astype(object).where(taxonomy.notna(), None)
    return Cohort(x, metadata=pd.DataFrame(index=pd.Index(samples, dtype=object)), taxonomy=taxonomy, units=units)


def _same(back: Cohort, c: Cohort) -> None:
    assert back.sample_ids.tolist() == c.sample_ids.tolist()
    assert back.feature_ids.tolist() == c.feature_ids.tolist()
    assert back.units == c.units
    np.testing.assert_array_equal(back.dense(), c.dense())
    assert back.taxonomy["genus"].tolist() == c.taxonomy["genus"].tolist()


@budget(4)
@given(c=cohorts())
def test_write_tsv_then_read_preserves_the_cohort(c):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.tsv"
        write_tsv(c, path)
        _same(read(path), c)


@budget(2)
@given(c=cohorts())
def test_write_biom_then_read_preserves_the_cohort(c):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.biom"
        write_biom(c, path)
        _same(read(path), c)


_VALUE = st.one_of(st.integers(-10**6, 10**6).map(str), st.sampled_from(["CD", "UC", "control", "a b", "x,y", 'q"'])
                   , _ID)


@budget(3)
@given(ids=st.lists(_ID.filter(lambda s: not s.startswith("#")), min_size=1, max_size=6, unique=True),
       names=st.lists(_ID, min_size=1, max_size=4, unique=True), data=st.data(), sep=st.sampled_from(["\t", ","]))
def test_metadata_written_by_pandas_reads_back(ids, names, data, sep):
    """(A line starting with '#' is a comment in QIIME 2 metadata, so IDs starting with '#' are not generated.)"""
    names = [n for n in names if n.lower() not in ("sample_id", "id", "sampleid")] or ["v"]
    frame = pd.DataFrame({n: data.draw(st.lists(_VALUE, min_size=len(ids), max_size=len(ids))) for n in names},
                         index=pd.Index(ids, name="sample_id"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.tsv"
        frame.to_csv(path, sep=sep)
        back = read_or_refuse(read_metadata, path)
        if isinstance(back, GutlinkError):
            return  # refused with a message (e.g. a value that reads as a missing-value spelling): allowed
        assert back.index.tolist() == ids
        assert [str(c) for c in back.columns] == names


# ------------------------------------------------------------------------------------------ regressions (fuzz crashes)
def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _refused(path: Path, **kwargs) -> InputFormatError:
    with pytest.raises(InputFormatError) as info:
        read(path, **kwargs)
    return info.value


def test_duplicate_column_names_in_a_table_of_bare_names(tmp_path):
    # was TypeError (pandas to_numeric on a DataFrame) while guessing the orientation
    err = _refused(_write(tmp_path, "t.csv", "id,a,a\nx,1,2\ny,3,4\n"))  # numbers only: samples are columns
    assert err.line == 1 and err.column == "a" and "duplicate sample ID" in err.message
    err = _refused(_write(tmp_path, "u.csv", "id,a,a,group\nx,1,2,case\ny,3,4,control\n"))  # samples are rows
    assert err.line == 1 and err.column == "a" and "duplicate column name" in err.message


def test_duplicate_sample_columns_still_say_sample(tmp_path):
    err = _refused(_write(tmp_path, "t.tsv", "taxon\tS1\tS1\ng__A\t1\t2\n"))
    assert err.column == "S1" and "duplicate sample" in err.message


def test_infer_dtypes_keeps_two_columns_of_one_name():
    # was TypeError: factorize got a DataFrame
    out = infer_dtypes(pd.DataFrame([["1", "x"], ["2", "y"]], columns=["a", "a"]))
    assert out.columns.tolist() == ["a", "a"] and out.iloc[:, 0].tolist() == [1, 2]


def test_carriage_return_inside_the_header(tmp_path):
    # was _csv.Error: new-line character seen in unquoted field
    err = _refused(_write(tmp_path, "t.tsv", "feature\tS1\r\tS2\ng__A\t1\t2\n"))
    assert err.line == 1 and "carriage return" in str(err)


def test_carriage_return_in_a_quoted_table_body(tmp_path):
    path = _write(tmp_path, "t.tsv", 'feature\tS1\tS2\ng__A\t"1"\t2\rx\ng__B\t1\t2\n')
    assert isinstance(read_or_refuse(read, path), (Cohort, GutlinkError))


def test_combined_kreport_without_its_columns(tmp_path):
    # was KeyError: 'lvl_type'
    err = _refused(_write(tmp_path, "k.txt", "#Number of Samples: 1\nperc\ttot_all\ttot_lvl\tS1_all\tS1_lvl\ttaxid\tname\n"
                                             "100\t5\t5\t5\t5\t0\tunclassified\n"))
    assert err.line == 2 and "lvl_type" in err.message


def test_kraken_report_of_comments_only(tmp_path):
    # was pandas EmptyDataError
    err = _refused(_write(tmp_path, "S1.kreport", "# a comment\n\n\n"), format="kraken")
    assert "no rows" in err.message


def test_metaphlan_rows_wider_than_the_header(tmp_path):
    # was ValueError: Length mismatch (pandas took the extra leading field as the index)
    text = ("#mpa_v30_CHOCOPhlAn_201901\n#clade_name\tNCBI_tax_id\tadditional_species\n"
            "k__Bacteria\t2\t100.0\t\nk__Bacteria|p__Firmicutes\t2|1239\t70.0\t\n")
    err = _refused(_write(tmp_path, "S1_profile.txt", text))
    assert err.line == 3 and "4 fields where the header has 3" in err.message


def test_metaphlan_metadata_row_beside_a_taxid_column(tmp_path):
    # was ValueError: Length mismatch (the metadata row's taxid-column value counted as a sample)
    text = ("#mpa_v30_CHOCOPhlAn_201901\nclade_name\tNCBI_tax_id\tS1\tS2\nstudy\t-\tA\tB\n"
            "k__Bacteria\t2\t100.0\t100.0\nk__Bacteria|p__Firmicutes\t2|1239\t60.0\t30.0\n")
    c = read(_write(tmp_path, "m.tsv", text))
    assert c.sample_ids.tolist() == ["S1", "S2"] and c.metadata["study"].tolist() == ["A", "B"]


@pytest.mark.parametrize("name, kwargs, message", [
    ("hdf5_bad_object_header.biom", {"format": "biom"}, "not a valid BIOM 2.x HDF5"),  # was RuntimeError (h5py)
    ("zip_negative_seek.biom", {"format": "biom"}, "zip stream is truncated or corrupt"),  # ValueError: negative seek
    ("qza_member_bad_deflate.qza", {}, ".qza archive is corrupt"),  # was zlib.error
    ("zip_version_11.csv", {"format": "table"}, "zip stream is truncated or corrupt"),  # NotImplementedError
    ("qza_negative_seek.qza", {"rank": "genus"}, ".qza archive is corrupt"),  # was ValueError: negative seek value
    ("zip_empty_member_name.biom", {"format": "biom"}, "zip"),  # was IndexError in ZipInfo.is_dir
    ("zip_encrypted_member.txt", {"format": "metaphlan"}, "encrypted"),  # was RuntimeError: password required
])
def test_corrupt_archives_found_by_fuzzing(tmp_path, name, kwargs, message):
    path = _write(tmp_path, name, (DATA / name).read_bytes())
    err = _refused(path, **kwargs)
    assert message in str(err) and str(path) in str(err)


def test_biom_json_with_duplicate_observation_ids(tmp_path):
    # was biom TableException
    doc = ('{"id": "t", "format": "Biological Observation Matrix 1.0.0", "format_url": "x", "type": "OTU table", '
           '"generated_by": "x", "date": "2024-01-01", "matrix_type": "sparse", "matrix_element_type": "int", '
           '"shape": [2, 1], "data": [[0, 0, 5], [1, 0, 7]], "rows": [{"id": "o", "metadata": null}, '
           '{"id": "o", "metadata": null}], "columns": [{"id": "s1", "metadata": null}]}')
    err = _refused(_write(tmp_path, "t.biom", doc))
    assert "not a valid BIOM 1.0 table" in err.message and "Duplicate observation IDs" in err.message


def test_negative_value_beside_a_binary_column_in_a_samples_as_rows_table(tmp_path):
    # was RuntimeWarning: invalid value encountered in log1p (the Poisson rule ran on the negative column)
    err = _refused(_write(tmp_path, "t.tsv", "Sample\t\t0\n\t1\t-3.0"), format="table")
    assert "negative values" in err.message


# ------------------------------------------------------------------------------------------ regressions (round trips)
def _cohort(samples: list[str], features: list[str]) -> Cohort:
    x = np.arange(1, len(samples) * len(features) + 1, dtype=float).reshape(len(samples), len(features))
    return Cohort(x, metadata=pd.DataFrame(index=pd.Index(samples, dtype=object)),
                  taxonomy=lineage_table([""] * len(features), index=features), units="counts")


@pytest.mark.parametrize("samples, features", [
    (["S1", "S2"], ["None", "NA", "null", "nan", "N/A", "#N/A"]),  # were read back as '' (pandas NA spellings)
    (["TAXONOMY", "lineage", "Taxon"], ["g__A"]),  # sample columns were taken for the lineage column
    (["'=x", "=x"], ["'+1", "@a", "''-b"]),  # "'=x" lost its quote (read as the neutralised '=x')
])
def test_write_tsv_round_trip_keeps_awkward_ids(tmp_path, samples, features):
    c = _cohort(samples, features)
    write_tsv(c, tmp_path / "c.tsv")
    _same(read(tmp_path / "c.tsv"), c)


def test_feature_called_na_in_a_hand_written_table(tmp_path):
    c = read(_write(tmp_path, "t.tsv", "taxon\tS1\tS2\nNA\t1\t2\nNone\t3\t4\n"))
    assert c.feature_ids.tolist() == ["NA", "None"]


@pytest.mark.parametrize("data", [b'"feature"\t""\n""', b"feature\t\t\n\t\r\t0"])
def test_empty_labels_with_short_rows(tmp_path, data):
    # the labels' second read (for IDs that look like NA) failed: 'Too many columns specified'
    _refused(_write(tmp_path, "t.csv", data), format="table")


# ------------------------------------------------------------------------------------------ side files
FRANZOSA = Path(__file__).resolve().parent / "data" / "franzosa"
GMREPO = Path(__file__).resolve().parent / "data" / "gmrepo"
SIDE_FILES = {
    "lineage=": (FRANZOSA / "ibd_taxa.csv", FRANZOSA / "ibd_lineages.csv"),
    "sibling lineage": (FRANZOSA / "ibd_taxa.csv", FRANZOSA / "ibd_lineages.csv"),
    "species_id_names.csv": (GMREPO / "rawdata" / "RA_Metagenomics_species.csv", GMREPO / "species_id_names.csv"),
    "genus_id_names.csv": (GMREPO / "rawdata" / "RA_Metagenomics_species.csv", GMREPO / "genus_id_names.csv"),
    "genus_lineage.csv": (GMREPO / "rawdata" / "RA_Metagenomics_species.csv", GMREPO / "genus_lineage.csv"),
}


@pytest.mark.parametrize("kind", SIDE_FILES)
@budget(2)
@given(mutations=st.lists(_MUTATION, min_size=1, max_size=6), random=st.booleans(), noise=st.binary(max_size=200))
def test_hostile_lineage_and_name_files_beside_a_table(kind, mutations, random, noise):
    """A lineage table (lineage= or a sibling *lineage* file) or GMrepo name file that is corrupt."""
    table, side = SIDE_FILES[kind]
    data = noise if random else _mutate(side.read_bytes(), mutations)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "rawdata"
        folder.mkdir()
        path = folder / table.name
        path.write_bytes(table.read_bytes())
        if kind == "lineage=":
            (Path(tmp) / "given.csv").write_bytes(data)
            read_or_refuse(read, path, lineage=Path(tmp) / "given.csv")
            return
        if kind == "sibling lineage":
            (folder / side.name).write_bytes(data)
        else:
            for f in ("species_id_names.csv", "genus_id_names.csv", "genus_lineage.csv"):
                (Path(tmp) / f).write_bytes(data if f == kind else (GMREPO / f).read_bytes())
        read_or_refuse(read, path)


@pytest.mark.parametrize("name, data, message", [
    ("species_id_names.csv", b"", "is empty"),  # was pandas EmptyDataError
    ("species_id_names.csv", b"\n\n", "holds no data"),
    ("species_id_names.csv", b'"', "cannot parse the table"),  # was ParserError
    ("genus_id_names.csv", b"taxid\n1\n", "taxid and taxname"),  # was KeyError: 'taxname'
    ("genus_id_names.csv", b"\x80", "taxid and taxname"),  # was UnicodeDecodeError (pandas read the file itself)
    ("genus_lineage.csv", b"\x00\x01", "expected taxid"),  # was EmptyDataError
])
def test_corrupt_gmrepo_name_files_are_named(tmp_path, name, data, message):
    folder = tmp_path / "rawdata"
    folder.mkdir()
    table = folder / "RA_Metagenomics_species.csv"
    table.write_bytes((GMREPO / "rawdata" / table.name).read_bytes())
    for f in ("species_id_names.csv", "genus_id_names.csv", "genus_lineage.csv"):
        (tmp_path / f).write_bytes(data if f == name else (GMREPO / f).read_bytes())
    err = _refused(table)
    assert message in err.message and name in str(err.path)


def test_lineage_table_with_an_unclosed_quote_or_duplicate_ids(tmp_path):
    table = _write(tmp_path, "t.csv", (FRANZOSA / "ibd_taxa.csv").read_bytes())
    err = _refused(table, lineage=_write(tmp_path, "l.csv", '"'))  # was ParserError
    assert "cannot parse" in err.message
    err = _refused(table, lineage=_write(tmp_path, "m.csv", "id,Genus\na,X\na,Y\n"))  # reindex crashed later
    assert "duplicate feature" in err.message and err.line == 3


def test_infinite_count_in_the_unclassified_row_of_a_kraken_report(tmp_path):
    # was OverflowError: cannot convert float infinity to integer (the unclassified total)
    text = (" 10.00\tinf\t10\tU\t0\tunclassified\n 90.00\t90\t0\tR\t1\troot\n"
            " 90.00\t90\t5\tD\t2\t  Bacteria\n 40.00\t40\t40\tS\t817\t    Bacteroides fragilis\n")
    err = _refused(_write(tmp_path, "S1.kreport", text), format="kraken")
    assert err.line == 1 and "invalid read count" in err.message


# ------------------------------------------------------------------------------------------ folders of reports
_REPORTS = [p for p in SEEDS if p.suffix in (".kreport", ".k2report", ".bracken") or p.name.startswith("metaphlan_p")]


@budget(2)
@given(picks=st.lists(st.tuples(st.sampled_from(_REPORTS), st.lists(_MUTATION, max_size=3)), min_size=1, max_size=3),
       names=st.lists(st.sampled_from(["S1.kreport", "S2.kreport", "S1_bracken_species.kreport", "A_profile.txt",
                                       "S1.bracken", ".hidden", "S1.KREPORT"]), min_size=3, max_size=3))
def test_folders_of_hostile_reports_are_read_or_refused(picks, names):
    """read(folder) and read([files]): single-sample reports combined; names may clash (same sample twice)."""
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for (seed, mutations), name in zip(picks, names):
            path = Path(tmp) / name
            path.write_bytes(_mutate(seed.read_bytes(), mutations))
            files.append(path)
        read_or_refuse(read, tmp)
        read_or_refuse(read, files)


def test_large_negative_value_beside_a_count_column(tmp_path):
    # was RuntimeWarning: overflow encountered in exp (the zero-count rule ran on the negative column)
    err = _refused(_write(tmp_path, "t.tsv", "Sample\t\t0\n\t1\t-710.0"), format="table")
    assert "negative values" in err.message


@pytest.mark.parametrize("field, values", [
    ("indptr", [0, 5, 3]),  # falling indptr: scipy's CSC → CSR conversion read out of bounds (segmentation fault)
    ("indices", [0, 7, 1]),  # an observation index beyond the observations
    ("indptr", [0, 1]),  # too short for the samples
])
def test_inconsistent_hdf5_sparse_matrix_is_refused_not_a_segfault(tmp_path, field, values):
    import h5py

    c = _cohort(["S1", "S2"], ["g__A", "g__B"])
    path = tmp_path / "t.biom"
    write_biom(c, path)
    with h5py.File(path, "r+") as handle:
        group = handle["sample/matrix"]
        dtype = group[field].dtype
        del group[field]
        group.create_dataset(field, data=np.array(values, dtype=dtype))
        if field == "indices":
            del group["data"]
            group.create_dataset("data", data=np.ones(len(values)))
            del group["indptr"]
            group.create_dataset("indptr", data=np.array([0, 2, 3], dtype=dtype))
    err = _refused(path)
    assert "sparse matrix (sample/matrix) is inconsistent" in err.message


# ------------------------------------------------------------------------------------------ options
_OPTION_TEXT = st.one_of(st.text(max_size=10), st.sampled_from(["kingdomz", "", "genus", "Species", "g", "S1", "counts",
                                                              "percent", "fraction", "table", "biom", "qza"]))


@budget(3)
@given(seed=st.sampled_from(SEEDS), rank=st.one_of(st.none(), _OPTION_TEXT),
       units=st.one_of(st.none(), _OPTION_TEXT), fmt=st.one_of(st.none(), _OPTION_TEXT),
       max_input=st.one_of(st.none(), st.integers(0, 5000)))
def test_any_options_are_used_or_refused(seed, rank, units, fmt, max_input):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / seed.name
        path.write_bytes(seed.read_bytes())
        options = {"rank": rank, "units": units, "format": fmt}
        if max_input is not None:
            options["max_input"] = max_input
        read_or_refuse(read, path, **options)


def test_unknown_rank_is_an_input_error(tmp_path):
    # was a plain ValueError from normalise_rank for Kraken, Bracken, MetaPhlAn and table files
    err = _refused(_write(tmp_path, "S1.kreport", (CORPUS / "S1.kreport").read_bytes()), rank="kingdomz")
    assert "unknown rank 'kingdomz'" in err.message


def test_normalise_rank_raises_a_design_error():
    # issue 12: was a plain ValueError (a traceback from Cohort.aggregate); still a ValueError for old callers
    from gutlink.errors import DesignError, GutlinkError
    from gutlink.taxonomy import normalise_rank

    with pytest.raises(DesignError, match="unknown rank 'kingdomz'") as info:
        normalise_rank("kingdomz")
    assert isinstance(info.value, GutlinkError) and isinstance(info.value, ValueError)
    assert "\\x1b" in str(pytest.raises(DesignError, normalise_rank, "g\x1b[31m").value)  # no terminal escapes


def test_corrupt_hdf5_global_heap_does_not_hang(tmp_path):
    """libhdf5 loops forever on a string attribute of this corrupt file (found by atheris, seed 99): the probe in a
    forked child with a time limit turns it into an error naming the file."""
    import subprocess
    import sys

    path = _write(tmp_path, "t.biom", (DATA / "hdf5_corrupt_global_heap_hangs.biom").read_bytes())
    code = ("import sys\nimport gutlink.io.biom as b\nfrom gutlink.io import read\n"
            "from gutlink.errors import GutlinkError\nb.hdf5_time_limit = lambda n: 3.0\n"
            f"try:\n    read({str(path)!r})\nexcept GutlinkError as e:\n    print(e)\n    sys.exit(0)\n")
    done = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "t.biom" in done.stdout and ("did not finish" in done.stdout or "not a valid" in done.stdout)


def test_hdf5_probe_passes_a_good_file_and_reports_a_crash(tmp_path, monkeypatch):
    import signal

    import gutlink.io.biom as biom_reader
    from gutlink.datasets import toy
    from gutlink.errors import InputFormatError
    from gutlink.io import read, write_biom

    good = tmp_path / "good.biom"
    write_biom(toy(), good)
    assert read(good).n_samples == toy().n_samples

    def crash(handle):
        os.kill(os.getpid(), signal.SIGSEGV)

    monkeypatch.setattr(biom_reader, "_touch", crash)
    with pytest.raises(InputFormatError, match="crashed reading it"):
        read(good)
