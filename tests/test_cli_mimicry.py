"""``gutlink mimicry`` end to end through ``gutlink.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gutlink.cli import main

FAA = Path(__file__).parent / "data" / "mimicry" / "938293.PRJEB85.HG003687.faa.gz"


def _genomes(tmp_path: Path) -> Path:
    d = tmp_path / "genomes"
    d.mkdir()
    (d / "bugA.faa").write_text(">bugA_1\nMKVHFFKNIVTGGAVHFFQNVITA\n>bugA_2\nMSTIIPWNSFPGKL\n")
    (d / "bugB.faa").write_text(">bugB_1\nMKTAYIAKQRQISFVKSHFSRQ*\n")
    return d


def test_cli_writes_hits_burden_and_summary(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["mimicry", "--proteomes", str(_genomes(tmp_path)), "--epitopes", "builtin:MS", "--min-score", "40",
                 "--out", str(out), "--quiet"])
    assert code == 0
    hits = pd.read_csv(out / "hits.tsv", sep="\t")
    assert hits[["proteome", "protein", "start", "window", "score"]].values.tolist() == [
        ["bugA", "bugA_1", 3, "VHFFKNIVT", 48.0], ["bugA", "bugA_1", 15, "VHFFQNVIT", 42.0],
        ["bugA", "bugA_2", 4, "IIPWNSFPG", 49.0]]
    burden = pd.read_csv(out / "taxon_burden.tsv", sep="\t")
    assert set(burden["epitope_id"]) == {"MS_MBP_85-99", "MS_PLP1_core2"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_hits"] == 3 and summary["hits_per_disease"] == {"MS": 3}
    assert len(summary["inputs"]) == 2 and all(len(f["sha256"]) == 64 for f in summary["inputs"])
    assert "3 hits in 2 proteome(s)" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []


def test_cli_manifest_and_mismatch_mode(tmp_path):
    genomes = _genomes(tmp_path)
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text(f"taxon\tproteome\ns__A\t{genomes.name}/bugA.faa\ns__B\t{genomes.name}/bugB.faa\n")
    out = tmp_path / "mm"
    assert main(["mimicry", "--manifest", str(manifest), "--epitopes", "builtin:MS", "--max-mismatches", "0",
                 "--query-memory", "1", "--out", str(out), "--quiet"]) == 0
    burden = pd.read_csv(out / "taxon_burden.tsv", sep="\t")
    assert burden[["taxon", "epitope_id", "n_hits"]].values.tolist() == [["s__A", "MS_MBP_85-99", 1]]


def test_cli_errors_exit_2_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    bad = tmp_path / "bad.faa"
    bad.write_text(">x\nMK1V\n")
    assert main(["mimicry", "--proteomes", str(bad), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "record 'x' has '1' at residue 3" in err and not out.exists()
    assert main(["mimicry", "--proteomes", str(FAA), "--matrix", "NOPE62", "--out", str(out)]) == 2
    assert "unknown substitution matrix" in capsys.readouterr().err
    assert main(["mimicry", "--manifest", str(tmp_path / "missing.tsv"), "--out", str(out)]) == 2
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]
    out.mkdir()
    assert main(["mimicry", "--proteomes", str(FAA), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


# ----------------------------------------------------------------------------- per-sample burden from a cohort
COHORT = Path(__file__).parent / "data" / "mimicry" / "cohort"


def _cohort_args(out: Path) -> list[str]:
    return ["mimicry", "--manifest", str(COHORT / "manifest.tsv"), "--epitopes", "builtin:MS,T1D",
            "--abundance", str(COHORT / "abundance.tsv"), "--metadata", str(COHORT / "metadata.tsv"),
            "--group", "Diagnosis", "--case", "CD", "--control", "Control", "--permutations", "199", "--seed", "1",
            "--out", str(out), "--quiet"]


def _expected_burden(taxon_burden: pd.DataFrame, disease: str) -> tuple[pd.Series, pd.Series]:
    """Hand computation: relative abundance × mean over a taxon's proteome files of its weighted hits."""
    abundance = pd.read_csv(COHORT / "abundance.tsv", sep="\t", index_col=0)
    rel = abundance / abundance.sum(axis=0)
    manifest = pd.read_csv(COHORT / "manifest.tsv", sep="\t")
    manifest["proteome"] = manifest["proteome"].str.replace("proteomes/", "").str.replace(".faa", "")
    tb = taxon_burden[taxon_burden["disease"] == disease].groupby("proteome")["weighted_hits"].sum()
    per_taxon = manifest.assign(w=manifest["proteome"].map(tb).fillna(0.0)).groupby("taxon")["w"].mean()
    burden = rel.loc[per_taxon.index].T @ per_taxon
    unmapped = rel.loc[~rel.index.isin(per_taxon.index)].sum(axis=0)
    return burden, unmapped


def test_cli_per_sample_burden_on_a_real_derived_cohort(tmp_path, capsys):
    out = tmp_path / "burden"
    assert main(_cohort_args(out)) == 0
    assert {"report.html", "summary.json", "hits.tsv", "taxon_burden.tsv", "proteomes.tsv", "sample_burden.tsv",
            "burden_tests.tsv"} <= {p.name for p in out.iterdir()}
    tb = pd.read_csv(out / "taxon_burden.tsv", sep="\t")
    assert set(tb["taxon"]) == {"Eubacterium_rectale", "Ruminococcus_gnavus", "Escherichia_coli"}
    samples = pd.read_csv(out / "sample_burden.tsv", sep="\t", index_col="sample_id")
    assert len(samples) == 20 and set(samples["group_label"]) == {"case", "control"}
    for disease in ("MS", "T1D"):
        burden, unmapped = _expected_burden(tb, disease)
        np.testing.assert_allclose(samples[disease], burden.loc[samples.index], rtol=1e-9)
        np.testing.assert_allclose(samples["unmapped_fraction"], unmapped.loc[samples.index], rtol=1e-9)
    tests = pd.read_csv(out / "burden_tests.tsv", sep="\t").set_index("metric")
    assert tests.loc["MS", ["n_case", "n_control"]].tolist() == [10, 10]
    assert ((tests["p_value"] > 0) & (tests["p_value"] <= 1)).all()
    html = (out / "report.html").read_text()
    assert all(f'id="fig-mimicry-{f}"' in html for f in ("diseases", "epitopes", "burden-ms", "burden-t1d"))
    summary = json.loads((out / "summary.json").read_text())
    design = summary["design"]
    assert (design["group"], design["case"], design["control"]) == ("Diagnosis", ["CD"], ["Control"])
    assert summary["burden"]["permutations"] == 199 and len(summary["inputs"]) == 8
    assert "Report:" in capsys.readouterr().out


def test_cli_burden_needs_every_cohort_argument(tmp_path, capsys):
    args = _cohort_args(tmp_path / "x")
    i = args.index("--control")
    assert main(args[:i] + args[i + 2:]) == 2
    assert "--control" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_cli_burden_within_strata(tmp_path):
    meta = pd.read_csv(COHORT / "metadata.tsv", sep="\t")
    meta["hla"] = np.where(np.arange(len(meta)) % 2 == 0, "DR15+", "DR15-")
    meta.to_csv(tmp_path / "meta.tsv", sep="\t", index=False)
    args = _cohort_args(tmp_path / "s")
    args[args.index("--metadata") + 1] = str(tmp_path / "meta.tsv")
    assert main(args + ["--strata", "hla"]) == 0
    tests = pd.read_csv(tmp_path / "s" / "burden_tests.tsv", sep="\t").set_index("metric")
    assert (tests["test"] == "van_elteren_vs_shuffled_taxon_proteome").all() and tests["p_van_elteren"].notna().all()
    strata = pd.read_csv(tmp_path / "s" / "burden_strata.tsv", sep="\t")
    assert sorted(set(strata["stratum"])) == ["DR15+", "DR15-"] and strata.groupby("metric").size().tolist() == [2, 2]
    assert json.loads((tmp_path / "s" / "summary.json").read_text())["design"]["strata"] == "hla"


def test_cli_strata_with_a_one_group_stratum_exits_2(tmp_path, capsys):
    meta = pd.read_csv(COHORT / "metadata.tsv", sep="\t")
    meta["hla"] = np.where(meta["Diagnosis"] == "CD", "DR15+", "DR15-")
    meta.to_csv(tmp_path / "meta.tsv", sep="\t", index=False)
    args = _cohort_args(tmp_path / "s")
    args[args.index("--metadata") + 1] = str(tmp_path / "meta.tsv")
    assert main(args + ["--strata", "hla"]) == 2
    assert "no level of 'hla' holds both cases and controls" in capsys.readouterr().err and not (tmp_path / "s").exists()
