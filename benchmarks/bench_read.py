"""Benchmark: read the 31 MB MetAML MetaPhlAn table (bz2) into a cohort, next to pandas and R doing the same read.

Run by hand: ``python benchmarks/bench_read.py [--repeats 3]``; writes ``benchmarks/results/read.md``.
gutlink's time covers decompression, parsing, the metadata block, lineage parsing, species-row selection and
the Cohort's validation; pandas' covers decompression and parsing only; R's ``read.delim`` the same.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
import tracemalloc
from pathlib import Path

import pandas as pd

from gutlink.io import read

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data" / "ibd" / "metaml" / "abundance.txt.bz2"


def _time(func, repeats: int) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return min(times), peak


def _r_time(repeats: int) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    code = (f"t <- sapply(1:{repeats}, function(i) system.time(read.delim(bzfile('{DATA}'), header=FALSE, "
            "colClasses='character', quote=''))[['elapsed']]); cat(min(t))")
    out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    t, mem = _time(lambda: read(DATA), args.repeats)
    c = read(DATA)
    rows.append(("gutlink.io.read → Cohort (species rows + metadata)", t, mem))
    t, mem = _time(lambda: pd.read_csv(DATA, sep="\t", header=None, dtype=str), args.repeats)
    rows.append(("pandas.read_csv (all strings, no interpretation)", t, mem))
    r = _r_time(args.repeats)
    lines = ["# Reading the MetAML table (31 MB bz2, 3,610 samples)", "",
             f"Command: `python benchmarks/bench_read.py --repeats {args.repeats}` (best of {args.repeats}; "
             "peak = Python heap traced by tracemalloc).", "",
             f"Result: {c.n_samples} samples × {c.n_features} species, {c.metadata.shape[1]} metadata columns.", "",
             "| reader | seconds | peak MiB |", "|---|---|---|"]
    lines += [f"| {name} | {sec:.2f} | {peak:.0f} |" for name, sec, peak in rows]
    if r is not None:
        lines.append(f"| R read.delim(bzfile(...)), all character | {r:.2f} | – |")
    out = HERE / "results" / "read.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
