"""Tests of gutlink.community.permanova: golden numbers from R vegan, hand checks, properties, bad input.

The golden fixtures and ``vegan_adonis2.json`` come from ``benchmarks/vegan_golden.R``
(60 real PRISM samples, Franzosa et al. 2019; Bray-Curtis and Aitchison distances).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gutlink.community.permanova import gower_centre, permanova_table, permutation_matrix
from gutlink.community.permdisp import _centroid_distances, permdisp_table
from gutlink.errors import DesignError, InputFormatError, SampleMismatchError

GOLDEN = Path(__file__).parent / "data" / "golden"
DISTANCES = ("bray", "aitchison")
REL = 1e-8
MC_TOL = 0.03  # |p_gutlink(4999 perms) - p_vegan(9999 perms)| is within ~3.5 SE at worst


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads((GOLDEN / "vegan_adonis2.json").read_text())


@pytest.fixture(scope="module")
def meta() -> pd.DataFrame:
    return pd.read_csv(GOLDEN / "permanova_metadata.csv", index_col="id")


@pytest.fixture(scope="module")
def dists() -> dict[str, np.ndarray]:
    return {name: pd.read_csv(GOLDEN / f"permanova_{name}.csv.gz", index_col=0).to_numpy() for name in DISTANCES}


def _fixed_perms(strata: bool) -> np.ndarray:
    name = "permanova_perms_strata.csv.gz" if strata else "permanova_perms.csv.gz"
    return np.loadtxt(GOLDEN / name, delimiter=",", dtype=int) - 1  # R is 1-based


def _floats(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _line(x: np.ndarray) -> np.ndarray:
    return np.abs(x[:, None] - x[None, :])


ADONIS_CASES = ["one_factor", "terms", "margin", "overall", "strata", "interaction_terms", "interaction_margin"]


def _run_case(d: np.ndarray, meta: pd.DataFrame, case: dict, permutations, rng=None) -> pd.DataFrame:
    strata = meta[case["strata"]].to_numpy() if case["strata"] else None
    return permanova_table(d, meta, case["formula"], by=case["by"], strata=strata, n_permutations=permutations, rng=rng)


# ------------------------------------------------------------------- golden


@pytest.mark.parametrize("dist", DISTANCES)
@pytest.mark.parametrize("case_name", ADONIS_CASES)
def test_adonis2_table_equals_vegan(golden, meta, dists, dist, case_name):
    case = golden["adonis2"][dist][case_name]
    table = _run_case(dists[dist], meta, case, _fixed_perms(bool(case["strata"])))
    assert table["term"].tolist() == case["term"]
    assert table["df"].tolist() == case["df"]
    for ours, theirs in [("sum_of_squares", "sum_of_squares"), ("r2", "r2"), ("statistic", "statistic")]:
        np.testing.assert_allclose(table[ours], _floats(case[theirs]), rtol=REL, equal_nan=True)
    # the very same permutations give the very same p-values
    np.testing.assert_array_equal(table["p_value"], _floats(case["p_value_fixed"]))


@pytest.mark.parametrize("dist", DISTANCES)
@pytest.mark.parametrize("case_name", ADONIS_CASES)
def test_adonis2_random_p_within_monte_carlo_error(golden, meta, dists, dist, case_name):
    case = golden["adonis2"][dist][case_name]
    table = _run_case(dists[dist], meta, case, 4999, rng=20240601)
    ours, theirs = table["p_value"].to_numpy()[:-2], _floats(case["p_value_random"])[:-2]
    assert np.abs(ours - theirs).max() < MC_TOL


@pytest.mark.parametrize("dist", DISTANCES)
def test_betadisper_equals_vegan(golden, meta, dists, dist):
    bd = golden["betadisper"][dist]
    f, p, per_group = permdisp_table(dists[dist], meta["Diagnosis"], n_permutations=_fixed_perms(False))
    assert f == pytest.approx(bd["statistic"], rel=REL)
    assert p == bd["p_value_fixed"]
    assert per_group["group"].tolist() == bd["group"]
    assert per_group["n"].tolist() == bd["n"]
    np.testing.assert_allclose(per_group["mean_distance_to_centroid"], bd["mean_distance_to_centroid"], rtol=REL)
    codes, _ = pd.factorize(meta["Diagnosis"], sort=True)
    z = _centroid_distances(gower_centre(dists[dist]), codes, 3)
    np.testing.assert_allclose(z, bd["distances"], rtol=REL)
    _, p_random, _ = permdisp_table(dists[dist], meta["Diagnosis"], n_permutations=4999, rng=5)
    assert abs(p_random - bd["p_value_random"]) < MC_TOL


# ------------------------------------------------------- scikit-bio as a peer


@pytest.mark.parametrize("dist", DISTANCES)
def test_one_factor_f_equals_skbio_permanova(meta, dists, dist):
    from skbio import DistanceMatrix
    from skbio.stats.distance import permanova

    dm = DistanceMatrix(dists[dist], ids=list(meta.index))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = permanova(dm, meta["Diagnosis"].to_numpy(), permutations=0)["test statistic"]
    table = permanova_table(dm, meta, "~ Diagnosis", n_permutations=0)
    assert table["statistic"].iloc[0] == pytest.approx(expected, rel=1e-10)


def test_permdisp_equals_skbio_on_euclidean_but_not_on_bray(meta, dists):
    """Scikit-bio keeps only real PCoA axes (and 10 by default); vegan also subtracts imaginary ones."""
    from skbio import DistanceMatrix
    from skbio.stats.distance import permdisp

    n = len(meta)
    f = {}
    for dist in DISTANCES:
        dm = DistanceMatrix(dists[dist], ids=list(meta.index))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = permdisp(dm, meta["Diagnosis"].to_numpy(), test="centroid", permutations=0, dimensions=n)
        f[dist] = (permdisp_table(dm, meta["Diagnosis"], n_permutations=0)[0], res["test statistic"])
    assert f["aitchison"][0] == pytest.approx(f["aitchison"][1], rel=1e-10)
    assert f["bray"][0] != pytest.approx(f["bray"][1], rel=1e-4)


# ------------------------------------------------------------ hand-checkable


def test_two_separated_clusters_hand_computed():
    x = np.r_[np.arange(12.0), np.arange(12.0) + 100]
    meta = pd.DataFrame({"group": ["a"] * 12 + ["b"] * 12})
    table = permanova_table(_line(x), meta, "~ group", n_permutations=99, rng=1)
    total = ((x - x.mean()) ** 2).sum()
    between = 12 * (5.5 - x.mean()) ** 2 + 12 * (105.5 - x.mean()) ** 2
    f = between / ((total - between) / 22)
    assert table["sum_of_squares"].tolist() == pytest.approx([between, total - between, total], rel=1e-12)
    assert table["statistic"].iloc[0] == pytest.approx(f, rel=1e-12)
    assert table["r2"].iloc[0] == pytest.approx(between / total, rel=1e-12)
    assert table["df"].tolist() == [1, 22, 23]
    assert table["p_value"].iloc[0] == pytest.approx(1 / 100)
    assert table[["statistic", "p_value"]].iloc[1:].isna().all().all()


def test_covariate_sequential_and_marginal_hand_computed():
    """On 1-D Euclidean data PERMANOVA is ordinary least squares: compare with lstsq."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    meta = pd.DataFrame({"g": rng.choice(["u", "v", "w"], 30), "age": rng.normal(50, 9, 30)})
    rss = {"none": ((x - x.mean()) ** 2).sum()}
    for name, cols in {"g": ["g"], "age": ["age"], "both": ["g", "age"]}.items():
        design = pd.get_dummies(meta[cols], drop_first=True, dtype=float).assign(one=1.0).to_numpy()
        rss[name] = ((x - design @ np.linalg.lstsq(design, x, rcond=None)[0]) ** 2).sum()
    terms = permanova_table(_line(x), meta, "~ g + age", n_permutations=0)
    margin = permanova_table(_line(x), meta, "~ g + age", by="margin", n_permutations=0)
    assert terms["sum_of_squares"].tolist()[:3] == pytest.approx(
        [rss["none"] - rss["g"], rss["g"] - rss["both"], rss["both"]], rel=1e-10
    )
    assert margin["sum_of_squares"].tolist()[:2] == pytest.approx(
        [rss["age"] - rss["both"], rss["g"] - rss["both"]], rel=1e-10
    )


def test_permdisp_hand_computed():
    x = np.array([0.0, 1.0, 2.0, 10.0, 14.0, 18.0])
    f, p, per_group = permdisp_table(_line(x), list("aaabbb"), n_permutations=0)
    # distances to centroids: a -> 1, 0, 1; b -> 4, 0, 4
    z = np.array([1.0, 0, 1, 4, 0, 4])
    assert f == pytest.approx(stats.f_oneway(z[:3], z[3:]).statistic, rel=1e-12)
    assert np.isnan(p)
    assert per_group["mean_distance_to_centroid"].tolist() == pytest.approx([2 / 3, 8 / 3])


def test_gower_centre_trace_is_total_sum_of_squares():
    x = np.random.default_rng(0).normal(size=(12, 3))
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    assert np.trace(gower_centre(d)) == pytest.approx(((x - x.mean(0)) ** 2).sum(), rel=1e-12)


# ---------------------------------------------------------------- properties


def test_row_order_does_not_matter(meta, dists):
    order = np.random.default_rng(1).permutation(len(meta))
    a = permanova_table(dists["bray"], meta, "~ Diagnosis + Age", n_permutations=0)
    b = permanova_table(dists["bray"][np.ix_(order, order)], meta.iloc[order], "~ Diagnosis + Age", n_permutations=0)
    np.testing.assert_allclose(a["sum_of_squares"], b["sum_of_squares"], rtol=1e-10)
    np.testing.assert_allclose(a["statistic"], b["statistic"], rtol=1e-10)


def test_same_seed_same_table_and_generator_accepted(meta, dists):
    a = permanova_table(dists["bray"], meta, "~ Age", n_permutations=199, rng=9)
    b = permanova_table(dists["bray"], meta, "~ Age", n_permutations=199, rng=np.random.default_rng(9))
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("use_strata", [False, True])
def test_shuffled_labels_give_uniform_p_values(use_strata):
    rng = np.random.default_rng(11)
    strata = np.repeat(["s1", "s2", "s3", "s4"], 6) if use_strata else None
    p_values = []
    for _ in range(150):
        x = rng.normal(size=(24, 4))
        d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
        meta = pd.DataFrame({"g": rng.permutation(np.repeat(["a", "b"], 12))})
        table = permanova_table(d, meta, "~ g", strata=strata, n_permutations=99, rng=rng)
        p_values.append(table["p_value"].iloc[0])
    assert stats.kstest(p_values, "uniform").pvalue > 0.01
    assert 0.01 <= np.mean(np.array(p_values) <= 0.05) <= 0.12


def test_permdisp_shuffled_labels_give_uniform_p_values():
    rng = np.random.default_rng(12)
    p_values = []
    for _ in range(150):
        x = rng.normal(size=(24, 3))
        d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
        p_values.append(permdisp_table(d, np.repeat(["a", "b", "c"], 8), n_permutations=99, rng=rng)[1])
    assert stats.kstest(p_values, "uniform").pvalue > 0.01


def test_planted_effect_is_found():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 5))
    x[:20, 0] += 1.5
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    meta = pd.DataFrame({"g": ["case"] * 20 + ["control"] * 20})
    assert permanova_table(d, meta, "~ g", n_permutations=199, rng=0)["p_value"].iloc[0] < 0.01


# -------------------------------------------------------------------- strata


def test_strata_permutations_keep_block_membership():
    strata = np.array(list("aabbbcccca") * 3)
    perms = permutation_matrix(len(strata), 500, strata=strata, rng=2)
    assert perms.shape == (500, 30)
    assert (strata[perms] == strata).all()
    assert (np.sort(perms, axis=1) == np.arange(30)).all()
    assert (perms != np.arange(30)).any(axis=1).mean() > 0.99  # blocks are really shuffled


def test_free_permutations_are_permutations():
    perms = permutation_matrix(15, 50, rng=0)
    assert (np.sort(perms, axis=1) == np.arange(15)).all()
    assert len({tuple(p) for p in perms}) == 50


def test_factor_constant_within_strata_cannot_be_tested():
    """When the tested factor equals the blocks, no permutation changes F: p = 1."""
    x = np.r_[np.arange(8.0), np.arange(8.0) + 50]
    groups = np.repeat(["a", "b"], 8)
    table = permanova_table(_line(x), pd.DataFrame({"g": groups}), "~ g", strata=groups, n_permutations=49, rng=0)
    assert table["p_value"].iloc[0] == 1.0


def test_explicit_permutations_crossing_strata_are_refused():
    perms = np.array([[1, 0, 2, 3], [2, 1, 0, 3]])
    with pytest.raises(DesignError, match="between strata"):
        permutation_matrix(4, perms, strata=["a", "a", "b", "b"])


def test_zero_permutations_give_nan_p(meta, dists):
    table = permanova_table(dists["bray"], meta, "~ Diagnosis", n_permutations=0)
    assert np.isnan(table["p_value"]).all()


# ----------------------------------------------------------------- bad input


def _small() -> tuple[np.ndarray, pd.DataFrame]:
    x = np.arange(6.0)
    return _line(x), pd.DataFrame({"g": list("aabbcc"), "age": [1.0, 5, 2, 7, 3, 9], "one": ["x"] * 6})


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d[:, :5], "square"),
        (lambda d: d + np.triu(np.ones_like(d), 1) * 0.5, "not symmetric"),
        (lambda d: np.where(np.eye(6, k=1) + np.eye(6, k=-1), np.nan, d), "missing or infinite"),
        (lambda d: -d, "non-negative"),
    ],
)
def test_bad_distances_raise_input_format_error(mutate, match):
    d, meta = _small()
    with pytest.raises(InputFormatError, match=match) as err:
        permanova_table(mutate(d), meta, "~ g", n_permutations=0)
    assert err.value.hint
    with pytest.raises(InputFormatError, match=match):
        permdisp_table(mutate(d), meta["g"], n_permutations=0)


def test_formula_column_missing_is_named():
    d, meta = _small()
    with pytest.raises(DesignError, match="'Diagnosis', which is not a metadata column"):
        permanova_table(d, meta, "~ g + Diagnosis", n_permutations=0)


def test_missing_values_name_column_and_count():
    d, meta = _small()
    meta.loc[[1, 4], "age"] = np.nan
    with pytest.raises(DesignError, match=r"'age' \(2 of 6\)"):
        permanova_table(d, meta, "~ g + age", n_permutations=0)


def test_one_level_factor_is_refused():
    d, meta = _small()
    with pytest.raises(DesignError, match="'one' add nothing"):
        permanova_table(d, meta, "~ g + one", n_permutations=0)


def test_aliased_term_is_refused():
    d, meta = _small()
    meta["age2"] = 2 * meta["age"]
    with pytest.raises(DesignError, match="'age2' add nothing"):
        permanova_table(d, meta, "~ age + age2", n_permutations=0)


def test_no_residual_degrees_of_freedom():
    d, meta = _small()
    meta["id"] = list("uvwxyz")
    with pytest.raises(DesignError, match="no residual degrees of freedom"):
        permanova_table(d, meta, "~ id", n_permutations=0)


@pytest.mark.parametrize(("formula", "match"), [("y ~ g", "left-hand side"), ("~ 1", "no terms"), ("~ g +", "term is missing"),
                                                 ('~ g + __import__("os").system("id")', "not an allowed function")])
def test_bad_formulas(formula, match):
    d, meta = _small()
    with pytest.raises(DesignError, match=match):
        permanova_table(d, meta, formula, n_permutations=0)


def test_bad_by_and_bad_permutations():
    d, meta = _small()
    with pytest.raises(DesignError, match="by must be"):
        permanova_table(d, meta, "~ g", by="axis", n_permutations=0)  # type: ignore[arg-type]
    with pytest.raises(DesignError, match="permutation of 0..n-1"):
        permanova_table(d, meta, "~ g", n_permutations=np.ones((3, 6), dtype=int))
    with pytest.raises(DesignError, match=">= 0"):
        permanova_table(d, meta, "~ g", n_permutations=-1)


def test_metadata_rows_must_match():
    d, meta = _small()
    with pytest.raises(SampleMismatchError, match="5 rows"):
        permanova_table(d, meta.iloc[:5], "~ g", n_permutations=0)


def test_distance_matrix_ids_must_follow_metadata_order():
    from skbio import DistanceMatrix

    d, meta = _small()
    ids = list("uvwxyz")
    dm = DistanceMatrix(d, ids=ids)
    assert permanova_table(dm, meta.set_axis(ids), "~ g", n_permutations=0)["df"].iloc[0] == 2
    with pytest.raises(SampleMismatchError, match="metadata.loc"):
        permanova_table(dm, meta.set_axis(ids[::-1]), "~ g", n_permutations=0)


def test_bad_strata_and_groups():
    d, meta = _small()
    with pytest.raises(DesignError, match="strata has 5 labels"):
        permanova_table(d, meta, "~ g", strata=list("aabbc"), n_permutations=9)
    with pytest.raises(DesignError, match="1 missing"):
        permanova_table(d, meta, "~ g", strata=["a", None, "a", "b", "b", "b"], n_permutations=9)
    with pytest.raises(DesignError, match="at least two groups"):
        permdisp_table(d, ["a"] * 6, n_permutations=0)


def test_analyses_use_the_permutations_permutation_matrix_shows(meta, dists):
    strata = meta["mesalamine"].to_numpy()
    shown = permutation_matrix(len(meta), 999, strata=strata, rng=21)
    a = permanova_table(dists["bray"], meta, "~ Age", strata=strata, n_permutations=999, rng=21)
    b = permanova_table(dists["bray"], meta, "~ Age", strata=strata, n_permutations=shown)
    pd.testing.assert_frame_equal(a, b)
    shown = permutation_matrix(len(meta), 999, rng=22)
    assert (
        permdisp_table(dists["bray"], meta["antibiotic"], rng=22)[1]
        == permdisp_table(dists["bray"], meta["antibiotic"], n_permutations=shown)[1]
    )


def test_quoted_column_names_and_patsy_functions(meta, dists):
    renamed = meta.rename(columns={"Age": "Age.years"})
    a = permanova_table(dists["bray"], meta, "~ Diagnosis + Age", n_permutations=0)
    b = permanova_table(dists["bray"], renamed, "~ Diagnosis + Q('Age.years')", n_permutations=0)
    np.testing.assert_allclose(a["statistic"], b["statistic"], rtol=1e-12)
    for spelled in ("~ Diagnosis + Age.years", "~ Diagnosis + `Age.years`"):  # R-style dotted names are columns
        c = permanova_table(dists["bray"], renamed, spelled, n_permutations=0)
        np.testing.assert_allclose(a["statistic"], c["statistic"], rtol=1e-12)
    logged = permanova_table(dists["bray"], meta, "~ np.log(Age)", n_permutations=0)
    assert logged["term"].iloc[0] == "log(Age)"


def test_column_names_are_never_evaluated(meta, dists, tmp_path):
    target = tmp_path / "pwned"
    evil = f'__import__("os").system("touch {target}")'
    renamed = meta.rename(columns={"Age": evil})
    a = permanova_table(dists["bray"], meta, "~ Diagnosis + Age", n_permutations=0)
    b = permanova_table(dists["bray"], renamed, f"~ Diagnosis + Q({evil!r})", n_permutations=0)
    np.testing.assert_allclose(a["statistic"], b["statistic"], rtol=1e-12)
    assert b["term"].tolist()[1] == evil and not target.exists()


def test_perfect_fit_gives_huge_f_without_warnings():
    d = np.where(np.repeat([0, 1], 5)[:, None] == np.repeat([0, 1], 5)[None, :], 0.0, 1.0)
    table = permanova_table(d, pd.DataFrame({"g": np.repeat(["a", "b"], 5)}), "~ g", n_permutations=19, rng=0)
    assert table["statistic"].iloc[0] > 1e12  # residual is 0 up to rounding, as in R
    assert table["r2"].iloc[0] == pytest.approx(1.0)


def test_by_none_is_overall(meta, dists):
    a = permanova_table(dists["bray"], meta, "~ Diagnosis + Age", by=None, n_permutations=0)
    b = permanova_table(dists["bray"], meta, "~ Diagnosis + Age", by="overall", n_permutations=0)
    pd.testing.assert_frame_equal(a, b)
    assert a["term"].tolist() == ["Model", "Residual", "Total"]
