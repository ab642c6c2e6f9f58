"""Real-data check of ``gutlink atlas``: the GMrepo autoimmune benchmark (RA, MS, AS, CD, UC) in one run.

Each genus-level file of ``multi/gmrepo_benchmark/rawdata`` (``Group`` Case/Control, ``pair_rank`` = cohort, as
``bench_predict_gmrepo.py`` reads them) is one ``[[cohort]]`` whose ``pair_rank`` levels are the cohorts: link on
every cohort (community, diversity, dysbiosis, taxa, literature concordance with BugSigDB, within-cohort
prediction), leave-one-study-out prediction across the cohorts of each file, random-effects pooling of each
condition's taxa, and the condition × layer grid. Run by hand (about two minutes on 2 cores)::

    python benchmarks/bench_atlas.py

It writes the configuration to ``benchmarks/results/atlas_gmrepo.toml``, runs
``gutlink atlas benchmarks/results/atlas_gmrepo.toml --out OUT --overwrite`` (progress on stderr), and writes
``benchmarks/results/atlas.md`` with the grid, the statements, the RA transfer numbers and the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

from gutlink.cli import main as gutlink_main

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1] / "shared" / "data" / "multi" / "gmrepo_benchmark" / "rawdata"
CONFIG = HERE / "results" / "atlas_gmrepo.toml"
OUT_MD = HERE / "results" / "atlas.md"
FILES = {"RA_Metagenomics_genus": "RA", "RA_Amplicon_genus": "RA", "MS_Amplicon_genus": "MS",
         "AS_Metagenomics_genus": "AS", "CD_Metagenomics_genus": "CD", "CD_Amplicon_genus": "CD",
         "UC_Metagenomics_genus": "UC", "UC_Amplicon_genus": "UC"}


NOTES = [
    "## Notes", "",
    "- Rheumatoid arthritis: within-cohort prediction passes in most cohorts, but the leave-one-study-out AUROC "
    "pools to about 0.5 (interval holding chance): what separates RA cases from controls in one cohort does not "
    "predict them in another (as in `predict_gmrepo.md`). The grid says so (prediction_across: no evidence) "
    "instead of letting the within-cohort number stand for the condition.",
    "- The literature layer runs with the run's 199 permutations (smallest p 0.005); a cohort is concordant only "
    "when the enrichment q and the direction-agreement p are both below 0.05, and the layer passes only when at "
    "least half of a condition's cohorts are concordant. Several IBD cohorts agree in direction (0.8-0.9) without "
    "every one passing, so the literature layer stays 'no evidence' for CD and UC here; PRISM / MetaHIT with 999 "
    "permutations are concordant (tests/test_literature.py).",
    "- Pooled intervals are Wald intervals on the random-effects estimate (REML, standard errors from each "
    "cohort's 95 % interval); with two cohorts an AUROC interval can run past 1. Community (PERMANOVA R²) and "
    "taxa layers have no per-cohort interval and pass when at least half of the cohorts do.",
    "- Grades count rubric points (effect size, consistency across cohorts, adjustment for confounders, "
    "literature concordance for taxa, calibrated negative control); no cohort here has covariates, so no layer "
    "earns the adjustment point. The rubric is `gutlink.evidence.rubric` and `evidence_rubric.tsv`.",
]


def write_config(permutations: int) -> None:
    lines = ["[atlas]", f"permutations = {permutations}", "seed = 0", "predict = true", "transfer = true",
             'metrics = ["braycurtis"]', ""]
    for stem, cond in FILES.items():
        lines += ["[[cohort]]", f'name = "{stem.removesuffix("_genus")}"', f'table = "{os.path.relpath(ROOT / (stem + ".csv"), CONFIG.parent)}"',
                  'group = "Group"', 'case = "Case"', 'control = "Control"', f'condition = "{cond}"',
                  'study = "pair_rank"', ""]
    CONFIG.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/gutlink-atlas-gmrepo")
    ap.add_argument("--permutations", type=int, default=199)
    args = ap.parse_args()
    write_config(args.permutations)
    command = f"gutlink atlas {CONFIG.relative_to(HERE.parent)} --out {args.out} --overwrite"
    t0 = time.perf_counter()
    code = gutlink_main(["atlas", str(CONFIG), "--out", args.out, "--overwrite"])
    secs = time.perf_counter() - t0
    if code:
        sys.exit(code)
    out = Path(args.out)
    grid = pd.read_csv(out / "atlas_grid.tsv", sep="\t").fillna("")
    layers = pd.read_csv(out / "evidence_layers.tsv", sep="\t")
    cohorts = pd.read_csv(out / "evidence_cohorts.tsv", sep="\t")
    summary = json.loads((out / "summary.json").read_text())
    md = ["# Atlas: GMrepo autoimmune benchmark (genus level) in one run", "",
          f"Command: `python benchmarks/bench_atlas.py` = `{command}` (configuration: "
          "`benchmarks/results/atlas_gmrepo.toml`; permutations "
          f"{args.permutations}, seed 0). Wall time **{secs:.0f} s** on this machine (2 cores shared with other "
          "jobs), " + f"{len(summary['cohorts'])} cohorts.", "",
          "## Condition × layer grid", "", "| " + " | ".join(grid.columns) + " |",
          "|" + "---|" * len(grid.columns)]
    md += ["| " + " | ".join(str(v) for v in r) + " |" for r in grid.itertuples(index=False)]
    md += ["", "## Statements", ""]
    for ev in summary["evidence"]:
        md.append(f"- **{ev['overall']['statement']}**")
        md += [f"  - {r['sentence']}" for r in ev["layers"]]
    ra = cohorts[(cohorts["condition"] == "rheumatoid arthritis") & cohorts["layer"].isin(["prediction_within",
                                                                                           "prediction_across"])]
    md += ["", "## Rheumatoid arthritis: within vs across cohorts", "",
           "| layer | cohort | AUROC | 95 % CI |", "|---|---|---|---|"]
    md += [f"| {r.layer} | {r.cohort} | {r.effect:.3f} | {r.ci_low:.3f} to {r.ci_high:.3f} |" for r in ra.itertuples()]
    pooled = layers[(layers["condition"] == "rheumatoid arthritis") & (layers["layer"] == "prediction_across")]
    if len(pooled):
        p = pooled.iloc[0]
        md += ["", f"Pooled held-out AUROC for RA: {p.effect:.3f} (95 % CI {p.ci_low:.3f} to {p.ci_high:.3f}), "
                   f"grade **{p.grade}**: the within-cohort signal does not transfer to a held-out RA cohort."]
    md += ["", "Per-cohort timings (s): " + ", ".join(f"{c['cohort']} {c['seconds']:.1f}" for c in summary["cohorts"])]
    md += ["", *NOTES]
    OUT_MD.write_text("\n".join(md) + "\n", encoding="utf-8")
    print(json.dumps({"written": str(OUT_MD), "seconds": round(secs, 1)}))


if __name__ == "__main__":
    main()
