"""Known IBD biology across two cohorts: does gutlink's differential engine recover it, and does it replicate?

Cohorts (real public data, see ../shared/data/README.md):

- **MetAML MetaHIT** (Pasolli et al. 2016; Qin et al. 2010 / Nielsen et al. 2014): ``dataset_name`` in
  ``metahit`` and ``Neilsen_genome_assembly``; the two overlap (149 subjects are in both), so one sample per
  ``subjectID`` is kept (the first by sample ID). Healthy relatives of patients (``n_relative``) are not controls.
  Every patient is Spanish while most controls are Danish, so the model adjusts for ``country`` (the disease
  effect is then estimated against the 26 Spanish controls).
- **PRISM** (Franzosa et al. 2019), the bundled copy of ``franzosa2019_prism``.

Each cohort is analysed with :func:`gutlink.differential.test` (abundance where present and prevalence, at
species and genus rank) and the two are pooled by :func:`gutlink.meta.combine` (random effects, REML). The
expectation (the issue's criterion): Faecalibacterium prausnitzii and Roseburia decreased, Escherichia coli and
Ruminococcus gnavus increased, pooled q < 0.1 with the sign agreeing in both cohorts. IBD vs control is the
primary comparison; CD vs control and UC vs control are shown because these signatures are known to be
strongest in Crohn's disease.

Run (writes benchmarks/results/known_biology_ibd.md)::

    python benchmarks/known_biology_ibd.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from _results import write_results

from gutlink import Cohort, differential, meta
from gutlink.datasets import franzosa2019
from gutlink.io import read

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ibd" / "metaml" / "abundance.txt.bz2"
OUT = Path(__file__).resolve().parent / "results" / "known_biology_ibd.md"
#: (rank, taxon, expected sign of the disease effect)
EXPECTED = [("species", "Faecalibacterium_prausnitzii", -1), ("genus", "Roseburia", -1),
            ("species", "Escherichia_coli", 1), ("species", "Ruminococcus_gnavus", 1)]
COMPARISONS = {"IBD": (["ibd_crohn_disease", "ibd_ulcerative_colitis"], ["CD", "UC"]),
               "CD": (["ibd_crohn_disease"], ["CD"]), "UC": (["ibd_ulcerative_colitis"], ["UC"])}
TERM = "status[T.case]"


def metaml_ibd(path: Path = DATA) -> Cohort:
    """MetAML MetaHIT + Nielsen stool samples of IBD patients and healthy controls, one sample per subject."""
    raw = read(path)
    meta_ = raw.metadata
    keep = meta_["dataset_name"].isin(["metahit", "Neilsen_genome_assembly"]) & meta_["disease"].isin(
        ["n", "ibd_crohn_disease", "ibd_ulcerative_colitis"])
    c = raw.subset(samples=keep.to_numpy())
    c = c.subset(samples=np.argsort(c.sample_ids.to_numpy()))
    return c.subset(samples=~c.metadata["subjectID"].duplicated().to_numpy())


def _labelled(c: Cohort, column: str, cases: list[str], controls: list[str]) -> Cohort:
    values = c.metadata[column].astype(str)
    keep = values.isin(cases + controls).to_numpy()
    sub = c.subset(samples=keep)
    status = np.where(sub.metadata[column].astype(str).isin(cases), "case", "control")
    return sub.with_metadata(sub.metadata.assign(status=status))


def per_cohort(metaml: Cohort, prism: Cohort, comparison: str, rank: str) -> dict[str, differential.DifferentialResult]:
    """Each cohort's differential result for *comparison* (status: case vs control) at *rank*."""
    metaml_cases, prism_cases = COMPARISONS[comparison]
    a = _labelled(metaml, "disease", metaml_cases, ["n"]).aggregate(rank)
    b = _labelled(prism, "Diagnosis", prism_cases, ["Control"]).aggregate(rank)
    return {"MetAML MetaHIT": differential.test(a, "~ status + country", reference={"status": "control"}),
            "PRISM": differential.test(b, "~ status", reference={"status": "control"})}


def pooled(results: dict[str, differential.DifferentialResult], table: str = "table") -> pd.DataFrame:
    """Random-effects pooling (REML) of the status term across cohorts, indexed by feature."""
    tables = {k: getattr(r, table) for k, r in results.items()}
    out = meta.combine(tables).table
    return out[out["term"] == TERM].set_index("feature_id")


def summary_rows(metaml: Cohort, prism: Cohort, comparison: str) -> list[dict[str, object]]:
    """One row per expected taxon: per-cohort effects and q, pooled effect, CI, q, I², sign agreement."""
    rows = []
    for rank in sorted({r for r, _, _ in EXPECTED}):
        results = per_cohort(metaml, prism, comparison, rank)
        abundance, presence = pooled(results), pooled(results, "prevalence")
        for r, taxon, sign in EXPECTED:
            if r != rank:
                continue
            row: dict[str, object] = {"comparison": comparison, "taxon": taxon, "expected": "down" if sign < 0 else "up"}
            for name, res in results.items():
                t = res.table[res.table["term"] == TERM].set_index("feature_id").loc[taxon]
                row[f"{name} effect"], row[f"{name} q"] = round(t["effect"], 2), float(f"{t['q_value']:.2g}")
            p = abundance.loc[taxon]
            row.update({"pooled effect": round(p["effect"], 2), "95 % CI": f"{p['ci_low']:.2f} to {p['ci_high']:.2f}",
                        "pooled q": float(f"{p['q_value']:.2g}"), "I²": round(p["i2"], 2),
                        "signs agree": bool(p["n_same_sign"] == 2 and np.sign(p["effect"]) == sign),
                        "presence log OR (pooled q)": _presence(presence, taxon)})
            row["meets criterion"] = bool(row["signs agree"] and p["q_value"] < 0.1)
            rows.append(row)
    return rows


def _presence(table: pd.DataFrame, taxon: str) -> str:
    if taxon not in table.index or not np.isfinite(table.loc[taxon, "effect"]):
        return "— (present in nearly every sample)"
    return f"{table.loc[taxon, 'effect']:.2f} ({table.loc[taxon, 'q_value']:.2g})"


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub markdown table."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join(lines + ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)])


def main() -> None:
    t0 = time.perf_counter()
    metaml, prism = metaml_ibd(), franzosa2019()
    frame = pd.DataFrame([row for comp in COMPARISONS for row in summary_rows(metaml, prism, comp)])
    counts = metaml.metadata.groupby(["disease", "country"]).size()
    text = ["# Known IBD biology across cohorts\n",
            f"Command: `python benchmarks/known_biology_ibd.py` ({time.perf_counter() - t0:.1f} s). MetAML MetaHIT: "
            f"{metaml.n_samples} subjects (one sample each; " + ", ".join(f"{d} {c}: {n}" for (d, c), n in counts.items())
            + f"); PRISM: {prism.n_samples} samples. Effects: log2 fold change of abundance where present (case vs "
            "control); pooled by random effects (REML). Criterion: pooled q < 0.1 and the sign as expected in both "
            "cohorts.\n", markdown(frame)]
    write_results(OUT, "\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
