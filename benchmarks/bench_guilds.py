"""Speed of the host-marker grid with a random intercept per subject (issue 13: 200 taxa x 60 markers x 2,000
samples "in seconds"), and its calibration on pure-noise markers; writes benchmarks/results/guilds.md.

Run: python benchmarks/bench_guilds.py  (synthetic counts on PRISM's lineages, 200 subjects x 10 samples)
HAllA / MaAsLin side by side: benchmarks/bench_markers_peers.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from gutlink.cohort import Cohort
from gutlink.datasets import franzosa2019
from gutlink.guilds import marker_association

OUT = Path(__file__).parent / "results" / "guilds.md"


def _cohort(n: int, p: int, rng: np.random.Generator) -> Cohort:
    tax = franzosa2019().taxonomy.iloc[:p]
    lam = rng.lognormal(2, 1.5, size=(1, p))
    counts = rng.poisson(lam, size=(n, p)).astype(float) + (rng.random((n, p)) < 0.5)
    ids = [f"s{i}" for i in range(n)]
    meta = pd.DataFrame({"subject": np.repeat([f"p{i}" for i in range(n // 10)], 10), "age": rng.normal(size=n)},
                        index=ids)
    return Cohort(counts, metadata=meta, taxonomy=tax, units="counts")


def _markdown(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |\n|" + "---|" * frame.shape[1] + "\n"
    return head + "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False))


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for p, m in [(200, 15), (200, 30), (200, 60)]:
        c = _cohort(2000, p, rng)
        markers = pd.DataFrame(rng.normal(size=(2000, m)), index=c.sample_ids, columns=[f"m{i}" for i in range(m)])
        for model, direction in (("random", "marker"), ("within", "marker"), ("random", "taxon")):
            t = time.perf_counter()
            res = marker_association(c, markers=markers, subject="subject", covariates=["age"], repeated=model,
                                     direction=direction)
            rows.append({"taxa": p, "markers": m, "pairs": len(res.table), "model": model, "direction": direction,
                         "seconds": round(time.perf_counter() - t, 2),
                         "share_p_below_0.05": round(float((res.table["p_value"] < 0.05).mean()), 4)})
    frame = pd.DataFrame(rows)
    text = ("# Host-marker grid: speed and calibration\n\n`python benchmarks/bench_guilds.py` — 2,000 samples of "
            "200 subjects (10 each), noise markers, `marker ~ predictor + age + (1 | subject)` (REML random "
            "intercept) or subject fixed intercepts, and the taxon ~ marker direction (every taxon its own REML variance ratio); predictors: 16 guild scores + the prevalent taxa (CLR). "
            "Seconds: the first row includes the guild assignment of the 200 taxa (cold); later rows reuse it (memoised per lineage table). Calibration: share of p < 0.05 on noise (0.05 expected).\n\n"
            + _markdown(frame) + "\n\n2 CPU cores shared with other work. HAllA / MaAsLin-style peers side by side: "
            "benchmarks/results/markers_peers.md.\n")
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
