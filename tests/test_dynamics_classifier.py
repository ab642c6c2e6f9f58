"""gutlink.dynamics.classifier_readout and ``gutlink dynamics simulate --classifier``: a saved ``gutlink predict``
model's disease probability over simulated trajectories (research tool, never medical advice)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gutlink.cohort import Cohort
from gutlink.dynamics import classifier_readout, fit, prebiotic, simulate
from gutlink.dynamics.models import DynamicsModel
from gutlink.dynamics.series import from_frames
from gutlink.dynamics.simulate import simulate_glv
from gutlink.errors import DesignError
from gutlink.predict import SavedModel, apply_model, fit_model, save_model
from gutlink.report import write
from gutlink.run import Run

TAXA = ("Escherichia_coli", "Escherichia_albertii", "Faecalibacterium_prausnitzii", "Roseburia_intestinalis")


def _linear(features: tuple[str, ...], coef: list[float], steps: list[dict] | None = None) -> SavedModel:
    return SavedModel(features=features, info={"model": "lasso"},
                      spec={"steps": steps or [{"type": "Closure"}],
                            "classifier": {"type": "linear", "coef": coef, "intercept": 0.0}})


def _model(n_boot: int = 0) -> DynamicsModel:
    ts = simulate_glv(np.array([1.0, 0.6, 0.8, 0.5]), -np.eye(4) - 0.05, n_subjects=4, times=np.arange(0, 10, 0.5),
                      rng=0)
    ts = from_frames(ts.relative.set_axis(list(TAXA), axis=1), subjects=ts.subjects, times=ts.times,
                     biomass=ts.biomass)
    return fit(ts, alphas=[1e-3], l1_ratios=[0.0], n_boot=n_boot, rng=0)


def test_probability_equals_the_classifier_on_the_simulated_community_with_genus_sums():
    m = _model(n_boot=6)
    start = np.array([0.6, 0.2, 0.1, 0.1]) * m.scale
    sc = simulate(m, start, times=np.arange(0, 15.0), interventions=[prebiotic([TAXA[2]], factor=3.0, start=2,
                                                                                end=15)])
    clf = _linear(("Escherichia", "Faecalibacterium_prausnitzii", "Roseburia"), [4.0, -4.0, -1.0])
    r = classifier_readout(sc, clf)
    assert r.assessable and r.coverage == 1.0 and abs(r.weight_coverage - 1.0) < 1e-12
    how = r.matches.set_index("feature_id")["how"]
    assert how["Escherichia_coli"] == how["Escherichia_albertii"] == "genus (sum of its taxa)"
    # by hand: every replicate's relative composition at every time, Escherichia summed, then the logistic model
    rel = sc.replicates / sc.replicates.sum(axis=2, keepdims=True)
    x = np.stack([rel[..., 0] + rel[..., 1], rel[..., 2], rel[..., 3]], axis=-1)
    x = x / x.sum(axis=-1, keepdims=True)
    p = 1 / (1 + np.exp(-(x @ np.array([4.0, -4.0, -1.0]))))
    assert np.allclose(r.table["scenario"], np.median(p, axis=0))
    assert np.allclose(r.table["scenario_low"], np.quantile(p, 0.025, axis=0))
    assert len(r.table) == 15 and r.table["n_replicates"].iloc[0] == 6
    # the prebiotic raises Faecalibacterium, which the classifier reads as protective: the probability falls
    assert r.table["shift"].iloc[-1] < 0 and r.table["shift"].iloc[0] == pytest.approx(0.0)


def test_too_few_classifier_features_is_not_assessable():
    m = _model()
    sc = simulate(m, np.full(4, 0.25) * m.scale, times=np.arange(0, 5.0))
    clf = _linear(("Escherichia_coli", "Bacteroides_fragilis", "Prevotella_copri", "Akkermansia_muciniphila"),
                  [1.0, 1.0, 1.0, 1.0])
    r = classifier_readout(sc, clf)
    assert not r.assessable and r.table.empty and r.coverage == 0.25
    assert any("not assessable" in n for n in r.notes)
    # three of four found, but a model whose weight sits on the missing one stays not assessable
    heavy = _linear(("Escherichia_coli", "Roseburia_intestinalis", "Faecalibacterium", "Prevotella_copri"),
                    [0.1, 0.1, 0.1, 5.0])
    r2 = classifier_readout(sc, heavy)
    assert r2.coverage == 0.75 and r2.weight_coverage < 0.1 and not r2.assessable
    assert classifier_readout(sc, heavy, min_coverage=0.05).assessable
    with pytest.raises(DesignError, match="min_coverage"):
        classifier_readout(sc, heavy, min_coverage=0)


def test_leaving_the_training_range_is_flagged():
    m = _model()
    sc = simulate(m, np.full(4, 0.25) * m.scale, times=np.arange(0, 5.0))
    steps = [{"type": "Closure"}, {"type": "LogStandardScaler", "pseudocount": 1e-6, "mean": [-3.0, -0.6],
                                   "scale": [0.1, 0.3]}]
    r = classifier_readout(sc, _linear(("Escherichia", "Roseburia_intestinalis"), [1.0, -1.0], steps))
    assert (r.table["outside_training"] == 1.0).all() and any("training range" in n for n in r.notes)
    inside = [{"type": "Closure"}, {"type": "LogStandardScaler", "pseudocount": 1e-6, "mean": [-0.2, -0.6],
                                    "scale": [1.0, 1.0]}]
    r2 = classifier_readout(sc, _linear(("Escherichia", "Roseburia_intestinalis"), [1.0, -1.0], inside))
    assert (r2.table["outside_training"] == 0.0).all()


def test_report_and_cli_simulate_with_a_saved_classifier(tmp_path):
    from gutlink.cli import main
    m = _model(n_boot=4)
    sc = simulate(m, np.full(4, 0.25) * m.scale, times=np.arange(0, 5.0))
    clf = _linear(("Escherichia", "Faecalibacterium_prausnitzii"), [3.0, -3.0])
    page = (write(Run(subcommand="dynamics", results=(sc, classifier_readout(sc, clf))), tmp_path / "o")
            / "report.html").read_text()
    assert 'id="fig-dyn-classifier-title"' in page and "simulated community, not anyone" in page
    (tmp_path / "model.json").write_text(json.dumps(m.to_json()))
    save_model(clf, tmp_path / "clf.json")
    start = pd.DataFrame({"abundance": np.full(4, 0.25 * m.scale)}, index=pd.Index(TAXA, name="taxon"))
    start.to_csv(tmp_path / "start.tsv", sep="\t")
    out = tmp_path / "sim"
    assert main(["dynamics", "simulate", str(tmp_path / "model.json"), "--days", "4", "--start",
                 str(tmp_path / "start.tsv"), "--classifier", str(tmp_path / "clf.json"), "--out", str(out)]) == 0
    probs = pd.read_csv(out / "classifierreadoutresult.tsv", sep="\t")
    assert len(probs) == 9 and probs["scenario"].between(0, 1).all()
    assert 'id="fig-dyn-classifier-title"' in (out / "report.html").read_text()
    (tmp_path / "bad.json").write_text('{"format": "something-else"}')
    assert main(["dynamics", "simulate", str(tmp_path / "model.json"), "--days", "4", "--start",
                 str(tmp_path / "start.tsv"), "--classifier", str(tmp_path / "bad.json"), "--out",
                 str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


@pytest.mark.realdata
def test_prism_classifier_on_a_human_series_equals_apply_model_at_the_start(shared_data):
    """A genus-level CD classifier trained on PRISM (Franzosa 2019) applied to a cLV fitted on the BEEM human
    daily series (Gibbons 2017, 16S OTUs summed to genera): at time 0 the readout equals gutlink predict's own
    scoring of the start community."""
    from gutlink.io import read
    prism = shared_data / "ibd" / "franzosa2019_prism"
    beem = shared_data / "dynamics" / "beem_gibbons2017"
    if not (prism / "ibd_taxa.csv").is_file() or not (beem / "DA.counts.txt").is_file():
        pytest.skip("PRISM or BEEM data not present")
    meta = pd.read_csv(prism / "ibd_metadata.csv", index_col=0)
    c = read(prism / "ibd_taxa.csv", rank="genus", lineage=prism / "ibd_lineages.csv").align(meta)
    clf = fit_model(c, group="Diagnosis", case="CD", control="Control", grid={}, rng=0)
    lineage = pd.read_csv(beem / "all_otu_mapping.txt", sep="\t", header=None, index_col=0, dtype=str)[1]
    genus = lineage.str.extract(r"g__([^;]*)")[0].str.strip().replace("", np.nan)
    frames = []
    for name in ("DA", "DB", "F4", "M3"):
        counts = pd.read_csv(beem / f"{name}.counts.txt", sep="\t", index_col=0)
        counts.index = counts.index.astype(str)
        g = counts.groupby(genus.reindex(counts.index).fillna("unclassified").to_numpy()).sum().T
        frames.append(g.assign(_subject=name, _time=np.arange(len(g), dtype=float)).iloc[:40])
    table = pd.concat(frames).fillna(0.0)
    subjects, times = table.pop("_subject").to_numpy(), table.pop("_time").to_numpy()
    top = table.div(table.sum(axis=1), axis=0).mean().sort_values(ascending=False).index[:12]
    rel = pd.concat([table[top], table.drop(columns=top).sum(axis=1).rename("other")], axis=1)
    rel = rel.div(rel.sum(axis=1), axis=0).reset_index(drop=True)
    ts = from_frames(rel, subjects=subjects, times=times)
    m = fit(ts, model="clv", alphas=[1.0], l1_ratios=[0.0], n_boot=5, rng=0)
    start = ts.relative.to_numpy()[0]
    sc = simulate(m, start, times=np.arange(0, 20.0))
    # measured: 8 of 79 classifier genera found (2 of them through the normaliser: [Eubacterium], [Ruminococcus]),
    # 11% of the |coefficients|: not assessable at the default coverage
    assert not classifier_readout(sc, clf).assessable
    r = classifier_readout(sc, clf, min_coverage=0.01)
    assert 0 < r.coverage < 0.5 and r.assessable
    assert ((r.table["scenario"] >= 0) & (r.table["scenario"] <= 1)).all()
    found = r.matches[r.matches["how"] != "missing"]
    assert set(found["how"]) <= {"exact", "normalised"}
    named = dict(zip(found["feature_id"], found["query"]))
    cols = [named.get(t, t) for t in sc.taxa]              # the model's taxa under the classifier's names
    x0 = sc.replicates[0, 0] / sc.replicates[0, 0].sum()
    ref = apply_model(clf, Cohort(x0[None], pd.DataFrame(index=["start"]), pd.DataFrame(index=cols),
                                  units="fraction")).table["probability"].iloc[0]
    assert r.table["scenario"].iloc[0] == pytest.approx(ref, abs=1e-9)
