"""Real-data anchor: the MetAML IBD task (Pasolli et al. 2016 PLoS Comput Biol 12:e1004977).

MetaHIT stool samples of ``ibd/metaml/abundance.txt.bz2`` (``dataset_name == metahit``: 85 healthy ``n``
against 21 UC + 4 CD), MetaPhlAn2 species relative abundances, 10 × 10-fold stratified CV.

* ``metaml_rf``: MetAML's learner — random forest, 500 trees, √p features per split, no class weights, no
  tuning, no filter (MetAML min-max scales features, a per-feature monotone map that cannot change a tree).
* gutlink's pipelines (log-std, 10 % prevalence filter inside folds, nested CV of hyperparameters), and
  ``auto`` (the inner CV picks the learner: the honest "best model", since picking the best of several
  outer-CV results afterwards is itself optimistic).

Every model uses the same ``rng`` and therefore the same outer splits, so paired differences are computed on
identical folds. Run by hand (not a unit test); it writes ``benchmarks/results/predict_metaml.md`` and caches
each model's out-of-fold predictions in ``predict_metaml.json`` (``--keep`` adds models to that cache)::

    python benchmarks/bench_predict_metaml.py --jobs 2
    python benchmarks/bench_predict_metaml.py --jobs 2 --models ensemble --keep
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from gutlink.io import read
from gutlink.predict import cross_validate
from gutlink.predict.metrics import compare_auroc

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ibd" / "metaml" / "abundance.txt.bz2"
OUT = Path(__file__).resolve().parent / "results" / "predict_metaml.md"
PUBLISHED_RF = 0.890  # Pasolli et al. 2016, RF on species abundance, IBD (see the note in the results file)

MODELS = {
    "metaml_rf": dict(model="rf", normalisation="none", min_prevalence=0.0, grid={},
                      params={"n_estimators": 500, "max_features": "sqrt", "class_weight": None}),
    "rf": dict(model="rf"),
    "lasso": dict(model="lasso"),
    "elasticnet": dict(model="elasticnet"),
    "gbm": dict(model="gbm"),
    "ensemble": dict(model="ensemble"),
    "auto": dict(model="auto"),
}
CACHE = OUT.with_suffix(".json")


NOTES = [
    "Notes",
    "",
    "- `metaml_rf` reproduces MetAML's learner (500 trees, √p features, no class weights, no filter, no tuning); "
    "`rf` is gutlink's (log-std, 10 % prevalence filter and `max_features` ∈ {√p, 0.2} chosen by a 3-fold inner CV, "
    "class-balanced bootstrap). Other models: nested CV as documented in `gutlink.predict.models`.",
    "- The published value 0.890 is the figure commonly cited for MetAML's RF on IBD species abundance (Pasolli et al. "
    "2016, Fig 2). The paper's AUC table is an image; this session could not read it through the search tool, so "
    "the value is cited, not independently confirmed.",
    "- `ensemble` (soft vote of gutlink's random forest and elastic net, the elastic net's C tuned in the inner CV) is "
    "the best row: +0.020 over MetAML's RF on identical folds, which meets the issue's '+0.02' only as a point "
    "estimate — the paired 95 % CI (−0.024 to +0.068) includes 0. With 25 cases, differences of a few hundredths "
    "cannot be resolved on this cohort.",
    "- `auto` lets the inner CV choose the learner; it is the honest 'best model' (choosing the best row of this table "
    "afterwards is itself a selection on the test folds). Here the inner CV's choice did not pay off (0.880).",
    "- Balanced accuracy uses a 0.5 threshold on the out-of-fold probability; forests trained on 85:25 data rarely "
    "cross 0.5, hence their low balanced accuracy despite the higher AUROC.",
]


def load():
    cohort = read(DATA, rank="species")
    keep = (cohort.metadata["dataset_name"] == "metahit").to_numpy()
    return cohort.subset(samples=keep)


def run_models(args: argparse.Namespace, cohort, cache: dict) -> None:
    design = dict(group="disease", case=["ibd_ulcerative_colitis", "ibd_crohn_disease"], control="n")
    command = ("python benchmarks/bench_predict_metaml.py " + " ".join(sys.argv[1:])).strip()
    for name in args.models.split(","):
        t0 = time.perf_counter()
        res = cross_validate(cohort, **design, n_repeats=args.repeats, n_folds=args.folds, rng=args.rng,
                             n_jobs=args.jobs, **MODELS[name])
        secs = time.perf_counter() - t0
        row = [name, res.auroc, *res.auroc_ci, res.auroc_sd, res.auprc, res.balanced_accuracy, secs]
        cache[name] = {"row": row, "oof": res.oof.tolist(), "y": res.predictions["y"].tolist(), "command": command}
        print(f"{name:12s} AUROC {res.auroc:.3f} [{res.auroc_ci[0]:.3f}, {res.auroc_ci[1]:.3f}] "
              f"sd {res.auroc_sd:.3f}  {secs:.0f}s", flush=True)


def paired(cache: dict, order: list[str]) -> dict:
    if "metaml_rf" not in cache:
        return {}
    y = np.asarray(cache[order[0]]["y"])
    units = np.arange(len(y)).astype(str)
    base = np.asarray(cache["metaml_rf"]["oof"])
    return {m: compare_auroc(y, np.asarray(cache[m]["oof"]), base, units, rng=0) for m in order if m != "metaml_rf"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rng", type=int, default=2016)
    ap.add_argument("--keep", action="store_true", help="keep the other models' cached results (same settings)")
    ap.add_argument("--report-only", action="store_true", help="rewrite the results file from the cache")
    args = ap.parse_args()
    cohort = load()
    cache = json.loads(CACHE.read_text()) if (args.keep or args.report_only) and CACHE.is_file() else {}
    if not args.report_only:
        run_models(args, cohort, cache)
    CACHE.write_text(json.dumps(cache), encoding="utf-8")
    order = [m for m in MODELS if m in cache]
    diffs = paired(cache, order)
    write(args, cohort, [cache[m]["row"] for m in order], diffs, sorted({cache[m]["command"] for m in order}))


def write(args: argparse.Namespace, cohort, rows, diffs, commands) -> None:
    lines = [
        "# Prediction anchor: MetAML IBD (MetaHIT), species abundance",
        "",
        "Commands: " + "; ".join(f"`{c}`" for c in commands),
        "",
        f"Data: `ibd/metaml/abundance.txt.bz2`, `dataset_name == metahit`, {cohort.n_samples} samples "
        f"(85 `n` vs 21 UC + 4 CD), {cohort.n_features} species rows read by `gutlink.io.read(rank='species')`. "
        f"{args.repeats} × {args.folds}-fold stratified CV, identical splits for every model (same rng).",
        "",
        "| model | AUROC | 95 % CI | SD over repeats | AUPRC | balanced acc. | seconds (2 cores) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, auc, lo, hi, sd, ap, ba, secs in rows:
        lines.append(f"| {name} | {auc:.3f} | {lo:.3f}–{hi:.3f} | {sd:.3f} | {ap:.3f} | {ba:.3f} | {secs:.0f} |")
    lines += ["", f"Published MetAML random forest, species abundance, IBD: **{PUBLISHED_RF:.3f}**.", "",
              "Paired differences against `metaml_rf` (same folds; stratified bootstrap of samples, 2,000 draws):",
              "", "| model | ΔAUROC | 95 % CI | share of draws ≤ 0 |", "|---|---|---|---|"]
    for name, d in diffs.items():
        lines.append(f"| {name} | {d['difference']:+.3f} | {d['ci_low']:+.3f} to {d['ci_high']:+.3f} | "
                     f"{d['p_not_better']:.3f} |")
    lines += ["", *NOTES]
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(json.dumps(diffs, indent=1))


if __name__ == "__main__":
    main()
