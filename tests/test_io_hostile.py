"""A hostile-input corpus for the readers and writers (issue 12): every case is an InputFormatError that names the
file and, where there is one, the line and column; or, for the writers, a cell a spreadsheet would not run."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gutlink.cohort import Cohort
from gutlink.errors import InputFormatError
from gutlink.io import read, read_metadata, write_tsv
from gutlink.io.writers import neutralise
from gutlink.report.export import to_tsv
from gutlink.taxonomy import lineage_table

TABLE = "feature\tS1\tS2\tS3\ng__A\t1\t3\t5\ng__B\t1\t2\t7\n"


def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _raises(call, *args, **kwargs) -> InputFormatError:
    with pytest.raises(InputFormatError) as info:
        call(*args, **kwargs)
    return info.value


# ----------------------------------------------------------------------------------------- ragged rows
def test_header_two_fields_short_is_refused_not_shifted(tmp_path):
    path = _write(tmp_path, "shifted.tsv", "feature\tS1\ng__A\t1\t3\t5\ng__B\t1\t2\t7\n")
    err = _raises(read, path)
    assert err.path == str(path) and err.line == 2
    assert "4 fields" in err.message and "header (line 1) has 2" in err.message and "2 row(s)" in err.message


def test_short_row_names_its_line_and_counts(tmp_path):
    path = _write(tmp_path, "short.tsv", "feature\tS1\tS2\tS3\ng__A\t1\t3\t5\ng__B\t1\t2\n")
    err = _raises(read, path)
    assert err.line == 3 and "3 fields" in err.message and "has 4" in err.message and "fewer" in err.message


def test_long_row_after_comment_lines_counts_file_lines(tmp_path):
    path = _write(tmp_path, "long.tsv", "# made by hand\n" + TABLE + "g__C\t1\t2\t3\t4\n")
    err = _raises(read, path)
    assert err.line == 5 and "5 fields" in err.message and "(line 2)" in err.message


def test_r_header_without_row_name_column_still_reads(tmp_path):
    c = read(_write(tmp_path, "r.tsv", "S1\tS2\ng__A\t1\t3\ng__B\t2\t2\n"))
    assert c.sample_ids.tolist() == ["S1", "S2"] and c.to_frame().loc["S2"].tolist() == [3.0, 2.0]


def test_quoted_newline_in_header_is_refused(tmp_path):
    path = _write(tmp_path, "q.csv", 'feature,"S1\nS2",S3\ng__A,1,2\n')
    err = _raises(read, path)
    assert err.line == 1 and "unclosed quote" in err.message


def test_quoted_delimiter_inside_a_field_is_one_field(tmp_path):
    c = read(_write(tmp_path, "quoted.csv", 'feature,S1,S2\n"g__A,x",1,2\ng__B,3,4\n'))
    assert c.feature_ids.tolist() == ["g__A,x", "g__B"]


@pytest.mark.parametrize(("text", "line", "found"), [
    ("id\tage\tgroup\nS1\t3\nS2\t4\tctl\n", 2, 2),
    ("id\tage\tgroup\nS1\t3\tcase\textra\nS2\t4\tctl\n", 2, 4),
    ("id\tage\tgroup\n#q2:types\tnumeric\tcategorical\nS1\t3\tcase\n\nS2\t4\n", 5, 2),
])
def test_metadata_ragged_rows(tmp_path, text, line, found):
    err = _raises(read_metadata, _write(tmp_path, "m.tsv", text))
    assert err.line == line and f"{found} fields" in err.message and "has 3" in err.message


def test_metadata_r_header_keeps_ids(tmp_path):
    m = read_metadata(_write(tmp_path, "r.tsv", "age\tgroup\nS1\t3\tcase\nS2\t4\tctl\n"))
    assert m.index.tolist() == ["S1", "S2"] and m["age"].tolist() == [3, 4] and m["group"].tolist() == ["case", "ctl"]


# ------------------------------------------------------------------------------------------- encodings
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_tables_are_decoded(tmp_path, encoding):
    c = read(_write(tmp_path, "t.tsv", TABLE.encode(encoding)))
    assert c.to_frame().loc["S3"].tolist() == [5.0, 7.0]
    assert c.history[0]["encoding"].startswith(encoding[:6])


def test_utf16_metadata_is_decoded_not_shown_as_nul_bytes(tmp_path):
    m = read_metadata(_write(tmp_path, "m.tsv", "sample\tage\nS1\t31\nS2\t40\n".encode("utf-16")))
    assert m.index.tolist() == ["S1", "S2"] and m["age"].tolist() == [31, 40]


def test_broken_utf16_names_the_encoding(tmp_path):
    data = "feature\tS1\n".encode("utf-16") + b"\x00\xd8"  # a lone high surrogate at the end
    err = _raises(read, _write(tmp_path, "bad16.tsv", data))
    assert "UTF-16" in err.message and "iconv" in err.hint


# ----------------------------------------------------------------------------------------- huge values
@pytest.mark.parametrize("value", ["9223372036854775808", "18446744073709551616", "99999999999999999999999999",
                                   "9007199254740992"])
def test_counts_beyond_2_53_name_line_and_column(tmp_path, value):
    path = _write(tmp_path, "big.tsv", f"feature\tS1\tS2\ng__A\t3\t{value}\ng__B\t1\t2\n")
    err = _raises(read, path)
    assert (err.line, err.column) == (2, "S2") and "too large" in err.message and "negative" not in err.message


def test_infinite_value_names_line_and_column(tmp_path):
    err = _raises(read, _write(tmp_path, "inf.tsv", "feature\tS1\tS2\ng__A\t3\t1\ng__B\t1e400\t2\n"))
    assert (err.line, err.column) == (3, "S1") and "infinite" in err.message


def test_largest_exact_count_still_reads(tmp_path):
    c = read(_write(tmp_path, "ok.tsv", "feature\tS1\ng__A\t9007199254740991\ng__B\t1\n"))
    assert c.to_frame().loc["S1", "g__A"] == 2**53 - 1


# -------------------------------------------------------------------------------------- decompression cap
_BOMB = b"feature\tS1\n" + b"g__A\t1\n" * 400_000  # 2.8 MB of text, a few KB compressed


@pytest.mark.parametrize(("kind", "pack"), [
    ("gzip", gzip.compress), ("bz2", bz2.compress), ("xz", lzma.compress),
    ("zip", lambda data: _zip({"table.tsv": data})),
])
def test_decompression_bomb_stops_at_max_input(tmp_path, kind, pack):
    path = _write(tmp_path, f"bomb.{kind}", pack(_BOMB))
    assert path.stat().st_size < 100_000
    err = _raises(read, path, max_input=1_000_000)
    assert err.path == str(path) and "max_input" in err.message and "--max-input" in err.hint
    assert "1000000 bytes" in err.message


def test_cap_is_not_hit_below_it(tmp_path):
    data = b"feature\tS1\tS2\n" + b"".join(b"g__%d\t1\t2\n" % i for i in range(5000))
    path = _write(tmp_path, "ok.gz", gzip.compress(data))
    assert read(path, max_input=len(data)).n_features == 5000
    err = _raises(read, path, max_input=len(data) - 1)
    assert "max_input" in err.message


def test_plain_file_over_max_input(tmp_path):
    path = _write(tmp_path, "big.tsv", TABLE)
    err = _raises(read, path, max_input=10)
    assert "the file holds more than 10 bytes" in err.message


def test_metadata_bomb(tmp_path):
    path = _write(tmp_path, "m.tsv.gz", gzip.compress(b"id\tx\n" + b"s\t1\n" * 300_000))
    err = _raises(read_metadata, path, max_input=100_000)
    assert err.path == str(path) and "max_input" in err.message


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_qza_member_bomb(tmp_path):
    uuid = "0a1b2c3d-0000-4000-8000-000000000000"
    qza = _zip({f"{uuid}/metadata.yaml": b"uuid: x\ntype: FeatureTable[Frequency]\nformat: BIOMV210DirFmt\n",
                f"{uuid}/data/feature-table.biom": b"\x89HDF\r\n\x1a\n" + bytes(3_000_000)})
    path = _write(tmp_path, "bomb.qza", qza)
    err = _raises(read, path, max_input=1_000_000)
    assert "max_input" in err.message and "feature-table.biom" in err.path


# ------------------------------------------------------------------------------------------ paths
def test_missing_file(tmp_path):
    err = _raises(read, tmp_path / "nope.tsv")
    assert "does not exist" in err.message and err.path.endswith("nope.tsv")


def test_folder_given_as_metadata(tmp_path):
    err = _raises(read_metadata, tmp_path)
    assert "folder" in err.message


def test_control_characters_in_file_names_and_cells_are_escaped(tmp_path):
    path = _write(tmp_path, "\x1b[31mred.tsv", "feature\tS1\ng__A\t\x1b[0mbad\n")
    err = _raises(read, path)
    text = str(err)
    assert "\x1b" not in text and "\\x1b[31mred.tsv" in text and err.column == "S1"


# ------------------------------------------------------------------------------------------- units
def test_fractional_values_over_100_are_not_rounded_into_counts(tmp_path):
    path = _write(tmp_path, "rel.tsv", "feature\tS1\tS2\ng__A\t50.5\t3\ng__B\t60\t2.5\n")
    err = _raises(read, path)
    assert (err.line, err.column) == (2, "S1") and "not whole numbers" in err.message
    assert "never rounds" in err.hint and "units='counts'" in err.hint


def test_declared_counts_keep_fractional_values_as_they_are(tmp_path):
    path = _write(tmp_path, "rel.tsv", "feature\tS1\tS2\ng__A\t50.5\t3\ng__B\t60\t2.5\n")
    c = read(path, units="counts")
    assert c.to_frame().loc["S1", "g__A"] == 50.5 and c.history[0]["non_integer_values"] == 2


@pytest.mark.parametrize(("text", "units"), [
    ("feature\tS1\tS2\ng__A\t0.25\t0.5\ng__B\t0.75\t0.5\n", "fraction"),
    ("feature\tS1\tS2\ng__A\t25.5\t50\ng__B\t70.25\t50\n", "percent"),
    ("feature\tS1\tS2\ng__A\t250\t50\ng__B\t700\t51\n", "counts"),
])
def test_units_detected(tmp_path, text, units):
    c = read(_write(tmp_path, "u.tsv", text))
    assert c.units == units and c.history[0]["units_from"] == "detected"
    assert "non_integer_values" not in c.history[0]


# ------------------------------------------------------------------------------------ formula injection
HOSTILE_IDS = ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tTAB", "\rCR"]


def test_neutralise_prefixes_text_and_keeps_numbers():
    frame = pd.DataFrame({"feature_id": HOSTILE_IDS + ["-1.5", "ok"], "effect": [-1.0, 2, -3, 4, -5, 6, -7.5, 8]},
                         index=pd.Index([f"=s{i}" for i in range(8)], name="@sample"))
    frame.columns = ["feature_id", "-effect"]
    safe = neutralise(frame)
    assert safe["feature_id"].tolist() == ["'" + v for v in HOSTILE_IDS] + ["-1.5", "ok"]
    assert safe.iloc[:, 1].tolist() == frame.iloc[:, 1].tolist() and safe.iloc[:, 1].dtype == np.float64
    assert safe.columns.tolist() == ["feature_id", "'-effect"] and safe.index.name == "'@sample"
    assert safe.index[0] == "'=s0" and frame["feature_id"].iloc[0] == HOSTILE_IDS[0]  # the input is not changed


def test_report_tsv_has_no_cell_starting_with_a_formula_character():
    frame = pd.DataFrame({"feature_id": HOSTILE_IDS, "q_value": [0.01, -0.5, 1e-10, 0.2, 0.3, 0.4]})
    lines = to_tsv(frame).split("\n")
    assert lines[1:-1] == ['"\'=HYPERLINK(""http://x"")"\t0.01', "'+cmd|' /C calc'!A0\t-0.5", "'-2+3\t1e-10",
                           "'@SUM(A1:A2)\t0.2", '"\'\tTAB"\t0.3', "'\rCR\t0.4"]  # numbers stay numbers


def test_write_tsv_neutralises_ids_and_read_restores_them(tmp_path):
    ids = ["=1+1", "@evil", "-A", "ok"]
    cohort = Cohort(np.array([[3.0, 1.0, 2.0, 5.0], [0.0, 2.0, 7.0, 1.0]]), metadata=pd.DataFrame(index=["+S1", "S2"]),
                    taxonomy=lineage_table(ids))
    path = tmp_path / "out.tsv"
    write_tsv(cohort, path)
    body = path.read_text().splitlines()
    assert body[1].split("\t")[2] == "'+S1" and [line.split("\t")[0] for line in body[2:]] == ["'=1+1", "'@evil",
                                                                                                 "'-A", "ok"]
    back = read(path)
    assert back.feature_ids.tolist() == ids and back.sample_ids.tolist() == ["+S1", "S2"]
    assert np.array_equal(back.dense(), cohort.dense())
