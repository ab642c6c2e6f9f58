"""Differential abundance benchmark: signal implantation on real healthy stool samples, peers side by side, speed.

Accuracy: healthy stool samples of MetAML (``disease == 'n'``, one per subject; Pasolli et al. 2016) are split at
random into two pseudo-groups (A, B). Two kinds of implanted signal (Wirbel et al. 2024's implantation idea: the
rest of the real structure is left intact):

* ``abundance``: a tenth of the prevalent species (present in ≥ 20 % of the drawn samples) get their abundance
  multiplied by 2**lfc (half up, half down) in group B;
* ``prevalence``: a tenth of the prevalent species are *lost* in group B: each is set to zero in a fraction
  ``loss`` (0.5 or 0.8) of the B samples where it is present; its abundance elsewhere is untouched.

Optionally a binary confounder correlated with the group (75 % vs 25 %) multiplies another tenth of the species
by 2**±lfc (lfc = 2 in the prevalence setting); methods whose model takes covariates adjust for it. FDR = mean over
repeats of the false-discovery proportion (false discoveries / discoveries at q < 0.05, 0 when none; ``fdr_se`` its
standard error); recall = implanted species found. 566 subjects allow at most 283 per group.

Counts: the MetAML table is relative abundance (MetaPhlAn2), and most peers want counts, so every sample is
turned into pseudo-counts — its fractions × a per-sample depth drawn log-uniformly between 20,000 and 200,000,
rounded — and *every* method (gutlink included) gets the same count table; species below 10 % prevalence in the
drawn samples are dropped for every method (gutlink's own ``min_prevalence=0.1``).

Peers: scikit-bio 0.7.4 (ancombc, ancombc2, dirmult_ttest, dirmult_lme, ancom), PyDESeq2, Wilcoxon on relative
abundance, LEfSe (PyPI ``lefse`` in its own venv, ``--lefse-python``), biotapy's LinDA (Python ≥ 3.12, its own
venv, ``--biotapy-python``) and R through ``benchmarks/peers_r.R`` (DESeq2, edgeR, limma-voom, metagenomeSeq),
kept running as one R process per benchmark run so that each call does not pay R's start-up (timed separately).
The two venvs default to /tmp/lefsevenv and /tmp/biotapyvenv312 (``GUTLINK_LEFSE_PYTHON``,
``GUTLINK_BIOTAPY_PYTHON``; set-up commands in benchmarks/results/differential.md); a peer that cannot run is
reported under "Peer failures".

Real data (``--real``): IBD (UC + CD) vs healthy in MetAML's metahit cohort, one sample per subject: how many
species each method calls, and the calls on a few taxa with an expected direction.

Speed: synthetic log-normal Poisson counts (samples × features, 3 covariates), time and peak traced memory.

Real designs (``--design``, code in ``benchmarks/differential_design.py``; writes
benchmarks/results/differential_design.md and ``differential_design_*.svg``): implanted signal with a 3× depth
imbalance between the groups (gutlink ``abundance_depth`` auto / on / off), with repeated measures (labels per
subject; with and without ``subject=``) and in case–control households (``block=`` vs unpaired), on DIABIMMUNE,
iHMP and MetAML tables, beside the scikit-bio peers and Wilcoxon (the R, LEfSe and biotapy peers need their own
set-up, see below)::

    python benchmarks/bench_differential.py --design --repeats 20 --peer-repeats 10

Run (writes benchmarks/results/differential.md)::

    python benchmarks/bench_differential.py --repeats 20 --peer-repeats 10 --peer-max-n 100 --real
    # the results file was assembled from separate runs merged with --extra-csv (commands in the file)
    python benchmarks/bench_differential.py --quick      # a smoke run

The "before" rows of older results files came from the code before the hurdle model (a copy of ``src/gutlink``
at that state on ``PYTHONPATH``), run with the same seeds and merged in with ``--label``, ``--csv`` and
``--extra-csv``.
"""

from __future__ import annotations

import argparse
import atexit
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _results import write_results
from scipy import stats

from gutlink import Cohort, differential
from gutlink.differential._linmod import mode_weights, precision_weights, t_test
from gutlink.multitest import bh

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data" / "ibd" / "metaml" / "abundance.txt.bz2"
OUT = HERE / "results" / "differential.md"
PEERS_R = HERE / "peers_r.R"
LEFSE_PYTHON = os.environ.get("GUTLINK_LEFSE_PYTHON", "/tmp/lefsevenv/bin/python")
BIOTAPY_PYTHON = os.environ.get("GUTLINK_BIOTAPY_PYTHON", "/tmp/biotapyvenv312/bin/python")
DEPTH_RANGE = (2e4, 2e5)
MIN_PREV = 0.1


# ----------------------------------------------------------------------------- data
def _metaml() -> tuple[pd.DataFrame, pd.DataFrame]:
    """MetAML metadata (samples × fields, with ``dataset``) and species fractions (samples × species)."""
    raw = pd.read_csv(DATA, sep="\t", index_col=0, dtype=str, low_memory=False)
    meta = raw.loc[[i for i in raw.index if not i.startswith("k__")]].T
    meta["dataset"] = [c.split(".")[0] for c in meta.index]
    species = raw.loc[[i for i in raw.index if "s__" in i and "t__" not in i]].astype(float).T
    species.columns = [c.split("|s__")[-1] for c in species.columns]
    return meta, species


def healthy_stool() -> pd.DataFrame:
    """MetAML healthy stool samples (one per subject) × species, as fractions."""
    meta, species = _metaml()
    keep = (meta["disease"] == "n") & (meta["bodysite"] == "stool")
    keep &= ~meta["subjectID"].duplicated()
    species = species.loc[keep[keep].index]
    species = species.loc[:, (species > 0).mean() >= 0.05]
    return species.div(species.sum(axis=1), axis=0)


def pseudo_counts(frac: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    """Fractions × a per-sample depth, log-uniform in DEPTH_RANGE, rounded (the smallest fractions become zero)."""
    depth = np.exp(gen.uniform(*np.log(DEPTH_RANGE), size=len(frac)))
    return np.round(frac / frac.sum(axis=1, keepdims=True) * depth[:, None])


def _cohort(counts: np.ndarray, meta: pd.DataFrame, names: pd.Index) -> Cohort:
    keep = (counts > 0).mean(axis=0) >= MIN_PREV
    tax = pd.DataFrame({"species": names[keep]}, index=names[keep])
    return Cohort(counts[:, keep], metadata=meta, taxonomy=tax, units="counts")


def implant(base: pd.DataFrame, n: int, effect: float, seed: int, confounder: bool,
            shift: str = "abundance") -> tuple[Cohort, set[str]]:
    """Two pseudo-groups of *n* with implanted differences; *effect* is the lfc, or the loss fraction."""
    gen = np.random.default_rng(seed)
    x = base.iloc[gen.choice(len(base), 2 * n, replace=False)].to_numpy().copy()
    group = np.repeat([0, 1], n)
    prevalent = np.flatnonzero((x > 0).mean(axis=0) >= 0.2)
    k = max(2, len(prevalent) // 10)
    picked = gen.choice(prevalent, 2 * k if confounder else k, replace=False)
    truth, confounded = picked[:k], picked[k:]
    if shift == "abundance":
        fold = np.ones(x.shape[1])
        fold[truth[: k // 2]], fold[truth[k // 2:]] = 2.0**effect, 2.0**-effect
        x[group == 1] *= fold
        zlfc = effect
    else:  # prevalence: taxon lost from a fraction *effect* of the B samples where it is present
        b = np.flatnonzero(group == 1)
        for j in truth:
            present = b[x[b, j] > 0]
            lost = gen.choice(present, int(round(effect * len(present))), replace=False)
            x[lost, j] = 0.0
        zlfc = 2.0
    z = (gen.random(2 * n) < np.where(group == 1, 0.75, 0.25)).astype(int) if confounder else gen.integers(0, 2, 2 * n)
    if confounder:
        zfold = np.ones(x.shape[1])
        zfold[confounded] = 2.0 ** (zlfc * np.where(np.arange(len(confounded)) % 2 == 0, 1, -1))
        x[z == 1] *= zfold
    counts = pseudo_counts(x, gen)
    meta = pd.DataFrame({"group": np.where(group == 1, "B", "A"), "z": np.where(z == 1, "yes", "no")},
                        index=[f"s{i}" for i in range(2 * n)])
    return _cohort(counts, meta, base.columns), set(base.columns[truth])


def ibd_metahit() -> Cohort:
    """MetAML metahit: IBD (UC + CD) = group B vs healthy (``n``) = A, one sample per subject, pseudo-counts."""
    meta, species = _metaml()
    sel = meta[(meta["dataset"] == "metahit")
               & meta["disease"].isin(["n", "ibd_ulcerative_colitis", "ibd_crohn_disease"])]
    ids = sel.index[~sel["subjectID"].duplicated()]  # within metahit (its subjects recur in other MetAML sets)
    frac = species.loc[ids]
    frac = frac.loc[:, frac.sum() > 0]
    counts = pseudo_counts(frac.to_numpy(), np.random.default_rng(2024))
    md = pd.DataFrame({"group": np.where(meta.loc[ids, "disease"] == "n", "A", "B")}, index=ids)
    return _cohort(counts, md, frac.columns)


# ----------------------------------------------------------------------------- methods
# Each returns a frame indexed by feature: ``hit`` (called at q < 0.05 by the method's own rule) and ``effect``
# (its sign: higher in B when positive; NaN when the method reports no direction).
def _frame(features: Any, hit: Any, effect: Any) -> pd.DataFrame:
    return pd.DataFrame({"hit": np.asarray(hit, dtype=bool), "effect": np.asarray(effect, dtype=float)},
                        index=pd.Index(list(features), name="feature"))


def _counts(c: Cohort) -> pd.DataFrame:
    return pd.DataFrame(c.dense(), index=c.sample_ids, columns=c.feature_ids).astype(int)


def _design(c: Cohort, adjust: bool) -> pd.DataFrame:
    return c.metadata[["group", "z"]] if adjust and "z" in c.metadata else c.metadata[["group"]]


def _gutlink(c: Cohort, adjust: bool, **kw: Any):
    return differential.test(c, "~ group + z" if adjust else "~ group", reference={"group": "A"},
                             min_prevalence=MIN_PREV, **kw)


def m_gutlink(c: Cohort, adjust: bool) -> pd.DataFrame:
    """The default: hurdle model's abundance part (where present, zero-free reference), bias-corrected SE."""
    tab = _gutlink(c, adjust, prevalence=False).table
    tab = tab[tab["term"] == "group[T.B]"]
    return _frame(tab["feature_id"], tab["q_value"] < 0.05, tab["effect"])


def m_gutlink_joint(c: Cohort, adjust: bool) -> pd.DataFrame:
    """The hurdle model as a whole: ``q_joint`` (Šidák of the abundance and Firth prevalence p-values, then BH)."""
    res = _gutlink(c, adjust, prevalence=True)
    tab = res.table[res.table["term"] == "group[T.B]"].set_index("feature_id")
    prev = res.prevalence[res.prevalence["term"] == "group[T.B]"].set_index("feature_id")["effect"]
    prev = prev.reindex(tab.index)
    use_prev = ~(tab["p_value"] <= tab["p_value_prevalence"])  # the direction of the smaller p
    effect = np.where(use_prev, prev, tab["effect"])
    return _frame(tab.index, tab["q_joint"] < 0.05, effect)


def m_gutlink_floored(c: Cohort, adjust: bool) -> pd.DataFrame:
    """Every sample modelled, zeros floored in the normalised space (``zeros="adaptive"``)."""
    tab = _gutlink(c, adjust, prevalence=False, zeros="adaptive").table
    tab = tab[tab["term"] == "group[T.B]"]
    return _frame(tab["feature_id"], tab["q_value"] < 0.05, tab["effect"])


def m_linda_plain_se(c: Cohort, adjust: bool) -> pd.DataFrame:
    """LinDA-like: zeros floored, the mode removed, but the SE of the uncorrected coefficient."""
    tab = _gutlink(c, adjust, prevalence=False, bias_correction=False, zeros="adaptive").table
    tab = tab[tab["term"] == "group[T.B]"]
    raw, se = tab["effect"].to_numpy(), tab["se"].to_numpy()
    b, _ = mode_weights(raw, precision_weights(se))
    q = bh(t_test(raw - b, se, tab["df"].to_numpy())[1])
    return _frame(tab["feature_id"], q < 0.05, raw - b)


def m_wilcoxon(c: Cohort, adjust: bool) -> pd.DataFrame:
    rel = c.relative()
    b = (c.metadata["group"] == "B").to_numpy()
    p = stats.mannwhitneyu(rel[b], rel[~b], axis=0).pvalue
    return _frame(c.feature_ids, bh(p) < 0.05, np.median(rel[b], axis=0) - np.median(rel[~b], axis=0)
                  + 1e-12 * (rel[b].mean(axis=0) - rel[~b].mean(axis=0)))


def _skbio_rows(res: Any, features: Any) -> pd.DataFrame:
    frame = getattr(res, "result", res).reset_index()
    rows = frame[frame["Covariate"].astype(str).str.startswith("group")].set_index("FeatureID")
    rows = rows.reindex(list(features))
    lfc = rows["Log(FC)"] if "Log(FC)" in rows else rows["Log2(FC)"]
    return _frame(rows.index, rows["Signif"].fillna(False).astype(bool), lfc)


def m_ancombc(c: Cohort, adjust: bool) -> pd.DataFrame:
    from skbio.stats.composition import ancombc

    x = _counts(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ancombc(x + 1, _design(c, adjust), "group + z" if adjust else "group", p_adjust="fdr_bh")
    return _skbio_rows(res, x.columns)


def m_ancombc2(c: Cohort, adjust: bool, pseudocount: float = 0) -> pd.DataFrame:
    """skbio's ancombc2 with its defaults (pseudocount 0). R's ancombc2 also runs a pseudo-count sensitivity
    analysis (``pseudo_sens``) that skbio leaves to the user; not emulated here."""
    from skbio.stats.composition import ancombc2

    x = _counts(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ancombc2(x, _design(c, adjust), "group + z" if adjust else "group", pseudocount=pseudocount,
                       p_adjust="fdr_bh")
    return _skbio_rows(res, x.columns)


def m_ancombc2_pc1(c: Cohort, adjust: bool) -> pd.DataFrame:
    """skbio's ancombc2 with a pseudocount of 1."""
    return m_ancombc2(c, adjust, pseudocount=1)


def m_dirmult(c: Cohort, adjust: bool) -> pd.DataFrame:
    from skbio.stats.composition import dirmult_ttest

    x = _counts(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = dirmult_ttest(x, c.metadata["group"], treatment="B", reference="A", p_adjust="fdr_bh", seed=0)
    res = res.reindex(x.columns)
    return _frame(res.index, res["qvalue"] < 0.05, res["Log2(FC)"])


def m_dirmult_lme(c: Cohort, adjust: bool) -> pd.DataFrame:
    """dirmult_lme needs a grouping for its random intercept; one sample per subject here, so each sample is its
    own group (the fixed-effect inference is then that of OLS on each draw's CLR, with the confounder)."""
    from skbio.stats.composition import dirmult_lme

    x = _counts(c)
    md = _design(c, adjust).assign(sample=c.sample_ids)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = dirmult_lme(x, md, "group + z" if adjust else "group", grouping="sample", p_adjust="fdr_bh", seed=0)
    return _skbio_rows(res, x.columns)


def m_ancom(c: Cohort, adjust: bool) -> pd.DataFrame:
    """ANCOM (pseudo-count 1; BH over each feature's pairwise tests; W rule): no covariates, no direction of its
    own, so the direction is the difference in mean CLR."""
    from skbio.stats.composition import ancom, clr

    x = _counts(c) + 1
    b = (c.metadata["group"] == "B").to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ancom(x, c.metadata["group"], p_adjust="fdr_bh")[0].reindex(x.columns)
    y = clr(x.to_numpy())
    return _frame(res.index, res["Signif"], y[b].mean(axis=0) - y[~b].mean(axis=0))


def m_pydeseq2(c: Cohort, adjust: bool) -> pd.DataFrame:
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    x = _counts(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dds = DeseqDataSet(counts=x, metadata=_design(c, adjust), design="~ z + group" if adjust else "~ group",
                           size_factors_fit_type="poscounts", inference=DefaultInference(n_cpus=1), quiet=True)
        dds.deseq2()
        st = DeseqStats(dds, contrast=["group", "B", "A"], independent_filter=False,
                        inference=DefaultInference(n_cpus=1), quiet=True)
        st.summary()
    r = st.results_df.reindex(x.columns)
    return _frame(r.index, bh(r["pvalue"].to_numpy()) < 0.05, r["log2FoldChange"])


# ----------------------------------------------------------------------------- peers outside this environment
STARTUP: dict[str, float] = {}  # seconds from launching a peer's process to its being ready


class _Worker:
    """A peer process kept running: one request line in, one answer line ("ok …" / "error …") out."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name, self.argv, self.proc = name, argv, None

    def ask(self, line: str) -> str:
        if self.proc is None:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, bufsize=1)
            atexit.register(self.close)
            self._answer("ready")
            STARTUP[self.name] = time.perf_counter() - t0
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._answer("ok", "error")

    def _answer(self, *prefixes: str) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            out = self.proc.stdout.readline()
            if not out:
                raise RuntimeError(f"{self.name} process ended")
            if out.startswith(prefixes):
                if out.startswith("error"):
                    raise RuntimeError(out.strip()[:200])
                return out

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


R_WORKER = _Worker("R (DESeq2, edgeR, limma, metagenomeSeq loaded)", ["Rscript", str(PEERS_R), "--serve"])

_BIOTAPY_SERVER = r"""
import sys, time
t0 = time.perf_counter()
import anndata, pandas as pd, biotapy as bt
print("ready", time.perf_counter() - t0, flush=True)
for line in sys.stdin:
    counts, meta, out = line.rstrip("\n").split("\t")
    try:
        x = pd.read_csv(counts, sep="\t", index_col=0)
        md = pd.read_csv(meta, sep="\t", index_col=0, dtype=str).loc[x.index]
        ad = anndata.AnnData(X=x.to_numpy(dtype=float), obs=md, var=pd.DataFrame(index=x.columns.astype(str)))
        res = bt.da.linda(ad, "group", covariates=[c for c in ("z",) if c in md.columns], reference="A")
        res.to_csv(out, sep="\t")
        print("ok", flush=True)
    except Exception as err:
        print("error", type(err).__name__, str(err).replace("\n", " ")[:150], flush=True)
"""
BIOTAPY_WORKER = _Worker("biotapy (Python 3.12 venv)", [BIOTAPY_PYTHON, "-c", _BIOTAPY_SERVER])


def _write_inputs(c: Cohort, adjust: bool, folder: str) -> tuple[str, str]:
    counts, meta = os.path.join(folder, "counts.tsv"), os.path.join(folder, "meta.tsv")
    _counts(c).to_csv(counts, sep="\t")
    _design(c, adjust).to_csv(meta, sep="\t")
    return counts, meta


def _r_method(method: str) -> Callable[[Cohort, bool], pd.DataFrame]:
    def run(c: Cohort, adjust: bool) -> pd.DataFrame:
        with tempfile.TemporaryDirectory() as tmp:
            counts, meta = _write_inputs(c, adjust, tmp)
            out = os.path.join(tmp, "out.tsv")
            R_WORKER.ask("\t".join([method, counts, meta, out]))
            r = pd.read_csv(out, sep="\t", index_col=0).reindex(c.feature_ids)
        return _frame(r.index, r["q_value"] < 0.05, r["effect"])
    run.__doc__ = f"R {method} through benchmarks/peers_r.R"
    return run


def m_biotapy_linda(c: Cohort, adjust: bool) -> pd.DataFrame:
    """biotapy.da.linda (a port of MicrobiomeStat::linda without winsorisation), in its own Python 3.12 venv."""
    with tempfile.TemporaryDirectory() as tmp:
        counts, meta = _write_inputs(c, adjust, tmp)
        out = os.path.join(tmp, "out.tsv")
        BIOTAPY_WORKER.ask("\t".join([counts, meta, out]))
        r = pd.read_csv(out, sep="\t", index_col=0).reindex(c.feature_ids)
    return _frame(r.index, r["qvalue"] < 0.05, r["effect"])


def m_lefse(c: Cohort, adjust: bool) -> pd.DataFrame:
    """LEfSe 1.1.2 defaults (Kruskal-Wallis p < 0.05, no multiple-testing correction, LDA > 2), run as its two
    command-line steps (each start-up — Python, rpy2, R — is in the time). No covariates."""
    bindir = Path(LEFSE_PYTHON).parent
    rel = c.relative()
    ids = [f"f{j}" for j in range(c.n_features)]
    with tempfile.TemporaryDirectory() as tmp:
        table = pd.DataFrame(rel.T, index=ids, columns=c.sample_ids)
        head = pd.DataFrame([c.metadata["group"].to_numpy(), list(c.sample_ids)], index=["class", "subject"],
                            columns=c.sample_ids)
        pd.concat([head, table.astype(object)]).to_csv(f"{tmp}/in.txt", sep="\t", header=False)
        for argv in ([str(bindir / "lefse_format_input.py"), f"{tmp}/in.txt", f"{tmp}/in.lefse", "-c", "1", "-u", "2",
                      "-o", "1000000"], [str(bindir / "lefse_run.py"), f"{tmp}/in.lefse", f"{tmp}/out.res"]):
            subprocess.run([LEFSE_PYTHON, *argv], check=True, capture_output=True, timeout=600)
        res = pd.read_csv(f"{tmp}/out.res", sep="\t", header=None, index_col=0, dtype=str).reindex(ids)
    cls = res[2].fillna("")
    return _frame(c.feature_ids, cls.isin(["A", "B"]).to_numpy(), np.where(cls == "B", 1.0, np.where(cls == "A", -1.0,
                                                                                                     np.nan)))


METHODS: dict[str, Callable[[Cohort, bool], pd.DataFrame]] = {
    "gutlink": m_gutlink, "gutlink_joint": m_gutlink_joint, "gutlink_floored": m_gutlink_floored,
    "linda_plain_se": m_linda_plain_se, "wilcoxon": m_wilcoxon,
    "skbio_ancombc": m_ancombc, "skbio_ancombc2": m_ancombc2, "skbio_ancombc2_pc1": m_ancombc2_pc1,
    "skbio_dirmult_ttest": m_dirmult, "skbio_dirmult_lme": m_dirmult_lme, "skbio_ancom": m_ancom, "pydeseq2": m_pydeseq2,
    "biotapy_linda": m_biotapy_linda, "lefse": m_lefse,
    "r_deseq2": _r_method("deseq2"), "r_edger": _r_method("edger"), "r_limma_voom": _r_method("limma_voom"),
    "r_metagenomeseq_ffm": _r_method("metagenomeseq"), "r_metagenomeseq_zig": _r_method("metagenomeseq_zig"),
}
# methods whose model takes the confounder (the others run unadjusted in the confounded settings)
ADJUSTS = {"gutlink", "gutlink_joint", "gutlink_floored", "linda_plain_se", "skbio_ancombc", "skbio_ancombc2",
           "skbio_ancombc2_pc1",
           "skbio_dirmult_lme", "pydeseq2", "biotapy_linda", "r_deseq2", "r_edger", "r_limma_voom",
           "r_metagenomeseq_zig"}
OURS = {"gutlink", "gutlink_joint", "gutlink_floored", "linda_plain_se", "wilcoxon"}  # fast enough for every n
DEFAULT_METHODS = ("gutlink,gutlink_joint,wilcoxon,skbio_ancombc,skbio_ancombc2,skbio_ancombc2_pc1,skbio_dirmult_ttest,"
                   "skbio_dirmult_lme,skbio_ancom,pydeseq2,biotapy_linda,lefse,r_deseq2,r_edger,r_limma_voom,"
                   "r_metagenomeseq_ffm,r_metagenomeseq_zig")


# ----------------------------------------------------------------------------- accuracy
def _one(name: str, c: Cohort, truth: set[str], confounder: bool) -> dict[str, Any]:
    started = sum(STARTUP.values())
    t0 = time.perf_counter()
    try:
        res = METHODS[name](c, confounder)
    except Exception as err:  # noqa: BLE001 - a peer failing is a result to report, not a crash
        return {"error": f"{type(err).__name__}: {err}"[:160]}
    seconds = time.perf_counter() - t0 - (sum(STARTUP.values()) - started)  # a worker's start-up is timed apart
    hits = set(res.index[res["hit"]])
    return {"fdp": len(hits - truth) / max(len(hits), 1), "recall": len(hits & truth) / len(truth),
            "n_false": len(hits - truth), "seconds": seconds}


def accuracy(base: pd.DataFrame, sizes: list[int], effects: dict[str, list[float]], repeats: int, methods: list[str],
             peer_max_n: int, peer_repeats: int, label: str | None = None, log: bool = False,
             partial: str | None = None, start: int = 0) -> pd.DataFrame:
    rows = []
    for shift, levels in effects.items():
        for confounder in (False, True):
            for n in sizes:
                for effect in levels:
                    t_cell = time.perf_counter()
                    for rep in range(start, repeats):
                        c, truth = implant(base, n, effect, seed=1000 * n + 10 * rep + int(effect * 3),
                                           confounder=confounder, shift=shift)
                        for name in methods:
                            if name not in OURS and (n > peer_max_n or rep >= peer_repeats):
                                continue
                            rows.append({"shift": shift, "method": label or name, "n_per_group": n, "effect": effect,
                                         "confounder": confounder, "repeat": rep,
                                         **_one(name, c, truth, confounder)})
                    if partial:  # rows so far, to keep if the run is cut short
                        pd.DataFrame(rows).to_csv(partial, index=False)
                    if log:
                        print(f"[{time.strftime('%H:%M:%S')}] {shift} confounder={confounder} n={n} effect={effect}:"
                              f" {time.perf_counter() - t_cell:.0f} s", flush=True)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- real data
FOCUS = {"Faecalibacterium prausnitzii": ["Faecalibacterium_prausnitzii"],
         "Roseburia (any species)": "Roseburia_",
         "Escherichia coli": ["Escherichia_coli"], "Ruminococcus gnavus": ["Ruminococcus_gnavus"]}


def _calls(res: pd.DataFrame, key: Any) -> str:
    names = [f for f in res.index if f.startswith(key)] if isinstance(key, str) else [f for f in key if f in res.index]
    if not names:
        return "not tested"
    out = []
    for f in names:  # called: ↑ / ↓; not called: "–", with the sign of the method's estimate in brackets
        e = res.loc[f, "effect"]
        arrow = "↑" if e > 0 else "↓" if e < 0 else "?"
        call = arrow if res.loc[f, "hit"] else f"– ({arrow})"
        out.append(call if not isinstance(key, str) else f"{f.split('_', 1)[1]} {call}")
    return ", ".join(out)


def real_data(methods: list[str]) -> pd.DataFrame:
    c = ibd_metahit()
    rows = []
    for name in methods:
        started, t0 = sum(STARTUP.values()), time.perf_counter()
        try:
            res = METHODS[name](c, False)
        except Exception as err:  # noqa: BLE001
            rows.append({"method": name, "called (q < 0.05)": f"failed: {type(err).__name__}"})
            continue
        row = {"method": name, "called (q < 0.05)": int(res["hit"].sum()),
               "up / down in IBD": f"{int((res['hit'] & (res['effect'] > 0)).sum())} / "
                                   f"{int((res['hit'] & (res['effect'] < 0)).sum())}"}
        row.update({k: _calls(res, v) for k, v in FOCUS.items()})
        row["seconds"] = round(time.perf_counter() - t0 - (sum(STARTUP.values()) - started), 2)
        rows.append(row)
    b = (c.metadata["group"] == "B").sum()
    print(f"real data: {c.n_samples} samples ({b} IBD, {c.n_samples - b} healthy) × {c.n_features} species")
    return pd.DataFrame(rows).assign(_samples=c.n_samples, _ibd=b, _features=c.n_features)


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
    ok = acc[acc["error"].isna()] if "error" in acc.columns else acc
    if "shift" not in ok.columns:  # rows of an older run (abundance only, column "lfc")
        ok = ok.assign(shift="abundance")
    if "lfc" in ok.columns:
        ok = ok.assign(effect=ok["effect"].fillna(ok["lfc"]) if "effect" in ok.columns else ok["lfc"])
    g = ok.groupby(["shift", "confounder", "n_per_group", "effect", "method"])
    out = g.agg(fdr=("fdp", "mean"), fdr_se=("fdp", "sem"), recall=("recall", "mean"),
                false_per_run=("n_false", "mean"), seconds=("seconds", "mean"), runs=("fdp", "size"))
    return out.round(3).reset_index()


def grid(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """Method × setting at one n: 'FDR / recall' per cell, and the mean seconds per run over these cells."""
    t = table[table["n_per_group"] == n].copy()
    t["setting"] = (t["shift"].str[:4] + " " + t["effect"].map(lambda e: f"{e:g}")
                    + np.where(t["confounder"], " +conf", ""))
    t["cell"] = t["fdr"].map(lambda v: f"{v:.2f}") + " / " + t["recall"].map(lambda v: f"{v:.2f}")
    order = list(dict.fromkeys(t.sort_values(["shift", "confounder", "effect"])["setting"]))
    wide = t.pivot(index="method", columns="setting", values="cell")[order].fillna("·")
    wide["s / run"] = t.groupby("method")["seconds"].mean().round(2)
    wide.insert(0, "adjusts", ["yes" if m in ADJUSTS else "no" for m in wide.index])
    return wide.reset_index()


def over_nominal(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Cells whose FDR is above the nominal level by more than two standard errors (or above it at all)."""
    worse = table[table["fdr"] > alpha]
    return worse.assign(beyond_2se=worse["fdr"] - 2 * worse["fdr_se"] > alpha)


def _arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--peer-repeats", type=int, default=10, help="repeats for peers (the first ones: same data)")
    p.add_argument("--start-repeat", type=int, default=0, help="skip the first repeats (to extend an earlier run)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--peer-max-n", type=int, default=100)
    p.add_argument("--sizes", default="20,50,100,200,250")
    p.add_argument("--lfcs", default="1,2,3")
    p.add_argument("--losses", default="0.5,0.8", help="prevalence setting: share of B samples losing the taxon")
    p.add_argument("--shifts", default="abundance,prevalence")
    p.add_argument("--no-big", action="store_true")
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--real", action="store_true", help="also run every method on MetAML metahit IBD vs healthy")
    p.add_argument("--methods", default=DEFAULT_METHODS)
    p.add_argument("--real-methods", default=DEFAULT_METHODS)
    p.add_argument("--label", default=None, help="report every method under this name (for a 'before' run)")
    p.add_argument("--csv", default=None, help="also write the raw per-run rows here")
    p.add_argument("--extra-csv", action="append", default=[], help="merge raw rows of another run (e.g. 'before')")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--design", action="store_true",
                   help="the real-design scenarios instead (depth imbalance, repeated measures, households): "
                        "writes benchmarks/results/differential_design.md and its SVG figures")
    p.add_argument("--design-depth", type=float, default=1000.0, help="(a): the controls' reads per sample")
    p.add_argument("--households", type=int, default=50, help="(c): households per data set")
    p.add_argument("--predict-repeats", type=int, default=5, help="(c): data sets run through predict")
    return p.parse_args()


def main() -> None:
    args = _arguments()
    if args.design:
        from differential_design import design_main

        design_main(args)
        return
    base = healthy_stool()
    sizes = [20, 50] if args.quick else [int(v) for v in args.sizes.split(",")]
    levels = {"abundance": [2.0] if args.quick else [float(v) for v in args.lfcs.split(",")],
              "prevalence": [0.8] if args.quick else [float(v) for v in args.losses.split(",")]}
    effects = {k: levels[k] for k in args.shifts.split(",")}
    repeats = 1 if args.quick else args.repeats
    methods = [m for m in args.methods.split(",") if m]  # --methods "" : only merge --extra-csv runs
    t0 = time.perf_counter()
    acc = accuracy(base, sizes, effects, repeats, methods, args.peer_max_n, min(args.peer_repeats, repeats),
                   args.label, log=True, partial=args.csv, start=args.start_repeat) if methods else pd.DataFrame()
    if args.csv:
        acc.to_csv(args.csv, index=False)
    acc = pd.concat([acc, *[pd.read_csv(p) for p in args.extra_csv]], ignore_index=True)
    errors = acc[acc["error"].notna()] if "error" in acc.columns else pd.DataFrame()
    table = summarise(acc)
    argv = sys.argv[1:]
    shown = [a for i, a in enumerate(argv) if not a.startswith("--out") and (i == 0 or argv[i - 1] != "--out")]
    command = "python benchmarks/bench_differential.py " + " ".join(f'"{a}"' if not a else a for a in shown)
    text = [(f"# Differential abundance benchmark\n\nData: MetAML healthy stool, {len(base)} subjects × "
             f"{base.shape[1]} species (prevalence ≥ 5 %), turned into pseudo-counts (fractions × a per-sample "
             f"depth log-uniform in {DEPTH_RANGE[0]:,.0f}–{DEPTH_RANGE[1]:,.0f}, rounded) that every method gets. "
             f"Command: `{command.strip()}` ("
             + (f"{(time.perf_counter() - t0) / 60:.0f} min for the accuracy part" if methods else "")
             + ("; " if methods and args.extra_csv else "")
             + (f"rows merged from {', '.join(args.extra_csv)}" if args.extra_csv else "") + "). Repeat r of a cell "
             "is the same data for every method (seed 1000 n + 10 r + int(3 effect)); `runs` = repeats per cell.\n")]
    for n in sorted(set(table["n_per_group"])):
        if table[table["n_per_group"] == n]["method"].nunique() > 3:
            text += [f"\n## Method × setting at n = {n} per group: FDR / recall at q < 0.05\n",
                     "Settings: `abun L` = abundance shift of 2^±L; `prev F` = taxon lost from a share F of the "
                     "B samples where present; `+conf` = with the confounder (adjusted for only where "
                     "`adjusts` = yes); `·` = not run. `s / run`: mean wall seconds per data set over the cells run, "
                     "measured in the run that produced the rows; R peers and biotapy exclude their worker's "
                     "start-up, LEfSe includes its own (two command-line steps).\n", markdown(grid(table, n))]
    if args.real:
        real = real_data(args.real_methods.split(","))
        meta = real.iloc[0]
        text += [f"\n## Real data: IBD vs healthy, MetAML metahit ({meta['_samples']} subjects: {meta['_ibd']} IBD "
                 f"(UC + CD), {meta['_samples'] - meta['_ibd']} healthy; {meta['_features']} species at ≥ 10 % "
                 "prevalence; pseudo-counts as above, no covariates)\n",
                 "Calls at q < 0.05 (LEfSe: its own rule; ANCOM: its W rule); ↑ / ↓ = higher / lower in IBD, "
                 "– = not called (in brackets: the sign of the method's own estimate; Wilcoxon: "
                 "difference in medians; LEfSe has none when it does not call, `?`).\n",
                 markdown(real.drop(columns=["_samples", "_ibd", "_features"]))]
    if STARTUP:
        text += ["\nStart-up of the peer processes in this run (once per benchmark run, not in the per-run "
                 "times): " + "; ".join(f"{k}: {v:.1f} s" for k, v in STARTUP.items()) + ".\n"]
    text += ["\n## FDR and recall at q < 0.05, every cell (mean over repeats)\n", markdown(table),
             "\n## Cells above the nominal 0.05 (beyond_2se: by more than two standard errors)\n",
             markdown(over_nominal(table))]
    if not args.no_speed:
        text += ["\n## Speed (one process, 2 shared cores)\n", markdown(speed(big=not (args.quick or args.no_big)))]
    if len(errors):
        text += ["\n## Peer failures\n",
                 markdown(errors.groupby("method").agg(runs=("error", "size"), first=("error", "first"))
                          .reset_index())]
    write_results(args.out, "\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()
