"""Past one machine: the distance blocks and the differential model's feature chunks on a Dask ``distributed``
cluster (a two-worker LocalCluster here) give exactly the local results, with progress; the CLI's --scheduler."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutlink import Cohort, differential, lineage_table
from gutlink.cli import main
from gutlink.community import _blocked, beta_diversity, diversity, progress_to
from gutlink.datasets import franzosa2019
from gutlink.errors import DesignError
from gutlink.io import write_tsv
from gutlink.parallel import current_scheduler, on_cluster

distributed = pytest.importorskip("distributed", reason="the optional 'distributed' package is not installed "
                                                        "(pip install 'gutlink[dask]')")


@pytest.fixture(scope="module")
def cluster():
    # processes=False: the two workers are threads of this process (no spawning on the shared CI machine), but
    # every task still goes through the scheduler. Results are then exact; with worker processes they agree to
    # rounding (~1e-13: the arrays arrive at other memory alignments; benchmarks/results/dask.md)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as cl:
        yield cl


def _table(n: int = 150, p: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.rint((rng.random((n, p)) < rng.beta(0.4, 1.5, p)) * rng.lognormal(2, 1.5, (n, p)))
    x[:, 0] += 1
    return x


def test_distance_blocks_on_the_cluster_equal_the_local_ones(client, monkeypatch):
    monkeypatch.setattr(_blocked, "GEMM_ROWS", 32)  # several blocks of rows
    x = _table()
    rel = x / x.sum(axis=1, keepdims=True)
    z = np.log(x + 0.5)
    for kernel, data in ((_blocked.braycurtis, rel), (_blocked.jaccard, x > 0), (_blocked.euclidean, z)):
        local = kernel(data)
        with distributed.get_task_stream(client) as stream:
            remote = kernel(data, scheduler=client)
        assert len(stream.data) == (64 if kernel is _blocked.braycurtis else 5)  # row sets / blocks of 32 rows
        assert np.array_equal(local, remote), kernel.__name__
        assert np.allclose(remote, remote.T) and not np.diag(remote).any()


def test_beta_diversity_inside_on_cluster_and_progress(cluster, monkeypatch):
    monkeypatch.setattr(diversity, "SCALE_FROM", 2)
    monkeypatch.setattr(_blocked, "GEMM_ROWS", 40)
    c = Cohort(_table(160), metadata=pd.DataFrame(index=[f"s{i}" for i in range(160)]))
    local = {m: beta_diversity(c, m).data for m in ("braycurtis", "jaccard", "aitchison")}
    lines: list[str] = []
    with on_cluster(cluster.scheduler_address) as cl, progress_to(lines.append, every=0.0):
        assert current_scheduler() is cl and cl.status == "running"
        remote = {m: beta_diversity(c, m).data for m in local}
    assert current_scheduler() is None
    for m in local:
        assert np.array_equal(local[m], remote[m]), m
    assert "Bray–Curtis distances: 64/64 row blocks (100%)" in "\n".join(lines)
    assert any(line.startswith("Jaccard distances: 4/4 row blocks") for line in lines)


def _synthetic() -> Cohort:
    rng = np.random.default_rng(4)
    x = _table(240, 90, seed=4)
    case = np.arange(240) % 3 == 0
    x[np.ix_(case, np.arange(1, 9))] *= 2
    meta = pd.DataFrame({"dx": np.where(case, "case", "control"), "age": rng.normal(45, 12, 240).round(1)},
                        index=[f"S{i:04d}" for i in range(240)])
    return Cohort(x, metadata=meta, taxonomy=lineage_table([f"t{j}" for j in range(90)]))


def _same(a: differential.DifferentialResult, b: differential.DifferentialResult) -> None:
    pd.testing.assert_frame_equal(a.table, b.table, check_exact=True)
    pd.testing.assert_frame_equal(a.prevalence, b.prevalence, check_exact=True)
    assert a.negative_control == b.negative_control and a.bias == b.bias


@pytest.mark.parametrize("data", ["synthetic", "prism"])
def test_differential_chunk_fits_on_the_cluster_equal_the_local_ones(client, data):
    if data == "prism":  # Franzosa 2019: 155 samples, CD vs controls
        c, kw = franzosa2019(), {"group": "Diagnosis", "case": "CD", "control": "Control"}
        formula = "~ Diagnosis + Age"
    else:
        c, kw, formula = _synthetic(), {"group": "dx", "case": "case", "control": "control"}, "~ dx + age"
    local = differential.test(c, formula, n_shuffles=2, rng=5, **kw)
    with distributed.get_task_stream(client) as stream:
        remote = differential.test(c, formula, n_shuffles=2, rng=5, scheduler=client, **kw)
    _same(local, remote)
    assert len(stream.data) >= 7  # full + 2 restricted fits, then full + 1 per shuffle (one chunk each at least)
    assert client.status == "running"  # a client passed in is left open


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(DesignError, match="cannot reach the Dask scheduler"):
        with on_cluster("tcp://127.0.0.1:1"):
            pass


def test_cli_differential_scheduler_flag(cluster, tmp_path, capsys):
    c = franzosa2019()
    write_tsv(c, tmp_path / "abundance.tsv")
    c.metadata.to_csv(tmp_path / "metadata.tsv", sep="\t")
    base = ["differential", str(tmp_path / "abundance.tsv"), "--metadata", str(tmp_path / "metadata.tsv"),
            "--formula", "~ Diagnosis + Age", "--group", "Diagnosis", "--case", "CD", "--control", "Control",
            "--shuffles", "2", "--quiet"]
    assert main([*base, "--out", str(tmp_path / "local")]) == 0
    assert main([*base, "--out", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address]) == 0
    for name in ("differential.tsv", "prevalence.tsv"):
        assert (tmp_path / "local" / name).read_text() == (tmp_path / "dask" / name).read_text()
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "bad"), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_cli_link_scheduler_flag(cluster, tmp_path, capsys):
    c = franzosa2019()
    write_tsv(c, tmp_path / "abundance.tsv")
    c.metadata.to_csv(tmp_path / "metadata.tsv", sep="\t")
    base = ["link", str(tmp_path / "abundance.tsv"), "--metadata", str(tmp_path / "metadata.tsv"), "--group",
            "Diagnosis", "--case", "CD", "--control", "Control", "--metrics", "braycurtis", "--permutations", "19",
            "--no-guilds", "--quiet", "--seed", "3"]
    assert main([*base, "--out", str(tmp_path / "local")]) == 0
    assert main([*base, "--out", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address]) == 0
    for name in ("tests.tsv", "differential.tsv", "pcoa_braycurtis.tsv"):
        assert (tmp_path / "local" / name).read_text() == (tmp_path / "dask" / name).read_text()
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "bad"), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
