"""Degenerate data must never yield a verdict (issue 12, defect 1 and defect 10's last point).

All-zero distances (every taxon in every sample under Jaccard, a single-taxon table) leave nothing to
partition: the pseudo-F is NaN, so the permutation p must be NaN too, never 1 / (P + 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gutlink.community.permanova import _permutation_p, permanova_table
from gutlink.community.permdisp import permdisp_table
from gutlink.verdict import _beta_sentences


def _zeros(n: int) -> np.ndarray:
    return np.zeros((n, n))


def test_all_zero_distances_give_nan_p_not_the_floor():
    meta = pd.DataFrame({"group": ["a"] * 6 + ["b"] * 6})
    table = permanova_table(_zeros(12), meta, "~ group", n_permutations=99, rng=1)
    assert np.isnan(table["statistic"].iloc[0])
    assert np.isnan(table["p_value"].iloc[0])  # was 1/100 before the fix


def test_permdisp_on_all_zero_distances_gives_nan_p():
    f, p, _ = permdisp_table(_zeros(8), list("aaaabbbb"), n_permutations=99, rng=1)
    assert np.isnan(f)
    assert np.isnan(p)


def test_permutation_p_keeps_finite_terms_and_blanks_nan_terms():
    f_obs = np.array([5.0, np.nan])
    stream = iter([np.zeros((9, 2))])
    p = _permutation_p(f_obs, lambda perms: np.zeros((len(perms), 2)), stream)
    assert p[0] == 1 / 10
    assert np.isnan(p[1])


class _Perm:
    def __init__(self, permutations: int) -> None:
        self.permutations = permutations


def _tests(p: float) -> pd.DataFrame:
    return pd.DataFrame({"analysis": ["permanova"], "metric": ["jaccard"], "test": ["permanova (terms)"],
                         "statistic": [np.nan if p != p else 3.0], "p_value": [p], "q_value": [p],
                         "effect": [np.nan]})


def test_verdict_sentence_says_not_assessable_on_nan():
    out = _beta_sentences(_tests(np.nan), {"jaccard": _Perm(999)})  # type: ignore[dict-item]
    assert len(out) == 1
    assert "not assessable" in out[0]
    assert "differs" not in out[0]


def test_verdict_sentence_says_permutations_not_run():
    out = _beta_sentences(_tests(np.nan), {"jaccard": _Perm(0)})  # type: ignore[dict-item]
    assert "not assessable" in out[0] and "--permutations 0" in out[0]


def test_mann_whitney_on_constant_values_is_not_assessable():
    from gutlink.community._stats import _mann_whitney

    values = pd.Series(np.ones(10))
    labels = pd.Series(["case"] * 5 + ["control"] * 5)
    row = _mann_whitney(values, labels, analysis="alpha", metric="observed_features")
    assert np.isnan(row["p_value"])  # scipy alone says p = 1.0 on fully tied data
    assert row["effect"] == 0.0


def test_shannon_sentence_on_nan_p_is_not_assessable():
    from gutlink.verdict import _alpha_sentences

    tests = pd.DataFrame({"analysis": ["alpha"], "metric": ["shannon"], "test": ["mann_whitney"],
                          "p_value": [np.nan], "q_value": [np.nan], "effect": [0.0],
                          "ci_low": [np.nan], "ci_high": [np.nan]})
    out = _alpha_sentences(tests)
    assert out and "not assessable" in out[0]


def test_hodges_lehmann_selection_equals_the_sorted_differences(monkeypatch):
    """The O(n log n)-memory selection returns exactly the values of sorting all n1 * n2 differences."""
    import gutlink.community._stats as s

    rng = np.random.default_rng(0)
    cases = []
    for t in range(120):
        n1, n2 = rng.integers(1, 80, 2)
        tied = t % 2 == 1  # integer values: many ties, as richness has
        a = rng.integers(0, 6, n1).astype(float) if tied else rng.normal(size=n1)
        b = rng.integers(0, 6, n2).astype(float) if tied else rng.lognormal(size=n2)
        cases.append((a, b))
    monkeypatch.setattr(s, "_HL_DENSE", 10**12)
    exact = [s.hodges_lehmann(a, b) for a, b in cases]
    monkeypatch.setattr(s, "_HL_DENSE", 0)
    monkeypatch.setattr(s, "_HL_LIST", 0)  # force the bisection, listing only small brackets
    selected = [s.hodges_lehmann(a, b) for a, b in cases]
    np.testing.assert_array_equal(np.array(selected), np.array(exact))


def test_paired_hodges_lehmann_selection_equals_the_sorted_walsh_averages(monkeypatch):
    import gutlink.community._stats as s

    rng = np.random.default_rng(1)
    cases = [rng.integers(-4, 5, n).astype(float) if n % 2 else rng.normal(size=n) for n in rng.integers(1, 120, 80)]
    monkeypatch.setattr(s, "_HL_DENSE", 10**12)
    exact = [s.paired_hodges_lehmann(d) for d in cases]
    monkeypatch.setattr(s, "_HL_DENSE", 0)
    monkeypatch.setattr(s, "_HL_LIST", 0)
    selected = [s.paired_hodges_lehmann(d) for d in cases]
    np.testing.assert_array_equal(np.array(selected), np.array(exact))


def test_stratified_hodges_lehmann_selection_equals_the_sorted_differences(monkeypatch):
    """van Elteren's stratified shift and interval by selection equal the dense weighted order statistics."""
    import gutlink.community._stats as s

    rng = np.random.default_rng(2)
    cases = []
    for t in range(80):
        n = int(rng.integers(4, 120))
        tied = t % 2 == 1
        x = rng.integers(0, 6, n).astype(float) if tied else rng.normal(size=n)
        case = rng.random(n) < 0.5
        strata = rng.integers(0, int(rng.integers(1, 5)), n)
        cases.append((x, case, strata))
    monkeypatch.setattr(s, "_HL_DENSE", 10**12)
    exact = [s.stratified_hodges_lehmann(*c) for c in cases]
    monkeypatch.setattr(s, "_HL_DENSE", 0)
    monkeypatch.setattr(s, "_HL_LIST", 0)
    selected = [s.stratified_hodges_lehmann(*c) for c in cases]
    np.testing.assert_array_equal(np.array(selected), np.array(exact))
