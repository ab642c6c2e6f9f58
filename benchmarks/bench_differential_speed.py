"""Differential abundance speed: gutlink's batched hurdle model against a per-feature model loop and scikit-bio.

Every method sees the same synthetic data (log-normal Poisson counts, a two-level group and three covariates:
``~ group + age + sex + bmi``; the generator of ``bench_differential.synthetic``, copied here so this file stands
alone) and is timed in this one process:

- gutlink, full hurdle model (abundance where present + Firth prevalence model with penalised LR tests);
- gutlink, abundance model only (``prevalence=False``);
- gutlink, random intercept per subject (REML, 500 samples × 1,000 features, 100 subjects, abundance model);
- a MaAsLin 3-class per-feature loop: for every feature a statsmodels formula OLS of log2 relative abundance on
  the samples where it is present, plus a statsmodels formula Logit of presence (what MaAsLin 3 fits per feature,
  with R's ``lm`` / ``glm``); at 10,000 × 1,000 a subset of features is timed and the time scaled to all of them
  (marked "extrapolated");
- scikit-bio ``ancombc`` (same formula; counts + 1, as in ``bench_differential``).

Time is wall-clock of one run without memory tracing; peak memory is measured in a second run under
``tracemalloc`` (numpy reports its buffers to it), for the loops on a subset of features (a loop's peak does not
grow with the number of features).

Run (writes benchmarks/results/differential_speed.md)::

    nice python benchmarks/bench_differential_speed.py
    nice python benchmarks/bench_differential_speed.py --quick          # 1,000 × 500 and the mixed model only

"Before" numbers for gutlink come from a copy of ``src/gutlink`` at the earlier state on ``PYTHONPATH``::

    PYTHONPATH=/tmp/oldsrc/src nice python benchmarks/bench_differential_speed.py --gutlink-only \\
        --csv /tmp/before.csv --out /tmp/before.md
    nice python benchmarks/bench_differential_speed.py --before /tmp/before.csv
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gutlink import Cohort, differential

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import write_results  # noqa: E402
from bench_differential import PEERS_R, synthetic  # noqa: E402 - the accuracy benchmark's data and R

OUT = Path(__file__).resolve().parent / "results" / "differential_speed.md"
FORMULA = "~ group + age + sex + bmi"
LOOP = "per-feature loop, statsmodels OLS + Logit (MaAsLin 3-class)"


# ----------------------------------------------------------------------------- methods
def per_feature_loop(c: Cohort, features: int | None = None) -> int:
    """MaAsLin 3-class: per feature, OLS of log2 relative abundance where present + Logit of presence."""
    import statsmodels.formula.api as smf

    x = c.dense()
    rel = x / x.sum(axis=1, keepdims=True)
    data = c.metadata.copy()
    rhs = FORMULA.replace("~", "").strip()
    m = x.shape[1] if features is None else min(features, x.shape[1])
    for j in range(m):
        present = rel[:, j] > 0
        frame = data.assign(y=np.log2(np.where(present, rel[:, j], 1.0)), present=present.astype(float))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if present.sum() > 6:
                smf.ols(f"y ~ {rhs}", data=frame[present]).fit()
            if 0 < present.sum() < len(present):
                try:
                    smf.logit(f"present ~ {rhs}", data=frame).fit(disp=0)
                except Exception:  # noqa: BLE001 - perfect separation etc.: MaAsLin reports NA and moves on
                    pass
    return m


def ancombc(c: Cohort) -> None:
    from skbio.stats.composition import ancombc as skbio_ancombc

    table = pd.DataFrame(c.dense() + 1, index=c.sample_ids, columns=c.feature_ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        skbio_ancombc(table, c.metadata, FORMULA.replace("~", "").strip(), p_adjust="fdr_bh")


def _skbio_table(c: Cohort) -> tuple[pd.DataFrame, str]:
    return pd.DataFrame(c.dense(), index=c.sample_ids, columns=c.feature_ids), FORMULA.replace("~", "").strip()


def ancombc2_pc1(c: Cohort) -> None:
    from skbio.stats.composition import ancombc2

    table, rhs = _skbio_table(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ancombc2(table, c.metadata, rhs, pseudocount=1, p_adjust="fdr_bh")


def dirmult_ttest(c: Cohort) -> None:
    from skbio.stats.composition import dirmult_ttest as skbio_dirmult_ttest

    table, _ = _skbio_table(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        skbio_dirmult_ttest(table, c.metadata["group"], treatment="B", reference="A", p_adjust="fdr_bh", seed=0)


def ancom(c: Cohort) -> None:
    from skbio.stats.composition import ancom as skbio_ancom

    table, _ = _skbio_table(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        skbio_ancom(table + 1, c.metadata["group"], p_adjust="fdr_bh")


#: scikit-bio methods that kept the FDR near 0.05 in the implantation benchmark (results/differential.md);
#: dirmult_ttest and ancom take no covariates (group only)
SKBIO_CALIBRATED = {"scikit-bio ancombc2, pseudocount 1": ancombc2_pc1,
                    "scikit-bio dirmult_ttest (group only)": dirmult_ttest,
                    "scikit-bio ancom (group only)": ancom}

R_METHODS = {"maaslin2_lm": "R per-feature lm loop (MaAsLin2-class: TSS, LOG, lm)",
             "deseq2": "R DESeq2 (poscounts, Wald)", "edger": "R edgeR (TMM, QL F-test)",
             "limma_voom": "R limma-voom (TMM)"}


def r_peers(sizes: dict[str, Cohort], timeout: float = 900.0) -> dict[tuple[str, str], dict[str, Any]]:
    """Time the R peers of ``peers_r.R`` on the same counts and formula: one ``Rscript`` per method, which
    attaches only that method's packages; the fit alone is timed (R start-up and file reading excluded).
    Empty when ``Rscript`` is missing."""
    if shutil.which("Rscript") is None:
        return {}
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for label, c in sizes.items():
        with tempfile.TemporaryDirectory() as tmp:
            counts, meta, result = (os.path.join(tmp, f) for f in ("counts.tsv", "meta.tsv", "out.tsv"))
            pd.DataFrame(c.dense().astype(int), index=c.sample_ids, columns=c.feature_ids).to_csv(counts, sep="\t")
            c.metadata[["group", "age", "sex", "bmi"]].to_csv(meta, sep="\t")
            for key, name in R_METHODS.items():
                try:
                    done = subprocess.run(["Rscript", str(PEERS_R), key, counts, meta, result], capture_output=True,
                                          text=True, timeout=timeout, check=False)
                except subprocess.TimeoutExpired:
                    out[(name, label)] = {"seconds": None, "note": f"did not finish in {timeout:.0f} s"}
                    continue
                line = [x for x in done.stdout.splitlines() if x.startswith("fit ")]
                if done.returncode != 0 or not line:
                    out[(name, label)] = {"seconds": None, "note": "failed: " + done.stderr.strip()[-200:]}
                    continue
                fit = float(line[0].split()[1])
                out[(name, label)] = {"seconds": round(fit, 2), "note": "fit only, R"}
                print(f"{name:55s} {label:28s} {fit:8.2f} s", file=sys.stderr, flush=True)
    return out


# ----------------------------------------------------------------------------- measurement
def timed(fn: Callable[[], Any]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0


def peak_mib(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def cases(quick: bool, gutlink_only: bool, loop_subset: int, with_r: bool = True) -> list[dict[str, Any]]:
    small = synthetic(1000, 500)
    big = None if quick else synthetic(10000, 1000, seed=1)
    lmm = synthetic(500, 1000, subjects=100)
    plan: list[tuple[str, str, Cohort, Callable[[], Any], Callable[[], Any] | None, float]] = []
    # (method, size, cohort, timed call, memory call or None for the same, factor to scale the time by)
    for size, c in [("1,000 × 500", small)] + ([] if quick else [("10,000 × 1,000", big)]):
        plan.append(("gutlink hurdle (abundance + prevalence)", size, c,
                     lambda c=c: differential.test(c, FORMULA), None, 1.0))
        plan.append(("gutlink hurdle, 2 threads (n_jobs=2)", size, c,
                     lambda c=c: differential.test(c, FORMULA, n_jobs=2), None, 1.0))
        plan.append(("gutlink abundance only", size, c,
                     lambda c=c: differential.test(c, FORMULA, prevalence=False), None, 1.0))
        if gutlink_only:
            continue
        subset = None if c.n_samples <= 1000 else loop_subset
        scale = 1.0 if subset is None else c.n_features / subset
        plan.append((LOOP, size, c, lambda c=c, s=subset: per_feature_loop(c, s),
                     lambda c=c: per_feature_loop(c, 20), scale))
        if c.n_samples <= 1000:  # ancombc at 10,000 × 1,000 takes minutes on this machine
            plan.append(("scikit-bio ancombc", size, c, lambda c=c: ancombc(c), None, 1.0))
            for name, fn in SKBIO_CALIBRATED.items():  # the peers that held the FDR in bench_differential.py
                plan.append((name, size, c, lambda c=c, fn=fn: fn(c), None, 1.0))
    plan.append(("gutlink random intercept (abundance)", "500 × 1,000, 100 subjects", lmm,
                 lambda: differential.test(lmm, FORMULA, subject="subject", prevalence=False), None, 1.0))
    plan.append(("gutlink random intercept + prevalence", "500 × 1,000, 100 subjects", lmm,
                 lambda: differential.test(lmm, FORMULA, subject="subject"), None, 1.0))
    if not gutlink_only:
        plan.append((LOOP, "500 × 1,000, 100 subjects", lmm, lambda: per_feature_loop(lmm, loop_subset),
                     lambda: per_feature_loop(lmm, 20), lmm.n_features / loop_subset))
    rows = []
    for method, size, c, fn, mem_fn, scale in plan:
        seconds = timed(fn) * scale
        peak = peak_mib(mem_fn or fn)
        note = "" if scale == 1.0 else f"extrapolated from {round(c.n_features / scale)} features"
        if method == LOOP and size.startswith("500"):
            note += "; fixed effects only (no random intercept)"
        rows.append({"method": method, "samples × features": size, "seconds": round(seconds, 2),
                     "peak traced MiB": round(peak, 1), "note": note.strip("; ")})
        print(f"{method:55s} {size:28s} {seconds:8.2f} s {peak:8.1f} MiB {note}", file=sys.stderr, flush=True)
    peers = {} if gutlink_only or not with_r else r_peers({"1,000 × 500": small} if quick else
                                                          {"1,000 × 500": small, "10,000 × 1,000": big})
    for (method, size), row in peers.items():
        rows.append({"method": method, "samples × features": size, "seconds": row.get("seconds"),
                     "peak traced MiB": row.get("peak MiB"), "note": row.get("note", "")})
    return rows


def with_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Speed-up of each row over the per-feature loop and over ancombc at the same size."""
    out = frame.copy()
    loop = out[out["method"] == LOOP].set_index("samples × features")["seconds"]
    anc = out[out["method"] == "scikit-bio ancombc"].set_index("samples × features")["seconds"]
    size = out["samples × features"]
    out["× faster than loop"] = (size.map(loop) / out["seconds"]).round(1)
    out["× faster than ancombc"] = (size.map(anc) / out["seconds"]).round(1)
    return out


def markdown(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join("" if (isinstance(v, float) and np.isnan(v)) else str(v) for v in row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip 10,000 × 1,000")
    ap.add_argument("--gutlink-only", action="store_true", help="time only the gutlink rows")
    ap.add_argument("--loop-subset", type=int, default=100, help="features timed by the loop where extrapolated")
    ap.add_argument("--no-r", action="store_true", help="skip the R peers (peers_r.R)")
    ap.add_argument("--csv", type=Path, help="also write the rows as CSV")
    ap.add_argument("--before", type=Path, help="CSV of an earlier --gutlink-only run: adds a 'seconds before' column")
    ap.add_argument("--extra-csv", type=Path, help="CSV of rows timed elsewhere (e.g. R peers) to merge in")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    frame = pd.DataFrame(cases(args.quick, args.gutlink_only, args.loop_subset, not args.no_r))
    if args.extra_csv:
        frame = pd.concat([frame, pd.read_csv(args.extra_csv)], ignore_index=True)
    if args.csv:
        frame.to_csv(args.csv, index=False)
    if args.before:
        before = pd.read_csv(args.before).set_index(["method", "samples × features"])["seconds"]
        key = pd.MultiIndex.from_frame(frame[["method", "samples × features"]])
        frame.insert(3, "seconds before", before.reindex(key).to_numpy())
    frame = with_ratios(frame)
    command = "nice python benchmarks/bench_differential_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = "\n".join([
        "# Differential abundance: speed", "",
        f"Command: `{command.strip()}`", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} logical cores shared with other work running (times are "
        f"indicative; every row of one table comes from the same run); Python {platform.python_version()}, "
        f"numpy {np.__version__}, pandas {pd.__version__}.", "",
        f"Data: synthetic log-normal Poisson counts, formula `{FORMULA}` (3 covariates besides the group).", "",
        markdown(frame), "",
    ])
    write_results(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
