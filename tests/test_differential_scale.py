"""differential at scale: the chunked transform, fits and summaries give the one-pass numbers, the random-effect
indicator is sparse, and memory is estimated before the large steps (ResourceError with the number and the fix)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutlink import Cohort, differential, lineage_table
from gutlink.datasets import franzosa2019
from gutlink.differential import _linmod, _mixed, _table, _transform, memory_estimate
from gutlink.errors import ResourceError

#: The one-pass code itself moves by up to ~3e-14 with the memory alignment of its input (SIMD reductions), so
#: chunked and one-pass numbers are compared to this relative tolerance, never bit for bit.
TOL = 1e-11


def _cohort(n: int = 600, p: int = 120, seed: int = 0, subjects: bool = False) -> Cohort:
    rng = np.random.default_rng(seed)
    prevalence = rng.beta(0.4, 1.5, p)
    x = np.rint((rng.random((n, p)) < prevalence) * rng.lognormal(3, 1.5, (n, p)))
    x[:, 0] += 1
    case = np.arange(n) % 3 == 0
    x[np.ix_(case, np.arange(1, 11))] *= 2.0
    meta = pd.DataFrame({"dx": np.where(case, "case", "control"), "age": rng.normal(45, 12, n).round(1)},
                        index=[f"S{i:04d}" for i in range(n)])
    if subjects:
        meta["subject"] = [f"{d}{i // 6}" for i, d in enumerate(meta["dx"])]
    return Cohort(x, metadata=meta, taxonomy=lineage_table([f"t{j}" for j in range(p)]))


def _run(c: Cohort, **kw) -> differential.DifferentialResult:
    return differential.test(c, "~ dx + age", group="dx", case="case", control="control", **kw)


def _assert_same(a: differential.DifferentialResult, b: differential.DifferentialResult, tol: float = TOL) -> None:
    for x, y in ((a.table, b.table), (a.prevalence, b.prevalence)):
        if x is None:
            assert y is None
            continue
        num = [c for c in x.columns if x[c].dtype.kind == "f"]
        pd.testing.assert_frame_equal(x.drop(columns=num), y.drop(columns=num))
        for col in num:
            np.testing.assert_allclose(y[col].to_numpy(), x[col].to_numpy(), rtol=tol, atol=1e-300, err_msg=col)
    assert a.bias == pytest.approx(b.bias, rel=tol, abs=1e-15)
    assert a.history == b.history and a.n_features == b.n_features


@pytest.mark.parametrize("kw", [{}, {"zeros": "pseudocount"}, {"subject": "subject"}, {"n_shuffles": 2, "rng": 3}])
def test_chunked_paths_give_the_one_pass_numbers(monkeypatch, kw):
    c = _cohort(subjects="subject" in kw)
    whole = _run(c, **kw)
    monkeypatch.setattr(_transform, "CHUNK_ELEMENTS", 600 * 7)  # 7 features / 7 samples a chunk
    monkeypatch.setattr(_linmod, "WLS_CHUNK", 600 * 5)
    monkeypatch.setattr(_table, "SUMMARY_CHUNK", 600 * 3)
    chunked = _run(c, **kw)
    # REML's golden-section search stops within its tolerance, so perturbations of 1e-14 can move it by ~1e-6
    _assert_same(whole, chunked, tol=1e-5 if "subject" in kw else TOL)


def test_chunked_transform_pieces_equal_the_whole_matrix_arithmetic(monkeypatch):
    rng = np.random.default_rng(1)
    x = np.rint((rng.random((300, 40)) < 0.4) * rng.lognormal(2, 1, (300, 40)))
    x[:, 0] += 1
    depth = x.sum(axis=1)
    rel = x / depth[:, None]
    present = rel > 0
    logp = np.where(present, np.log2(np.where(present, _transform.winsorize(rel, 0.03, present), 1.0)), np.nan)
    expected = logp - _transform.reference(np.nan_to_num(logp), present)[:, None]  # the pre-chunking formula
    monkeypatch.setattr(_transform, "CHUNK_ELEMENTS", 300 * 3)
    y, _ = _transform.log_ratios(x, "counts", depth=depth, depth_design=None, winsor=0.03)
    np.testing.assert_allclose(y, expected, rtol=1e-13, atol=1e-13)
    assert np.array_equal(np.isnan(y), ~present)
    summary = _table.group_summary(x, pd.Series(np.where(np.arange(300) % 2, "a", "b")), [f"f{j}" for j in
                                                                                             range(40)], depth=depth)
    odd = np.arange(300) % 2 == 1
    np.testing.assert_allclose(summary["mean_abundance_a"], rel[odd].mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(summary["prevalence_b"], (rel[~odd] > 0).mean(axis=0), rtol=1e-14)


def test_real_cohort_prism_chunked_equals_one_pass(monkeypatch):
    """PRISM (Franzosa 2019, 155 samples x 201 species; three diagnoses, omnibus) through the chunked paths."""
    c = franzosa2019()
    whole = differential.test(c, "~ Diagnosis + Age", omnibus=True)
    n = whole.n_samples
    monkeypatch.setattr(_transform, "CHUNK_ELEMENTS", n * 4)
    monkeypatch.setattr(_linmod, "WLS_CHUNK", n * 6)
    monkeypatch.setattr(_table, "SUMMARY_CHUNK", n * 5)
    chunked = differential.test(c, "~ Diagnosis + Age", omnibus=True)
    _assert_same(whole, chunked)
    assert whole.omnibus is not None and chunked.omnibus is not None
    np.testing.assert_allclose(chunked.omnibus["p_value"], whole.omnibus["p_value"], rtol=TOL)


def test_random_effect_indicator_is_sparse():
    ind = _mixed.indicator(np.array(["a", "b", "a", "c"]))
    assert ind.nnz == 4 and ind.shape == (3, 4)
    assert ind.toarray().tolist() == [[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]]


def test_memory_is_estimated_before_the_large_steps(monkeypatch):
    c = _cohort(n=300, p=60)

    def never(*args, **kwargs):
        raise AssertionError("the log ratios were computed before the memory check")

    monkeypatch.setattr(differential, "log_ratios", never)
    monkeypatch.setenv("GUTLINK_MEMORY", "400K")  # enough to select the samples (288 kB), not for the model
    with pytest.raises(ResourceError) as err:
        _run(c)
    assert "differential of 300 samples" in str(err.value) and err.value.available == 400 * 1024
    assert "--min-prevalence" in str(err.value) and "GUTLINK_MEMORY" in str(err.value)
    m = int(str(err.value).split("samples × ")[1].split(" features")[0])
    assert err.value.needed == memory_estimate(300, m, 4) > 400 * 1024
    monkeypatch.setenv("GUTLINK_MEMORY", "10K")
    with pytest.raises(ResourceError, match="selecting 300 samples × 60 features"):
        _run(c)


def test_memory_estimate_grows_with_samples_times_taxa_and_covers_the_measured_peak():
    small, big = memory_estimate(10_000, 500, 4), memory_estimate(100_000, 2_000, 4)
    assert big > 8 * small and memory_estimate(200_000, 2_000, 4) > 1.9 * big  # ~linear in cells, plus chunks
    # 100,000 x 2,000 (benchmarks/results/differential_scale.md): the estimate is above the measured test-time
    # growth (cohort excluded) and far below an n x n matrix
    assert 8 * 100_000 * 2_000 * 3 < big < 8 * 100_000 * 2_000 * 6
    assert memory_estimate(100_000, 2_000, 4, groups=50_000, clustered_presence=True) > big
