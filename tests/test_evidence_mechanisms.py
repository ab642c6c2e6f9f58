"""Mimicry and intervention rows of the evidence synthesis, read from the output folders of ``gutlink mimicry``
(burden test) and ``gutlink trial``, and the atlas's ``[[layer]]`` tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gutlink.cli import main
from gutlink.datasets import resources
from gutlink.dynamics.simulate import simulate_glv
from gutlink.errors import InputFormatError
from gutlink.evidence import atlas, evidence
from gutlink.evidence.mechanisms import intervention_rows, mimicry_rows, read_summary, rows_from_folder

COHORT = Path(__file__).parent / "data" / "mimicry" / "cohort"
DEMO = Path(str(resources.files("gutlink.datasets") / "franzosa2019"))
GENERA = ["Faecalibacterium", "Roseburia", "Escherichia", "Bacteroides", "Akkermansia"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("mechanisms")
    mim = root / "mimicry"
    assert main(["mimicry", "--manifest", str(COHORT / "manifest.tsv"), "--epitopes", "builtin:MS,T1D",
                 "--abundance", str(COHORT / "abundance.tsv"), "--metadata", str(COHORT / "metadata.tsv"),
                 "--group", "Diagnosis", "--case", "CD", "--control", "Control", "--permutations", "199",
                 "--seed", "1", "--out", str(mim), "--quiet"]) == 0
    # a pre/post trial: butyrate producers rise after day 0 in every subject, so the barrier balance rises
    ts = simulate_glv(np.array([0.8, 0.7, 0.6, 0.9, 0.5]), -np.eye(5) - 0.05, n_subjects=10,
                      times=np.arange(0, 9, 1.0), rng=3)
    rel = ts.relative.copy()
    after = np.asarray(ts.times) > 4
    rel.loc[after, rel.columns[:2]] *= 4.0
    counts = (rel.div(rel.sum(axis=1), axis=0) * 1e4).round().T
    counts.index = pd.Index([f"k__Bacteria;p__P;c__C;o__O;f__F;g__{g}" for g in GENERA], name="#OTU ID")
    counts.to_csv(root / "trial.tsv", sep="\t")
    pd.DataFrame({"sampleID": ts.relative.index, "subject": ts.subjects, "day": np.asarray(ts.times) - 4}).to_csv(
        root / "trial_meta.tsv", sep="\t", index=False)
    tri = root / "trial"
    assert main(["trial", str(root / "trial.tsv"), "--metadata", str(root / "trial_meta.tsv"), "--subject",
                 "subject", "--time", "day", "--pre=-4:-1", "--post", "1:4", "--out", str(tri)]) == 0
    return {"mimicry": mim, "trial": tri, "root": root}


def test_mimicry_rows_take_the_condition_s_epitope_set_and_its_numbers(folders):
    summary = read_summary(folders["mimicry"], "mimicry")
    tests = pd.read_csv(folders["mimicry"] / "burden_tests.tsv", sep="\t").set_index("metric")
    (ms,) = mimicry_rows(summary, "cohort A", "multiple sclerosis")
    t = tests.loc["MS"]
    assert ms["layer"] == "mimicry" and ms["cohort"] == "cohort A: MS epitopes"
    assert ms["effect"] == pytest.approx(2 * t["statistic"] / (t["n_case"] * t["n_control"]) - 1)
    assert ms["p_value"] == pytest.approx(t["p_value"]) and ms["q_value"] == pytest.approx(t["q_value"])
    assert ms["significant"] == (t["q_value"] < 0.05) and ms["negative_control"] == "not run"
    assert [r["cohort"] for r in mimicry_rows(summary, "cohort A", "T1D")] == ["cohort A: T1D epitopes"]
    assert mimicry_rows(summary, "cohort A", "rheumatoid arthritis") == []


def test_intervention_rows_read_the_barrier_balance_change(folders):
    table = pd.read_csv(folders["trial"] / "trialresult.tsv", sep="\t")
    bb = table[(table["analysis"] == "guild") & (table["feature_id"] == "barrier_balance")].iloc[0]
    rows = intervention_rows(read_summary(folders["trial"], "interventions"), "diet trial")
    assert len(rows) == 1 and rows[0]["layer"] == "interventions"
    assert rows[0]["effect"] == pytest.approx(bb["effect"]) and rows[0]["effect"] > 0  # planted rise
    assert rows[0]["q_value"] == pytest.approx(bb["q_value"]) and rows[0]["significant"] == (bb["q_value"] < 0.05)


def test_a_trial_without_guilds_is_not_assessable():
    rows = intervention_rows({"type": "TrialResult", "table": [{"analysis": "taxon", "feature_id": "x"}]}, "t")
    assert rows[0]["assessable"] is False and "--no-guilds" in rows[0]["reason"]
    ev = evidence("CD", layers=rows)
    assert ev.grid["interventions"] == "not assessable"


def test_wrong_or_missing_folders_are_clear_errors(folders, tmp_path):
    with pytest.raises(InputFormatError, match="no such file"):
        read_summary(tmp_path / "nothing", "mimicry")
    with pytest.raises(InputFormatError, match="holds no TrialResult"):
        read_summary(folders["mimicry"], "interventions")
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(InputFormatError, match="not valid JSON"):
        rows_from_folder("mimicry", tmp_path, "x", "MS")


def test_atlas_layer_tables_add_mimicry_and_intervention_layers(folders, tmp_path):
    cfg = tmp_path / "atlas.toml"
    cfg.write_text(f'[atlas]\npermutations = 19\n\n[[cohort]]\nname = "PRISM"\ntable = "{DEMO / "ibd_taxa.csv"}"\n'
                   f'metadata = "{DEMO / "ibd_metadata.csv"}"\ngroup = "Diagnosis"\ncase = "CD"\n'
                   'control = "Control"\ncondition = "CD"\noptions = { metrics = ["braycurtis"] }\n\n'
                   f'[[layer]]\nkind = "interventions"\nresults = "{folders["trial"]}"\ncondition = "CD"\n'
                   'name = "diet trial"\n\n'
                   f'[[layer]]\nkind = "mimicry"\nresults = "{folders["mimicry"]}"\ncondition = "MS"\n',
                   encoding="utf-8")
    res = atlas(cfg)
    grid = res.grid.set_index("condition")
    assert grid.loc["Crohn's disease", "interventions"] in {"strong", "moderate", "weak", "no evidence"}
    assert grid.loc["multiple sclerosis", "mimicry"] in {"strong", "moderate", "weak", "no evidence"}
    ms = next(e for e in res.evidence if e.condition == "multiple sclerosis")
    assert set(ms.layers["layer"]) == {"mimicry"}  # no cohort of MS: only the layer that was given
    assert res.config["layer"][0]["name"] == "diet trial"


def test_atlas_refuses_an_unknown_layer_kind(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'[[cohort]]\ntable = "{DEMO / "ibd_taxa.csv"}"\ngroup = "Diagnosis"\ncase = "CD"\n'
                   'control = "Control"\ncondition = "CD"\n\n[[layer]]\nkind = "probiotic"\nresults = "x"\n'
                   'condition = "CD"\n', encoding="utf-8")
    assert main(["atlas", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "unknown kind 'probiotic'" in err and not (tmp_path / "out").exists()
    json.dumps(err)  # one printable message
