"""Bad input gives an InputFormatError that names the file, the line/column where known, and a fix."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import zipfile
from pathlib import Path

import pytest

from gutlink.errors import GutlinkError, InputFormatError
from gutlink.io import read, read_metadata

DATA = Path(__file__).parent / "data"
TRIED = "tried metaphlan, biom, qza, kraken, bracken, table"


def _error(path: Path, **kwargs) -> InputFormatError:
    with pytest.raises(InputFormatError) as info:
        read(path, **kwargs)
    err = info.value
    assert isinstance(err, GutlinkError) and isinstance(err, ValueError)
    assert err.path is not None and Path(err.path).name == path.name.split("!")[0]
    return err


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# ------------------------------------------------------------------------------------- empty / unknown
def test_empty_file(tmp_path):
    err = _error(_write(tmp_path, "empty.tsv", b""))
    assert "empty" in err.message and err.hint


def test_blank_file_after_decompression(tmp_path):
    err = _error(_write(tmp_path, "blank.tsv.gz", gzip.compress(b"\n\n  \n")))
    assert "no data" in err.message


def test_unknown_binary_format_names_formats_tried(tmp_path):
    err = _error(_write(tmp_path, "image.tsv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)))
    assert TRIED in err.message and "format=" in err.hint


def test_unknown_text_format(tmp_path):
    err = _error(_write(tmp_path, "notes.txt", "just some words\nand nothing like a table\n"))
    assert TRIED in err.message


def test_unknown_format_name(tmp_path):
    err = _error(DATA / "metaphlan3_merged.tsv", format="csv")
    assert "unknown format 'csv'" in err.message


# ------------------------------------------------------------------------------------ corrupt containers
@pytest.mark.parametrize(("kind", "compress"), [("gzip", gzip.compress), ("bz2", bz2.compress), ("xz", lzma.compress)])
def test_truncated_compressed_stream(tmp_path, kind, compress):
    data = compress((DATA / "metaphlan3_merged.tsv").read_bytes())
    err = _error(_write(tmp_path, f"cut.{kind}", data[: len(data) // 2]))
    assert kind in err.message and "truncated or corrupt" in err.message and "-t" in err.hint


def test_corrupt_gzip_body(tmp_path):
    data = bytearray(gzip.compress((DATA / "metaphlan3_merged.tsv").read_bytes()))
    data[20:40] = b"\xff" * 20
    err = _error(_write(tmp_path, "bad.gz", bytes(data)))
    assert "gzip" in err.message


def test_zip_with_several_files_is_not_guessed(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.tsv", "x\ty\n")
        z.writestr("b.tsv", "x\ty\n")
    err = _error(path)
    assert "2 files" in err.message


def test_corrupt_biom_hdf5(tmp_path):
    data = (DATA / "sokol_gg_cut.biom").read_bytes()
    err = _error(_write(tmp_path, "cut.biom", data[:4096]))
    assert "BIOM 2.x HDF5" in err.message


def test_biom_json_syntax_error_has_line_and_column(tmp_path):
    text = (DATA / "tiny_v1.biom").read_text().replace('"shape": [3, 2],', '"shape": [3, 2]')
    err = _error(_write(tmp_path, "broken.biom", text))
    assert err.line == 4 and err.column == 2 and "JSON" in err.message


def test_json_that_is_not_biom(tmp_path):
    err = _error(_write(tmp_path, "other.json", json.dumps({"hello": "world"})))
    assert "BIOM 1.0" in err.message


def test_qza_without_biom(tmp_path):
    path = tmp_path / "taxonomy.qza"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("u1/metadata.yaml", "uuid: u1\ntype: FeatureData[Taxonomy]\nformat: TSVTaxonomyDirectoryFormat\n")
        z.writestr("u1/data/taxonomy.tsv", "Feature ID\tTaxon\nx\tk__Bacteria\n")
    err = _error(path)
    assert "no BIOM feature table" in err.message and "FeatureData[Taxonomy]" in err.message
    assert "FeatureTable[Frequency]" in err.hint


def test_qza_units_conflict(tmp_path):
    err = _error(DATA / "sokol_gg_cut.qza", units="fraction")
    assert "FeatureTable[Frequency]" in err.message


# --------------------------------------------------------------------------------------- bad cells
def test_non_numeric_cell_line_and_column(tmp_path):
    path = _write(tmp_path, "t.tsv", "taxon\tS1\tS2\ng__A\t1\t2\ng__B\t3\tabc\ng__C\t0\t1\n")
    err = _error(path)
    assert (err.line, err.column) == (3, "S2") and "'abc'" in err.message


def test_non_numeric_cell_in_metaphlan_table(tmp_path):
    text = (DATA / "metaphlan3_merged.tsv").read_text().replace("\t25.0\t50.0\t0.0", "\t25.0\tn/a!\t0.0")
    err = _error(_write(tmp_path, "m.tsv", text))
    assert err.column == "S2" and err.line == 21 and "n/a!" in err.message


def test_non_numeric_cell_samples_as_rows(tmp_path):
    path = _write(tmp_path, "g.csv", "id,ncbi_816,ncbi_817,Group\nA,0.5,0.5,case\nB,0.2,oops,control\n")
    err = _error(path)
    assert (err.line, err.column) == (3, "ncbi_817")


def test_missing_value(tmp_path):
    err = _error(_write(tmp_path, "t.tsv", "taxon\tS1\tS2\ng__A\t1\t2\ng__B\t\t4\n"))
    assert (err.line, err.column) == (3, "S1") and "missing" in err.message


def test_negative_value(tmp_path):
    err = _error(_write(tmp_path, "t.csv", "taxon,S1,S2\ng__A,1,-2\ng__B,3,4\n"))
    assert (err.line, err.column) == (2, "S2") and "negative" in err.message and "CLR" in err.hint


def test_nan_in_biom_is_rejected_with_path(tmp_path):
    doc = json.loads((DATA / "tiny_v1.biom").read_text())
    doc["matrix_element_type"] = "float"
    doc["data"][0][2] = -1
    err = _error(_write(tmp_path, "neg.biom", json.dumps(doc)))
    assert "negative" in err.message


def test_row_with_too_many_fields(tmp_path):
    err = _error(_write(tmp_path, "t.tsv", "taxon\tS1\tS2\ng__A\t1\t2\ng__B\t3\t4\t5\n"))
    assert err.line == 3


# ------------------------------------------------------------------------------------------ duplicates
def test_duplicate_sample_ids(tmp_path):
    err = _error(_write(tmp_path, "t.tsv", "taxon\tS1\tS1\ng__A\t1\t2\n"))
    assert err.column == "S1" and "duplicate sample" in err.message


def test_duplicate_feature_ids(tmp_path):
    err = _error(_write(tmp_path, "t.tsv", "taxon\tS1\tS2\ng__A\t1\t2\ng__B\t1\t2\ng__A\t3\t4\n"))
    assert err.line == 4 and "duplicate feature" in err.message


def test_duplicate_clade_rows_in_metaphlan(tmp_path):
    lines = (DATA / "metaphlan3_merged.tsv").read_text().splitlines()
    err = _error(_write(tmp_path, "m.tsv", "\n".join([*lines, lines[5]]) + "\n"))
    assert err.line == len(lines) + 1


def test_duplicate_samples_across_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for sub in ("a", "b"):
        (tmp_path / sub / "S1.kreport").write_bytes((DATA / "kraken/S1.kreport").read_bytes())
    with pytest.raises(InputFormatError, match="occurs in several files"):
        read([tmp_path / "a/S1.kreport", tmp_path / "b/S1.kreport"])


def test_mixed_units_do_not_combine():
    with pytest.raises(InputFormatError, match="different units"):
        read([DATA / "kraken/S1.kreport", DATA / "profiles/A_profile.txt"])


# ------------------------------------------------------------------------------------- units and ranks
def test_sum_inconsistent_with_declared_units():
    err = _error(DATA / "metaphlan3_merged.tsv", units="fraction")
    assert err.column == "S1" and "sums to 100" in err.message and "units=" in err.hint


def test_counts_declared_percent():
    err = _error(DATA / "kraken/S1.kreport", units="percent")
    assert "730" in err.message


def test_samples_as_rows_sum_error_gives_line(tmp_path):
    err = _error(_write(tmp_path, "t.csv", "id,g__A,g__B\nA,0.5,0.5\nB,0.9,0.8\n"), units="fraction")
    assert err.line == 3 and err.column is None


def test_absent_rank():
    err = _error(DATA / "profiles/B_profile.txt", rank="strain")
    assert "no strain rows" in err.message and "species" in err.message


def test_bracken_rank_mismatch():
    err = _error(DATA / "bracken/S1.bracken", rank="genus")
    assert "species estimates" in err.message and "-l G" in err.hint


def test_kraken_bad_rank_code(tmp_path):
    text = (DATA / "kraken/S1.kreport").read_text().replace("\tG\t816\t", "\tgenus\t816\t")
    err = _error(_write(tmp_path, "S9.kreport", text), format="kraken")
    assert err.line == 19 and "rank code" in err.message


# -------------------------------------------------------------------------------------------- metadata
def test_metadata_duplicate_ids(tmp_path):
    path = _write(tmp_path, "m.tsv", "#SampleID\tage\n# a comment\nS1\t3\nS2\t4\nS1\t5\n")
    with pytest.raises(InputFormatError) as info:
        read_metadata(path)
    assert (info.value.line, info.value.column) == (5, "#SampleID") or info.value.line == 5


def test_metadata_q2_numeric_column_with_text(tmp_path):
    path = _write(tmp_path, "m.tsv", "id\tage\n#q2:types\tnumeric\nS1\t3\nS2\tforty\n")
    with pytest.raises(InputFormatError) as info:
        read_metadata(path)
    assert (info.value.line, info.value.column) == (4, "age")


def test_metadata_unknown_id_column():
    with pytest.raises(InputFormatError, match="no column 'nope'"):
        read_metadata(DATA / "q2_metadata.tsv", id_column="nope")


def test_corrupt_biom_inside_qza(tmp_path):
    path = tmp_path / "bad.qza"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("u1/metadata.yaml", "uuid: u1\ntype: FeatureTable[Frequency]\nformat: BIOMV210DirFmt\n")
        z.writestr("u1/data/feature-table.biom", b"\x89HDF\r\n\x1a\n" + bytes(100))
    with pytest.raises(InputFormatError) as info:
        read(path)
    assert info.value.path.startswith(str(path)) and "u1/data/feature-table.biom" in info.value.path


def test_bad_cell_after_r_row_numbers_has_line(tmp_path):
    path = _write(tmp_path, "r.csv", '"","Row.names","ncbi_1","ncbi_2","Group"\n"1","A",0.5,0.5,"x"\n'
                                     '"2","B",0.5,-0.5,"y"\n')
    err = _error(path)
    assert (err.line, err.column) == (3, "ncbi_2")
