"""``gutlink guilds`` end to end on real data, and its bad-input paths."""

from __future__ import annotations

import json

import pandas as pd

from gutlink.cli import main


def _prism(shared_data):
    folder = shared_data / "ibd" / "franzosa2019_prism"
    return [str(folder / "ibd_taxa.csv"), "--metadata", str(folder / "ibd_metadata.csv")]


def test_guilds_command_on_prism(shared_data, tmp_path, capsys):
    out = tmp_path / "g"
    code = main(["guilds", *_prism(shared_data), "--group", "Diagnosis", "--case", "CD", "--control", "Control",
                 "--shuffles", "20", "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "barrier_balance: lower in cases" in printed
    for name in ("guild_scores.tsv", "guild_tests.tsv", "guild_shuffle.tsv", "guild_features.tsv",
                 "summary.json", "report.html"):
        assert (out / name).is_file(), name
    tests = pd.read_csv(out / "guild_tests.tsv", sep="\t")
    assert tests["q_value"].notna().any()
    doc = json.loads((out / "summary.json").read_text())
    assert doc["subcommand"] == "guilds"
    html = (out / "report.html").read_text()
    assert "Barrier and immune guilds" in html and "fig-barrier" in html


def test_guilds_scores_only(shared_data, tmp_path):
    out = tmp_path / "s"
    assert main(["guilds", *_prism(shared_data), "--out", str(out), "--quiet"]) == 0
    scores = pd.read_csv(out / "guild_scores.tsv", sep="\t")
    assert scores["sample_id"].nunique() == 155 and not (out / "guild_tests.tsv").exists()


def test_guilds_half_a_design_is_a_clear_error(shared_data, tmp_path, capsys):
    out = tmp_path / "bad"
    code = main(["guilds", *_prism(shared_data), "--group", "Diagnosis", "--out", str(out)])
    assert code == 2 and not out.exists()
    assert "--case" in capsys.readouterr().err
    code = main(["guilds", *_prism(shared_data), "--group", "Diagnosis", "--case", "CD", "--control", "Nope",
                 "--out", str(out)])
    assert code == 2 and not out.exists()


def test_guilds_markers_column_and_bad_marker_file(shared_data, tmp_path, capsys):
    out = tmp_path / "m"
    code = main(["guilds", *_prism(shared_data), "--markers", "Fecal.Calprotectin", "--covariates", "Age",
                 "--no-taxa", "--out", str(out), "--quiet"])
    assert code == 0 and (out / "markers.tsv").is_file()
    assert "Immune markers" in (out / "report.html").read_text()
    assert "Markers: 1 tested" in capsys.readouterr().out
    meta = pd.read_csv(shared_data / "ibd" / "franzosa2019_prism" / "ibd_metadata.csv", index_col=0)
    bad = pd.DataFrame({"crp": ["1.0"] * len(meta)}, index=meta.index)
    bad.iloc[3, 0] = "high"
    path = tmp_path / "markers.tsv"
    bad.rename_axis("sample_id").to_csv(path, sep="\t")
    code = main(["guilds", *_prism(shared_data), "--markers", str(path), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "'high'" in err and "crp" in err and not (tmp_path / "x").exists()


def test_guilds_marker_direction_and_mediation(shared_data, tmp_path, capsys):
    out = tmp_path / "m"
    code = main(["guilds", *_prism(shared_data), "--group", "Diagnosis", "--case", "CD", "--control", "Control",
                 "--shuffles", "0", "--markers", "Fecal.Calprotectin", "--marker-direction", "taxon", "--no-taxa",
                 "--mediation", "group_label,barrier_balance,Fecal.Calprotectin", "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "predictor ~ marker" in printed and "Mediation group_label -> barrier_balance -> Fecal.Calprotectin" in printed
    med = pd.read_csv(out / "mediation.tsv", sep="\t")
    assert med["effect"].tolist() == ["indirect", "direct", "total", "a_path", "b_path"] and (med["n"] == 68).all()
    assert "Mediation" in (out / "report.html").read_text()
    code = main(["guilds", *_prism(shared_data), "--mediation", "Age,barrier_balance", "--out",
                 str(tmp_path / "bad"), "--quiet"])
    assert code == 2 and "EXPOSURE,MEDIATOR,OUTCOME" in capsys.readouterr().err
