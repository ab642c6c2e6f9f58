"""Every case/control command on bad designs: exit 2, a message naming the column and the fix, nothing written.

And the design checks travel with every run: printed on stderr, in summary.json, design_checks.tsv and the page.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gutlink.cli import main
from gutlink.datasets import franzosa2019
from gutlink.io import write_tsv

FAST = {"link": ["--metrics", "braycurtis", "--permutations", "19", "--quiet"],
        "differential": ["--shuffles", "0", "--no-prevalence"],
        "predict": ["--repeats", "1", "--folds", "3", "--quiet"]}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("design")
    c = franzosa2019()
    m = c.metadata
    ibd = m["Diagnosis"].isin(["CD", "UC"]).to_numpy()
    rng = np.random.default_rng(0)
    meta = m.assign(allnan=np.nan, const="x", site=np.where(ibd, "A", "B"), household=np.arange(ibd.size) // 2,
                    lone=[f"L{i}" for i in range(ibd.size)],
                    seq_run=np.where(ibd, np.where(rng.random(ibd.size) < 0.9, "run1", "run0"), "run0"))
    write_tsv(c, folder / "abundance.tsv")
    meta.rename_axis("sample_id").to_csv(folder / "metadata.tsv", sep="\t")
    return folder


def _argv(command, files, out, *extra):
    base = [command, str(files / "abundance.tsv"), "--metadata", str(files / "metadata.tsv"), "--group", "Diagnosis",
            "--case", "CD,UC", "--control", "Control", "--out", str(out)]
    if command == "differential":
        base += ["--formula", "~ Diagnosis"]
    return [*base, *FAST[command], *extra]


BAD = [
    (["--covariates", "allnan"], "allnan", "link"),
    (["--covariates", "const"], "const", "link"),
    (["--covariates", "site"], "site", "link"),  # perfectly confounded: no level holds both groups
    (["--strata", "site"], "site", "link"),
    (["--covariates", "lone"], "lone", "link"),  # one sample per level
    (["--formula", "~ Diagnosis + lone"], "lone", "differential"),
    (["--strata", "site"], "site", "differential"),
    (["--batch", "seq_run", "--strict"], "seq_run", "link"),
    (["--batch", "seq_run", "--strict"], "seq_run", "differential"),
    (["--batch", "seq_run", "--strict"], "seq_run", "predict"),
    (["--subject", "household", "--strict"], "household", "predict"),
    (["--subject", "household", "--strict"], "household", "link"),
]


@pytest.mark.parametrize("extra, column, command", BAD, ids=[f"{c}-{'-'.join(e)}" for e, _, c in BAD])
def test_bad_design_exit_2_names_column_writes_nothing(files, tmp_path, capsys, extra, column, command):
    out = tmp_path / "out"
    assert main(_argv(command, files, out, *extra)) == 2
    err = capsys.readouterr().err
    assert "error: " in err and repr(column) in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_red_check_is_said_everywhere_without_strict(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_argv("link", files, out, "--batch", "seq_run")) == 0
    captured = capsys.readouterr()
    assert "design check [red] confounding" in captured.err and "does not count as evidence" in captured.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["design_checks"]["status"] == "red" and summary["design"]["batch"] == "seq_run"
    assert summary["verdict"]["level"] == "flagged" and "seq_run" in summary["verdict"]["headline"]
    assert (out / "design_checks.tsv").read_text().count("seq_run") >= 1
    html = (out / "report.html").read_text()
    assert 'id="design-checks"' in html and 'id="design-caveat"' in html


def test_unwritable_out_is_refused_before_any_work(files, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    assert main(_argv("link", files, blocker / "out")) == 2
    assert "cannot create the output folder" in capsys.readouterr().err and blocker.read_text() == "keep"


def test_clinical_columns_in_the_abundance_table_are_refused_then_moved(tmp_path, capsys):
    c = franzosa2019()
    x = c.to_frame()
    x["Age"] = c.metadata["Age"].to_numpy()
    x["clin.IBD"] = c.metadata["Diagnosis"].isin(["CD", "UC"]).astype(int).to_numpy()  # the label, leaked
    x["Diagnosis"] = c.metadata["Diagnosis"].to_numpy()
    x.rename_axis("sample_id").to_csv(tmp_path / "clin.tsv", sep="\t")
    argv = ["predict", str(tmp_path / "clin.tsv"), "--group", "Diagnosis", "--case", "CD,UC", "--control", "Control",
            "--repeats", "1", "--folds", "3", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "'clin.IBD'" in err and "--metadata-columns" in err and not (tmp_path / "a").exists()
    assert main([*argv, "--out", str(tmp_path / "b"), "--metadata-columns", "Age,clin.IBD"]) == 0
    importance = (tmp_path / "b" / "importance.tsv").read_text()
    assert "clin.IBD" not in importance and "Age" not in importance.split("\n")[1]
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["auroc"] < 0.95  # the leaked label is gone: no perfect classifier


def test_interrupt_exits_130_and_ansi_in_names_is_not_echoed(files, tmp_path, capsys, monkeypatch):
    import gutlink.link

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gutlink.link, "link", interrupted)
    out = tmp_path / "out"
    assert main(_argv("link", files, out)) == 130
    assert "interrupted; nothing was written" in capsys.readouterr().err and not out.exists()
    monkeypatch.undo()
    assert main(_argv("link", files, out, "--covariates", "\x1b[31mred")) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b[31mred" in err


def test_differential_takes_a_block(files, tmp_path):
    out = tmp_path / "out"
    assert main(_argv("differential", files, out, "--block", "household")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["differential"]["random_effect"]["block"] == "household"
    assert summary["design"]["block"] == "household"


def test_link_takes_a_block_and_one_per_subject(files, tmp_path):
    out = tmp_path / "out"
    assert main(_argv("link", files, out, "--block", "household")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["structure"]["block"] == "household" and summary["design"]["block"] == "household"


def test_predict_takes_a_block_and_reports_within_block_discrimination(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_argv("predict", files, out, "--block", "household")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["design"]["block"] == "household"
    wb = summary["within_block"]
    assert wb["n_pairs"] > 0 and 0.0 <= wb["ci_low"] <= wb["fraction_case_higher"] <= wb["ci_high"] <= 1.0
    assert "Within household" in capsys.readouterr().out
