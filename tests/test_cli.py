"""The command line: demo, link on real files, convert, and bad input (exit 2, nothing written)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gutlink.cli import main


def test_demo_writes_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--permutations", "99", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert str(out / "report.html") in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_per_group"] == {"case": 121, "control": 34}
    assert summary["verdict"]["level"] == "evidence"
    for name in ["report.html", "tests.tsv", "permanova.tsv", "dysbiosis_scores.tsv", "alpha_diversity.tsv",
                 "differential.tsv", "predictions.tsv"]:
        assert (out / name).stat().st_size > 0
    html = (out / "report.html").read_text()
    assert 'id="fig-roc"' in html and 'id="fig-volcano"' in html


@pytest.mark.realdata
def test_link_on_real_files(tmp_path, shared_data):
    prism = shared_data / "ibd" / "franzosa2019_prism"
    out = tmp_path / "run"
    code = main(["link", str(prism / "ibd_taxa.csv"), "--metadata", str(prism / "ibd_metadata.csv"),
                 "--group", "Diagnosis", "--case", "UC", "--control", "Control", "--covariates", "Age",
                 "--metrics", "braycurtis", "--permutations", "99", "--out", str(out), "--quiet"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_per_group"] == {"case": 53, "control": 34}
    files = summary["inputs"]
    assert [f["role"] for f in files] == ["abundance", "metadata"] and len(files[0]["sha256"]) == 64


@pytest.mark.parametrize("argv, message", [
    (["--group", "Dx", "--case", "CD", "--control", "Control"], "no group column 'Dx'"),
    (["--group", "Diagnosis", "--case", "IBD", "--control", "Control"], "'IBD' does not occur"),
    (["--group", "Diagnosis", "--case", "CD", "--control", "Control", "--covariates", "bmi"], "no covariate column 'bmi'"),
])
def test_bad_design_exits_2_and_writes_nothing(tmp_path, capsys, shared_data, argv, message):
    prism = shared_data / "ibd" / "franzosa2019_prism"
    out = tmp_path / "run"
    code = main(["link", str(prism / "ibd_taxa.csv"), "--metadata", str(prism / "ibd_metadata.csv"), *argv,
                 "--out", str(out), "--quiet"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_unreadable_input_exits_2(tmp_path, capsys):
    bad = tmp_path / "table.tsv"
    bad.write_text("")
    assert main(["link", str(bad), "--group", "g", "--case", "a", "--control", "b", "--out",
                 str(tmp_path / "o")]) == 2
    assert "table.tsv" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_convert_roundtrip(tmp_path):
    from gutlink.io import read

    src = tmp_path / "toy.tsv"
    from gutlink.datasets import toy
    from gutlink.io import write_tsv

    write_tsv(toy(), src)
    assert main(["convert", str(src), str(tmp_path / "toy.biom")]) == 0
    back = read(tmp_path / "toy.biom")
    assert back.n_samples == 19 and back.n_features == 30


def test_convert_modes_and_refusals(tmp_path, capsys):
    import os
    import stat

    from gutlink.datasets import toy
    from gutlink.io import write_tsv

    src = tmp_path / "toy.tsv"
    write_tsv(toy(), src)
    out = tmp_path / "copy.tsv"
    old = os.umask(0o022)
    try:
        assert main(["convert", str(src), str(out)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # like any new file, not mkstemp's 0600
    before = out.read_bytes()
    assert main(["convert", str(src), str(out)]) == 2 and "already exists" in capsys.readouterr().err
    assert main(["convert", str(src), str(src), "--overwrite"]) == 2 and "replace the input" in capsys.readouterr().err
    assert main(["convert", str(src), str(tmp_path / "nodir" / "x.tsv")]) == 2
    assert out.read_bytes() == before and src.stat().st_size > 0


def test_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "gutlink", "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.startswith("gutlink ")


@pytest.mark.realdata
def test_partial_metadata_mismatch_is_reported(tmp_path, capsys, shared_data):
    import pandas as pd

    prism = shared_data / "ibd" / "franzosa2019_prism"
    meta = pd.read_csv(prism / "ibd_metadata.csv")
    meta.loc[:4, "id"] = [f"GHOST{i}" for i in range(5)]
    meta_path = tmp_path / "meta.csv"
    meta.to_csv(meta_path, index=False)
    out = tmp_path / "run"
    code = main(["link", str(prism / "ibd_taxa.csv"), "--metadata", str(meta_path), "--group", "Diagnosis",
                 "--case", "CD", "--control", "Control", "--metrics", "braycurtis", "--permutations", "19",
                 "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0
    assert "5 of 155 sample IDs match no abundance sample" in err and "'GHOST0'" in err
    assert "5 of 155 abundance samples have no metadata row" in err
    summary = json.loads((out / "summary.json").read_text())
    align = [h for h in summary["cohort_summary"]["history"] if h["op"] == "align"][0]
    assert align["n_metadata_only"] == 5


@pytest.mark.parametrize("argv, dest, value", [
    (["link", "x.tsv", "--group", "g", "--case", "a", "--control", "b", "--rng", "7"], "seed", 7),
    (["demo", "--rng", "3"], "seed", 3),
    (["mimicry", "--proteomes", "p.faa", "--jobs", "2"], "jobs", 2),
    (["mimicry", "--proteomes", "p.faa", "--n-jobs", "2"], "jobs", 2),
    (["differential", "x.tsv", "--formula", "~ g", "--rng", "4", "--jobs", "2"], "seed", 4),
    (["predict", "x.tsv", "--seed", "6"], "seed", 6),
    (["mimicry", "--proteomes", "p.faa", "--rng", "5"], "seed", 5),
])
def test_every_command_takes_rng_and_jobs(argv, dest, value):
    """--rng and --jobs mean the same in every command (link's --seed and mimicry's --n-jobs are aliases)."""
    from gutlink.cli import build_parser

    assert getattr(build_parser().parse_args(argv), dest) == value
