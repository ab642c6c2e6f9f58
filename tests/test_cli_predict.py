"""``gutlink predict`` and ``gutlink index`` through ``gutlink.cli.main``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gutlink.cli import main
from gutlink.datasets import toy
from gutlink.io import write_tsv

FAST = ["--repeats", "1", "--folds", "3", "--rng", "0"]


@pytest.fixture()
def toy_files(tmp_path):
    c = toy()
    write_tsv(c, tmp_path / "abundance.tsv")
    meta = c.metadata.copy()
    meta["site"] = np.where(np.arange(len(meta)) % 2 == 0, "north", "south")
    meta.index.name = "sample_id"
    meta.to_csv(tmp_path / "metadata.tsv", sep="\t")
    return tmp_path / "abundance.tsv", tmp_path / "metadata.tsv"


def _predict(files, out, *extra):
    abundance, metadata = files
    return main(["predict", str(abundance), "--metadata", str(metadata), "--group", "group", "--case", "case",
                 "--control", "control", "--out", str(out), *FAST, *extra])


def test_predict_writes_summary_and_predictions(toy_files, tmp_path, capsys):
    out = tmp_path / "run"
    assert _predict(toy_files, out) == 0
    summary = json.loads((out / "summary.json").read_text())
    for key in ("auroc", "auroc_ci", "balanced_accuracy", "auprc", "brier", "protocol", "inputs", "top_features"):
        assert key in summary
    assert len(summary["auroc_ci"]) == 2 and summary["auroc_ci"][0] <= summary["auroc"] <= summary["auroc_ci"][1]
    pred = pd.read_csv(out / "predictions.tsv", sep="\t", index_col=0)
    assert len(pred) == 19 and pred["probability"].between(0, 1).all()
    assert {"importance.tsv", "roc.tsv", "calibration.tsv", "folds.tsv", "report.html"} <= {p.name for p in out.iterdir()}
    assert "AUROC" in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run")]  # no temporary folder left behind


def test_predict_with_study_reports_loso(toy_files, tmp_path):
    out = tmp_path / "run"
    assert _predict(toy_files, out, "--study", "site") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [s["study"] for s in summary["per_study"]] == ["north", "south"]
    assert "loso_mean_auroc" in summary and (out / "loso.tsv").is_file()
    assert [s["study"] for s in summary["within_cohort_per_study"]] == ["north", "south"]


def test_save_then_apply_model(toy_files, tmp_path):
    out = tmp_path / "run"
    assert _predict(toy_files, out, "--save-model") == 0
    model = json.loads((out / "model.json").read_text())
    assert model["format"] == "gutlink-model" and len(model["features"]) == 30
    applied = tmp_path / "applied"
    assert main(["predict", str(toy_files[0]), "--apply", str(out / "model.json"), "--out", str(applied)]) == 0
    summary = json.loads((applied / "summary.json").read_text())
    assert summary["alignment"]["n_missing"] == 0 and summary["n_samples"] == 19
    pred = pd.read_csv(applied / "predictions.tsv", sep="\t", index_col=0)
    assert pred["probability"].between(0, 1).all()
    assert {p.name for p in applied.iterdir()} == {"summary.json", "predictions.tsv", "score_groups.tsv",
                                                   "report.html"}
    html = (applied / "report.html").read_text()
    assert 'id="apply-alignment"' in html and 'id="fig-apply-scores"' in html
    assert "report.html" in summary["report"]["files"] and summary["by_group"][0]["group"] == "all"


def test_apply_with_labels_scores_the_groups(toy_files, tmp_path, capsys):
    out = tmp_path / "run"
    assert _predict(toy_files, out, "--save-model") == 0
    abundance, metadata = toy_files
    applied = tmp_path / "applied"
    assert main(["predict", str(abundance), "--metadata", str(metadata), "--apply", str(out / "model.json"),
                 "--group", "group", "--case", "case", "--control", "control", "--out", str(applied)]) == 0
    summary = json.loads((applied / "summary.json").read_text())
    assert [g["group"] for g in summary["by_group"]] == ["case", "control"]
    assert 0 <= summary["auroc"] <= 1 and len(summary["auroc_ci"]) == 2
    assert "AUROC on these labelled samples" in capsys.readouterr().out
    assert 'id="apply-headline"' in (applied / "report.html").read_text()


def test_per_study_standardise_flag(toy_files, tmp_path):
    out = tmp_path / "run"
    assert _predict(toy_files, out, "--study", "site", "--per-study-standardise", "--no-matrix") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"]["per_study_standardise"] is True and "loso_mean_auroc" in summary


def test_per_study_standardise_needs_study_and_no_saved_model(toy_files, tmp_path, capsys):
    assert _predict(toy_files, tmp_path / "a", "--per-study-standardise") == 2
    assert "needs --study" in capsys.readouterr().err
    assert _predict(toy_files, tmp_path / "b", "--study", "site", "--per-study-standardise", "--save-model") == 2
    assert "--save-model cannot be combined" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_bad_design_exits_2_and_writes_nothing(toy_files, tmp_path, capsys):
    out = tmp_path / "run"
    assert _predict(toy_files, out, "--folds", "9") == 2
    err = capsys.readouterr().err
    assert "largest number of folds possible is 8" in err
    assert not out.exists() and not list(tmp_path.glob(".run*"))


def test_missing_case_value_exits_2(toy_files, tmp_path, capsys):
    abundance, metadata = toy_files
    code = main(["predict", str(abundance), "--metadata", str(metadata), "--group", "group", "--case", "T1D",
                 "--control", "control", "--out", str(tmp_path / "x"), *FAST])
    assert code == 2 and "'T1D' does not occur" in capsys.readouterr().err


def test_existing_output_needs_overwrite(toy_files, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert _predict(toy_files, out) == 2
    assert (out / "keep.txt").read_text() == "mine"


@pytest.mark.realdata
def test_index_gmhi_command(shared_data, tmp_path):
    out = tmp_path / "gmhi"
    src = shared_data / "gmhi" / "species_relative_abundances.csv"
    assert main(["index", "gmhi", str(src), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"gmhi.tsv", "gmhi_species.tsv", "summary.json", "report.html"}
    got = pd.read_csv(out / "gmhi.tsv", sep="\t", index_col=0)["gmhi"]
    expected = pd.read_csv(shared_data / "gmhi" / "GMHI_output.csv", index_col=0)["GMHI"]
    assert np.abs(got.to_numpy() - expected.to_numpy()).max() < 1e-6
    assert main(["index", "gmhi", str(src), "--out", str(out)]) == 2  # exists, no --overwrite


def test_per_case_multi_disease_view(tmp_path):
    from gutlink.datasets import franzosa2019

    c = franzosa2019()
    write_tsv(c, tmp_path / "abundance.tsv")
    c.metadata.rename_axis("sample_id").to_csv(tmp_path / "metadata.tsv", sep="\t")
    out = tmp_path / "multi"
    code = main(["predict", str(tmp_path / "abundance.tsv"), "--metadata", str(tmp_path / "metadata.tsv"),
                 "--group", "Diagnosis", "--case", "CD,UC", "--control", "Control", "--per-case",
                 "--out", str(out), *FAST])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [d["disease"] for d in summary["diseases"]] == ["CD", "UC"]
    assert {p.name for p in out.iterdir()} == {"summary.json", "diseases.tsv", "importance_by_disease.tsv",
                                               "shared_features.tsv", "report.html", "design_checks.tsv"}
    html = (out / "report.html").read_text()
    assert 'id="multi-diseases"' in html and 'id="multi-shared"' in html and 'id="fig-multi-auroc"' in html
    assert "report.html" in summary["report"]["files"]
    imp = pd.read_csv(out / "importance_by_disease.tsv", sep="\t", index_col=0)
    assert list(imp.columns) == ["CD", "UC"] and len(imp) == c.n_features
