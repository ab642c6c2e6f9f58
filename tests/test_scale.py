"""Scale paths of the community layer: blocked distance kernels, Aitchison from CLR coordinates, PCoA by eigsh,
memory estimated before allocating, progress with an ETA — each checked against the exact (small-n) path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist, squareform
from skbio import DistanceMatrix

from gutlink import Cohort, lineage_table
from gutlink.community import (
    _blocked,
    beta_diversity,
    diversity,
    ordination,
    pcoa,
    permanova,
    permanova_table,
    permdisp,
    progress_to,
)
from gutlink.community._progress import Ticker
from gutlink.community.permanova import _table as _permanova_core
from gutlink.community.permdisp import _test as _permdisp_core
from gutlink.community.permdisp import permdisp_table
from gutlink.datasets import franzosa2019
from gutlink.design import case_control
from gutlink.errors import ResourceError

TOL = 1e-10


def _table(n: int = 90, p: int = 60, seed: int = 0) -> np.ndarray:
    """Sparse-ish counts with uneven prevalence, two duplicated samples and one sample of a single taxon."""
    rng = np.random.default_rng(seed)
    prevalence = rng.beta(0.4, 1.5, p)
    x = np.rint((rng.random((n, p)) < prevalence) * rng.lognormal(2, 1.5, (n, p)))
    x[:, 0] += 1  # no empty sample
    x[7] = x[3]
    x[11] = 0
    x[11, 5] = 9
    return x


def _cohort(n: int = 90, p: int = 60, seed: int = 0) -> Cohort:
    x = _table(n, p, seed)
    rng = np.random.default_rng(seed + 1)
    ids = [f"s{i:03d}" for i in rng.permutation(n)]  # not in sample-ID order: the reordering paths run too
    meta = pd.DataFrame({"dx": np.where(np.arange(n) % 3 == 0, "CD", "nonIBD"),
                         "age": rng.normal(40, 10, n), "site": np.where(np.arange(n) % 2 == 0, "a", "b")}, index=ids)
    x[meta["dx"].to_numpy() == "CD", 1:6] += 50  # a real difference, so p-values are not all near 1
    return case_control(Cohort(x, metadata=meta, taxonomy=lineage_table([f"g{j}" for j in range(p)])),
                        group="dx", case=["CD"], control="nonIBD")


def test_blocked_kernels_equal_scipy(monkeypatch):
    monkeypatch.setattr(_blocked, "GEMM_ROWS", 16)  # several blocks and a ragged last one
    monkeypatch.setattr(_blocked, "_BC_TASKS", 7)
    x = _table(70, 40)
    rel = x / x.sum(axis=1, keepdims=True)
    presence = x > 0
    presence[9] = False  # an empty row: Jaccard 0 with another empty row, as scipy
    presence[10] = False
    z = np.log(x + 0.5)
    z -= z.mean(axis=1, keepdims=True)
    for got, want in [(_blocked.braycurtis(rel), pdist(rel, "braycurtis")),
                      (_blocked.braycurtis(x), pdist(x, "braycurtis")),  # not closed: sum|x-y| / sum(x+y)
                      (_blocked.jaccard(presence), pdist(presence, "jaccard")),
                      (_blocked.euclidean(z), pdist(z, "euclidean"))]:
        assert np.array_equal(got, got.T) and np.all(np.diag(got) == 0)
        np.testing.assert_allclose(got, squareform(want), rtol=0, atol=TOL)
    assert _blocked.euclidean(z)[3, 7] == 0.0  # duplicates: exactly 0 (recomputed, no cancellation error)


@pytest.mark.parametrize("metric", ["braycurtis", "jaccard", "aitchison"])
def test_beta_diversity_large_path_equals_scikit_bio(monkeypatch, metric):
    c = _cohort()
    exact = beta_diversity(c, metric)
    monkeypatch.setattr(diversity, "SCALE_FROM", 2)
    blocked = beta_diversity(c, metric)
    assert list(blocked.ids) == list(exact.ids)
    np.testing.assert_allclose(blocked.data, exact.data, rtol=0, atol=TOL)


def test_pcoa_large_paths_equal_scikit_bio(monkeypatch):
    c = _cohort()
    for metric in ("braycurtis", "aitchison"):
        dm = beta_diversity(c, metric)
        exact = pcoa(dm, metric=metric, dimensions=5)  # scikit-bio eigh (n <= 500)
        monkeypatch.setattr(diversity, "SCALE_FROM", 2)
        for d in (dm, DistanceMatrix(dm.data, ids=dm.ids)):  # Aitchison: from CLR coordinates, then by eigsh
            fast = pcoa(d, metric=metric, dimensions=5)
            np.testing.assert_allclose(fast.proportion_explained.to_numpy(),
                                       exact.proportion_explained.to_numpy(), rtol=1e-9, atol=1e-12)
            a, b = fast.coordinates.to_numpy(), exact.coordinates.to_numpy()
            signs = np.sign((a * b).sum(axis=0))
            np.testing.assert_allclose(a * signs, b, rtol=0, atol=1e-8 * np.abs(b).max())
        monkeypatch.setattr(diversity, "SCALE_FROM", 2000)


def test_aitchison_permanova_and_permdisp_from_coordinates_equal_the_gower_path():
    c = _cohort(n=120, p=40)  # p < n: the coordinate path is taken
    dm = beta_diversity(c, "aitchison")
    assert diversity.euclidean_coordinates(dm) is not None
    plain = DistanceMatrix(dm.data.copy(), ids=dm.ids)  # same numbers, no coordinates: the n x n path
    assert diversity.euclidean_coordinates(plain) is None
    for kwargs in ({}, {"covariates": ["age"], "by": "terms"}, {"strata": "site"}):
        fast = permanova(c, metric="aitchison", n_permutations=199, rng=3, distances=dm, **kwargs).table
        slow = permanova(c, metric="aitchison", n_permutations=199, rng=3, distances=plain, **kwargs).table
        num = ["df", "sum_of_squares", "r2", "statistic"]
        np.testing.assert_allclose(fast[num].to_numpy(float), slow[num].to_numpy(float), rtol=TOL, atol=TOL)
        assert fast["p_value"].equals(slow["p_value"])  # same permutations, same counts
        assert fast.set_index("term").loc["group_label", "p_value"] < 0.05
    never_formed = permanova(c, metric="aitchison", n_permutations=199, rng=3).table  # no distances: CLR only
    pd.testing.assert_frame_equal(never_formed, permanova(c, metric="aitchison", n_permutations=199, rng=3,
                                                          distances=plain).table, rtol=TOL)
    assert permdisp(c, metric="aitchison", n_permutations=99, rng=4).p_value == \
        permdisp(c, metric="aitchison", n_permutations=99, rng=4, distances=plain).p_value
    fast_d = permdisp(c, metric="aitchison", n_permutations=199, rng=4, distances=dm)
    slow_d = permdisp(c, metric="aitchison", n_permutations=199, rng=4, distances=plain)
    assert fast_d.statistic == pytest.approx(slow_d.statistic, rel=TOL) and fast_d.p_value == slow_d.p_value
    np.testing.assert_allclose(fast_d.groups["mean_distance_to_centroid"],
                               slow_d.groups["mean_distance_to_centroid"], rtol=TOL)


def test_permanova_on_a_cohort_equals_permanova_table_on_reordered_distances():
    c = _cohort()
    dm = beta_diversity(c, "braycurtis")
    order = np.argsort(np.asarray(c.sample_ids, dtype=str))
    res = permanova(c, metric="braycurtis", n_permutations=99, rng=5, distances=dm)
    table = permanova_table(dm.data[np.ix_(order, order)], c.metadata.iloc[order], res.formula, by="margin",
                            n_permutations=99, rng=5)
    pd.testing.assert_frame_equal(res.table, table, rtol=TOL)
    assert np.isfinite(dm.data).all()  # centring in place touched a copy, never the caller's matrix
    np.testing.assert_allclose(dm.data, beta_diversity(c, "braycurtis").data, rtol=0, atol=0)
    labels = c.metadata["group_label"].astype(str).to_numpy()[order]
    stat, p, _ = permdisp_table(dm.data[np.ix_(order, order)], labels, n_permutations=99, rng=6)
    disp = permdisp(c, metric="braycurtis", n_permutations=99, rng=6, distances=dm)
    assert disp.statistic == pytest.approx(stat, rel=TOL) and disp.p_value == p


def test_memory_is_estimated_before_allocating(monkeypatch):
    c = _cohort(n=60)
    monkeypatch.setattr(diversity, "SCALE_FROM", 2)
    monkeypatch.setenv("GUTLINK_MEMORY", "20K")

    def never(*args, **kwargs):
        raise AssertionError("allocated before the memory check")

    monkeypatch.setattr(_blocked, "braycurtis", never)
    with pytest.raises(ResourceError) as err:
        beta_diversity(c, "braycurtis")
    needed = 60 * 60 * 8
    assert err.value.needed >= needed and err.value.available == 20 * 1024
    assert "GUTLINK_MEMORY" in str(err.value) and "--one-per-subject" in str(err.value)
    monkeypatch.setenv("GUTLINK_MEMORY", "100000T")
    dm = DistanceMatrix(squareform(pdist(_table(60, 60))), ids=c.sample_ids)
    monkeypatch.setenv("GUTLINK_MEMORY", "10K")
    with pytest.raises(ResourceError, match="PERMANOVA of 60 samples"):
        permanova(c, distances=dm, n_permutations=9)
    with pytest.raises(ResourceError, match="PERMDISP of 60 samples"):
        permdisp(c, distances=dm, n_permutations=9)


def test_memory_estimate_of_100k_samples_names_the_gib(monkeypatch):
    monkeypatch.setenv("GUTLINK_MEMORY", "24G")
    big = Cohort(np.ones((1, 3)), units="counts")
    monkeypatch.setattr(type(big), "n_samples", property(lambda self: 100_000))
    monkeypatch.setattr(type(big), "sample_ids", property(lambda self: pd.Index([f"s{i}" for i in range(100_000)])))
    with pytest.raises(ResourceError) as err:
        beta_diversity(big, "jaccard")
    assert "100,000 samples" in str(err.value) and "74.5 GiB" not in str(err.value)  # n² + the blocks: > 74.5
    assert err.value.needed > 100_000**2 * 8 and "24.0 GiB is available" in str(err.value)


def test_progress_lines_with_eta():
    lines: list[str] = []
    c = _cohort()
    with progress_to(lines.append, every=0.0):
        permanova(c, metric="jaccard", n_permutations=1200, rng=1)
    assert lines[-1].startswith("PERMANOVA (jaccard): 1200/1200 permutations (100%)")
    assert any("ETA" in line for line in lines[:-1])
    quiet: list[str] = []
    tick = Ticker("x", 3)  # no sink installed: nothing reported
    tick(1)
    assert not quiet


def test_real_cohort_prism_scale_paths_equal_the_exact_ones(monkeypatch):
    """PRISM (Franzosa 2019, 155 samples x 201 species, CD vs controls): the blocked distances, the eigsh PCoA
    and the coordinate PERMANOVA / PERMDISP give the exact path's numbers."""
    c = case_control(franzosa2019(), group="Diagnosis", case=["CD"], control="Control")
    exact = {m: beta_diversity(c, m) for m in ("braycurtis", "jaccard", "aitchison")}
    pc = pcoa(exact["braycurtis"], dimensions=5)
    monkeypatch.setattr(diversity, "SCALE_FROM", 2)
    for metric, dm in exact.items():
        np.testing.assert_allclose(beta_diversity(c, metric).data, dm.data, rtol=0, atol=TOL)
    fast = pcoa(exact["braycurtis"], dimensions=5)
    np.testing.assert_allclose(fast.proportion_explained, pc.proportion_explained, rtol=1e-9)
    order = np.argsort(np.asarray(c.sample_ids, dtype=str))
    meta = c.metadata.iloc[order]
    coords = diversity.euclidean_coordinates(exact["aitchison"])[order]
    via_coords = _permanova_core(None, coords, meta, "~ Age + group_label", by="margin", strata=None, plots=None,
                                 n_permutations=499, rng=8, owned=False)
    via_gower = permanova_table(exact["aitchison"].data[np.ix_(order, order)], meta, "~ Age + group_label",
                                by="margin", n_permutations=499, rng=8)
    pd.testing.assert_frame_equal(via_coords, via_gower, rtol=TOL)
    assert via_gower.set_index("term").loc["group_label", "p_value"] < 0.01  # CD differs from controls in PRISM
    labels = meta["group_label"].astype(str).to_numpy()
    f1, p1, g1 = _permdisp_core(None, coords, labels, n_permutations=499, strata=None, plots=None, rng=9,
                                owned=False)
    f2, p2, g2 = permdisp_table(exact["aitchison"].data[np.ix_(order, order)], labels, n_permutations=499, rng=9)
    assert f1 == pytest.approx(f2, rel=TOL) and p1 == p2
    pd.testing.assert_frame_equal(g1, g2, rtol=TOL)


def test_ordination_of_aitchison_without_distances_equals_pcoa():
    c = _cohort(n=120, p=40)
    exact = pcoa(beta_diversity(c, "aitchison"), metric="aitchison", dimensions=4)  # scikit-bio eigh
    fast = ordination(c, "aitchison", dimensions=4)  # CLR coordinates, no n x n matrix
    np.testing.assert_allclose(fast.proportion_explained.to_numpy(), exact.proportion_explained.to_numpy(),
                               rtol=1e-9)
    a, b = fast.coordinates.to_numpy(), exact.coordinates.to_numpy()
    np.testing.assert_allclose(a * np.sign((a * b).sum(axis=0)), b, atol=1e-8 * np.abs(b).max())
    bc = ordination(c, "braycurtis", dimensions=3)
    assert bc.coordinates.shape == (120, 3) and bc.metric == "braycurtis"


def test_link_runs_aitchison_on_clr_coordinates_and_keeps_only_the_reference_matrix(monkeypatch):
    """With more samples than taxa, link never forms the Aitchison n x n matrix (the coordinate path equals the
    matrix path: test_aitchison_permanova_and_permdisp_from_coordinates_equal_the_gower_path)."""
    import gutlink.link as link_module

    c = franzosa2019().aggregate("phylum")
    assert c.n_features < c.n_samples
    formed = []
    real = link_module.beta_diversity

    def spy(cohort, metric, *args, **kwargs):
        formed.append(metric)
        return real(cohort, metric, *args, **kwargs)

    monkeypatch.setattr(link_module, "beta_diversity", spy)
    kwargs = dict(group="Diagnosis", case="CD", control="Control", n_permutations=99, rng=5, guilds=False,
                  literature=False)
    res = link_module.link(c, metrics=("braycurtis", "aitchison"), **kwargs)
    assert "aitchison" not in formed and "braycurtis" in formed
    assert res.ordinations["aitchison"].coordinates.shape[0] == res.ordinations["braycurtis"].coordinates.shape[0]
    assert np.isfinite(res.permanova["aitchison"].table["r2"].iloc[0])


# ----------------------------------------------------------------------------- progress outside community
def test_predict_reports_folds_and_permutations_with_eta():
    from gutlink import predict
    from gutlink.datasets import toy

    lines: list[str] = []
    with progress_to(lines.append, every=0.0):
        predict.cross_validate(toy(), group="group", case="case", control="control", model="rf",
                               params={"n_estimators": 10}, grid={}, n_repeats=2, n_folds=3, n_permutations=3,
                               rng=1)
    folds = [line for line in lines if line.startswith("cross-validation:")]
    assert folds[-1].startswith("cross-validation: 6/6 folds (100%)") and len(folds) == 6
    assert any("ETA" in line for line in folds[:-1])
    assert [line for line in lines if line.startswith("permutation null")][-1].startswith(
        "permutation null: 3/3 permutations (100%)")
    assert not [line for line in lines if line.startswith("cross-validation: 3/3")]  # null folds say nothing


def test_mimicry_scan_reports_batches_in_residues(tmp_path):
    from gutlink import mimicry

    prots = [mimicry.Proteome.from_records(f"bug{i}", [(f"p{i}", "MKVHFFKNIVTGGAVHFFQNVITA" * (i + 1))])
             for i in range(4)]
    lines: list[str] = []
    with progress_to(lines.append, every=0.0):
        mimicry.scan(prots, "builtin:MS", min_score=40, partition_residues=1)
    total = sum(24 * (i + 1) for i in range(4))
    assert lines[-1].startswith(f"mimicry scan: {total}/{total} residues (100%)") and len(lines) == 4
    assert "ETA" in lines[0]


def test_cli_predict_and_mimicry_print_indented_progress_unless_quiet(tmp_path, capsys):
    from gutlink.cli import main
    from gutlink.datasets import toy
    from gutlink.io import write_tsv

    c = toy()
    write_tsv(c, tmp_path / "abundance.tsv")
    c.metadata.to_csv(tmp_path / "metadata.tsv", sep="\t")
    base = ["predict", str(tmp_path / "abundance.tsv"), "--metadata", str(tmp_path / "metadata.tsv"), "--group",
            "group", "--case", "case", "--control", "control", "--repeats", "1", "--folds", "3", "--rng", "0",
            "--permutations", "2"]
    assert main([*base, "--out", str(tmp_path / "p1")]) == 0
    err = capsys.readouterr().err
    assert "      cross-validation: 3/3 folds (100%)" in err and "      permutation null: 2/2 permutations" in err
    assert main([*base, "--out", str(tmp_path / "p2"), "--quiet"]) == 0
    assert "folds" not in capsys.readouterr().err
    genomes = tmp_path / "genomes"
    genomes.mkdir()
    (genomes / "bugA.faa").write_text(">bugA_1\nMKVHFFKNIVTGGAVHFFQNVITA\n")
    scan = ["mimicry", "--proteomes", str(genomes), "--epitopes", "builtin:MS", "--min-score", "40"]
    assert main([*scan, "--out", str(tmp_path / "m1")]) == 0
    assert "      mimicry scan: " in capsys.readouterr().err
    assert main([*scan, "--out", str(tmp_path / "m2"), "--quiet"]) == 0
    assert "mimicry scan" not in capsys.readouterr().err
