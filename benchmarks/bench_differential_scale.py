"""``differential`` at scale: seconds and peak memory of ``gutlink.differential.test`` from 10,000 to 100,000 samples
(issue 12, "Scale").

Run from the repository root::

    python benchmarks/bench_differential_scale.py [--sizes 10000 20000 50000 100000] [--taxa 2000]
                                                  [--profile N]

Each size runs in a fresh process: a synthetic cohort like ``bench_scale.py``'s ``cohort()`` (counts, ``--taxa``
taxa with prevalences drawn from Beta(0.3, 2), about 13 % of cells non-zero, log-normal abundances; a third of the
samples cases with 20 taxa shifted; an ``age`` covariate), built in row blocks so that building it needs no more
than the table itself, then ``differential.test(cohort, "~ dx + age", group="dx", case="case",
control="control")`` with the defaults (hurdle model: abundance where present with the bias correction,
Firth presence model with depth, the automatic depth term). Recorded: wall seconds of the build and of the test,
and the process's peak resident memory (sampled every 20 ms from /proc; the figure also covers the cohort, which
is held throughout). ``--profile N`` runs one size under cProfile instead and prints where the time went and the
Python stack at the moment of peak memory. Writes ``benchmarks/results/differential_scale.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402

from gutlink import Cohort, differential, lineage_table  # noqa: E402
from gutlink._memory import available  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "differential_scale.md"
FORMULA = "~ dx + age"
_PAGE = os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Peak resident memory of this process while the block runs, and the main thread's stack at the peak."""

    def __enter__(self) -> PeakRSS:
        self.main = threading.main_thread().ident
        self.peak, self.stack, self.running = self._rss(), "", True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE

    def _watch(self) -> None:
        while self.running:
            rss = self._rss()
            if rss > self.peak:
                self.peak = rss
                frame = sys._current_frames().get(self.main)  # type: ignore[arg-type]
                if frame is not None:
                    self.stack = "".join(traceback.format_stack(frame, limit=12))
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self._rss())


def cohort(n: int, p: int, seed: int = 0, block: int = 5000) -> Cohort:
    """Synthetic counts as ``bench_scale.cohort``, drawn in blocks of rows (no n x p temporaries beyond the table)."""
    rng = np.random.default_rng(seed)
    prevalence = rng.beta(0.3, 2.0, p)
    x = np.empty((n, p))
    case = np.arange(n) % 3 == 0
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        part = (rng.random((hi - lo, p)) < prevalence) * rng.lognormal(3.0, 1.5, (hi - lo, p))
        part[:, 0] += 1.0  # no empty sample
        part[case[lo:hi], 1:21] *= 1.5
        x[lo:hi] = np.rint(part)
    age = np.round(rng.normal(45, 12, n), 1)
    meta = pd.DataFrame({"dx": np.where(case, "case", "control"), "age": age},
                        index=[f"S{i:06d}" for i in range(n)])
    return Cohort(x, metadata=meta, taxonomy=lineage_table([f"t{j}" for j in range(p)]))


MIN_PREVALENCE = [0.1]  # differential.test's default; --min-prevalence 0 tests every taxon present anywhere


def run(c: Cohort) -> differential.DifferentialResult:
    return differential.test(c, FORMULA, group="dx", case="case", control="control",
                             min_prevalence=MIN_PREVALENCE[0])


def one_size(n: int, taxa: int) -> dict:
    start = time.perf_counter()
    with PeakRSS() as build_mem:
        c = cohort(n, taxa)
    built = time.perf_counter() - start
    start = time.perf_counter()
    with PeakRSS() as mem:
        res = run(c)
    seconds = time.perf_counter() - start
    t = res.table[res.table["term"] == "dx[T.case]"]
    hits = set(t.loc[t["q_value"] < 0.05, "feature_id"])
    implanted = {f"t{j}" for j in range(1, 21)}
    return {"n": n, "taxa": taxa, "build_seconds": built, "build_peak_gib": build_mem.peak / 2**30,
            "seconds": seconds, "peak_rss_gib": mem.peak / 2**30, "features_tested": res.n_features,
            "model": res.model, "terms": list(res.terms), "implanted_found": len(hits & implanted),
            "other_discoveries": len(hits - implanted), "peak_stack": mem.stack}


def profile(n: int, taxa: int) -> None:
    c = cohort(n, taxa)
    prof = cProfile.Profile()
    with PeakRSS() as mem:
        prof.enable()
        run(c)
        prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(35)
    print(out.getvalue())
    print(f"peak RSS {mem.peak / 2**30:.2f} GiB; main thread at the peak:\n{mem.stack}")


def write(rows: list[dict], args: argparse.Namespace) -> None:
    lines = ["# differential at scale (issue 12)", "",
             f"Synthetic counts (see the script's docstring), {args.taxa} taxa, formula `{FORMULA}`, the defaults of "
             "`differential.test` (hurdle model, bias correction, Firth presence model with depth, automatic depth "
             f"term) except `min_prevalence={args.min_prevalence:g}`. {platform.machine()}, {os.cpu_count()} cores "
             "shared with other jobs while this ran, "
             f"numpy {np.__version__}, memory limit seen {available() / 2**30:.1f} GiB. Command: "
             f"`python benchmarks/bench_differential_scale.py {' '.join(sys.argv[1:])}`.", "",
             "Each size in a fresh process. *test*: wall seconds of `differential.test`; *peak RSS*: the process's "
             "peak resident memory during the test (it includes the cohort's own n x p table, "
             "8 bytes per cell); *build*: making the synthetic cohort. Implanted: of the 20 taxa multiplied by 1.5 "
             "in cases, how many have q < 0.05 for `dx`; other: discoveries among the rest.", "",
             "| n | taxa tested | test (s) | peak RSS (GiB) | table (GiB) | build (s) | implanted found | other |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['n']:,} | failed: {r['error']} | | | | | | |")
            continue
        lines.append(f"| {r['n']:,} | {r['features_tested']:,} | {r['seconds']:.1f} | {r['peak_rss_gib']:.2f} | "
                     f"{r['n'] * r['taxa'] * 8 / 2**30:.2f} | {r['build_seconds']:.1f} | {r['implanted_found']} | "
                     f"{r['other_discoveries']} |")
    write_results(OUT, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10000, 20000, 50000, 100000])
    parser.add_argument("--taxa", type=int, default=2000)
    parser.add_argument("--profile", type=int, default=None)
    parser.add_argument("--min-prevalence", type=float, default=0.1)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    MIN_PREVALENCE[0] = args.min_prevalence
    if args.profile is not None:
        profile(args.profile, args.taxa)
        return 0
    if args.one is not None:
        print(json.dumps(one_size(args.one, args.taxa)))
        return 0
    rows: list[dict] = []
    for n in args.sizes:
        done = subprocess.run([sys.executable, __file__, "--one", str(n), "--taxa", str(args.taxa),
                               "--min-prevalence", str(args.min_prevalence)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            rows.append({"n": n, "error": done.stderr.strip().splitlines()[-1][:200] if done.stderr.strip()
                         else f"exit {done.returncode}"})
        else:
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"n={n}: {r['seconds']:.1f} s, peak {r['peak_rss_gib']:.2f} GiB; at the peak:\n{r['peak_stack']}",
                  file=sys.stderr, flush=True)
        write(rows, args)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
