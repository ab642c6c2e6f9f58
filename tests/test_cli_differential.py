"""``gutlink differential`` end to end through ``gutlink.cli.main``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gutlink.cli import main
from gutlink.datasets import franzosa2019
from gutlink.io import write_tsv


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("differential_inputs")
    cohort = franzosa2019()
    write_tsv(cohort, folder / "abundance.tsv")
    site = np.array(["siteA", "siteB", "siteC"])[np.arange(cohort.n_samples) % 3]
    cohort.metadata.assign(site=site).to_csv(folder / "metadata.tsv", sep="\t")
    return folder / "abundance.tsv", folder / "metadata.tsv"


def _args(inputs, out, *extra):
    abundance, metadata = inputs
    return ["differential", str(abundance), "--metadata", str(metadata), "--formula", "~ Diagnosis + Age",
            "--group", "Diagnosis", "--case", "CD", "--control", "Control", "--out", str(out), "--shuffles", "2",
            *extra]


def test_writes_tables_and_summary(inputs, tmp_path, capsys):
    out = tmp_path / "res"
    assert main(_args(inputs, out)) == 0
    table = pd.read_csv(out / "differential.tsv", sep="\t")
    for col in ("feature_id", "lineage", "effect", "se", "ci_low", "ci_high", "p_value", "q_value", "model", "n",
                "prevalence_CD", "prevalence_Control", "mean_abundance_CD", "mean_abundance_Control"):
        assert col in table.columns
    assert (out / "prevalence.tsv").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["differential"]["model"] == "linda-ols"
    assert summary["differential"]["negative_control"]["n_shuffles"] == 2
    assert set(summary["report"]["files"]) >= {"differential.tsv", "prevalence.tsv", "report.html",
                                               "design_checks.tsv"}
    assert summary["design"]["group"] == "Diagnosis" and summary["design_checks"]["status"] in {"green", "amber"}
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="fig-volcano"' in html and 'id="fig-forest"' in html and "label shuffles" in html
    assert [f["role"] for f in summary["inputs"]] == ["abundance", "metadata"]
    cd = table[table["term"] == "Diagnosis[T.CD]"].set_index("feature_id")
    assert cd.loc["Faecalibacterium_prausnitzii", "effect"] < 0
    assert "differential.tsv" in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_study_adds_meta_analysis(inputs, tmp_path):
    out = tmp_path / "meta"
    assert main(_args(inputs, out, "--study", "site", "--no-prevalence", "--meta-method", "dl")) == 0
    pooled = pd.read_csv(out / "meta.tsv", sep="\t")
    assert {"tau2", "i2", "n_studies"} <= set(pooled.columns) and (pooled["method"] == "dl").all()
    assert set(pd.read_csv(out / "meta_loso.tsv", sep="\t")["left_out"]) == {"siteA", "siteB", "siteC"}
    summary = json.loads((out / "summary.json").read_text())
    assert "site[T.siteB]" in summary["differential"]["terms"]  # the study is adjusted for
    assert not (out / "prevalence.tsv").exists()
    assert 'id="fig-meta-forest"' in (out / "report.html").read_text(encoding="utf-8")


def test_hartung_knapp_changes_the_pooled_intervals(inputs, tmp_path):
    z, hk = tmp_path / "z", tmp_path / "hk"
    base = ("--study", "site", "--no-prevalence", "--meta-method", "dl")
    assert main(_args(inputs, z, *base)) == 0 and main(_args(inputs, hk, *base, "--meta-test", "knha")) == 0
    a = pd.read_csv(z / "meta.tsv", sep="\t").set_index(["feature_id", "term"])
    b = pd.read_csv(hk / "meta.tsv", sep="\t").set_index(["feature_id", "term"]).loc[a.index]
    assert (b["test"] == "knha").all() and (a["test"] == "z").all()
    assert np.allclose(a["effect"], b["effect"], equal_nan=True)  # same estimate, another test
    width = (b["ci_high"] - b["ci_low"]) / (a["ci_high"] - a["ci_low"])
    # t with 2 df makes most intervals wider; HK scales by the residual mean square, which can be < 1
    assert width.median() > 1.5 and width.min() < width.max()


def test_bad_input_exits_2_and_writes_nothing(inputs, tmp_path, capsys):
    abundance, metadata = inputs
    out = tmp_path / "bad"
    code = main(["differential", str(abundance), "--metadata", str(metadata), "--formula", "~ diagnosis",
                 "--out", str(out)])
    assert code == 2
    assert "not in the metadata" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_existing_output_needs_overwrite(inputs, tmp_path):
    out = tmp_path / "again"
    assert main(_args(inputs, out, "--no-prevalence")) == 0
    assert main(_args(inputs, out, "--no-prevalence")) == 2
    assert main(_args(inputs, out, "--no-prevalence", "--overwrite")) == 0


def test_threads_do_not_change_the_results(inputs, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(_args(inputs, one)) == 0 and main(_args(inputs, two, "--jobs", "2")) == 0
    for name in ("differential.tsv", "prevalence.tsv"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
