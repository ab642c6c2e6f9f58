"""Calibration and known biology of ``gutlink trial`` (research tool, never medical advice).

- David et al. 2014 (../shared/data/dynamics/david2014_mlrepo): the expected diet taxa by both tests (signed-rank,
  primary; random-intercept mixed model, secondary).
- Null by shuffling: the arm labels swapped between Animal and Plant for whole subjects (a coin per subject, every
  sample of the subject follows it), so the arm contrast has no effect; the share of p < 0.05 over taxa and
  shuffles for the crossover contrast Animal - Plant.
- Simulated nulls: a 2 x 2 crossover (sequences AB / BA, two periods, days -2, -1, 1, 2 in each), without any
  effect, and with a response to the study period that differs between subjects (a random slope) but not between
  arms; the share of p < 0.05 for the arms' changes, the arm contrast and the carry-over and period terms.

Command: ``python benchmarks/bench_trial.py`` (from the repository root; data in ../shared/data).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gutlink.cli import build_parser, load_cohort
from gutlink.cohort import Cohort
from gutlink.dynamics.trial import trial

EXPECTED = {"Alistipes": "up", "Bilophila": "up", "Bacteroides": "up", "Roseburia": "down"}


def load_david(data: Path) -> Cohort:
    """The gg taxa table with its metadata, read as ``gutlink trial`` reads them (genus level)."""
    d = data / "dynamics" / "david2014_mlrepo"
    args = build_parser().parse_args(["trial", str(d / "gg" / "taxatable.txt"), "--metadata",
                                      str(d / "mapping-orig.txt"), "--subject", "SubjectFood", "--time", "Day",
                                      "--pre=-4:-1", "--post", "1:4"])
    cohort, _ = load_cohort(args)
    return cohort


def _run(c: Cohort, **kw: object) -> object:
    return trial(c, subject="SubjectFood", time="Day", arm="Diet", arms=["Animal", "Plant"], pre=(-4, -1),
                 post=(1, 4), rank=None, min_prevalence=0.05, guilds=False, **kw)


def david_table(c: Cohort) -> pd.DataFrame:
    t = _run(c).table.set_index(["arm", "feature_id"])  # type: ignore[attr-defined]
    rows = []
    for taxon, sign in EXPECTED.items():
        for arm in ("Animal", "Animal - Plant"):
            r = t.loc[(arm, taxon)]
            s = 1 if sign == "up" else -1
            rows.append({"taxon": taxon, "expected": sign, "arm": arm, "signed_rank_median": r["effect"],
                         "signed_rank_q": r["q_value"], "mixed_effect": r["mixed_effect"], "mixed_q": r["mixed_q"],
                         "signed_rank_ok": bool(np.sign(r["effect"]) == s and r["q_value"] < 0.1),
                         "mixed_ok": bool(np.sign(r["mixed_effect"]) == s and r["mixed_q"] < 0.1)})
    return pd.DataFrame(rows)


def david_shuffle(c: Cohort, n: int, rng: np.random.Generator) -> dict[str, float]:
    meta = c.metadata
    subjects = meta["SubjectFood"].astype(str)
    swap = {"Animal": "Plant", "Plant": "Animal"}
    share_sr, share_mx = [], []
    for _ in range(n):                                            # one coin per subject
        flip = {s: bool(rng.random() < 0.5) for s in sorted(set(subjects))}
        diet = meta["Diet"].where(~subjects.map(flip), meta["Diet"].map(swap))
        res = _run(c.with_metadata(meta.assign(Diet=diet)))
        t = res.table  # type: ignore[attr-defined]
        t = t[(t["arm"] == "Animal - Plant") & (t["analysis"] == "taxon")]
        share_sr.append(float((t["p_value"].dropna() < 0.05).mean()))
        share_mx.append(float((t["mixed_p"].dropna() < 0.05).mean()))
    return {"shuffles": n, "signed_rank": float(np.mean(share_sr)), "signed_rank_se": float(np.std(share_sr) / np.sqrt(n)),
            "mixed": float(np.mean(share_mx)), "mixed_se": float(np.std(share_mx) / np.sqrt(n))}


def simulate_crossover(rng: np.random.Generator, *, n_subjects: int = 12, n_taxa: int = 20,
                       slope_sd: float = 0.0) -> Cohort:
    """A null 2 x 2 crossover: no arm, period or carry-over effect; optionally a subject-specific response to
    every post window (the same in both arms)."""
    rows = []
    for i in range(n_subjects):
        seq = ("A", "B") if i % 2 == 0 else ("B", "A")
        for per, arm in enumerate(seq, start=1):
            rows += [(f"p{i}", arm, per, day) for day in (-2, -1, 1, 2)]
    meta = pd.DataFrame(rows, columns=["subject", "arm", "period", "day"], index=[f"s{k}" for k in range(len(rows))])
    subj = meta["subject"].str[1:].astype(int).to_numpy()
    base = rng.normal(3, 1, (n_subjects, n_taxa))
    slope = rng.normal(0, slope_sd, (n_subjects, 2, n_taxa))
    post = (meta["day"].to_numpy() > 0)[:, None]
    log_mu = base[subj] + post * slope[subj, meta["period"].to_numpy() - 1] + rng.normal(0, 0.3, (len(meta), n_taxa))
    x = rng.poisson(np.exp(log_mu)).astype(float) + 1
    return Cohort(x, meta)


def simulated_null(n: int, rng: np.random.Generator, slope_sd: float) -> pd.DataFrame:
    p: dict[tuple[str, str], list[np.ndarray]] = {}
    for _ in range(n):
        res = trial(simulate_crossover(rng, slope_sd=slope_sd), subject="subject", time="day", arm="arm",
                    arms=["A", "B"], period="period", pre=(-2, -1), post=(1, 2), rank=None, min_prevalence=0,
                    guilds=False)
        t = res.table[res.table["analysis"] == "taxon"]
        for arm in ("A", "B", "A - B"):
            p.setdefault((arm, "signed-rank"), []).append(t.loc[t["arm"] == arm, "p_value"].to_numpy())
            p.setdefault((arm, "mixed model"), []).append(t.loc[t["arm"] == arm, "mixed_p"].to_numpy())
        x = res.crossover[res.crossover["analysis"] == "taxon"]
        for term in ("carry-over", "period", "treatment A - B"):
            p.setdefault((term, "2x2 t test"), []).append(x.loc[x["term"] == term, "p_value"].to_numpy())
    rows = []
    for (what, test), vals in p.items():
        shares = np.array([np.mean(v[np.isfinite(v)] < 0.05) for v in vals])
        rows.append({"contrast": what, "test": test, "share_p<0.05": shares.mean(),
                     "se": shares.std() / np.sqrt(len(shares)), "replicates": len(shares)})
    return pd.DataFrame(rows)


def markdown(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in frame.itertuples(index=False):
        out.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "trial.md")
    ap.add_argument("--shuffles", type=int, default=200)
    ap.add_argument("--replicates", type=int, default=200)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(2014)
    t0 = time.perf_counter()
    c = load_david(args.data)
    known = david_table(c)
    shuffle = david_shuffle(c, args.shuffles, rng)
    t1 = time.perf_counter()
    null0 = simulated_null(args.replicates, rng, 0.0)
    null1 = simulated_null(args.replicates, rng, 0.5)
    t2 = time.perf_counter()
    out = ["# gutlink trial: calibration and known biology", "", "Research tool, never medical advice.", "",
           f"Command: `python benchmarks/bench_trial.py --shuffles {args.shuffles} --replicates {args.replicates}` "
           f"(from the repository root; data in ../shared/data). Wall time: David part {t1 - t0:.0f} s, simulations "
           f"{t2 - t1:.0f} s, on 2 CPU cores shared with other jobs.", "",
           "Tests: `signed-rank` — each subject's post − pre change of its window means, Wilcoxon signed-rank across "
           "subjects (primary; `q_value`); `mixed model` — `feature ~ post * arm [+ period] + (1 | subject) + "
           "(1 | subject:arm:window)` on every sample of the two windows, REML for all features at once, t on "
           "containment df (secondary; "
           "`mixed_q`); `2x2 t test` — the standard 2 × 2 crossover analysis between sequences (carry-over from "
           "the sum of both periods' changes, period and treatment from their difference).", "",
           "## David et al. 2014, animal-based diet (gg table, taxa in ≥ 5% of samples)", "",
           "Animal: days 1–4 against −4…−1 within subjects (10 subjects); Animal − Plant: the crossover contrast "
           "(9 subjects who did both). `*_ok`: sign as expected and q < 0.1.", "", markdown(known), "",
           f"Signed-rank: {int(known['signed_rank_ok'].sum())} of {len(known)} rows ok; mixed model: "
           f"{int(known['mixed_ok'].sum())} of {len(known)}.", "",
           "## Null by shuffling arm labels between whole subjects (David 2014)", "",
           f"{shuffle['shuffles']} shuffles, each subject's Animal/Plant labels swapped with probability 1/2; share "
           "of taxa with p < 0.05 for the Animal − Plant contrast, mean over shuffles (± SE over shuffles):", "",
           f"- signed-rank: {shuffle['signed_rank']:.3f} ± {shuffle['signed_rank_se']:.3f}",
           f"- mixed model: {shuffle['mixed']:.3f} ± {shuffle['mixed_se']:.3f}", "",
           "## Simulated null 2 × 2 crossovers", "",
           f"12 subjects (6 AB, 6 BA), 20 taxa, Poisson counts around log-normal subject levels (sample noise sd "
           f"0.3 on the log scale), {args.replicates} data sets each. No effect at all:", "", markdown(null0), "",
           "A response to every post window that differs between subjects and periods (sd 0.5 on the log scale, "
           "the same distribution in both arms, so arm, carry-over and treatment remain null; the arms' own "
           "changes A and B have mean zero, so they are null too):", "", markdown(null1), "",
           "The David metadata (mapping-orig.txt) do not record which diet each person ate first, so the carry-over and period tests (`--period`) run here only on the simulated crossovers.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out))
    sys.stdout.write("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
