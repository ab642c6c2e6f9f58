"""Speed of the literature layer (issue 15: "concordance against all ~10k signatures in under a second").

On the bundled PRISM cohort (Crohn's disease vs controls, genus level, ``gutlink differential`` with no shuffles):

- scoring every bundled BugSigDB signature at once (the rank-based enrichment and direction agreement of each
  published up / down set in the cohort's statistic: ``gutlink.literature._enrichment.score_all``);
- one whole ``concordance(..., condition=...)`` call per condition, with its random-signature null
  (999 random signatures per published one by default) and the study-level null.

Each timing is the median of ``--repeats`` runs after one warm-up. Run by hand::

    python benchmarks/bench_literature.py [--repeats 5]

Writes ``benchmarks/results/literature.md``.
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

from gutlink import differential  # noqa: E402
from gutlink.datasets import franzosa2019  # noqa: E402
from gutlink.literature import cohort_statistic, concordance, map_features, signatures  # noqa: E402
from gutlink.literature._enrichment import score_all, visible_scores  # noqa: E402
from gutlink.literature.concordance import _per_taxon  # noqa: E402
from gutlink.literature.signatures import incidence  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "literature.md"
CONDITIONS = ("Crohn's disease", "ulcerative colitis", "rheumatoid arthritis", "multiple sclerosis",
              "type 1 diabetes")


def _median_time(func, repeats: int) -> float:  # type: ignore[no-untyped-def]
    func()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    c = franzosa2019().aggregate("genus")
    da = differential.test(c, "~ Diagnosis", group="Diagnosis", case=["CD"], control="Control", n_shuffles=0)
    stat, _, _ = cohort_statistic(da.table, prevalence=da.prevalence)
    mapping = map_features(stat["feature_id"].tolist(), stat["lineage"].tolist(), None)
    per_taxon = _per_taxon(stat, mapping)
    sigs = signatures()
    _, columns = incidence()
    vis, rank, code = visible_scores(per_taxon, columns, 0.05)
    signs = np.ones(len(sigs))
    t_all = _median_time(lambda: score_all(vis, rank, code, signs), args.repeats)
    rows = [f"| score every bundled signature ({len(sigs):,}) | {t_all * 1000:.1f} ms |"]
    for cond in CONDITIONS:
        t = _median_time(lambda cond=cond: concordance(da, condition=cond, rng=0), args.repeats)
        r = concordance(da, condition=cond, rng=0)
        rows.append(f"| concordance with {cond} ({len(r.table)} signatures, {r.n_permutations} random signatures "
                    f"each; verdict: {r.verdict}) | {t * 1000:.0f} ms |")
    text = "\n".join([
        "# Literature layer: speed", "",
        f"Command: `python benchmarks/bench_literature.py --repeats {args.repeats}`; {platform.machine()}, 2 cores "
        f"shared with other jobs while this ran, numpy {np.__version__}. Cohort: the bundled PRISM genera, Crohn's "
        f"disease vs controls ({c.n_features} genera tested). Median of {args.repeats} runs after a warm-up.", "",
        "| step | time |", "|---|---|", *rows, ""])
    write_results(OUT, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
