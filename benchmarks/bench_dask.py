"""Speed-up with Dask ``distributed`` workers: the blocked distances and the differential model's presence chunks
on a LocalCluster of 1 and 2 worker processes, beside the local path (issue 12, "Past one machine").

Run from the repository root::

    python benchmarks/bench_dask.py [--distance-samples 4000] [--differential-samples 20000] [--taxa 2000]
                                    [--workers 1 2]

Workloads (synthetic counts as ``bench_differential_scale.py``'s ``cohort()``):

* ``braycurtis``: ``community._blocked.braycurtis`` of the relative abundances (64 interleaved row sets);
* ``differential``: ``differential.test(cohort, "~ dx + age", ..., min_prevalence=0)`` (every taxon present
  anywhere tested; the presence model's feature chunks go to the cluster).

Each runs locally (Bray–Curtis on every core by threads, differential with ``n_jobs=1``), then inside
``gutlink.parallel.on_cluster`` on a ``LocalCluster(n_workers=k, threads_per_worker=1, processes=True)`` for each
``--workers`` k; the cluster's start is not timed, sending the data to the workers is. Every cluster result is
checked equal to the local one. Writes ``benchmarks/results/dask.md`` (the hand-written section from
``## Reading these numbers`` on, which documents the multi-machine run, is kept).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402
from bench_differential_scale import cohort  # noqa: E402

from gutlink import differential  # noqa: E402
from gutlink.community import _blocked  # noqa: E402
from gutlink.parallel import on_cluster  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "dask.md"


def _bc(c):  # type: ignore[no-untyped-def]
    x = c.dense()
    return _blocked.braycurtis(x / x.sum(axis=1, keepdims=True))


def _diff(c):  # type: ignore[no-untyped-def]
    return differential.test(c, "~ dx + age", group="dx", case="case", control="control", min_prevalence=0.0)


def _timed(func, c):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = func(c)
    return out, time.perf_counter() - start


def _same(a, b) -> str:  # type: ignore[no-untyped-def]
    """'exact', or the largest relative difference of any number (worker processes: rounding)."""
    if isinstance(a, np.ndarray):
        pairs = [(a, b)]
    else:
        pairs = [(x[c].to_numpy(), y[c].to_numpy()) for x, y in ((a.table, b.table), (a.prevalence, b.prevalence))
                 for c in x.columns if x[c].dtype.kind == "f"]
        if not all(x.drop(columns=[c for c in x.columns if x[c].dtype.kind == "f"]).equals(
                y.drop(columns=[c for c in y.columns if y[c].dtype.kind == "f"]))
                for x, y in ((a.table, b.table), (a.prevalence, b.prevalence))):
            return "DIFFERENT"
    worst = 0.0
    for x, y in pairs:
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            return "DIFFERENT"
        ok = ~np.isnan(x)
        worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]) / np.maximum(np.abs(x[ok]), 1e-300), initial=0.0)))
    return "exact" if worst == 0 else f"{worst:.0e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distance-samples", type=int, default=4000)
    parser.add_argument("--differential-samples", type=int, default=20000)
    parser.add_argument("--taxa", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    args = parser.parse_args(argv)
    from distributed import LocalCluster

    data = {"braycurtis": (_bc, cohort(args.distance_samples, args.taxa)),
            "differential": (_diff, cohort(args.differential_samples, args.taxa))}
    rows, local = [], {}
    for name, (func, c) in data.items():
        local[name], seconds = _timed(func, c)
        rows.append({"workload": name, "n": c.n_samples, "where": "local", "seconds": seconds, "same": "-"})
        print(rows[-1], file=sys.stderr, flush=True)
    for k in args.workers:
        with LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                on_cluster(cluster.scheduler_address):
            for name, (func, c) in data.items():
                out, seconds = _timed(func, c)
                rows.append({"workload": name, "n": c.n_samples, "where": f"Dask, {k} worker(s)",
                             "seconds": seconds, "same": _same(local[name], out)})
                print(rows[-1], file=sys.stderr, flush=True)
    frame = pd.DataFrame(rows)
    lines = ["# Dask distributed: speed-up with workers (issue 12)", "",
             f"{platform.machine()}, {os.cpu_count()} cores shared with three other helpers' jobs while this ran, "
             f"{args.taxa} taxa. Command: `python benchmarks/bench_dask.py {' '.join(sys.argv[1:])}`. Workers are "
             "processes of a `distributed.LocalCluster` (1 thread each) on this machine; *local* is the path "
             "without Dask (Bray–Curtis on threads over every core, differential on one thread). *same*: the "
             "cluster's result against the local one: exact, or the largest relative difference of any number.", "",
             "| workload | n | where | seconds | speed-up vs 1 worker | same |", "|---|---|---|---|---|---|"]
    for r in frame.itertuples():
        one = frame[(frame["workload"] == r.workload) & (frame["where"] == "Dask, 1 worker(s)")]["seconds"]
        speed = f"{one.iloc[0] / r.seconds:.2f}" if len(one) and r.where.startswith("Dask") else ""
        lines.append(f"| {r.workload} | {r.n:,} | {r.where} | {r.seconds:.1f} | {speed} | {r.same} |")
    write_results(OUT, "\n".join(lines) + "\n")
    print(f"wrote {OUT}")
    return 1 if (frame["same"] == "DIFFERENT").any() or any(
        s not in ("-", "exact") and float(s) > 1e-9 for s in frame["same"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
