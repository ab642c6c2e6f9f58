"""Calibration of the omnibus (multi-level) tests under no signal: Diagnosis labels shuffled in PRISM.

The bundled Franzosa et al. 2019 PRISM cohort (CD / UC / Control), formula ``~ Diagnosis + Age``, Diagnosis
permuted across samples *K* times; every feature's omnibus p-values (abundance F, presence LR, joint) and the
existing per-level tests are pooled over shuffles. Under the null the share below 0.05 should be near 0.05.

Run (writes benchmarks/results/omnibus_null.md)::

    python benchmarks/omnibus_null.py --shuffles 200
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _results import write_results

from gutlink import differential
from gutlink.datasets import franzosa2019

OUT = Path(__file__).resolve().parent / "results" / "omnibus_null.md"
FORMULA = "~ Diagnosis + Age"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shuffles", type=int, default=200)
    ap.add_argument("--rng", type=int, default=0)
    args = ap.parse_args()
    cohort, gen, t0 = franzosa2019(), np.random.default_rng(args.rng), time.perf_counter()
    pooled: dict[str, list[np.ndarray]] = {"abundance F (omnibus)": [], "presence LR (omnibus)": [],
                                           "joint (omnibus)": [], "per-level t (existing)": []}
    for _ in range(args.shuffles):
        labels = gen.permutation(cohort.metadata["Diagnosis"].to_numpy())
        res = differential.test(cohort.with_metadata(cohort.metadata.assign(Diagnosis=labels)), FORMULA,
                                reference={"Diagnosis": "Control"})
        omni, tab = res.omnibus, res.table[res.table["term"].str.startswith("Diagnosis")]
        for key, values in zip(pooled, (omni["p_value"], omni["p_value_prevalence"], omni["p_joint"],
                                        tab["p_value"])):
            pooled[key].append(values.dropna().to_numpy())
    lines = ["# Omnibus tests under label shuffling (PRISM, CD / UC / Control)", "",
             f"Command: `python benchmarks/omnibus_null.py --shuffles {args.shuffles} --rng {args.rng}` "
             f"({time.perf_counter() - t0:.0f} s). Formula `{FORMULA}`, Diagnosis permuted across the 155 samples.",
             "", "| test | p-values | share < 0.05 | share < 0.01 | median |", "|---|---|---|---|---|"]
    for key, parts in pooled.items():
        p = np.concatenate(parts)
        lines.append(f"| {key} | {p.size} | {(p < 0.05).mean():.3f} | {(p < 0.01).mean():.4f} | "
                     f"{np.median(p):.2f} |")
    write_results(OUT, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
