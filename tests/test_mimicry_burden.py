"""Mimicry burden: per taxon, per sample (abundance-weighted, unmapped fraction), case/control with a shuffled null."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutlink.cohort import Cohort
from gutlink.errors import InputFormatError
from gutlink.mimicry import (
    Proteome,
    burden_test,
    read_manifest,
    sample_burden,
    scan,
    taxon_burden,
)


def _hits(n_taxa: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Proteome t0 carries the MBP core twice (score 48) and a 42-scoring mimic; the others carry nothing."""
    prots = [Proteome.from_records("t0", [("t0_a", "MKVHFFKNIVTGGVHFFKNIVT"), ("t0_b", "AVHFFQNVITA")])]
    prots += [Proteome.from_records(f"t{i}", [(f"t{i}_a", "MKTAYIAKQRQISFVKSHFSRQ")]) for i in range(1, n_taxa)]
    hits = scan(prots, "builtin:MS", min_score=40).hits
    manifest = pd.DataFrame({"taxon": [f"s__taxon{i}" for i in range(n_taxa)], "path": "",
                             "proteome": [f"t{i}" for i in range(n_taxa)]})
    return hits, manifest


def test_taxon_burden_counts_and_weights():
    hits, _ = _hits(3)
    tb = taxon_burden(hits)
    row = tb[tb["epitope_id"] == "MS_MBP_85-99"].iloc[0]
    assert (row["proteome"], row["n_hits"], row["n_proteins"], row["best_score"]) == ("t0", 3, 2, 48.0)
    assert row["weighted_hits"] == pytest.approx(1 + 1 + 42 / 48)


def test_sample_burden_hand_checked_with_unmapped_fraction():
    hits, manifest = _hits(3)
    ab = np.array([[50, 25, 25, 0], [0, 50, 0, 50], [10, 0, 0, 90]], dtype=float)
    cohort = Cohort(ab, metadata=pd.DataFrame(index=["a", "b", "c"]),
                    taxonomy=pd.DataFrame(index=["s__taxon0", "s__taxon1", "s__taxon2", "s__unmapped"]),
                    units="counts")
    sb = sample_burden(cohort, taxon_burden(hits), manifest)
    per_taxon0 = 2 + 42 / 48
    np.testing.assert_allclose(sb["MS"], [0.5 * per_taxon0, 0.0, 0.1 * per_taxon0])
    np.testing.assert_allclose(sb["unmapped_fraction"], [0.0, 0.5, 0.9])


def _cohort(rng: np.random.Generator, n_taxa: int, planted: bool) -> Cohort:
    n = 24
    ab = rng.gamma(1.0, 1.0, size=(n, n_taxa)) * 100
    group = np.array(["MS"] * 12 + ["HC"] * 12)
    if planted:
        ab[:12, 0] *= 8  # cases carry more of the mimic-bearing taxon
    return Cohort(ab, metadata=pd.DataFrame({"group": group}, index=[f"s{i}" for i in range(n)]),
                  taxonomy=pd.DataFrame(index=[f"s__taxon{i}" for i in range(n_taxa)]), units="counts")


def test_planted_burden_difference_found_and_shuffle_null_calibrated():
    hits, manifest = _hits(40)
    tb = taxon_burden(hits)
    res = burden_test(_cohort(np.random.default_rng(1), 40, True), tb, manifest=manifest, group="group",
                      case=["MS"], control="HC", permutations=199, rng=0)
    row = res.table.set_index("metric").loc["MS"]
    assert row["p_mann_whitney"] < 0.01 and row["p_value"] < 0.06 and row["effect"] > 0
    assert row["n_case"] == 12 and res.to_dict()["type"] == "BurdenResult"
    null = [burden_test(_cohort(np.random.default_rng(s), 40, False), tb, manifest=manifest, group="group",
                        case=["MS"], control="HC", permutations=99, rng=s).table["p_value"].iloc[0]
            for s in range(12)]
    assert 0.1 < np.mean(null) < 0.9 and min(null) > 0.0


def test_manifest_missing_file_and_columns(tmp_path):
    m = tmp_path / "manifest.tsv"
    m.write_text("taxon\tproteome\ns__a\tgenomes/a.faa\n")
    with pytest.raises(InputFormatError, match="does not exist") as err:
        read_manifest(m)
    assert err.value.line == 2 and err.value.path == str(m)
    (tmp_path / "genomes").mkdir()
    (tmp_path / "genomes" / "a.faa").write_text(">x\nMK\n")
    assert read_manifest(m)["proteome"].tolist() == ["a"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("name\tfile\n")
    with pytest.raises(InputFormatError, match="lacks column"):
        read_manifest(bad)
    with pytest.raises(InputFormatError, match="does not exist"):
        read_manifest(tmp_path / "nope.tsv")
