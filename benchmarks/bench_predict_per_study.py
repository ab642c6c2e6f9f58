"""Per-study standardisation on the GMrepo autoimmune benchmark: leave-one-study-out with and without it.

For every disease file of ``multi/gmrepo_benchmark/rawdata`` (``pair_rank`` = cohort, 2–5 cohorts per file),
leave-one-study-out AUROC per held-out cohort, once with log-std fitted on the pooled training cohorts (the
default) and once with ``per_study_standardise=True`` (each training cohort standardised on its own samples,
the held-out cohort on its own samples' unlabelled feature values). Same seed, same splits, same model::

    nice python benchmarks/bench_predict_per_study.py --jobs 1 --models lasso,rf

It writes ``benchmarks/results/predict_per_study.md`` and a JSON of every number next to it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd
from bench_predict_gmrepo import DESIGN, FILES, MODELS, ROOT

from gutlink.io import read
from gutlink.predict import loso

OUT = Path(__file__).resolve().parent / "results" / "predict_per_study.md"
NOTES = [
    "", "Notes", "",
    "- The effect is small and not consistent: the mean LOSO AUROC rises by about 0.01 (lasso and random forest), "
    "but fewer than half of the held-out cohorts improve; single cohorts move by up to ±0.13 either way (these "
    "cohorts have 20–120 cases, so a single LOSO AUROC has a CI of roughly ±0.1, see `loso_ci_*` in the JSON). "
    "It stays an option, off by default.",
    "- Rheumatoid arthritis still does not transfer with it (LOSO 0.41–0.57): the failure is not a per-study shift "
    "of feature means and scales that standardisation could remove.",
    "- What it uses: the held-out cohort's own mean and scale per feature, computed from its unlabelled abundances "
    "(all of its samples at once). No label of the held-out cohort is used, but the model is not applicable to a "
    "single new sample without a batch of samples from the same study.",
]


def run_file(stem: str, args: argparse.Namespace) -> list[dict]:
    cohort = read(ROOT / "rawdata" / f"{stem}.csv")
    cohort = cohort.with_metadata(cohort.metadata.assign(pair_rank=cohort.metadata["pair_rank"].astype(int)))
    rows = []
    for name in args.models.split(","):
        for per_study in (False, True):
            t0 = time.perf_counter()
            t = loso(cohort, **DESIGN, study="pair_rank", matrix=False, rng=args.rng, n_jobs=args.jobs,
                     per_study_standardise=per_study, **MODELS[name]).table
            secs = time.perf_counter() - t0
            for r in t.itertuples():
                rows.append({"file": stem, "model": name, "per_study": per_study, "cohort": r.study,
                             "auroc": r.auroc, "loso_ci_low": r.ci_low, "loso_ci_high": r.ci_high, "n_case": r.n_case,
                             "n_control": r.n_control, "seconds": secs})
            print(stem, name, per_study, t["auroc"].round(3).tolist(), f"{secs:.0f}s", flush=True)
    return rows


def write(frame: pd.DataFrame, command: str) -> None:
    frame.to_json(OUT.with_suffix(".json"), orient="records", indent=1)
    wide = frame.pivot_table(index=["file", "cohort", "n_case", "n_control"], columns=["model", "per_study"],
                             values="auroc", sort=False)
    models = list(dict.fromkeys(frame["model"]))
    lines = ["# Per-study standardisation: leave-one-study-out on the GMrepo autoimmune benchmark", "",
             f"Command: `{command}`", "",
             "LOSO AUROC per held-out cohort (train on the file's other cohorts, test on this one), log-std "
             "features, 10 % prevalence filter, same seed and model for both columns. *pooled*: log-std learnt on "
             "the pooled training cohorts (gutlink's default); *per-study*: `per_study_standardise=True` (each "
             "cohort standardised on its own samples; the held-out cohort on its own unlabelled feature values).",
             "", "| file | cohort | n case/control | "
             + " | ".join(f"{m} pooled | {m} per-study | Δ" for m in models) + " |",
             "|---|---|---|" + "---|---|---|" * len(models)]
    for (f, c, nc, nn), r in wide.iterrows():
        cells = []
        for m in models:
            a, b = r[(m, False)], r[(m, True)]
            cells.append(f"{a:.3f} | {b:.3f} | {b - a:+.3f}")
        lines.append(f"| {f} | {c} | {nc}/{nn} | " + " | ".join(cells) + " |")
    lines += ["", "Mean over held-out cohorts:", "", "| subset | n | "
              + " | ".join(f"{m} pooled | {m} per-study | {m} cohorts improved" for m in models) + " |",
              "|---|---|" + "---|---|---|" * len(models)]
    files = wide.index.get_level_values("file")
    n_cohorts = files.map(files.value_counts())
    subsets = {"all files": wide, "without RA": wide[~files.str.startswith("RA_")],
               "files with ≥ 3 cohorts": wide[n_cohorts >= 3]}
    for label, w in subsets.items():
        cells = []
        for m in models:
            a, b = w[(m, False)], w[(m, True)]
            cells.append(f"{a.mean():.3f} | {b.mean():.3f} | {int((b > a).sum())}/{len(w)}")
        lines.append(f"| {label} | {len(w)} | " + " | ".join(cells) + " |")
    OUT.write_text("\n".join([*lines, *NOTES]) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", default=",".join(FILES))
    ap.add_argument("--models", default="lasso,rf")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--rng", type=int, default=0)
    args = ap.parse_args()
    rows = [r for stem in args.files.split(",") for r in run_file(stem, args)]
    write(pd.DataFrame(rows), ("nice python benchmarks/bench_predict_per_study.py " + " ".join(sys.argv[1:])).strip())
    print(json.dumps({"written": str(OUT)}))


if __name__ == "__main__":
    main()
