"""Speed and memory of PERMANOVA: gutlink vs scikit-bio ``permanova`` vs R vegan ``adonis2``.

Run from the repository root::

    python benchmarks/bench_permanova.py [--sizes 500 2000] [--permutations 999] [--shared ../shared/data]

Samples are resampled from the real Franzosa et al. 2019 PRISM species table (each a
Dirichlet draw around a real sample, so no two are identical) and keep their source's
Diagnosis (CD / UC / Control) as the factor.  All three tools get the same Bray-Curtis
matrix.  Times: wall clock of the test call only (gutlink and scikit-bio: best of
``--repeats`` runs; R: ``system.time(adonis2(...))`` once, the matrix already loaded).
Peak memory: allocations during the call (Python: ``tracemalloc``; R: ``gc()`` max used
minus used at the start).  Writes ``benchmarks/results/permanova.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import skbio
from scipy.spatial.distance import pdist, squareform
from skbio import DistanceMatrix
from skbio.stats.distance import permanova

from gutlink.community.permanova import permanova_table

ROOT = Path(__file__).resolve().parents[1]
MARGIN = "~ Diagnosis + Age + antibiotic"

R_SCRIPT = r"""
suppressPackageStartupMessages(library(vegan))
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[3]); nperm <- as.integer(args[4])
d <- as.dist(matrix(readBin(args[1], "double", n * n), n, n))
meta <- read.csv(args[2], stringsAsFactors = TRUE)
set.seed(1)
g0 <- gc(reset = TRUE)
tm <- system.time(a <- adonis2(d ~ Diagnosis, data = meta, permutations = nperm))
g1 <- gc()
cat(sprintf('{"seconds": %.6f, "peak_mib": %.3f, "F": %.15g, "p": %.6g, "vegan": "%s"}\n',
            tm[["elapsed"]], sum(g1[, 6]) - sum(g0[, 2]), a$F[1], a[["Pr(>F)"]][1],
            as.character(packageVersion("vegan"))))
"""


def resampled_cohort(shared: Path, n: int, seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Draw n compositions around real PRISM samples; return them with their source metadata."""
    src = shared / "ibd" / "franzosa2019_prism"
    taxa = pd.read_csv(src / "ibd_taxa.csv", index_col=0)
    meta = pd.read_csv(src / "ibd_metadata.csv", index_col="id").loc[taxa.columns]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, taxa.shape[1], n)
    base = taxa.to_numpy().T[pick]
    base = base / base.sum(axis=1, keepdims=True)
    x = np.vstack([rng.dirichlet(200 * b + 0.02) for b in base])
    sub = meta.iloc[pick][["Diagnosis", "Age", "antibiotic"]].reset_index(drop=True)
    sub["antibiotic"] = sub["antibiotic"].fillna("No")
    return x, sub


def measure(call, repeats: int) -> tuple[float, float, object]:
    """Best wall seconds over repeats (the machine may be shared), and peak traced MiB of one more run."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return min(times), peak, out


def run_gutlink(d: np.ndarray, meta: pd.DataFrame, formula: str, by: str, nperm: int, repeats: int) -> dict:
    """Time gutlink's permanova_table."""
    secs, peak, table = measure(lambda: permanova_table(d, meta, formula, by=by, n_permutations=nperm, rng=1), repeats)
    first = table.iloc[0]
    return {"seconds": secs, "peak_mib": peak, "F": float(first["statistic"]), "p": float(first["p_value"])}


def run_skbio(d: np.ndarray, meta: pd.DataFrame, nperm: int, repeats: int) -> dict:
    """Time scikit-bio's permanova on a prebuilt DistanceMatrix."""
    dm = DistanceMatrix(d)
    grouping = meta["Diagnosis"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        secs, peak, res = measure(lambda: permanova(dm, grouping, n_permutations=nperm, seed=1), repeats)
    return {"seconds": secs, "peak_mib": peak, "F": float(res["test statistic"]), "p": float(res["p-value"])}


def run_vegan(d: np.ndarray, meta: pd.DataFrame, nperm: int) -> dict:
    """Time adonis2 inside R (system.time), the matrix loaded beforehand."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        d.astype("<f8").tofile(tmp_path / "d.bin")
        meta.to_csv(tmp_path / "meta.csv", index=False)
        (tmp_path / "run.R").write_text(R_SCRIPT)
        files = [str(tmp_path / name) for name in ("run.R", "d.bin", "meta.csv")]
        cmd = ["Rscript", *files, str(len(d)), str(nperm)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo."""
    info = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")]
    return names[0] if names else platform.machine()


def environment() -> str:
    """One line describing the machine and the versions compared."""
    done = subprocess.run(["Rscript", "--version"], capture_output=True, text=True)
    vegan = subprocess.run(
        ["Rscript", "-e", 'cat(as.character(packageVersion("vegan")))'], capture_output=True, text=True
    ).stdout
    r_version = f"{(done.stdout or done.stderr).strip()}, vegan {vegan.strip()}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu_model()}, {cores} cores available; Python {platform.python_version()}, "
        f"numpy {np.__version__}, scikit-bio {skbio.__version__}; {r_version}"
    )


def runs_for(n: int, args: argparse.Namespace) -> list[dict]:
    """All tools on one resampled cohort of n samples."""
    x, meta = resampled_cohort(args.shared, n, seed=n)
    d = squareform(pdist(x, "braycurtis"))
    nperm, repeats = args.permutations, args.repeats
    runs = [
        ("gutlink", "~ Diagnosis", lambda: run_gutlink(d, meta, "~ Diagnosis", "terms", nperm, repeats)),
        ("scikit-bio", "grouping = Diagnosis", lambda: run_skbio(d, meta, nperm, repeats)),
        ("R vegan adonis2", "d ~ Diagnosis", None if args.no_r else lambda: run_vegan(d, meta, nperm)),
        ("gutlink", f"{MARGIN}, by='margin'", lambda: run_gutlink(d, meta, MARGIN, "margin", nperm, repeats)),
    ]
    return [{"n": n, "tool": tool, "test": test, **run()} for tool, test, run in runs if run is not None]


def benchmark(args: argparse.Namespace) -> list[dict]:
    """Rows of the results table, sizes in order; progress goes to stderr."""
    rows = []
    for n in args.sizes:
        rows += runs_for(n, args)
        print(pd.DataFrame(rows).tail(4).to_string(index=False), file=sys.stderr)
    return rows


def write_markdown(rows: list[dict], args: argparse.Namespace, out: Path) -> None:
    """Write the results table, the command and the setup as Markdown."""
    table = pd.DataFrame(rows)
    lines = [
        "# PERMANOVA benchmark: gutlink vs scikit-bio vs R vegan",
        "",
        f"Command: `python benchmarks/bench_permanova.py --sizes {' '.join(map(str, args.sizes))} "
        f"--permutations {args.permutations} --repeats {args.repeats}` (from the repository root).",
        "",
        f"Machine: {environment()}.",
        "",
        "Data: samples resampled from Franzosa et al. 2019 (PRISM) species fractions, each a Dirichlet draw",
        "around a real sample; Bray-Curtis; factor = the source sample's Diagnosis (3 levels). "
        f"{args.permutations} permutations.",
        "Seconds: the test call only (Python: best of repeats; R: `system.time(adonis2(...))`, one run).",
        f"Load average when the run ended: {os.getloadavg()[0]:.2f} (the machine is shared; times are noisy).",
        "Peak MiB: memory allocated during the call (Python `tracemalloc`; R `gc()` max used minus used before).",
        "F must agree across tools; p-values differ by Monte Carlo error only.",
        "",
        "| n | tool | test | seconds | peak MiB | pseudo-F | p |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in table.itertuples():
        cells = [r.n, r.tool, f"`{r.test}`", f"{r.seconds:.3f}", f"{r.peak_mib:.1f}", f"{r.F:.10g}", f"{r.p:.3f}"]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--permutations", type=int, default=999)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "permanova.md")
    parser.add_argument("--no-r", action="store_true", help="skip R vegan (e.g. where R is not installed)")
    args = parser.parse_args(argv)
    write_markdown(benchmark(args), args, args.out)
    print(args.out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
