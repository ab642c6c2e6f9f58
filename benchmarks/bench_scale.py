"""How the community layer of ``gutlink link`` scales with the number of samples (issue 12, "Scale").

Run from the repository root::

    python benchmarks/bench_scale.py [--sizes 1000 2000 5000 10000 20000] [--taxa 2000] [--permutations 999]
                                     [--before-up-to 2000] [--coordinates 50000 100000]

For each size a fresh process builds a synthetic cohort (counts, ``--taxa`` taxa with prevalences drawn from
Beta(0.3, 2) — about 13 % of cells non-zero, as species tables — log-normal abundances; a third of the samples
cases, 20 taxa shifted in them) and runs, per metric, the steps ``link`` runs: distances, PCoA (10 axes),
PERMANOVA (``by="margin"``, ``--permutations``), PERMDISP, and the dysbiosis score (Bray–Curtis). Each step's wall
time and the process's peak resident memory during the step (sampled every 20 ms from /proc) are recorded. Up to
``--before-up-to`` samples the same steps also run on the previous path (scikit-bio distances and PCoA, the n x n
PERMANOVA for Aitchison) for a before/after comparison. ``--coordinates`` sizes run only the steps that need no
n x n matrix (Aitchison PERMANOVA and PERMDISP from the CLR coordinates) and give the memory estimate that
stops the n x n steps. Writes ``benchmarks/results/scale.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from skbio import DistanceMatrix

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402

from gutlink import Cohort, lineage_table  # noqa: E402
from gutlink.community import (  # noqa: E402
    _memory,  # noqa: E402
    beta_diversity,
    diversity,
    dysbiosis_score,
    pcoa,
    permanova,
    permdisp,
)
from gutlink.design import case_control  # noqa: E402
from gutlink.errors import ResourceError  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "scale.md"
METRICS = ("braycurtis", "jaccard", "aitchison")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled from /proc/self/statm)."""

    def __enter__(self) -> PeakRSS:
        self.peak, self.running = self._rss(), True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE

    def _watch(self) -> None:
        while self.running:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self._rss())


def cohort(n: int, p: int, seed: int = 0) -> Cohort:
    rng = np.random.default_rng(seed)
    prevalence = rng.beta(0.3, 2.0, p)
    x = (rng.random((n, p)) < prevalence) * rng.lognormal(3.0, 1.5, (n, p))
    x[:, 0] += 1.0  # no empty sample
    case = np.arange(n) % 3 == 0
    x[np.ix_(case, np.arange(1, 21))] *= 1.5
    meta = pd.DataFrame({"dx": np.where(case, "case", "control")}, index=[f"S{i:06d}" for i in range(n)])
    return case_control(Cohort(np.rint(x), metadata=meta, taxonomy=lineage_table([f"t{j}" for j in range(p)])),
                        group="dx", case=["case"], control="control")


def timed(rows: list[dict], n: int, path: str, metric: str, step: str, func):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    with PeakRSS() as mem:
        out = func()
    rows.append({"n": n, "path": path, "metric": metric, "step": step, "seconds": time.perf_counter() - start,
                 "peak_rss_gib": mem.peak / 2**30})
    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return out


def one_size(n: int, args: argparse.Namespace) -> list[dict]:
    rows: list[dict] = []
    c = timed(rows, n, "new", "-", "build cohort", lambda: cohort(n, args.taxa))
    paths = ["new"] + (["before"] if n <= args.before_up_to else [])
    for path in paths:
        diversity.SCALE_FROM = 2000 if path == "new" else 10**9
        for metric in METRICS:
            dm = timed(rows, n, path, metric, "distances", lambda m=metric: beta_diversity(c, m))
            timed(rows, n, path, metric, "pcoa", lambda d=dm, m=metric: pcoa(d, metric=m))
            plain = dm if path == "new" else DistanceMatrix(dm.data, ids=dm.ids)  # before: no CLR
            res = timed(rows, n, path, metric, "permanova", lambda d=plain, m=metric: permanova(
                c, metric=m, n_permutations=args.permutations, rng=1, distances=d))
            rows[-1]["p_value"] = float(res.term()["p_value"])
            rows[-1]["r2"] = float(res.term()["r2"])
            disp = timed(rows, n, path, metric, "permdisp", lambda d=plain, m=metric: permdisp(
                c, metric=m, n_permutations=args.permutations, rng=2, distances=d))
            rows[-1]["p_value"] = disp.p_value
            if metric == "braycurtis":
                timed(rows, n, path, metric, "dysbiosis", lambda d=dm: dysbiosis_score(c, distances=d))
            del dm, plain
    return rows


def coordinates_only(n: int, args: argparse.Namespace) -> list[dict]:
    rows: list[dict] = []
    c = timed(rows, n, "coordinates", "-", "build cohort", lambda: cohort(n, args.taxa))
    res = timed(rows, n, "coordinates", "aitchison", "permanova", lambda: permanova(
        c, metric="aitchison", n_permutations=args.permutations, rng=1))
    rows[-1]["p_value"] = float(res.term()["p_value"])
    disp = timed(rows, n, "coordinates", "aitchison", "permdisp", lambda: permdisp(
        c, metric="aitchison", n_permutations=args.permutations, rng=2))
    rows[-1]["p_value"] = disp.p_value
    try:
        beta_diversity(c, "braycurtis")
    except ResourceError as err:
        rows.append({"n": n, "path": "estimate", "metric": "braycurtis", "step": "distances (not run)",
                     "seconds": float("nan"), "peak_rss_gib": err.needed / 2**30, "note": str(err.message)})
    return rows


def write(rows: list[dict], args: argparse.Namespace) -> None:
    frame = pd.DataFrame(rows)
    lines = ["# Community layer at scale (issue 12)", "",
             f"Synthetic counts, {args.taxa} taxa, {args.permutations} permutations; "
             f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs while this ran), "
             f"numpy {np.__version__}. Command: `python benchmarks/bench_scale.py {' '.join(sys.argv[1:])}`.", "",
             "Seconds and peak resident memory of the process (GiB) during each step; `new` is the current path "
             "(blocked kernels from 2,000 samples on, Aitchison tests from CLR coordinates), `before` the "
             "scikit-bio / n x n path it replaced, `coordinates` the Aitchison tests without any n x n matrix, "
             "`estimate` the memory estimate that stops a step before it starts.", ""]
    for (path, metric), part in frame[frame["step"] != "build cohort"].groupby(["path", "metric"], sort=False):
        lines += [f"## {path}: {metric}", "", "| n | step | seconds | peak RSS (GiB) | p |", "|---|---|---|---|---|"]
        for r in part.itertuples():
            p = getattr(r, "p_value", float("nan"))
            lines.append(f"| {r.n:,} | {r.step} | {r.seconds:.1f} | {r.peak_rss_gib:.2f} | "
                         f"{'' if pd.isna(p) else f'{p:.3g}'} |")
        lines.append("")
    totals = frame[frame["step"] != "build cohort"].groupby(["path", "n"])["seconds"].sum()
    lines += ["## Total of the steps (all three metrics)", "", "| path | n | seconds |", "|---|---|---|"]
    lines += [f"| {path} | {n:,} | {s:.0f} |" for (path, n), s in totals.items() if np.isfinite(s)]
    notes = [r.get("note") for r in rows if isinstance(r.get("note"), str)]
    if notes:
        lines += ["", "Memory estimates (raised as ResourceError before allocating):", ""] + [f"- {t}" for t in notes]
    write_results(OUT, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 2000, 5000, 10000, 20000])
    parser.add_argument("--coordinates", type=int, nargs="*", default=[])
    parser.add_argument("--taxa", type=int, default=2000)
    parser.add_argument("--permutations", type=int, default=999)
    parser.add_argument("--before-up-to", type=int, default=2000)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--one-coordinates", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None or args.one_coordinates is not None:
        rows = one_size(args.one, args) if args.one is not None else coordinates_only(args.one_coordinates, args)
        print(json.dumps(rows))
        return 0
    rows = []
    common = ["--taxa", str(args.taxa), "--permutations", str(args.permutations), "--before-up-to",
              str(args.before_up_to)]
    for flag, sizes in (("--one", args.sizes), ("--one-coordinates", args.coordinates)):
        for n in sizes:
            done = subprocess.run([sys.executable, __file__, flag, str(n), *common], capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                rows.append({"n": n, "path": "failed", "metric": "-", "step": done.stderr.strip()[-200:],
                             "seconds": float("nan"), "peak_rss_gib": float("nan")})
                continue
            rows += json.loads(done.stdout.strip().splitlines()[-1])
            write(rows, args)
    write(rows, args)
    print(f"wrote {OUT} (memory limit seen: {_memory.available() / 2**30:.1f} GiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
