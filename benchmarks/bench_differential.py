"""Differential abundance benchmark: signal implantation on real healthy stool samples, peers side by side, speed.

Accuracy: healthy stool samples of MetAML (``disease == 'n'``, one per subject; Pasolli et al. 2016) are split at
random into two pseudo-groups; a tenth of the prevalent species get their abundance multiplied by 2**lfc (half
up, half down) in one group (Wirbel et al. 2024's implantation idea: the rest of the real structure is left
intact). Optionally a binary confounder correlated with the group (75 % vs 25 %) shifts another tenth of the
species; gutlink adjusts for it, Wilcoxon and the Dirichlet-multinomial t-test cannot. FDR = mean over repeats of
the false-discovery proportion (false discoveries / discoveries at q < 0.05, 0 when none; ``fdr_se`` its standard
error); recall = implanted species found. 566 subjects allow at most 283 per group, so n = 500 is not possible.

Speed: synthetic log-normal Poisson counts (samples × features, 3 covariates), time and peak traced memory.

Run (writes benchmarks/results/differential.md)::

    python benchmarks/bench_differential.py --repeats 20
    python benchmarks/bench_differential.py --quick      # a smoke run

The "before" rows of the results file come from the code before the hurdle model (a copy of ``src/gutlink`` at
that state on ``PYTHONPATH``), run with the same seeds and merged in::

    PYTHONPATH=/path/to/old/src python benchmarks/bench_differential.py --repeats 20 --methods gutlink \
        --label "gutlink before (floored zeros)" --csv before.csv --no-speed --out /tmp/before.md
    python benchmarks/bench_differential.py --repeats 20 --extra-csv before.csv
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from gutlink import Cohort, differential
from gutlink.differential._linmod import mode_weights, precision_weights, t_test
from gutlink.multitest import bh

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ibd" / "metaml" / "abundance.txt.bz2"
OUT = Path(__file__).resolve().parent / "results" / "differential.md"


# ----------------------------------------------------------------------------- data
def healthy_stool() -> pd.DataFrame:
    """MetAML healthy stool samples (one per subject) × species, as fractions."""
    raw = pd.read_csv(DATA, sep="\t", index_col=0, dtype=str, low_memory=False)
    meta = raw.loc[[i for i in raw.index if not i.startswith("k__")]].T
    keep = (meta["disease"] == "n") & (meta["bodysite"] == "stool")
    keep &= ~meta["subjectID"].duplicated()
    species = raw.loc[[i for i in raw.index if "s__" in i and "t__" not in i], keep[keep].index].astype(float).T
    species.columns = [c.split("|s__")[-1] for c in species.columns]
    species = species.loc[:, (species > 0).mean() >= 0.05]
    return species.div(species.sum(axis=1), axis=0)


def implant(base: pd.DataFrame, n: int, lfc: float, seed: int, confounder: bool) -> tuple[Cohort, set[str]]:
    gen = np.random.default_rng(seed)
    x = base.iloc[gen.choice(len(base), 2 * n, replace=False)].to_numpy().copy()
    group = np.repeat([0, 1], n)
    prevalent = np.flatnonzero((x > 0).mean(axis=0) >= 0.2)
    k = max(2, len(prevalent) // 10)
    picked = gen.choice(prevalent, 2 * k if confounder else k, replace=False)
    truth, confounded = picked[:k], picked[k:]
    fold = np.ones(x.shape[1])
    fold[truth[: k // 2]], fold[truth[k // 2:]] = 2.0**lfc, 2.0**-lfc
    x[group == 1] *= fold
    z = (gen.random(2 * n) < np.where(group == 1, 0.75, 0.25)).astype(int) if confounder else gen.integers(0, 2, 2 * n)
    if confounder:
        zfold = np.ones(x.shape[1])
        zfold[confounded] = 2.0 ** (lfc * np.where(np.arange(len(confounded)) % 2 == 0, 1, -1))
        x[z == 1] *= zfold
    meta = pd.DataFrame({"group": np.where(group == 1, "B", "A"), "z": np.where(z == 1, "yes", "no")},
                        index=[f"s{i}" for i in range(2 * n)])
    tax = pd.DataFrame({"species": base.columns}, index=base.columns)
    return Cohort(x / x.sum(axis=1, keepdims=True), metadata=meta, taxonomy=tax, units="fraction"), \
        set(base.columns[truth])


# ----------------------------------------------------------------------------- methods: each returns the hit set
def m_gutlink(c: Cohort, adjust: bool) -> set[str]:
    """The default: hurdle model (abundance where present, zero-free reference), bias-corrected SE."""
    res = differential.test(c, "~ group + z" if adjust else "~ group", reference={"group": "A"}, prevalence=False)
    tab = res.table[res.table["term"] == "group[T.B]"]
    return set(tab.loc[tab["q_value"] < 0.05, "feature_id"])


def m_gutlink_floored(c: Cohort, adjust: bool) -> set[str]:
    """Every sample modelled, zeros floored in the normalised space (``zeros="adaptive"``)."""
    res = differential.test(c, "~ group + z" if adjust else "~ group", reference={"group": "A"}, prevalence=False,
                            zeros="adaptive")
    tab = res.table[res.table["term"] == "group[T.B]"]
    return set(tab.loc[tab["q_value"] < 0.05, "feature_id"])


def m_linda_plain_se(c: Cohort, adjust: bool) -> set[str]:
    """LinDA-like: zeros floored, the mode removed, but the SE of the uncorrected coefficient."""
    res = differential.test(c, "~ group + z" if adjust else "~ group", reference={"group": "A"}, prevalence=False,
                            bias_correction=False, zeros="adaptive")
    tab = res.table[res.table["term"] == "group[T.B]"]
    raw, se = tab["effect"].to_numpy(), tab["se"].to_numpy()
    b, _ = mode_weights(raw, precision_weights(se))
    q = bh(t_test(raw - b, se, tab["df"].to_numpy())[1])
    return set(tab["feature_id"][q < 0.05])


def m_wilcoxon(c: Cohort, adjust: bool) -> set[str]:
    rel = c.relative()
    b = (c.metadata["group"] == "B").to_numpy()
    p = stats.mannwhitneyu(rel[b], rel[~b], axis=0).pvalue
    return set(c.feature_ids[bh(p) < 0.05])


def _table(c: Cohort, min_prev: float = 0.1) -> pd.DataFrame:
    x = pd.DataFrame(np.round(c.dense() * 1e5), index=c.sample_ids, columns=c.feature_ids)
    return x.loc[:, (x > 0).mean() >= min_prev]


def m_ancombc(c: Cohort, adjust: bool) -> set[str]:
    from skbio.stats.composition import ancombc

    x = _table(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ancombc(x + 1, c.metadata, "group + z" if adjust else "group", p_adjust="fdr_bh")
    frame = getattr(res, "result", res).reset_index()
    rows = frame[frame["Covariate"].astype(str).str.startswith("group")]
    return set(rows.loc[rows["Signif"].astype(bool), "FeatureID"])


def m_dirmult(c: Cohort, adjust: bool) -> set[str]:
    from skbio.stats.composition import dirmult_ttest

    x = _table(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = dirmult_ttest(x, c.metadata["group"], treatment="B", reference="A", p_adjust="fdr_bh", seed=0)
    return set(res.index[res["qvalue"] < 0.05]) if "qvalue" in res.columns else set(res.index[res["Signif"]])


def m_pydeseq2(c: Cohort, adjust: bool) -> set[str]:
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    x = _table(c).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dds = DeseqDataSet(counts=x, metadata=c.metadata, design="~ z + group" if adjust else "~ group",
                           inference=DefaultInference(n_cpus=1), quiet=True)
        dds.deseq2()
        st = DeseqStats(dds, contrast=["group", "B", "A"], inference=DefaultInference(n_cpus=1), quiet=True)
        st.summary()
    q = st.results_df["padj"]
    return set(q.index[q < 0.05])


METHODS: dict[str, Callable[[Cohort, bool], set[str]]] = {
    "gutlink": m_gutlink, "gutlink_floored": m_gutlink_floored, "linda_plain_se": m_linda_plain_se,
    "wilcoxon": m_wilcoxon, "skbio_ancombc": m_ancombc, "skbio_dirmult_ttest": m_dirmult, "pydeseq2": m_pydeseq2,
}
ADJUSTS = {"gutlink", "gutlink_floored", "linda_plain_se", "skbio_ancombc", "pydeseq2"}
OURS = {"gutlink", "gutlink_floored", "linda_plain_se", "wilcoxon"}  # fast enough for every n
DEFAULT_METHODS = "gutlink,gutlink_floored,linda_plain_se,wilcoxon,skbio_ancombc,skbio_dirmult_ttest"


# ----------------------------------------------------------------------------- accuracy
def _one(name: str, c: Cohort, truth: set[str], confounder: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        hits = METHODS[name](c, confounder)
    except Exception as err:  # noqa: BLE001 - a peer failing is a result to report, not a crash
        return {"error": f"{type(err).__name__}: {err}"[:120]}
    return {"fdp": len(hits - truth) / max(len(hits), 1), "recall": len(hits & truth) / len(truth),
            "n_false": len(hits - truth), "seconds": time.perf_counter() - t0}


def accuracy(base: pd.DataFrame, sizes: list[int], lfcs: list[float], repeats: int, methods: list[str],
             peer_max_n: int, label: str | None = None) -> pd.DataFrame:
    rows = []
    for confounder in (False, True):
        for n in sizes:
            for lfc in lfcs:
                for rep in range(repeats):
                    c, truth = implant(base, n, lfc, seed=1000 * n + 10 * rep + int(lfc * 3), confounder=confounder)
                    for name in methods:
                        if name not in OURS and n > peer_max_n:
                            continue
                        rows.append({"method": label or name, "n_per_group": n, "lfc": lfc,
                                     "confounder": confounder, "repeat": rep, **_one(name, c, truth, confounder)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- speed
def synthetic(n: int, m: int, seed: int = 0, subjects: int | None = None) -> Cohort:
    gen = np.random.default_rng(seed)
    mu = gen.normal(2, 2, size=m)
    counts = gen.poisson(np.exp(mu[None, :] + gen.normal(0, 1.5, size=(n, m))))
    counts[:, counts.sum(axis=0) == 0] = 1
    meta = pd.DataFrame({"group": gen.choice(["A", "B"], n), "age": gen.normal(50, 10, n),
                         "sex": gen.choice(["F", "M"], n), "bmi": gen.normal(25, 4, n)},
                        index=[f"s{i}" for i in range(n)])
    if subjects:
        meta["subject"] = np.repeat(np.arange(subjects), -(-n // subjects))[:n].astype(str)
    return Cohort(counts.astype(float), metadata=meta, units="counts")


def measure(fn: Callable[[], Any]) -> tuple[float, float]:
    tracemalloc.start()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak


def _statsmodels_loop(c: Cohort) -> None:
    import statsmodels.formula.api as smf

    y = c.clr()
    data = c.metadata.copy()
    for col in y.columns:
        smf.ols("y ~ group + age + sex + bmi", data=data.assign(y=y[col].to_numpy())).fit()


def speed(big: bool) -> pd.DataFrame:
    rows = []
    formula = "~ group + age + sex + bmi"
    c = synthetic(1000, 500)
    cases = {
        ("gutlink OLS (+prevalence model)", "1,000 × 500"): lambda: differential.test(c, formula),
        ("gutlink OLS, abundance only", "1,000 × 500"): lambda: differential.test(c, formula, prevalence=False),
        ("statsmodels per-feature OLS loop (MaAsLin2-style)", "1,000 × 500"): lambda: _statsmodels_loop(c),
        ("scikit-bio ancombc", "1,000 × 500"): lambda: m_ancombc(c.with_metadata(c.metadata.assign(z=c.metadata["sex"])), True),
    }
    lmm = synthetic(500, 1000, subjects=100)
    cases[("gutlink random intercept", "500 × 1,000 (100 subjects)")] = \
        lambda: differential.test(lmm, formula, subject="subject", prevalence=False)
    if big:
        large = synthetic(10000, 1000, seed=1)
        cases[("gutlink OLS, abundance only", "10,000 × 1,000")] = \
            lambda: differential.test(large, formula, prevalence=False)
        cases[("gutlink OLS (+prevalence model)", "10,000 × 1,000")] = lambda: differential.test(large, formula)
    for (name, size), fn in cases.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, peak = measure(fn)
        rows.append({"method": name, "samples × features": size, "seconds": round(seconds, 2),
                     "peak traced MiB": round(peak, 1)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- report
def markdown(frame: pd.DataFrame) -> str:
    """A GitHub markdown table (no tabulate dependency)."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def summarise(acc: pd.DataFrame) -> pd.DataFrame:
    ok = acc[acc.get("error").isna()] if "error" in acc.columns else acc
    g = ok.groupby(["confounder", "n_per_group", "lfc", "method"])
    out = g.agg(fdr=("fdp", "mean"), fdr_se=("fdp", "sem"), recall=("recall", "mean"),
                false_per_run=("n_false", "mean"), seconds=("seconds", "mean"), runs=("fdp", "size"))
    return out.round(3).reset_index()


def over_nominal(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Cells whose FDR is above the nominal level by more than two standard errors (or above it at all)."""
    worse = table[table["fdr"] > alpha]
    return worse.assign(beyond_2se=worse["fdr"] - 2 * worse["fdr_se"] > alpha)


def _arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--peer-max-n", type=int, default=50)
    p.add_argument("--sizes", default="20,50,100,200,250")
    p.add_argument("--lfcs", default="1,2,3")
    p.add_argument("--no-big", action="store_true")
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--methods", default=DEFAULT_METHODS)
    p.add_argument("--label", default=None, help="report every method under this name (for a 'before' run)")
    p.add_argument("--csv", default=None, help="also write the raw per-run rows here")
    p.add_argument("--extra-csv", action="append", default=[], help="merge raw rows of another run (e.g. 'before')")
    p.add_argument("--out", default=str(OUT))
    return p.parse_args()


def main() -> None:
    args = _arguments()
    base = healthy_stool()
    sizes = [20, 50] if args.quick else [int(v) for v in args.sizes.split(",")]
    lfcs = [2.0] if args.quick else [float(v) for v in args.lfcs.split(",")]
    repeats = 1 if args.quick else args.repeats
    acc = accuracy(base, sizes, lfcs, repeats, args.methods.split(","), args.peer_max_n, args.label)
    if args.csv:
        acc.to_csv(args.csv, index=False)
    acc = pd.concat([acc, *[pd.read_csv(p) for p in args.extra_csv]], ignore_index=True)
    errors = acc[acc["error"].notna()] if "error" in acc.columns else pd.DataFrame()
    table = summarise(acc)
    text = [(f"# Differential abundance benchmark\n\nData: MetAML healthy stool, {len(base)} subjects × "
            f"{base.shape[1]} species (prevalence ≥ 5 %). Command: `python benchmarks/bench_differential.py "
            f"--repeats {repeats}{' --quick' if args.quick else ''}`; peers run up to n = {args.peer_max_n} per "
            "group.\n"), "## FDR and recall at q < 0.05 (mean over repeats)\n", markdown(table),
            "\n## Cells above the nominal 0.05 (beyond_2se: by more than two standard errors)\n",
            markdown(over_nominal(table))]
    if not args.no_speed:
        text += ["\n## Speed (one process, 2 shared cores)\n", markdown(speed(big=not (args.quick or args.no_big)))]
    if len(errors):
        text += ["\n## Peer failures\n", markdown(errors.groupby("method")["error"].first().reset_index())]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
