"""Speed and memory: gutlink's nested CV against an equivalent plain scikit-learn GridSearchCV script.

Task (issue 4): 2,000 samples × 1,000 features, 10 × 5-fold outer CV, L1 logistic regression with C chosen
by a 3-fold inner CV over 7 values, log-std features, 2 workers. Each arm runs in its own subprocess so that
its peak resident memory (largest process, workers included) is measured separately::

    python benchmarks/bench_predict_speed.py            # both arms, writes results/predict_speed.md
    python benchmarks/bench_predict_speed.py --arm sklearn --samples 400   # one arm, smaller

Arms: ``sklearn`` (plain: log10 of relative abundance + ``StandardScaler``), ``sklearn_logstd`` (the same
script with gutlink's closure + SIAMCAT-style log-std transformers, to separate preprocessing from framework
overhead) and ``gutlink`` (``cross_validate``, which also computes the bootstrap CI, ROC band, calibration and
feature-importance tables). The plain script is what a careful user would write: a ``cross_val_predict``-style
outer loop over ``RepeatedStratifiedKFold`` with ``GridSearchCV`` inside, the preprocessing in a ``Pipeline`` (so
it does not leak either), outer folds in parallel with joblib. SIAMCAT (R) is not installed here and is not compared.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "results" / "predict_speed.md"
C_GRID = list(np.logspace(-2, 1, 7))


def make_data(n: int, p: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sparse log-normal counts; 20 features more prevalent in cases (absent ones present with probability 0.4)."""
    g = np.random.default_rng(seed)
    y = g.permutation(np.repeat([0, 1], [n // 2, n - n // 2]))
    x = g.lognormal(0, 2, size=(n, p)) * (g.random((n, p)) < 0.5)
    fill = (g.random((n, 20)) < 0.4) & (x[:, :20] == 0) & (y[:, None] == 1)
    x[:, :20] = np.where(fill, g.lognormal(0, 2, size=(n, 20)), x[:, :20])
    return np.round(x * 10), y


def arm_gutlink(x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> dict:
    from gutlink import Cohort
    from gutlink.predict import cross_validate

    meta = pd.DataFrame({"group": np.where(y == 1, "case", "control")}, index=[f"s{i}" for i in range(len(y))])
    cohort = Cohort(x, metadata=meta, units="counts")
    res = cross_validate(cohort, group="group", case="case", control="control", model="lasso",
                         n_repeats=args.repeats, n_folds=5, n_inner=3, min_prevalence=0.0,
                         grid={"clf__C": C_GRID}, rng=0, n_jobs=args.jobs)
    return {"auroc": res.auroc, "auroc_per_fold_mean": float(res.folds["auroc"].mean())}


def arm_sklearn(x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> dict:
    from joblib import Parallel, delayed
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, RepeatedStratifiedKFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    def log_rel(a: np.ndarray) -> np.ndarray:
        return np.log10(a / a.sum(axis=1, keepdims=True) + 1e-5)

    if args.arm == "sklearn_logstd":  # identical preprocessing to gutlink's: isolates the framework's overhead
        from gutlink.predict import Closure, LogStandardScaler

        steps: list = [Closure(), LogStandardScaler()]
    else:
        steps = [FunctionTransformer(log_rel), StandardScaler()]
    pipe = make_pipeline(*steps, LogisticRegression(l1_ratio=1.0, solver="liblinear", class_weight="balanced",
                                                    max_iter=1000))
    search = GridSearchCV(pipe, {"logisticregression__C": C_GRID}, scoring="roc_auc",
                          cv=StratifiedKFold(3, shuffle=True, random_state=0))

    def fold(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        fitted = search.fit(x[train], y[train])
        p = fitted.predict_proba(x[test])[:, 1]
        return test, p, roc_auc_score(y[test], p)

    outer = RepeatedStratifiedKFold(n_splits=5, n_repeats=args.repeats, random_state=0)
    out = Parallel(n_jobs=args.jobs)(delayed(fold)(tr, te) for tr, te in outer.split(x, y))
    oof = np.zeros((args.repeats, len(y)))
    for i, (test, p, _) in enumerate(out):
        oof[i // 5, test] = p
    return {"auroc": float(np.mean([roc_auc_score(y, o) for o in oof])),
            "auroc_per_fold_mean": float(np.mean([a for *_, a in out]))}


def run_arm(args: argparse.Namespace) -> None:
    x, y = make_data(args.samples, args.features)
    t0 = time.perf_counter()
    found = (arm_gutlink if args.arm == "gutlink" else arm_sklearn)(x, y, args)
    found["seconds"] = time.perf_counter() - t0
    found["peak_rss_mb"] = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(json.dumps(found))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arm", choices=["gutlink", "sklearn", "sklearn_logstd"], default=None)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--features", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    if args.arm:
        return run_arm(args)
    rows = {}
    for arm in ("sklearn", "sklearn_logstd", "gutlink"):
        cmd = [sys.executable, __file__, "--arm", arm, "--samples", str(args.samples), "--features",
               str(args.features), "--repeats", str(args.repeats), "--jobs", str(args.jobs)]
        rows[arm] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
        print(arm, rows[arm], flush=True)
    lines = ["# Prediction speed: nested CV, gutlink vs plain scikit-learn", "",
             f"Command: `python benchmarks/bench_predict_speed.py --samples {args.samples} --features "
             f"{args.features} --repeats {args.repeats} --jobs {args.jobs}`", "",
             f"{args.samples} samples × {args.features} features (synthetic sparse log-normal counts, 20 planted "
             f"features more prevalent in cases), {args.repeats} × 5-fold outer CV, 3-fold inner GridSearchCV over "
             f"7 C values, L1 logistic regression (liblinear), log-std features, {args.jobs} joblib workers, shared "
             "2-core machine.",
             "", "| arm | seconds | peak RSS (MB, largest process) | AUROC (pooled out-of-fold, mean over repeats) "
             "| AUROC (mean per fold) |", "|---|---|---|---|---|"]
    for arm, r in rows.items():
        lines.append(f"| {arm} | {r['seconds']:.0f} | {r['peak_rss_mb']:.0f} | {r['auroc']:.3f} | "
                     f"{r['auroc_per_fold_mean']:.3f} |")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
