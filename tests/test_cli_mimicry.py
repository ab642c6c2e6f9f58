"""``gutlink mimicry`` end to end through ``gutlink.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from gutlink.cli import main

FAA = Path(__file__).parent / "data" / "mimicry" / "938293.PRJEB85.HG003687.faa.gz"


def _genomes(tmp_path: Path) -> Path:
    d = tmp_path / "genomes"
    d.mkdir()
    (d / "bugA.faa").write_text(">bugA_1\nMKVHFFKNIVTGGAVHFFQNVITA\n>bugA_2\nMSTIIPWNSFPGKL\n")
    (d / "bugB.faa").write_text(">bugB_1\nMKTAYIAKQRQISFVKSHFSRQ*\n")
    return d


def test_cli_writes_hits_burden_and_summary(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["mimicry", "--proteomes", str(_genomes(tmp_path)), "--epitopes", "builtin:MS", "--min-score", "40",
                 "--out", str(out), "--quiet"])
    assert code == 0
    hits = pd.read_csv(out / "hits.tsv", sep="\t")
    assert hits[["proteome", "protein", "start", "window", "score"]].values.tolist() == [
        ["bugA", "bugA_1", 3, "VHFFKNIVT", 48.0], ["bugA", "bugA_1", 15, "VHFFQNVIT", 42.0],
        ["bugA", "bugA_2", 4, "IIPWNSFPG", 49.0]]
    burden = pd.read_csv(out / "taxon_burden.tsv", sep="\t")
    assert set(burden["epitope_id"]) == {"MS_MBP_85-99", "MS_PLP1_core2"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_hits"] == 3 and summary["hits_per_disease"] == {"MS": 3}
    assert len(summary["inputs"]) == 2 and all(len(f["sha256"]) == 64 for f in summary["inputs"])
    assert "3 hits in 2 proteome(s)" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []


def test_cli_manifest_and_mismatch_mode(tmp_path):
    genomes = _genomes(tmp_path)
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text(f"taxon\tproteome\ns__A\t{genomes.name}/bugA.faa\ns__B\t{genomes.name}/bugB.faa\n")
    out = tmp_path / "mm"
    assert main(["mimicry", "--manifest", str(manifest), "--epitopes", "builtin:MS", "--max-mismatches", "0",
                 "--out", str(out), "--quiet"]) == 0
    burden = pd.read_csv(out / "taxon_burden.tsv", sep="\t")
    assert burden[["taxon", "epitope_id", "n_hits"]].values.tolist() == [["s__A", "MS_MBP_85-99", 1]]


def test_cli_errors_exit_2_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    bad = tmp_path / "bad.faa"
    bad.write_text(">x\nMK1V\n")
    assert main(["mimicry", "--proteomes", str(bad), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "record 'x' has '1' at residue 3" in err and not out.exists()
    assert main(["mimicry", "--proteomes", str(FAA), "--matrix", "NOPE62", "--out", str(out)]) == 2
    assert "unknown substitution matrix" in capsys.readouterr().err
    assert main(["mimicry", "--manifest", str(tmp_path / "missing.tsv"), "--out", str(out)]) == 2
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]
    out.mkdir()
    assert main(["mimicry", "--proteomes", str(FAA), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
