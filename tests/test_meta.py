"""Random-effects meta-analysis: against R metafor and statsmodels, REML against direct maximisation, LOSO, real RA."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from statsmodels.stats.meta_analysis import combine_effects

from gutlink import Cohort, DesignError, meta


def _data(seed: int, k: int = 5, m: int = 6) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(seed)
    v = gen.uniform(0.02, 0.3, size=(k, m))
    y = gen.normal(0.4, 0.3, size=(1, m)) + gen.normal(size=(k, m)) * np.sqrt(v + 0.1)
    return y, v


def test_dersimonian_laird_matches_statsmodels():
    y, v = _data(0, m=12)
    out = meta.random_effects(y, v, method="dl")
    compared = 0
    for j in range(y.shape[1]):
        ref = combine_effects(y[:, j], v[:, j], method_re="chi2")
        if ref.tau2 <= 0:  # statsmodels leaves the moment estimate negative; DL truncates it at 0
            assert out["tau2"][j] == 0
            continue
        compared += 1
        assert out["tau2"][j] == pytest.approx(ref.tau2, rel=1e-10, abs=1e-12)
        assert out["effect"][j] == pytest.approx(ref.mean_effect_re, rel=1e-10)
        assert out["se"][j] == pytest.approx(ref.sd_eff_w_re, rel=1e-10)
        assert out["i2"][j] == pytest.approx(max(ref.i2, 0.0), rel=1e-10, abs=1e-12)  # Higgins: truncated at 0
        assert out["q"][j] == pytest.approx(ref.q, rel=1e-10)
    assert compared >= 4


def _reml_direct(y: np.ndarray, v: np.ndarray) -> float:
    def neg(tau2: float) -> float:
        w = 1 / (v + tau2)
        mu = (w * y).sum() / w.sum()
        return 0.5 * (np.log(v + tau2).sum() + np.log(w.sum()) + (w * (y - mu) ** 2).sum())

    res = optimize.minimize_scalar(neg, bounds=(0, 10), method="bounded", options={"xatol": 1e-12})
    return float(res.x) if neg(res.x) < neg(0.0) else 0.0


def test_reml_maximises_the_restricted_likelihood():
    y, v = _data(1, k=6, m=8)
    out = meta.random_effects(y, v, method="reml")
    for j in range(y.shape[1]):
        assert out["tau2"][j] == pytest.approx(_reml_direct(y[:, j], v[:, j]), abs=1e-6)


GOLDEN = Path(__file__).parent / "data" / "golden" / "metafor_rma.json"


@pytest.mark.parametrize("method", ["reml", "dl"])
@pytest.mark.parametrize("test", ["z", "knha"])
def test_matches_metafor(method, test):
    """Every pooled number equals R metafor's rma() (benchmarks/metafor_golden.R), features with 2-6 studies."""
    golden = json.loads(GOLDEN.read_text())
    k = max(len(f["y"]) for f in golden["features"])
    y = np.full((k, len(golden["features"])), np.nan)
    v = np.full_like(y, np.nan)
    for j, f in enumerate(golden["features"]):
        y[: len(f["y"]), j], v[: len(f["v"]), j] = f["y"], f["v"]
    tables = {f"s{i}": pd.DataFrame({"feature_id": [f"f{j}" for j in range(y.shape[1])], "term": "g",
                                     "effect": y[i], "se": np.sqrt(v[i])}) for i in range(k)}
    table = meta.combine(tables, method=method, test=test).table.set_index("feature_id")
    for j, ref in enumerate(golden["fits"][f"{method}_{test}"]):
        row = table.loc[f"f{j}"]
        for ours, theirs in [("tau2", "tau2"), ("effect", "effect"), ("se", "se"), ("ci_low", "ci_low"),
                             ("ci_high", "ci_high"), ("p_value", "p_value"), ("i2", "i2"),
                             ("q_heterogeneity", "q")]:
            assert row[ours] == pytest.approx(ref[theirs], rel=1e-6, abs=1e-9), (j, ours)
    assert (table["test"] == test).all()


def test_hartung_knapp_is_wider_with_two_heterogeneous_studies():
    y, v = np.array([[-0.2], [-3.4]]), np.array([[0.05], [0.04]])
    z, hk = meta.random_effects(y, v, test="z"), meta.random_effects(y, v, test="knha")
    assert hk["df"][0] == 1 and np.isinf(z["df"][0])
    assert hk["p_value"][0] > z["p_value"][0]
    with pytest.raises(ValueError, match="knha"):
        meta.random_effects(y, v, test="t")


def test_hand_checkable_cases():
    same = meta.random_effects(np.array([[0.5], [0.5], [0.5]]), np.array([[0.1], [0.1], [0.1]]))
    assert same["tau2"][0] == 0 and same["i2"][0] == 0 and same["effect"][0] == pytest.approx(0.5)
    assert same["se"][0] == pytest.approx(np.sqrt(0.1 / 3))
    one_missing = meta.random_effects(np.array([[1.0], [np.nan], [3.0]]), np.array([[1.0], [1.0], [1.0]]),
                                      method="dl")
    assert one_missing["k"][0] == 2 and one_missing["effect"][0] == pytest.approx(2.0)
    alone = meta.random_effects(np.array([[1.0], [np.nan]]), np.array([[1.0], [1.0]]))
    assert np.isnan(alone["effect"][0])


def test_combine_tables_and_leave_one_study_out():
    y, v = _data(2, k=3, m=4)
    tables = {f"s{i}": pd.DataFrame({"feature_id": [f"f{j}" for j in range(4)], "term": "g",
                                     "effect": y[i], "se": np.sqrt(v[i])}) for i in range(3)}
    res = meta.combine(tables, method="dl")
    assert set(res.loso["left_out"]) == {"s0", "s1", "s2"}
    left = res.loso[res.loso["left_out"] == "s0"].set_index("feature_id")
    pooled = meta.random_effects(y[1:], v[1:], method="dl")
    np.testing.assert_allclose(left.loc[[f"f{j}" for j in range(4)], "effect"], pooled["effect"], rtol=1e-12)
    assert res.to_dict()["discoveries"].keys() == {"g"}
    with pytest.raises(DesignError, match="at least two"):
        meta.combine({"s0": tables["s0"]})


@pytest.mark.realdata
def test_rheumatoid_arthritis_across_three_shotgun_cohorts(shared_data):
    folder = shared_data / "multi" / "gmrepo_benchmark"
    raw = pd.read_csv(folder / "rawdata" / "RA_Metagenomics_species.csv", index_col="Row.names")
    taxa = [c for c in raw.columns if c.startswith("ncbi_")]
    names = pd.read_csv(folder / "species_id_names.csv").set_index("taxid")["taxname"]
    species = [names.get(int(c[5:]), c) for c in taxa]
    taxonomy = pd.DataFrame({"species": species}, index=taxa)
    cohort = Cohort(raw[taxa].to_numpy(), metadata=raw.drop(columns=taxa), taxonomy=taxonomy, units="fraction")
    res = meta.by_study(cohort, "~ Group", study="pair_rank", group="Group", case="Case", control="Control",
                        prevalence=False)
    assert res.n_studies == 3 and set(res.loso["left_out"]) == {"1", "2", "3"}
    tab = res.table.dropna(subset=["effect"])
    assert tab["n_studies"].min() >= 2 and tab["n_studies"].max() == 3
    assert tab["i2"].between(0, 1).all() and (tab["tau2"] >= 0).all()
    assert tab["q_value"].between(0, 1).all()
