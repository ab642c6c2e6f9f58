"""A whole ``link`` run at scale (issue 12): wall time of each step and the peak memory of the run.

Run from the repository root::

    python benchmarks/bench_link_scale.py [--samples 20000] [--taxa 2000] [--permutations 999]

The cohort is :func:`bench_scale.cohort` (synthetic counts, a third of the samples cases, 20 taxa shifted).
``link`` runs with its defaults (three metrics, 999 permutations, differential, guilds, literature) and the
community steps' progress lines go to stderr. Writes ``benchmarks/results/link_scale.md``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402
from bench_scale import PeakRSS, cohort  # noqa: E402

from gutlink.community import progress_to  # noqa: E402
from gutlink.link import link  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "link_scale.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--taxa", type=int, default=2000)
    parser.add_argument("--permutations", type=int, default=999)
    args = parser.parse_args(argv)
    c = cohort(args.samples, args.taxa)
    starts: list[tuple[str, float]] = []
    t0 = time.perf_counter()

    def step(name: str, i: int, n: int) -> None:
        starts.append((name, time.perf_counter() - t0))
        print(f"[{i + 1}/{n}] {starts[-1][1]:7.1f}s {name}", file=sys.stderr, flush=True)

    with PeakRSS() as peak, progress_to(lambda text: print("    " + text, file=sys.stderr, flush=True)):
        res = link(c, group="dx", case="case", control="control", rng=1, n_permutations=args.permutations,
                   callback=step)
    total = time.perf_counter() - t0
    rows = "\n".join(f"| {name} | {at:.1f} | {(starts[i + 1][1] if i + 1 < len(starts) else total) - at:.1f} |"
                     for i, (name, at) in enumerate(starts))
    p = {m: float(r.table["p_value"].iloc[0]) for m, r in res.permanova.items()}
    text = (f"# Whole `link` run at {args.samples:,} samples x {args.taxa:,} taxa (issue 12)\n\n"
            f"Command: `python benchmarks/bench_link_scale.py --samples {args.samples} --taxa {args.taxa} "
            f"--permutations {args.permutations}`; {platform.machine()}, 2 cores (shared with other jobs while this "
            f"ran), numpy {np.__version__}. `link` with its defaults (three metrics, differential, guilds, "
            "literature).\n\n"
            f"**{total:.0f} s end to end, peak RSS {peak.peak / 2**30:.1f} GiB.** PERMANOVA p: "
            + ", ".join(f"{m} {v:.3g}" for m, v in p.items()) + f". Verdict: {res.verdict['headline']}\n\n"
            "| step | starts at (s) | seconds |\n|---|---|---|\n" + rows + "\n")
    write_results(OUT, text)
    print(f"{total:.0f} s, peak {peak.peak / 2**30:.1f} GiB -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
