"""Report sections and CLI of gutlink.dynamics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from gutlink.dynamics import fit, holdout
from gutlink.dynamics.series import from_frames
from gutlink.dynamics.simulate import simulate_glv
from gutlink.report import write
from gutlink.run import Run


def test_report_escapes_taxon_names_and_states_the_caveat(tmp_path):
    ts = simulate_glv(np.array([1.0, 0.5]), -np.eye(2), n_subjects=3, times=np.arange(6.0), rng=0)
    hostile = "<script>alert(1)</script>"
    rel = ts.relative.set_axis(["ok", hostile], axis=1)
    ts = from_frames(rel, subjects=ts.subjects, times=ts.times, biomass=ts.biomass)
    m = fit(ts, alphas=[1e-3])
    out = write(Run(subcommand="dynamics", results=(m, holdout(ts, alphas=[1e-3]))), tmp_path / "o",
                extra_files={"model.json": json.dumps(m.to_json())})
    page = (out / "report.html").read_text()
    assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Research tool, never medical advice." in page
    assert json.loads((out / "model.json").read_text())["model"] == "glv"
    assert isinstance(pd.read_csv(out / "dynamicsmodel.tsv", sep="\t"), pd.DataFrame)


def test_cli_fit_forecast_simulate(tmp_path):
    from gutlink.cli import main
    ts = simulate_glv(np.array([1.0, 0.7, 0.5]), -np.eye(3) - 0.05, n_subjects=4, times=np.arange(0, 8, 0.5),
                      rng=0)
    counts = (ts.relative * 1e4).round().T
    counts.index.name = "#OTU ID"
    counts.to_csv(tmp_path / "counts.tsv", sep="\t")
    pd.DataFrame({"sampleID": ts.relative.index, "subject": ts.subjects, "time": ts.times}).to_csv(
        tmp_path / "meta.tsv", sep="\t", index=False)
    pd.DataFrame({"sampleID": ts.relative.index, "m1": ts.biomass * 1e9}).to_csv(tmp_path / "qpcr.tsv", sep="\t",
                                                                                  index=False)
    common = [str(tmp_path / "counts.tsv"), "--metadata", str(tmp_path / "meta.tsv"), "--subject", "subject",
              "--time", "time", "--qpcr", str(tmp_path / "qpcr.tsv"), "--l1-ratios", "0"]
    assert main(["dynamics", "fit", *common, "--bootstrap", "5", "--out", str(tmp_path / "fit")]) == 0
    assert main(["dynamics", "forecast", *common, "--out", str(tmp_path / "fc")]) == 0
    model = tmp_path / "fit" / "model.json"
    assert main(["dynamics", "simulate", str(model), "--probiotic", "taxon1:1e8:2,3", "--days", "10",
                 "--out", str(tmp_path / "sim")]) == 0
    assert "never medical advice" in (tmp_path / "sim" / "report.html").read_text()
    assert main(["dynamics", "simulate", str(model), "--probiotic", "nope:1:2", "--out",
                 str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_report_draws_forecast_scenario_invasion_and_readout_figures(tmp_path):
    from gutlink.dynamics import guild_readout, invasion, probiotic, simulate
    taxa = ["Faecalibacterium_prausnitzii", "Escherichia_coli", "Roseburia_intestinalis"]
    ts = simulate_glv(np.array([1.0, 0.7, 0.5]), -np.eye(3) - 0.05, n_subjects=4, times=np.arange(0, 8, 0.5),
                      rng=0)
    ts = from_frames(ts.relative.set_axis(taxa, axis=1), subjects=ts.subjects, times=ts.times, biomass=ts.biomass)
    m = fit(ts, alphas=[1e-3], l1_ratios=[0.0], n_boot=8, rng=0)
    start = ts.absolute[0].copy()
    start[2] = 1e-6 * m.scale
    sc = simulate(m, start, times=np.arange(0, 20, 0.5), interventions=[probiotic(taxa[2], dose=0.1 * m.scale,
                                                                                  times=[2.0])])
    results = (m, holdout(ts, alphas=[1e-3], l1_ratios=[0.0]), sc, invasion(m, (taxa[2],)), guild_readout(sc))
    out = write(Run(subcommand="dynamics", results=results), tmp_path / "o")
    page = (out / "report.html").read_text()
    for fid in ("fig-dyn-holdout", "fig-dyn-forecast", "fig-dyn-scenario", "fig-dyn-readout-guilds"):
        assert f'id="{fid}-title"' in page
    assert "Colonisation resistance" in page and "elastic-net" in page


def test_cli_clv_guild_prebiotic_with_readouts(tmp_path):
    from gutlink.cli import main
    taxa = ["Faecalibacterium_prausnitzii", "Escherichia_coli", "Roseburia_intestinalis"]
    ts = simulate_glv(np.array([1.0, 0.7, 0.5]), -np.eye(3) - 0.05, n_subjects=4, times=np.arange(0, 8, 0.5),
                      rng=0)
    counts = (ts.relative.set_axis(taxa, axis=1) * 1e4).round().T
    counts.index.name = "#OTU ID"
    counts.to_csv(tmp_path / "counts.tsv", sep="\t")
    pd.DataFrame({"sampleID": ts.relative.index, "subject": ts.subjects, "time": ts.times}).to_csv(
        tmp_path / "meta.tsv", sep="\t", index=False)
    pd.DataFrame([[1, 1, 1]], columns=taxa, index=["ref1"]).to_csv(tmp_path / "ref.tsv", sep="\t")
    assert main(["dynamics", "fit", str(tmp_path / "counts.tsv"), "--metadata", str(tmp_path / "meta.tsv"),
                 "--subject", "subject", "--time", "time", "--model", "clv", "--l1-ratios", "0",
                 "--bootstrap", "4", "--out", str(tmp_path / "fit")]) == 0
    model = json.loads((tmp_path / "fit" / "model.json").read_text())
    assert model["selection"] == "forecast" and model["stability"] == "negdef"
    assert main(["dynamics", "simulate", str(tmp_path / "fit" / "model.json"), "--guild-prebiotic",
                 "butyrate_producer:2:0:10", "--reference", str(tmp_path / "ref.tsv"), "--days", "10",
                 "--out", str(tmp_path / "sim")]) == 0
    page = (tmp_path / "sim" / "report.html").read_text()
    assert "Scenario readouts: guilds" in page and "Scenario readouts: dysbiosis" in page
    assert main(["dynamics", "simulate", str(tmp_path / "fit" / "model.json"), "--guild-prebiotic",
                 "fibre_lovers:2:0:10", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()
