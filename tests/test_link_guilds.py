"""`link`'s guild and host-marker layers: run with the design (subject, block, strata), shown in the verdict and
the report, never called evidence while a design check is red, never changing the verdict's level."""

from __future__ import annotations

import numpy as np
import pytest

from gutlink.datasets import franzosa2019
from gutlink.design import Design, check
from gutlink.link import link
from gutlink.report import render_html, write
from gutlink.report.export import tables
from gutlink.run import Run

FAST = {"group": "Diagnosis", "case": ["CD"], "control": "Control", "metrics": ("braycurtis",),
        "n_permutations": 49, "differential": False, "guild_shuffles": 20, "rng": 3}


@pytest.fixture(scope="module")
def prism():
    return link(franzosa2019(), covariates=["Age"], markers=["Fecal.Calprotectin"], **FAST)


def test_guild_and_marker_layers_on_prism(prism):
    g = prism.guilds.tests.set_index(["metric", "test"])
    bal = g.loc[("barrier_balance", "ols")]  # with covariates the adjusted test is the one reported
    assert bal["effect"] < 0 and bal["q_value"] < 0.05
    sentence = next(s for s in prism.verdict["sentences"] if s.startswith("Barrier and immune guilds"))
    assert "covariate-adjusted" in sentence and "barrier balance lower in cases" in sentence
    assert any(s.startswith("Guild negative control: with 20") for s in prism.verdict["sentences"])
    m = prism.markers.table.set_index("predictor")
    assert m.loc["barrier_balance", "effect"] < 0 and m.loc["Escherichia_coli", "effect"] > 0
    assert "Age" in prism.markers.model and any(s.startswith("Host markers: 1 marker") for s in prism.verdict["sentences"])
    without = link(franzosa2019(), covariates=["Age"], guilds=False, **FAST)
    assert without.guilds is None and without.verdict["level"] == prism.verdict["level"]


def test_link_run_report_and_tables_hold_the_layers(prism, tmp_path):
    checks = check(franzosa2019(), Design(group="Diagnosis", case=("CD",), control=("Control",), covariates=("Age",)))
    run = Run(subcommand="link", results=(prism,), checks=checks)
    html = render_html(run)
    at = {k: html.index(f'id="{k}"') for k in ("barrier", "immune-markers", "tests", "design-checks")}
    assert at["barrier"] < at["immune-markers"] < at["tests"]
    for fig in ("fig-barrier", "fig-guild-loads", "fig-marker-heatmap"):
        assert f'id="{fig}-title"' in html
    assert {"guild_tests.tsv", "guild_scores.tsv", "markers.tsv"} <= set(tables(run))
    out = write(run, tmp_path / "r")
    assert (out / "guild_tests.tsv").is_file() and (out / "markers.tsv").is_file()


def _pairs(c, n):
    """Blocks of one CD and one control sample (the first n of each), other samples dropped."""
    meta = c.metadata
    cd, ctl = meta.index[meta.Diagnosis == "CD"][:n], meta.index[meta.Diagnosis == "Control"][:n]
    keep = np.isin(c.sample_ids, [*cd, *ctl])
    c = c.subset(samples=keep)
    block = {s: f"b{i}" for i, s in enumerate(cd)} | {s: f"b{i}" for i, s in enumerate(ctl)}
    return c.with_metadata(c.metadata.assign(pair=[block[s] for s in c.sample_ids]))


def test_blocks_give_paired_guild_tests_and_a_block_intercept_for_markers():
    c = _pairs(franzosa2019(), 30)
    res = link(c, block="pair", markers=["Fecal.Calprotectin"], **FAST)
    assert set(res.guilds.tests["test"]) <= {"wilcoxon_signed_rank", "not_assessable"}
    assert "matched blocks of 'pair'" in res.guilds.structure and "(1 | pair)" in res.markers.model


def test_repeated_subjects_and_a_red_check():
    c = franzosa2019()
    meta = c.metadata
    # two samples per made-up person, each person one class
    person = meta.groupby("Diagnosis").cumcount().floordiv(2).astype(str)
    c = c.with_metadata(meta.assign(patient_id=meta["Diagnosis"].astype(str) + "-" + person))
    res = link(c, subject="patient_id", markers=["Fecal.Calprotectin"], **FAST)
    assert res.guilds.structure == "repeated measures of 'patient_id'" and "(1 | patient_id)" in res.markers.model
    assert res.markers.variance["converged"].all()
    red = link(c, **FAST)  # the same repeats, not declared: a red design check
    assert red.design_checks.status == "red" and red.verdict["level"] != "evidence"
    sentence = next(s for s in red.verdict["sentences"] if s.startswith("Barrier and immune guilds"))
    assert "lower in cases" in sentence and "not evidence while a design check is red" in sentence


def test_cli_link_markers_and_guild_layer(shared_data, tmp_path):
    from gutlink.cli import main

    prism = shared_data / "ibd" / "franzosa2019_prism"
    out = tmp_path / "o"
    code = main(["link", str(prism / "ibd_taxa.csv"), "--metadata", str(prism / "ibd_metadata.csv"), "--group",
                 "Diagnosis", "--case", "CD", "--control", "Control", "--metrics", "braycurtis", "--permutations",
                 "19", "--guild-shuffles", "5", "--markers", "Fecal.Calprotectin", "--out", str(out), "--quiet"])
    assert code == 0 and (out / "guild_tests.tsv").is_file() and (out / "markers.tsv").is_file()
    html = (out / "report.html").read_text()
    assert 'id="barrier"' in html and 'id="immune-markers"' in html


def test_cli_repeated_metadata_ids_exit_2_and_collapse_is_recorded(shared_data, tmp_path, capsys):
    from gutlink.cli import main

    d = shared_data / "t1d" / "kostic2015_wgs"
    args = ["guilds", str(d / "diabimmune_t1d_metaphlan_table.txt"), "--metadata",
            str(d / "diabimmune_t1d_wgs_metadata.csv"), "--rank", "species", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 2 and not (tmp_path / "a").exists()
    assert "--duplicate-ids collapse" in capsys.readouterr().err
    assert main([*args, "--duplicate-ids", "collapse", "--out", str(tmp_path / "b")]) == 0


def test_marker_direction_taxon_runs_the_maaslin_direction_inside_link(prism):
    taxon = link(franzosa2019(), covariates=["Age"], markers=["Fecal.Calprotectin"], marker_direction="taxon",
                 **FAST)
    assert taxon.markers.direction == "taxon" and prism.markers.direction == "marker"
    a = prism.markers.table.set_index("predictor")
    b = taxon.markers.table.set_index("predictor")
    shared = a.index.intersection(b.index)
    assert len(shared) > 5
    # the two directions agree in sign for every pair both test (same partial correlation, other scale)
    both = shared[(a.loc[shared, "q_value"] < 0.5).to_numpy()]
    assert (np.sign(a.loc[both, "effect"]) == np.sign(b.loc[both, "effect"])).all()
    assert "per unit of the transformed marker" in " ".join(render_html(taxon).split())
