"""Implanted-signal DA benchmark on real designs (issue 10): depth imbalance, repeated measures, households.

Run through ``bench_differential.py --design`` (writes benchmarks/results/differential_design.md and the SVG
figures beside it). Known fold changes are implanted into a random tenth of the prevalent taxa (present in
≥ 20 % of the samples; half up, half down, 2^±lfc, in the case samples' compositions before closure), the
counts are drawn again (multinomial), and every method gets the same count table. FDR = mean over data sets
of the false-discovery proportion at q < 0.05 (0 when nothing is called); recall = share of the implanted taxa
called.

(a) **Depth imbalance** — DIABIMMUNE T1D 16S genera (Kostic et al. 2015; 103 samples): random halves of the
    samples, cases resampled at ``ratio`` × the controls' depth (controls ~``depth`` reads, log-normal
    spread 0.3), ratio 1 (balanced) or 3; gutlink with ``abundance_depth`` auto / on / off.
(b) **Repeated measures** — the same table, labels per *subject* (a random half of the 19 infants are cases,
    all their samples carry the implanted change), each sample redrawn at its own real depth; and the iHMP
    prediabetes cohort (Zhou et al. 2020; rarefied 16S genera, 53 adults, ~12 samples each; subjects with
    ≥ 3 samples, at most 6 per subject). gutlink with and without ``subject=``; peers ignore the subject
    except scikit-bio's ``dirmult_lme`` (random intercept per subject).
(c) **Households** — MetAML healthy stool species (one sample per person): each household's two members
    share a real "home" profile (share 0.7 of each member's composition; the rest is the member's own real
    profile), the case member carries the implanted change; pseudo-counts at 20,000–200,000 reads.
    gutlink with ``block='household'`` vs the unpaired analysis; ``predict.cross_validate`` with and without
    the block (AUROC and the within-household discrimination).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gutlink import Cohort, differential, io

ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
T1D = ROOT / "t1d" / "kostic2015_16s_metabolome"
IHMP = ROOT / "host" / "ihmp_t2d_cytokines"
Q = 0.05
Hits = dict[str, set[str]]


# ----------------------------------------------------------------------------- data
def t1d() -> Cohort:
    """DIABIMMUNE 16S genus counts with Subject, Study.Group and Age."""
    meta = io.read_metadata(T1D / "metadata.tsv")
    cohort = io.read(T1D / "genera.counts.tsv")
    return cohort.with_metadata(meta.reindex(cohort.sample_ids)).aggregate("genus")


def ihmp(max_per_subject: int = 6, min_per_subject: int = 3) -> Cohort:
    """iHMP stool 16S genera (rarefied counts) of subjects with ≥ 3 samples, the first 6 by date each."""
    counts = pd.read_csv(IHMP / "stool_16s_data.tsv", sep="\t", index_col=0)
    meta = pd.read_csv(IHMP / "stool_meta_data.tsv", sep="\t", index_col=0, dtype=str)
    meta = meta.loc[meta.index.intersection(counts.index)].sort_values(["SubjectID", "CollectionDate"])
    meta = meta.groupby("SubjectID", group_keys=False).head(max_per_subject)
    meta = meta[meta.groupby("SubjectID")["SubjectID"].transform("size") >= min_per_subject]
    x = counts.loc[meta.index]
    x = x.loc[:, (x > 0).any(axis=0)]
    md = pd.DataFrame({"Subject": meta["SubjectID"].to_numpy()}, index=x.index.astype(str))
    return Cohort(x.to_numpy(dtype=float), metadata=md, units="counts")


def _truth(x: np.ndarray, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    prevalent = np.flatnonzero((x > 0).mean(axis=0) >= 0.2)
    k = max(2, len(prevalent) // 10)
    truth = gen.choice(prevalent, k, replace=False)
    return truth[: k // 2], truth[k // 2:]


def _implanted(p: np.ndarray, case: np.ndarray, up: np.ndarray, down: np.ndarray, lfc: float) -> np.ndarray:
    q = p.copy()
    rows = np.flatnonzero(case)
    q[np.ix_(rows, up)] *= 2.0**lfc
    q[np.ix_(rows, down)] *= 2.0**-lfc
    return q / q.sum(axis=1, keepdims=True)


def depth_data(base: Cohort, lfc: float, ratio: float, seed: int, depth: float) -> tuple[Cohort, set[str]]:
    """(a): random halves, implanted signal, cases resampled at *ratio* × the controls' depth."""
    gen = np.random.default_rng(seed)
    x = base.dense()
    n = x.shape[0]
    case = gen.permutation(np.arange(n) < n // 2)
    up, down = _truth(x, gen)
    p = _implanted(x / x.sum(axis=1, keepdims=True), case, up, down, lfc)
    reads = np.round(depth * np.exp(gen.normal(0, 0.3, n)) * np.where(case, ratio, 1.0)).astype(np.int64)
    counts = gen.multinomial(reads, p).astype(float)
    meta = pd.DataFrame({"group": np.where(case, "B", "A")}, index=base.sample_ids)
    return (Cohort(counts, metadata=meta, taxonomy=base.taxonomy, units="counts"),
            set(base.feature_ids[np.r_[up, down]]))


def repeated_data(base: Cohort, lfc: float, seed: int) -> tuple[Cohort, set[str]]:
    """(b): a random half of the subjects are cases; the change is implanted in all their samples."""
    gen = np.random.default_rng(seed)
    x = base.dense()
    subjects = base.metadata["Subject"].astype(str).to_numpy()
    names = np.unique(subjects)
    cases = set(gen.choice(names, len(names) // 2, replace=False))
    case = np.isin(subjects, list(cases))
    up, down = _truth(x, gen)
    p = _implanted(x / x.sum(axis=1, keepdims=True), case, up, down, lfc)
    counts = gen.multinomial(x.sum(axis=1).astype(np.int64), p).astype(float)
    meta = pd.DataFrame({"group": np.where(case, "B", "A"), "Subject": subjects}, index=base.sample_ids)
    return (Cohort(counts, metadata=meta, taxonomy=base.taxonomy, units="counts"),
            set(base.feature_ids[np.r_[up, down]]))


def household_data(profiles: pd.DataFrame, n: int, lfc: float, seed: int, share: float = 0.7,
                   depth_range: tuple[float, float] = (2e4, 2e5)) -> tuple[Cohort, set[str]]:
    """(c): *n* households of a case and a control sharing a real home profile (rows of *profiles*)."""
    gen = np.random.default_rng(seed)
    x = profiles.to_numpy()
    idx = gen.choice(len(x), size=(n, 3), replace=False)
    home = share * x[idx[:, 0]]
    both = np.vstack([home + (1 - share) * x[idx[:, 1]], home + (1 - share) * x[idx[:, 2]]])  # cases, controls
    case = np.arange(2 * n) < n
    up, down = _truth(both, gen)
    p = _implanted(both / both.sum(axis=1, keepdims=True), case, up, down, lfc)
    reads = np.exp(gen.uniform(*np.log(depth_range), size=2 * n)).astype(np.int64)
    counts = gen.multinomial(reads, p).astype(float)
    keep = counts.sum(axis=0) > 0
    names = profiles.columns[keep]
    meta = pd.DataFrame({"group": np.where(case, "B", "A"), "household": np.tile([f"hh{i}" for i in range(n)], 2)},
                        index=[f"s{i}" for i in range(2 * n)])
    tax = pd.DataFrame({"species": names}, index=names)
    truth = set(profiles.columns[np.r_[up, down]]) & set(names)
    return Cohort(counts[:, keep], metadata=meta, taxonomy=tax, units="counts"), truth


# ----------------------------------------------------------------------------- methods
def gutlink_parts(c: Cohort, **words: Any) -> Hits:
    """Calls of the abundance part (q_value) and of the hurdle model as a whole (q_joint) at q < Q."""
    res = differential.test(c, "~ group", reference={"group": "A"}, **words)
    tab = res.table[res.table["term"] == "group[T.B]"]
    return {"abundance": set(tab.loc[tab["q_value"] < Q, "feature_id"]),
            "joint": set(tab.loc[tab["q_joint"] < Q, "feature_id"])}


def _skbio(c: Cohort, fn: str, **kw: Any) -> set[str]:
    from skbio.stats import composition

    x = pd.DataFrame(c.dense(), index=c.sample_ids, columns=c.feature_ids).astype(int)
    x = x.loc[:, (x > 0).mean(axis=0) >= 0.1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fn == "ancombc":
            res = composition.ancombc(x + 1, c.metadata[["group"]], "group", p_adjust="fdr_bh")
        elif fn == "ancombc2_pc1":
            res = composition.ancombc2(x, c.metadata[["group"]], "group", pseudocount=1, p_adjust="fdr_bh")
        elif fn == "dirmult_ttest":
            res = composition.dirmult_ttest(x, c.metadata["group"], treatment="B", reference="A",
                                            p_adjust="fdr_bh", seed=0)
            return set(res.index[res["qvalue"] < Q])
        else:  # dirmult_lme, random intercept per kw["grouping"]
            res = composition.dirmult_lme(x, c.metadata.assign(_g=kw["grouping"]), "group", grouping="_g",
                                          p_adjust="fdr_bh", seed=0)
    frame = getattr(res, "result", res).reset_index()
    rows = frame[frame["Covariate"].astype(str).str.startswith("group")]
    return set(rows.loc[rows["Signif"].fillna(False).astype(bool), "FeatureID"])


def wilcoxon(c: Cohort) -> set[str]:
    from scipy import stats

    from gutlink.multitest import bh

    x = c.dense()
    keep = (x > 0).mean(axis=0) >= 0.1
    rel = (x / x.sum(axis=1, keepdims=True))[:, keep]
    b = (c.metadata["group"] == "B").to_numpy()
    p = stats.mannwhitneyu(rel[b], rel[~b], axis=0).pvalue
    return set(np.asarray(c.feature_ids)[keep][bh(p) < Q])


PEERS: dict[str, Callable[[Cohort], set[str]]] = {
    "skbio_ancombc": lambda c: _skbio(c, "ancombc"),
    "skbio_ancombc2_pc1": lambda c: _skbio(c, "ancombc2_pc1"),
    "skbio_dirmult_ttest": lambda c: _skbio(c, "dirmult_ttest"),
    "wilcoxon": wilcoxon,
}


def _score(hits: set[str], truth: set[str]) -> dict[str, float]:
    return {"fdp": len(hits - truth) / max(len(hits), 1), "recall": len(hits & truth) / max(len(truth), 1),
            "n_false": len(hits - truth), "n_called": len(hits)}


def _rows(setting: dict[str, Any], method: str, parts: Hits | set[str], truth: set[str],
          seconds: float) -> list[dict[str, Any]]:
    items = parts.items() if isinstance(parts, dict) else [("whole", parts)]
    return [{**setting, "method": method, "part": part, **_score(h, truth), "seconds": seconds} for part, h in items]


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    try:
        return fn(), time.perf_counter() - t0
    except Exception as err:  # noqa: BLE001 - a peer failing is a result to report
        return err, time.perf_counter() - t0


def _run(setting: dict[str, Any], methods: dict[str, Callable[[], Any]], truth: set[str]) -> list[dict[str, Any]]:
    rows = []
    for name, fn in methods.items():
        out, sec = _timed(fn)
        if isinstance(out, Exception):
            rows.append({**setting, "method": name, "part": "whole", "error": f"{type(out).__name__}: {out}"[:150]})
        else:
            rows += _rows(setting, name, out, truth, sec)
    return rows


# ----------------------------------------------------------------------------- scenarios
DEPTH_WORDS = {"auto": None, "on": True, "off": False}


def depth_scenario(repeats: int, peer_repeats: int, lfcs: list[float], depth: float,
                   log: Callable[[str], None]) -> pd.DataFrame:
    base, rows = t1d(), []
    for ratio in (1.0, 3.0):
        for lfc in lfcs:
            for rep in range(repeats):
                c, truth = depth_data(base, lfc, ratio, 100 * rep + int(10 * lfc) + int(ratio), depth)
                methods: dict[str, Callable[[], Any]] = {
                    f"gutlink depth {k}": (lambda v=v, c=c: gutlink_parts(c, abundance_depth=v))
                    for k, v in DEPTH_WORDS.items()}
                if rep < peer_repeats:
                    methods.update({k: (lambda f=f, c=c: f(c)) for k, f in PEERS.items()})
                rows += _run({"scenario": "depth", "ratio": ratio, "lfc": lfc, "repeat": rep}, methods, truth)
            log(f"depth ratio={ratio:g} lfc={lfc:g}")
    return pd.DataFrame(rows)


def repeated_scenario(repeats: int, peer_repeats: int, lfcs: list[float],
                      log: Callable[[str], None]) -> pd.DataFrame:
    rows = []
    for name, base in (("DIABIMMUNE", t1d()), ("iHMP", ihmp())):
        subjects = base.metadata["Subject"].astype(str).to_numpy()
        for lfc in lfcs:
            for rep in range(repeats):
                c, truth = repeated_data(base, lfc, 100 * rep + int(10 * lfc))
                methods: dict[str, Callable[[], Any]] = {
                    "gutlink --subject": lambda c=c: gutlink_parts(c, subject="Subject"),
                    "gutlink (samples independent)": lambda c=c: gutlink_parts(c)}
                if rep < peer_repeats:
                    methods.update({k: (lambda f=f, c=c: f(c)) for k, f in PEERS.items()
                                    if k != "skbio_ancombc2_pc1"})
                    if name == "DIABIMMUNE":  # dirmult_lme fits a statsmodels MixedLM per taxon and draw: slow
                        methods["skbio_dirmult_lme (subject)"] = lambda c=c, s=subjects: _skbio(c, "dirmult_lme",
                                                                                             grouping=s)
                rows += _run({"scenario": "repeated", "data": name, "lfc": lfc, "repeat": rep}, methods, truth)
            log(f"repeated {name} lfc={lfc:g}")
    return pd.DataFrame(rows)


def household_scenario(repeats: int, lfcs: list[float], n: int, predict_repeats: int,
                       log: Callable[[str], None]) -> tuple[pd.DataFrame, pd.DataFrame]:
    from bench_differential import healthy_stool

    from gutlink.predict import cross_validate

    profiles, rows, pred = healthy_stool(), [], []
    for lfc in [0.0, *lfcs]:
        for rep in range(repeats):
            c, truth = household_data(profiles, n, lfc, 100 * rep + int(10 * lfc))
            methods: dict[str, Callable[[], Any]] = {
                "gutlink block=household": lambda c=c: gutlink_parts(c, block="household"),
                "gutlink unpaired": lambda c=c: gutlink_parts(c)}
            rows += _run({"scenario": "household", "lfc": lfc, "repeat": rep}, methods, truth)
            if rep < predict_repeats:
                for block in ("household", None):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        res = cross_validate(c, group="group", case="B", control="A", block=block, n_repeats=1,
                                             n_folds=5, rng=rep)
                    wb = res.within_block or {}
                    pred.append({"lfc": lfc, "repeat": rep, "block": block or "none", "auroc": res.auroc,
                                 "within_household": wb.get("fraction_case_higher", np.nan),
                                 "within_ci_low": wb.get("ci_low", np.nan)})
        log(f"households lfc={lfc:g}")
    return pd.DataFrame(rows), pd.DataFrame(pred)


# ----------------------------------------------------------------------------- summaries
def summarise(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    ok = frame[frame["error"].isna()] if "error" in frame.columns else frame
    g = ok.groupby([*keys, "method", "part"], sort=False)
    out = g.agg(fdr=("fdp", "mean"), fdr_se=("fdp", "sem"), recall=("recall", "mean"),
                false_per_run=("n_false", "mean"), called_per_run=("n_called", "mean"),
                seconds=("seconds", "mean"), runs=("fdp", "size"))
    return out.round(3).reset_index()


def markdown(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _cell(t: pd.DataFrame) -> pd.Series:
    return t["fdr"].map(lambda v: f"{v:.2f}") + " / " + t["recall"].map(lambda v: f"{v:.2f}")


def wide(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Method (and part) × setting: 'FDR / recall' per cell."""
    t = table.copy()
    t["setting"] = t[keys].astype(str).agg(" ".join, axis=1) if len(keys) > 1 else t[keys[0]].astype(str)
    t["cell"] = _cell(t)
    t["row"] = t["method"] + np.where(t["part"] == "whole", "", " · " + t["part"])
    order = list(dict.fromkeys(t["setting"]))
    rows = list(dict.fromkeys(t["row"]))
    return t.pivot(index="row", columns="setting", values="cell").loc[rows, order].fillna("·").reset_index()


# ----------------------------------------------------------------------------- figures (small SVGs)
def _svg(fig: Any, path: Path) -> None:
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = "gutlink"
    fig.savefig(path, format="svg", metadata={"Date": None}, bbox_inches="tight")


def _bars(ax: Any, labels: list[str], series: dict[str, list[float]], nominal: float | None, title: str) -> None:
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        ax.bar(np.arange(len(labels)) + (i - (len(series) - 1) / 2) * width, values, width, label=name)
    if nominal is not None:
        ax.axhline(nominal, color="k", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(labels)), labels, fontsize=7)
    ax.set_title(title, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)


def depth_figure(table: pd.DataFrame, path: Path, lfc: float) -> None:
    import matplotlib.pyplot as plt

    t = table[(table["lfc"] == lfc) & table["method"].str.startswith("gutlink")]
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.4))
    labels = [f"{p}, {r:g}× depth" for p in ("abundance", "joint") for r in (1.0, 3.0)]
    for ax, what, nominal in ((axes[0], "fdr", Q), (axes[1], "recall", None)):
        series = {}
        for k in DEPTH_WORDS:
            sub = t[t["method"] == f"gutlink depth {k}"].set_index(["part", "ratio"])[what]
            series[k] = [float(sub.get((p, r), np.nan)) for p in ("abundance", "joint") for r in (1.0, 3.0)]
        _bars(ax, labels, series, nominal, f"{'FDR (dashed: nominal 0.05)' if what == 'fdr' else 'recall'}"
              f" — implanted 2^±{lfc:g}")
        ax.tick_params(axis="x", rotation=30)
    axes[0].legend(title="abundance_depth", fontsize=6, title_fontsize=6)
    _svg(fig, path)
    plt.close(fig)


def repeated_figure(table: pd.DataFrame, path: Path, lfc: float) -> None:
    import matplotlib.pyplot as plt

    t = table[table["lfc"] == lfc].copy()
    t["row"] = t["method"] + np.where(t["part"] == "whole", "", " · " + t["part"])
    t = t[~t["row"].str.endswith("· abundance")]
    data = list(dict.fromkeys(t["data"]))
    rows = list(dict.fromkeys(t["row"]))
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.6))
    for ax, what, nominal in ((axes[0], "fdr", Q), (axes[1], "recall", None)):
        series = {d: [float(t[(t["data"] == d) & (t["row"] == r)][what].mean()) for r in rows] for d in data}
        _bars(ax, [r.replace("gutlink ", "gutlink\n").replace(" · joint", "").replace("skbio_", "")
                   for r in rows], series, nominal, f"{what.upper() if what == 'fdr' else what} — subject-level "
              f"2^±{lfc:g}")
        ax.tick_params(axis="x", rotation=45)
    axes[0].legend(fontsize=6)
    _svg(fig, path)
    plt.close(fig)


def household_figure(table: pd.DataFrame, path: Path) -> None:
    import matplotlib.pyplot as plt

    t = table[table["part"] == "joint"]
    lfcs = sorted(set(t["lfc"]))
    fig, axes = plt.subplots(1, 2, figsize=(5.2, 2.3))
    for ax, what, nominal in ((axes[0], "fdr", Q), (axes[1], "recall", None)):
        series = {m.replace("gutlink ", ""): [float(t[(t["method"] == m) & (t["lfc"] == v)][what].mean())
                                              for v in lfcs] for m in dict.fromkeys(t["method"])}
        _bars(ax, [f"2^±{v:g}" if v else "none" for v in lfcs], series, nominal,
              f"{'FDR' if what == 'fdr' else 'recall'} (joint), households")
    axes[1].legend(fontsize=6)
    _svg(fig, path)
    plt.close(fig)


# ----------------------------------------------------------------------------- the results file
RESULTS = Path(__file__).resolve().parent / "results"


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def design_main(args: Any) -> None:
    """Run the three scenarios and write differential_design.md and its figures."""
    import sys

    from _results import write_results

    lfcs = [float(v) for v in args.lfcs.split(",")]
    repeats = 1 if args.quick else args.repeats
    peer_repeats = min(args.peer_repeats, repeats)
    t0 = time.perf_counter()
    depth = depth_scenario(repeats, peer_repeats, lfcs, args.design_depth, _log)
    t_depth = time.perf_counter() - t0
    rep = repeated_scenario(repeats, peer_repeats, lfcs, _log)
    t_rep = time.perf_counter() - t0 - t_depth
    house, pred = household_scenario(repeats, lfcs, args.households, min(args.predict_repeats, repeats), _log)
    t_house = time.perf_counter() - t0 - t_depth - t_rep
    for name, frame in (("depth", depth), ("repeated", rep), ("household", house), ("household_predict", pred)):
        if args.csv:
            frame.to_csv(f"{args.csv}.{name}.csv", index=False)
    d_tab, r_tab = summarise(depth, ["ratio", "lfc"]), summarise(rep, ["data", "lfc"])
    h_tab = summarise(house, ["lfc"])
    top = max(lfcs)
    figs = {"depth": RESULTS / "differential_design_depth.svg", "repeated": RESULTS / "differential_design_repeated.svg",
            "household": RESULTS / "differential_design_households.svg"}
    depth_figure(d_tab, figs["depth"], 2.0 if 2.0 in lfcs else min(lfcs))
    repeated_figure(r_tab, figs["repeated"], top)
    household_figure(h_tab, figs["household"])
    argv = " ".join(a for a in sys.argv[1:] if not a.startswith("--out"))
    failed = [f[f["error"].notna()] for f in (depth, rep, house) if "error" in f.columns]
    errors = pd.concat(failed) if failed else pd.DataFrame()
    ptab = pred.groupby(["lfc", "block"]).agg(auroc=("auroc", "mean"), within_household=("within_household", "mean"),
                                              within_ci_low_above_half=("within_ci_low", lambda v: float((v > 0.5)
                                                                                                          .mean())),
                                              runs=("auroc", "size")).round(3).reset_index() if len(pred) else pred
    text = [
        "# Differential abundance on real designs: depth imbalance, repeated measures, households\n",
        f"Command: `python benchmarks/bench_differential.py {argv}` ({(time.perf_counter() - t0) / 60:.1f} min on "
        "2 shared cores). Code: `benchmarks/differential_design.py` (its docstring describes the data and the "
        "implantation). Cells: **FDR / recall** at q < 0.05 (FDR = mean false-discovery proportion over data "
        "sets; nominal 0.05). `· abundance` = the abundance-where-present part (`q_value`), `· joint` = the "
        "hurdle model as a whole (`q_joint`, abundance and presence). Peers ran on the first "
        f"{peer_repeats} data sets of each cell; R, LEfSe and biotapy peers are not installed here.\n",
        f"## (a) Depth imbalance — DIABIMMUNE 16S genera, random halves, controls ~{args.design_depth:,.0f} reads, "
        f"cases at 1× or 3× ({t_depth / 60:.1f} min)\n",
        "![depth](differential_design_depth.svg)\n", markdown(wide(d_tab, ["ratio", "lfc"]).rename(
            columns=lambda c: c if c == "row" else f"depth {c.split()[0][:-2]}×, lfc {c.split()[1]}")),
        f"\n## (b) Repeated measures — labels per subject ({t_rep / 60:.1f} min)\n",
        "DIABIMMUNE: 103 samples of 19 infants (a random 9 are cases); iHMP: subjects with ≥ 3 samples, at most 6 "
        "each. `--subject`: random intercept per subject (abundance) and presence clustered on the subject.\n",
        "![repeated](differential_design_repeated.svg)\n", markdown(wide(r_tab, ["data", "lfc"])),
        f"\n## (c) Households — {args.households} case–control pairs sharing a home profile ({t_house / 60:.1f} "
        "min)\n", "`lfc 0.0`: no implanted change (every call false).\n",
        "![households](differential_design_households.svg)\n", markdown(wide(h_tab, ["lfc"])),
        "\nPrediction (lasso, 5-fold CV, 1 repeat) on the first data sets: AUROC of the usual CV and the "
        "within-household discrimination (share of households where the case scores higher; "
        "`within_ci_low_above_half` = share of data sets whose 95 % CI lies above 0.5).\n",
        markdown(ptab) if len(ptab) else "(not run)",
        "\n## Every cell\n", markdown(pd.concat([d_tab.assign(scenario="depth"), r_tab.assign(scenario="repeated"),
                                                 h_tab.assign(scenario="household")], ignore_index=True)),
    ]
    if len(errors):
        text += ["\n## Method failures\n", markdown(errors.groupby("method").agg(runs=("error", "size"),
                                                                              first=("error", "first")).reset_index())]
    write_results(RESULTS / "differential_design.md", "\n".join(text) + "\n")
    print("\n".join(text))
