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
                      case=["MS"], control="HC", n_permutations=199, rng=0)
    row = res.table.set_index("metric").loc["MS"]
    assert row["p_mann_whitney"] < 0.01 and row["p_value"] < 0.06 and row["effect"] > 0
    assert row["n_case"] == 12 and res.to_dict()["type"] == "BurdenResult"
    null = [burden_test(_cohort(np.random.default_rng(s), 40, False), tb, manifest=manifest, group="group",
                        case=["MS"], control="HC", n_permutations=99, rng=s).table["p_value"].iloc[0]
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


# ----------------------------------------------------------------------------- HLA-risk strata
def _stratified_cohort(rng: np.random.Generator, n_taxa: int, *, design: str) -> Cohort:
    """Two strata of 24 samples ('DRB1*15:01+' and '-').

    ``design="one_stratum"``: 12 cases / 12 controls per stratum; only in the carriers do cases carry 8× more of
    the mimic-bearing taxon. ``design="confounded"``: carriers are mostly cases (20 / 4) and everyone in that stratum
    carries 20× more of the taxon, whatever their status; non-carriers are mostly controls (4 / 20); no difference
    between cases and controls within either stratum.
    """
    n = 48
    ab = rng.gamma(1.0, 1.0, size=(n, n_taxa)) * 100
    stratum = np.array(["DRB1*15:01+"] * 24 + ["DRB1*15:01-"] * 24)
    if design == "one_stratum":
        group = np.array((["MS"] * 12 + ["HC"] * 12) * 2)
        ab[:12, 0] *= 8
    else:
        group = np.array(["MS"] * 20 + ["HC"] * 4 + ["MS"] * 4 + ["HC"] * 20)
        ab[:24, 0] *= 20
    meta = pd.DataFrame({"group": group, "hla": stratum}, index=[f"s{i}" for i in range(n)])
    return Cohort(ab, metadata=meta, taxonomy=pd.DataFrame(index=[f"s__taxon{i}" for i in range(n_taxa)]),
                  units="counts")


def test_stratified_test_finds_an_effect_present_in_one_stratum_only():
    hits, manifest = _hits(40)
    tb = taxon_burden(hits)
    res = burden_test(_stratified_cohort(np.random.default_rng(3), 40, design="one_stratum"), tb,
                      manifest=manifest, group="group", case=["MS"], control="HC", strata="hla", n_permutations=199,
                      rng=0)
    row = res.table.set_index("metric").loc["MS"]
    assert row["test"] == "van_elteren_vs_shuffled_taxon_proteome" and res.strata == "hla"
    assert row["p_value"] < 0.06 and row["p_van_elteren"] < 0.01 and row["effect"] > 0 and row["statistic"] > 0
    per = res.per_stratum.set_index("stratum")
    assert per.loc["DRB1*15:01+", "p_mann_whitney"] < 0.01 and per.loc["DRB1*15:01+", "p_value"] < 0.06
    assert per.loc["DRB1*15:01-", "p_mann_whitney"] > 0.05
    assert per[["n_case", "n_control"]].values.tolist() == [[12, 12], [12, 12]]
    np.testing.assert_allclose(per["weight"], 1 / 25)
    assert res.samples["hla"].nunique() == 2 and res.to_dict()["strata"] == "hla"


def test_stratification_removes_an_effect_confounded_by_the_stratum():
    hits, manifest = _hits(40)
    tb = taxon_burden(hits)
    cohort = _stratified_cohort(np.random.default_rng(5), 40, design="confounded")
    kw = dict(manifest=manifest, group="group", case=["MS"], control="HC", n_permutations=199, rng=0)
    pooled = burden_test(cohort, tb, **kw).table.iloc[0]
    strat = burden_test(cohort, tb, strata="hla", **kw).table.iloc[0]
    assert pooled["p_mann_whitney"] < 0.01 and pooled["p_value"] < 0.06
    assert strat["p_van_elteren"] > 0.2 and strat["p_value"] > 0.2
    assert strat["ci_low"] < 0 < strat["ci_high"]


def test_stratified_null_calibrated_under_no_effect():
    hits, manifest = _hits(30)
    tb = taxon_burden(hits)
    ps = []
    for s in range(10):
        rng = np.random.default_rng(100 + s)
        cohort = _stratified_cohort(rng, 30, design="one_stratum")
        cohort = Cohort(rng.gamma(1.0, 1.0, size=(48, 30)) * 100, metadata=cohort.metadata,
                        taxonomy=pd.DataFrame(index=cohort.feature_ids), units="counts")
        ps.append(burden_test(cohort, tb, manifest=manifest, group="group", case=["MS"], control="HC",
                              strata="hla", n_permutations=99, rng=s).table["p_value"].iloc[0])
    assert 0.1 < np.mean(ps) < 0.9 and min(ps) > 0.0


def test_one_stratum_equals_the_unstratified_rank_test():
    """A single stratum: van Elteren is the Mann–Whitney z, the stratified shift and CI are Hodges–Lehmann's."""
    from scipy import stats

    from gutlink.community import hodges_lehmann
    from gutlink.mimicry.burden import stratified_hodges_lehmann, van_elteren

    rng = np.random.default_rng(7)
    x = np.round(rng.normal(size=40), 1)  # ties
    case = np.arange(40) < 17
    z, p = van_elteren(x, case)
    ref = stats.mannwhitneyu(x[case], x[~case], alternative="two-sided", use_continuity=False, method="asymptotic")
    assert p == pytest.approx(ref.pvalue, rel=1e-10)
    assert stratified_hodges_lehmann(x, case) == pytest.approx(hodges_lehmann(x[case], x[~case]), rel=1e-12)
    assert van_elteren(x, case, strata=["a"] * 40) == pytest.approx((z, p))


def test_van_elteren_by_hand_and_strata_shift_cancels():
    from gutlink.mimicry.burden import stratified_hodges_lehmann, van_elteren

    # two strata of 4, each with both cases above both controls: U - 2 = 2 each, weight 1/5, var 2 * (1/25) * 5/3
    z, _ = van_elteren([1.0, 2, 3, 4, 15, 16, 17, 18], [0, 0, 1, 1, 0, 0, 1, 1], strata=list("aaaabbbb"))
    assert z == pytest.approx(0.8 / np.sqrt(2 / 15))
    # a huge between-stratum offset does not enter the stratified shift
    values = np.array([1.0, 2, 3, 4, 1001, 1002, 1003, 1004])
    assert stratified_hodges_lehmann(values, [0, 0, 1, 1, 0, 0, 1, 1], strata=list("aaaabbbb"))[0] == 2.0


def test_strata_errors_name_the_stratum_and_what_it_lacks():
    from gutlink.errors import DesignError

    hits, manifest = _hits(5)
    tb = taxon_burden(hits)
    cohort = _stratified_cohort(np.random.default_rng(0), 5, design="one_stratum")
    meta = cohort.metadata.copy()
    meta["only"] = np.where(np.arange(48) < 12, "DR3/DR4", "other")  # the first 12 samples are all cases
    c2 = cohort.with_metadata(meta)
    kw = dict(manifest=manifest, group="group", case=["MS"], control="HC", n_permutations=9, rng=0)
    with pytest.raises(DesignError, match=r"stratum 'DR3/DR4' of 'only' has only cases \(12 case\(s\), no control\)"):
        burden_test(c2, tb, strata="only", **kw)
    meta["ctrl"] = np.where(np.arange(48) >= 36, "x", "y")  # the last 12 are all controls
    with pytest.raises(DesignError, match=r"stratum 'x' of 'ctrl' has only controls \(12 control\(s\), no case\)"):
        burden_test(cohort.with_metadata(meta), tb, strata="ctrl", **kw)
    with pytest.raises(DesignError, match="no strata column 'HLA'. Did you mean 'hla'"):
        burden_test(cohort, tb, strata="HLA", **kw)
    meta["gap"] = meta["hla"].where(np.arange(48) != 3)
    with pytest.raises(DesignError, match="1 case/control sample"):
        burden_test(cohort.with_metadata(meta), tb, strata="gap", **kw)
