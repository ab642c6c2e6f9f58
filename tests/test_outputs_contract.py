"""Every command writes through the one writer: a walk over all commands on the bundled demo data checks that
each output folder carries the same provenance keys, lists every file with its sha256, uses one number format and
one NA convention in its TSVs, leaves no temporary folder behind and is never half-replaced; and that every
command answers bad input with exit 2 and a message, never a traceback."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gutlink.cli import main
from gutlink.datasets import resources
from gutlink.dynamics.simulate import simulate_glv

DEMO = Path(str(resources.files("gutlink.datasets") / "franzosa2019"))
TAXA, META = str(DEMO / "ibd_taxa.csv"), str(DEMO / "ibd_metadata.csv")
CD = ["--metadata", META, "--group", "Diagnosis", "--case", "CD", "--control", "Control"]

#: The keys every command's summary.json carries (gutlink.run.Run.provenance).
PROVENANCE = {"subcommand", "command", "gutlink_version", "inputs", "seed", "versions", "design", "design_checks"}
#: Cells that would mean a second missing-value convention (the one convention is ``NA``).
OTHER_MISSING = {"", "nan", "NaN", "None", "<NA>", "NaT", "null"}
DECIMAL = re.compile(r"-?(\d+)\.(\d+)(?:e[-+]\d+)?")


def _dynamics_inputs(folder: Path) -> list[str]:
    ts = simulate_glv(np.array([1.0, 0.7, 0.5]), -np.eye(3) - 0.05, n_subjects=4, times=np.arange(0, 8, 0.5),
                      rng=0)
    counts = (ts.relative * 1e4).round().T
    counts.index.name = "#OTU ID"
    counts.to_csv(folder / "counts.tsv", sep="\t")
    pd.DataFrame({"sampleID": ts.relative.index, "subject": ts.subjects, "time": ts.times}).to_csv(
        folder / "meta.tsv", sep="\t", index=False)
    return [str(folder / "counts.tsv"), "--metadata", str(folder / "meta.tsv"), "--subject", "subject",
            "--time", "time"]


def _trial_inputs(folder: Path) -> list[str]:
    """A pre/post design: eight subjects sampled daily from day -4 to day 4 (genus lineages, so --rank genus works)."""
    ts = simulate_glv(np.array([1.0, 0.7, 0.5, 0.6]), -np.eye(4) - 0.05, n_subjects=8, times=np.arange(0, 9, 1.0),
                      rng=1)
    counts = (ts.relative * 1e4).round().T
    counts.index = pd.Index([f"k__Bacteria;p__Firmicutes;c__C;o__O;f__F;g__Genus{i}" for i in range(4)],
                            name="#OTU ID")
    counts.to_csv(folder / "trial_counts.tsv", sep="\t")
    pd.DataFrame({"sampleID": ts.relative.index, "subject": ts.subjects, "day": np.asarray(ts.times) - 4}).to_csv(
        folder / "trial_meta.tsv", sep="\t", index=False)
    return [str(folder / "trial_counts.tsv"), "--metadata", str(folder / "trial_meta.tsv"), "--subject", "subject",
            "--time", "day", "--pre=-4:-1", "--post", "1:4"]


def _atlas_config(folder: Path) -> str:
    """One cohort (the demo) for gutlink atlas, with few permutations."""
    cfg = folder / "atlas.toml"
    cfg.write_text(f'[atlas]\npermutations = 19\n\n[[cohort]]\nname = "PRISM"\ntable = "{TAXA}"\n'
                   f'metadata = "{META}"\ngroup = "Diagnosis"\ncase = "CD"\ncontrol = "Control"\n'
                   'condition = "CD"\n', encoding="utf-8")
    return str(cfg)


def _genomes(folder: Path) -> str:
    d = folder / "genomes"
    d.mkdir()
    (d / "bugA.faa").write_text(">bugA_1\nMKVHFFKNIVTGGAVHFFQNVITA\n>bugA_2\nMSTIIPWNSFPGKL\n")
    (d / "bugB.faa").write_text(">bugB_1\nMKTAYIAKQRQISFVKSHFSRQ*\n")
    return str(d)


def _commands(inputs: Path, outs: Path) -> dict[str, list[str]]:
    """Each command's argv, in run order (literature reads differential's output folder)."""
    series = _dynamics_inputs(inputs)
    return {
        "link": ["link", TAXA, *CD, "--metrics", "braycurtis", "--permutations", "19"],
        "differential": ["differential", TAXA, *CD, "--formula", "~ Diagnosis", "--rank", "genus", "--shuffles", "2"],
        "predict": ["predict", TAXA, *CD, "--rank", "genus", "--repeats", "1", "--folds", "3", "--permutations", "0"],
        "guilds": ["guilds", TAXA, *CD, "--shuffles", "9"],
        "index": ["index", "gmhi", TAXA],
        "mimicry": ["mimicry", "--proteomes", _genomes(inputs), "--epitopes", "builtin:MS", "--min-score", "40"],
        "dynamics": ["dynamics", "fit", *series, "--model", "clv", "--bootstrap", "2"],
        "literature": ["literature", str(outs / "differential"), "--condition", "Crohn disease"],
        "trial": ["trial", *_trial_inputs(inputs), "--no-guilds"],
        "atlas": ["atlas", _atlas_config(inputs)],
    }


#: Commands without a ``--quiet`` flag (they print one summary line).
_NO_QUIET = {"index", "literature", "trial"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("walk")
    inputs = root / "inputs"
    inputs.mkdir()
    outs = root / "outs"
    outs.mkdir()
    folders = {}
    for name, argv in _commands(inputs, outs).items():
        quiet = [] if name in _NO_QUIET else ["--quiet"]
        assert main([*argv, "--out", str(outs / name), *quiet]) == 0, name
        folders[name] = outs / name
    return folders


def test_every_command_was_walked(runs):
    from gutlink.cli import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    # demo is link on this data (tests/test_cli.py); convert writes tables, not a folder (tested below)
    walked = set(runs) | {"demo", "convert"}
    assert commands - walked == set(), "a new command: add it to _commands() so its outputs are checked"


@pytest.mark.parametrize("name", ["link", "differential", "predict", "guilds", "index", "mimicry", "dynamics",
                                  "literature", "trial", "atlas"])
def test_outputs_share_provenance_listing_and_formats(runs, name):
    folder = runs[name]
    summary = json.loads((folder / "summary.json").read_text())
    assert PROVENANCE <= set(summary), f"{name}: missing {PROVENANCE - set(summary)}"
    assert summary["subcommand"].split()[0] == name and summary["gutlink_version"] == summary["report"]["gutlink_version"]
    assert all(len(i["sha256"]) == 64 and i["role"] != "files" for i in summary["inputs"])
    listed = summary["report"]["files"]
    on_disk = {p.name for p in folder.iterdir()} - {"summary.json"}
    assert set(listed) == on_disk and "report.html" in on_disk
    for file, digest in listed.items():
        assert hashlib.sha256((folder / file).read_bytes()).hexdigest() == digest, file
    digits = 0
    for tsv in sorted(folder.glob("*.tsv")):
        with tsv.open(newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
        assert rows and all(len(r) == len(rows[0]) for r in rows), f"{tsv.name}: ragged rows"
        odd = {c for r in rows[1:] for c in r if c in OTHER_MISSING}
        assert not odd, f"{name}/{tsv.name}: missing values must read NA, found {odd}"
        for cell in (c for r in rows[1:] for c in r):
            m = DECIMAL.fullmatch(cell)
            if m:
                digits = max(digits, len((m.group(1) + m.group(2)).lstrip("0")))
    if any(folder.glob("*.tsv")) and name != "mimicry":  # mimicry's toy scan has integer scores only
        assert digits >= 10, f"{name}: numbers are written at full precision (round-trip), not %.6g"


def test_no_temporary_folder_is_left_and_an_existing_output_is_kept(runs, capsys):
    outs = next(iter(runs.values())).parent
    assert [p.name for p in outs.iterdir() if p.name.startswith(".")] == []
    folder = runs["differential"]
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    argv = _commands_for_rerun(folder)
    assert main([*argv, "--out", str(folder), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def _commands_for_rerun(folder: Path) -> list[str]:
    return ["differential", TAXA, *CD, "--formula", "~ Diagnosis", "--rank", "genus", "--shuffles", "2"]


def _bad_table(tmp: Path) -> str:
    bad = tmp / "broken.tsv"
    bad.write_text("id\tS1\tS2\tS3\ntaxonA\t1\t-5\t3\ntaxonB\t2\t4\t1\n")  # a negative abundance
    return str(bad)


@pytest.mark.parametrize("command", [
    ["link", "{bad}", *CD],
    ["differential", "{bad}", *CD, "--formula", "~ Diagnosis"],
    ["predict", "{bad}", *CD],
    ["guilds", "{bad}", *CD],
    ["index", "gmhi", "{bad}"],
    ["mimicry", "--proteomes", "{bad}"],
    ["dynamics", "fit", "{bad}", "--metadata", META, "--subject", "id", "--time", "Age"],
    ["literature", "{bad}", "--condition", "Crohn disease"],
    ["trial", "{bad}", "--metadata", META, "--subject", "id", "--time", "Age", "--pre=-4:-1", "--post", "1:4"],
    ["convert", "{bad}"],
], ids=lambda argv: argv[0])
def test_every_command_answers_bad_input_with_exit_2_and_a_message(tmp_path, capsys, command):
    bad = _bad_table(tmp_path)
    argv = [bad if a == "{bad}" else a for a in command]
    out = tmp_path / "out"
    code = main([*argv, "--out", str(out)] if command[0] != "convert" else [*argv, str(tmp_path / "out.tsv")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "broken.tsv" in err
    assert not out.exists() and not (tmp_path / "out.tsv").exists()
