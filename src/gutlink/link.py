"""``gutlink link``: is this cohort's gut community different between cases and controls?

Runs the association layer end to end (alpha diversity, beta diversity with PCoA, PERMANOVA, PERMDISP,
dysbiosis score), then the differential-abundance layer (which taxa differ: :func:`gutlink.differential.test`),
and writes a plain-language verdict from the numbers.

Examples
--------
>>> from gutlink.datasets import toy
>>> res = link(toy(), group="group", case=["case"], control="control", permutations=99, rng=1,
...            metrics=("braycurtis",))
>>> res.n_per_group
{'case': 11, 'control': 8}
>>> res.verdict["level"] in {"evidence", "weak", "none"}
True
>>> res.differential.model
'linda-ols'
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from . import __version__
from .cohort import Cohort
from .community import (
    BETA_METRICS, AlphaResult, DysbiosisResult, OrdinationResult, PermanovaResult, PermdispResult,
    alpha_test, beta_diversity, dysbiosis_score, pcoa, permanova, permdisp,
)
from .design import LABEL, case_control
from .differential import DifferentialResult, describe_control
from .differential import test as differential_test
from .errors import DesignError
from .multitest import bh
from .results import TEST_COLUMNS, Result

__all__ = ["LinkResult", "link", "ALPHA_LEVEL"]

#: q-value below which a test counts as evidence.
ALPHA_LEVEL = 0.05
#: Label-shuffled copies of the differential layer's negative control.
DIFFERENTIAL_SHUFFLES = 10
#: Taxa named in the verdict's differential sentence (smallest q first).
TOP_NAMED = 3
Callback = Callable[[str, int, int], None]
_METRIC_NAMES = {"braycurtis": "Bray–Curtis", "jaccard": "Jaccard", "aitchison": "Aitchison"}


@dataclass(frozen=True)
class LinkResult(Result):
    """Everything ``gutlink link`` measured, with the verdict it drew."""

    inputs: dict[str, Any]
    group: str
    case: tuple[str, ...]
    control: str
    covariates: tuple[str, ...]
    strata: str | None
    rank: str | None
    n_per_group: dict[str, int]
    cohort_summary: dict[str, Any]
    alpha: AlphaResult
    ordinations: dict[str, OrdinationResult]
    permanova: dict[str, PermanovaResult]
    permdisp: dict[str, PermdispResult]
    dysbiosis: DysbiosisResult
    tests: pd.DataFrame
    verdict: dict[str, Any]
    versions: dict[str, str]
    seed: int | None
    extra: dict[str, Any] = field(default_factory=dict)
    differential: DifferentialResult | None = None
    prediction: Any = None
    structure: dict[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """All tests of the run, with BH q-values across them."""
        return self.tests


def versions() -> dict[str, str]:
    """Versions of gutlink and the libraries its numbers come from."""
    import scipy
    import skbio
    import statsmodels

    return {"gutlink": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "pandas": pd.__version__, "scikit-bio": skbio.__version__,
            "statsmodels": statsmodels.__version__}


def _prepare(cohort: Cohort, *, group: str, case: Sequence[str], control: str, covariates: Sequence[str],
             strata: str | None, subject: str | None, block: str | None, rank: str | None, drop_empty: bool,
             one_per_subject: str | None, gen: np.random.Generator) -> tuple[Cohort, Cohort]:
    """The cohort the community tests use and the one before any one-per-subject reduction (every sample of the
    design, for the differential layer's random intercept). Samples are put in sample-ID order first, so the row
    order of the input never changes an output."""
    for col, role in [*((c, "covariate") for c in covariates), (strata, "stratum"), (subject, "subject"),
                      (block, "block")]:
        if col is not None and col not in cohort.metadata.columns:
            raise DesignError(f"metadata has no column {col!r} (given as a {role}).")
    if subject is not None and subject == block:
        raise DesignError(f"{subject!r} cannot be both the subject and the block: a subject has one class (repeated "
                          "samples of one person), a block may hold cases and controls (household, pair).")
    if one_per_subject is not None and subject is None:
        raise DesignError("one_per_subject needs subject= (--subject COL): it picks one sample of each subject.")
    cohort = replace(cohort.subset(samples=np.argsort(np.asarray(cohort.sample_ids, dtype=str), kind="stable")),
                     history=cohort.history)
    if rank is not None:
        cohort = cohort.aggregate(rank)
    cohort = _check_empty(cohort, drop_empty)
    cohort = case_control(cohort, group=group, case=case, control=control)
    needed = [c for c in [*covariates, strata, subject, block] if c]
    missing = cohort.metadata[needed].isna().any(axis=1).to_numpy() if needed else np.zeros(cohort.n_samples, bool)
    if missing.any():
        cohort = cohort.subset(samples=~missing)
        cohort = replace_history(cohort, {"op": "drop_missing_covariates", "columns": needed,
                                          "n_dropped": int(missing.sum())})
        cohort = case_control(cohort, group=group, case=case, control=control)
    every = cohort
    if subject is not None and _repeated(cohort, subject):
        _check_subject_classes(cohort, subject, strata)
        if one_per_subject is not None:
            cohort = _one_per_subject(cohort, subject, one_per_subject, gen)
    return cohort, every


def _repeated(cohort: Cohort, subject: str | None) -> bool:
    return subject is not None and bool(cohort.metadata[subject].astype(str).duplicated().any())


def _check_subject_classes(cohort: Cohort, subject: str, strata: str | None) -> None:
    """A subject holds one class; one that holds both is a matched set (a block), unless permutations are already
    restricted within it (``strata=subject``)."""
    varies = cohort.metadata.groupby(cohort.metadata[subject].astype(str), observed=True)[LABEL].nunique() > 1
    if varies.any() and strata != subject:
        raise DesignError(
            f"{int(varies.sum())} subject(s) in {subject!r} have both case and control samples (a paired design); "
            f"give the column as block={subject!r} (--block {subject}): paired / stratified statistics within it.")


def _one_per_subject(cohort: Cohort, subject: str, rule: str, gen: np.random.Generator) -> Cohort:
    """Keep one sample per subject by an explicit rule, independent of row order.

    ``"first-by:COL"`` (or ``first-by=COL``): the sample with the smallest *COL* (ties and missing values: the
    smallest sample ID); ``"random"``: one sample per subject drawn with the run's seed, the samples in sample-ID
    order.
    """
    meta = cohort.metadata
    subj = pd.factorize(meta[subject].astype(str))[0]
    ids = np.asarray(cohort.sample_ids, dtype=str)
    if rule == "random":
        keys: list[np.ndarray] = [gen.random(cohort.n_samples)]
    elif rule.startswith(("first-by:", "first-by=")):
        col = rule[len("first-by:"):]
        if col not in meta.columns:
            raise DesignError(f"one_per_subject={rule!r}: metadata has no column {col!r}.")
        ranked = meta[col].rank(method="dense", na_option="bottom").to_numpy(dtype=float)
        keys = [ids, ranked]  # np.lexsort: last key first
    else:
        raise DesignError(f"one_per_subject must be 'first-by:COLUMN' or 'random'; got {rule!r}.")
    order = np.lexsort((*keys, subj))
    first = order[np.r_[True, subj[order][1:] != subj[order][:-1]]]
    keep = np.zeros(cohort.n_samples, dtype=bool)
    keep[first] = True
    out = cohort.subset(samples=keep)
    return replace_history(out, {"op": "one_sample_per_subject", "column": subject, "rule": rule,
                                 "n_dropped": int((~keep).sum()), "n_subjects": int(keep.sum())})


def _structure(c: Cohort, *, subject: str | None, block: str | None, strata: str | None,
               one_per_subject: str | None, alpha: AlphaResult, dys: DysbiosisResult,
               perms: dict[str, PermanovaResult]) -> dict[str, Any]:
    """How the community layer handled repeated subjects and matched blocks, in fields and plain sentences."""
    repeated = _repeated(c, subject)
    rank_test = alpha.tests.loc[alpha.tests.test.isin(RANK_TESTS), "test"]
    out: dict[str, Any] = {
        "subject": subject, "block": block, "strata": strata, "one_per_subject": one_per_subject,
        "n_samples": c.n_samples, "repeated_subjects": repeated,
        "n_subjects": int(c.metadata[subject].astype(str).nunique()) if subject else None,
        "n_blocks": int(c.metadata[block].astype(str).nunique()) if block else None,
        "alpha_test": str(rank_test.iloc[0]) if len(rank_test) else None,
        "permutations": next(iter(perms.values())).scheme if perms else "free",
    }
    sentences = []
    if subject is not None and one_per_subject is not None and any(
            h.get("op") == "one_sample_per_subject" for h in c.history):
        sentences.append(f"One sample per subject of {subject!r} was analysed ({one_per_subject}); "
                         f"{out['n_subjects']} subjects.")
    elif repeated:
        sentences.append(f"All {c.n_samples} samples of {out['n_subjects']} subjects ({subject!r}) were analysed: "
                         "PERMANOVA and PERMDISP permute whole subjects, alpha diversity and dysbiosis are compared "
                         "on subject means (covariate models with a random intercept per subject), and no sample is "
                         "scored against its own subject's references.")
    if block is not None:
        kind = {"wilcoxon_signed_rank": "paired (Wilcoxon signed-rank and Hodges–Lehmann of within-pair "
                                        "differences)",
                "van_elteren": "stratified (van Elteren test and stratified Hodges–Lehmann shift)"}
        sentences.append(f"Matched sets of {block!r} ({out['n_blocks']} blocks): permutations stay within blocks, "
                         f"alpha and dysbiosis tests are {kind.get(out['alpha_test'] or '', 'within blocks')}, and "
                         "no sample is scored against references of its own block.")
    out["sentences"] = sentences + list(dys.notes)
    return out


def replace_history(cohort: Cohort, op: dict[str, Any]) -> Cohort:
    """Append one operation record to a cohort's history."""
    return replace(cohort, history=cohort.history + (op,))


def _check_empty(cohort: Cohort, drop_empty: bool) -> Cohort:
    totals = np.asarray(cohort.abundance.sum(axis=1)).ravel()
    if (totals > 0).all():
        return cohort
    if drop_empty:
        return cohort.drop_empty_samples()
    bad = list(cohort.sample_ids[totals <= 0][:5])
    raise DesignError(
        f"{int((totals <= 0).sum())} sample(s) have all-zero abundances (e.g. {bad}); diversity and distances are "
        "undefined for them. Remove them, or pass drop_empty=True (--drop-empty) to drop them and record it."
    )


def link(cohort: Cohort, *, group: str, case: Sequence[str] | str, control: str,
         covariates: Sequence[str] = (), strata: str | None = None, subject: str | None = None,
         rank: str | None = None, metrics: Sequence[str] = BETA_METRICS, permutations: int = 999,
         rng: int | None = 0, drop_empty: bool = False, inputs: dict[str, Any] | None = None,
         callback: Callback | None = None, differential: bool = True, predict: bool = False,
         by: Literal["margin", "terms"] = "margin", rarefy: int | None = None, block: str | None = None,
         one_per_subject: str | None = None) -> LinkResult:
    """Test whether the community differs between *case* and *control* samples of column *group*.

    Parameters
    ----------
    cohort
        Abundances with sample metadata attached (see :meth:`Cohort.align`).
    group, case, control
        The metadata column and its case value(s) (pooled) and control value.
    covariates
        Columns adjusted for (PERMANOVA margin test of the group term; OLS for alpha diversity).
    strata
        Column within whose levels permutations are restricted (study, household).
    rarefy
        Rarefy counts to this depth for alpha diversity only (richness depends on sequencing depth; samples
        with fewer reads are left out of the alpha tests, recorded in the history). Distances use relative
        abundances and need no rarefaction.
    by
        PERMANOVA test of the group term, as in vegan's ``adonis2``: ``"margin"`` (given every covariate,
        the default) or ``"terms"`` (sequential, after the covariates listed before it).
    subject
        Column of subject IDs (repeated measures; one class per subject). Every sample is used: PERMANOVA and
        PERMDISP permute whole subjects (each with subjects having as many samples), the alpha and dysbiosis rank
        tests run on subject means (covariate models: a random intercept per subject), dysbiosis scores never
        compare a sample with the same subject's references, and the differential layer fits a random intercept.
        A subject holding both classes is refused: give that column as *block*.
    block
        Matched sets (household, pair, family; a block may hold cases and controls): PERMANOVA and PERMDISP
        permute within blocks, alpha and dysbiosis tests are paired (Wilcoxon signed-rank, Hodges–Lehmann of
        within-pair differences) when every block is one case + one control, else stratified (van Elteren,
        stratified Hodges–Lehmann); no sample is scored against its own block's references; the differential layer
        fits a random intercept per block and shuffles within blocks; prediction keeps a block in one fold.
    one_per_subject
        Analyse one sample per subject instead of all: ``"first-by:COL"`` (smallest *COL*, e.g. age at
        collection; ties by sample ID) or ``"random"`` (seeded by *rng*). Recorded in the history and
        ``structure``. The differential layer still uses every sample.
    rank
        Aggregate to this rank first (``None``: use the features as they are).
    metrics
        Beta-diversity metrics: ``braycurtis``, ``jaccard``, ``aitchison``.
    permutations, rng
        Number of permutations and the seed of every random step.
    drop_empty
        Drop all-zero samples (recorded) instead of raising.
    inputs
        Provenance (paths, sha256, command line) copied into the result.
    callback
        Called as ``callback(step, i, n)`` before each step (progress display).
    predict
        Also measure how well the community predicts the label out of sample (L1 logistic regression, nested
        repeated CV grouped by subject; :func:`gutlink.predict.cross_validate`). Its AUROC goes into the
        sentences, not into the verdict level.
    differential
        Also test which taxa differ (:func:`gutlink.differential.test` on ``~ case/control + covariates``, with
        a random intercept per *subject* when subjects repeat, and a label-shuffle negative control). Its
        summary joins the verdict's sentences but never changes the verdict's level (see
        :func:`differential_sentences`).

    Returns
    -------
    LinkResult
        ``structure`` states how subjects and blocks were handled (fields and ``sentences``). The samples are
        analysed in sample-ID order: the row order of the input changes no output.
    """
    cases = (case,) if isinstance(case, str) else tuple(case)
    step = _progress(callback, 3 + 3 * len(metrics) + int(differential) + int(predict))
    step("preparing cohort")
    gen = np.random.default_rng(rng)
    c, every = _prepare(cohort, group=group, case=cases, control=control, covariates=covariates, strata=strata,
                        subject=subject, block=block, rank=rank, drop_empty=drop_empty,
                        one_per_subject=one_per_subject, gen=gen)
    # the community layer models repeated subjects (not when permutations already stay within them)
    unit = subject if _repeated(c, subject) and strata != subject else None
    step("alpha diversity" + (f" (rarefied to {rarefy} reads)" if rarefy else ""))
    levels = group if len(cases) > 1 else None
    alpha_cohort = _rarefied(c, rarefy, gen, group, cases, control)
    alpha = alpha_test(alpha_cohort, covariates=covariates, levels_column=levels, block=block, subject=unit)
    rarefied = [{**h, "scope": "alpha diversity only"} for h in alpha_cohort.history if h.get("op") == "rarefy"]
    ords, perms, disps, dms = {}, {}, {}, {}
    for metric in metrics:
        step(f"{_METRIC_NAMES.get(metric, metric)} distances and PCoA")
        dms[metric] = beta_diversity(c, metric)  # type: ignore[arg-type]
        ords[metric] = pcoa(dms[metric], metric=metric)
        step(f"PERMANOVA ({_METRIC_NAMES.get(metric, metric)}, {permutations} permutations)")
        perms[metric] = permanova(c, metric=metric, covariates=covariates, strata=strata, block=block, subject=unit,
                                  by=by, permutations=permutations, rng=gen, distances=dms[metric])
        step(f"PERMDISP ({_METRIC_NAMES.get(metric, metric)})")
        disps[metric] = permdisp(c, metric=metric, permutations=permutations, strata=strata, block=block,
                                 subject=unit, rng=gen, distances=dms[metric])
    step("dysbiosis score")
    ref_metric = "braycurtis" if "braycurtis" in dms else metrics[0]
    dys = _dysbiosis(c, metric=ref_metric, subject=subject, unit=unit, strata=strata, block=block,
                     distances=dms.get(ref_metric))
    diff = None
    if differential:
        step("differential abundance (which taxa differ)")
        diff = _differential(every, covariates=covariates, subject=subject, strata=strata, block=block, gen=gen)
    prediction = None
    if predict:
        step(f"prediction (lasso, {PREDICT_REPEATS} × {PREDICT_FOLDS}-fold nested CV)")
        prediction = _prediction(every, subject=subject, block=block, gen=gen)
    tests = _all_tests(alpha, perms, disps, dys)
    labels = c.metadata[LABEL].astype(str)
    n_per = {"case": int((labels == "case").sum()), "control": int((labels == "control").sum())}
    verdict = _verdict(tests, perms, disps, dys, n_per, diff, rarefied_history=rarefied)
    verdict["sentences"][-1:-1] = prediction_sentences(prediction)
    structure = _structure(c, subject=subject, block=block, strata=strata, one_per_subject=one_per_subject,
                           alpha=alpha, dys=dys, perms=perms)
    verdict["sentences"][-1:-1] = structure["sentences"]
    summary = _cohort_summary(cohort, c, group, cases, control)
    summary["history"] += rarefied
    return LinkResult(inputs=dict(inputs or {}), group=group, case=cases, control=control,
                      covariates=tuple(covariates), strata=strata, rank=rank, n_per_group=n_per,
                      cohort_summary=summary, alpha=alpha, ordinations=ords, permanova=perms, permdisp=disps,
                      dysbiosis=dys, tests=tests, verdict=verdict, versions=versions(),
                      seed=rng if isinstance(rng, int) else None, differential=diff, prediction=prediction,
                      structure=structure)


def _rarefied(c: Cohort, depth: int | None, gen: np.random.Generator, group: str, cases: Sequence[str],
              control: str) -> Cohort:
    if depth is None:
        return c
    if c.units != "counts":
        raise DesignError(f"rarefy={depth} needs read counts, but the table holds {c.units}.")
    r = c.rarefy(depth, rng=gen)
    return case_control(r, group=group, case=cases, control=control)


# ----------------------------------------------------------------------------- prediction layer
#: Cross-validation protocol of the prediction layer (lasso, nested, grouped by subject when given).
PREDICT_REPEATS, PREDICT_FOLDS = 5, 5


def _dysbiosis(c: Cohort, *, metric: str, subject: str | None, unit: str | None, strata: str | None,
               block: str | None, distances: Any) -> DysbiosisResult:
    """Dysbiosis scores (never against the sample's own subject or block), tested on subject means when subjects
    repeat."""
    if unit is None and subject is not None:  # every subject once: exclusion is moot, the test is per sample
        subject = None
    return dysbiosis_score(c, metric=metric, subject=subject, strata=strata, block=block, distances=distances)


def _prediction(cohort: Cohort, *, subject: str | None, block: str | None, gen: np.random.Generator) -> Any:
    """Out-of-sample prediction of the case/control label (:func:`gutlink.predict.cross_validate`)."""
    from .predict import cross_validate

    n_min = int(cohort.metadata[LABEL].astype(str).value_counts().min())
    return cross_validate(cohort, group=LABEL, case="case", control="control", model="lasso", subject=subject,
                          block=block,
                          n_repeats=PREDICT_REPEATS, n_folds=min(PREDICT_FOLDS, n_min), rng=gen)


def prediction_sentences(prediction: Any) -> list[str]:
    """One sentence on how well the community predicts the label out of sample (none without the layer)."""
    if prediction is None:
        return []
    lo, hi = prediction.auroc_ci
    strength = ("well" if lo >= 0.8 else "moderately" if lo >= 0.65 else "weakly" if lo > 0.5 else
                "no better than chance")
    return [f"Out of sample, the community predicts case/control status {strength}: AUROC {prediction.auroc:.2f} "
            f"(95 % CI {lo:.2f} to {hi:.2f}; L1 logistic regression, nested {PREDICT_REPEATS} × "
            f"{prediction.protocol.get('n_folds', PREDICT_FOLDS)}-fold CV, all preprocessing inside the folds)."]


# ----------------------------------------------------------------------------- differential layer
def _quote(name: str) -> str:
    return name if name.isidentifier() else f"`{name}`"


def _differential(cohort: Cohort, *, covariates: Sequence[str], subject: str | None, strata: str | None,
                  block: str | None, gen: np.random.Generator) -> DifferentialResult:
    """Which taxa differ between the case/control labels, adjusted for the same covariates.

    Uses every sample of the design: with repeated subjects a random intercept per subject replaces the
    one-sample-per-subject reduction the community tests need.
    """
    formula = "~ " + " + ".join([LABEL, *[_quote(c) for c in covariates]])
    groups = subject if _repeated(cohort, subject) else block  # random intercept per subject, else per block
    return differential_test(cohort, formula, reference={LABEL: "control"}, subject=groups,
                             n_shuffles=DIFFERENTIAL_SHUFFLES, strata=block or strata, rng=gen, alpha=ALPHA_LEVEL)


def _progress(callback: Callback | None, total: int) -> Callable[[str], None]:
    counter = iter(range(total + 1))

    def step(name: str) -> None:
        i = next(counter, total)
        if callback is not None:
            callback(name, i, total)

    return step


def _cohort_summary(original: Cohort, analysed: Cohort, group: str, cases: tuple[str, ...], control: str) -> dict[str, Any]:
    levels = analysed.metadata[group].astype(str).value_counts().to_dict()
    return {"n_samples_input": original.n_samples, "n_samples_analysed": analysed.n_samples,
            "n_features": analysed.n_features, "units": analysed.units, "group_levels": levels,
            "history": list(analysed.history)}


# ----------------------------------------------------------------------------- tests table
def _all_tests(alpha: AlphaResult, perms: dict[str, PermanovaResult], disps: dict[str, PermdispResult],
               dys: DysbiosisResult) -> pd.DataFrame:
    rows = [r for r in alpha.tests.to_dict("records")]
    for metric, res in perms.items():
        t = res.term(LABEL)
        rows.append({**dict.fromkeys(TEST_COLUMNS, np.nan), "analysis": "permanova", "metric": metric,
                     "test": f"permanova ({res.by})", "comparison": res.formula, "statistic": t["statistic"],
                     "p_value": t["p_value"], "effect": t["r2"], "effect_name": "r_squared"})
    for metric, res in disps.items():
        g = res.groups.set_index("group")["mean_distance_to_centroid"]
        rows.append({**dict.fromkeys(TEST_COLUMNS, np.nan), "analysis": "permdisp", "metric": metric,
                     "test": "permdisp", "comparison": "case vs control", "statistic": res.statistic,
                     "p_value": res.p_value, "effect": float(g.get("case", np.nan) - g.get("control", np.nan)),
                     "effect_name": "difference_in_mean_distance_to_centroid"})
    rows += dys.tests.to_dict("records")
    frame = pd.DataFrame(rows, columns=TEST_COLUMNS)
    frame["q_value"] = bh(frame["p_value"].to_numpy(dtype=float))
    return frame


# ----------------------------------------------------------------------------- verdict
def _fmt_p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _verdict(tests: pd.DataFrame, perms: dict[str, PermanovaResult], disps: dict[str, PermdispResult],
             dys: DysbiosisResult, n_per: dict[str, int], diff: DifferentialResult | None = None,
             rarefied_history: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Plain-language statements, each carrying its own numbers.

    The level (evidence / weak / none) comes from the run-wide family of community tests only (``tests``:
    alpha diversity, PERMANOVA, PERMDISP, dysbiosis), a small family fixed before looking at the data, with one
    BH correction across it. The per-taxon tests of the differential layer are a different question (where
    does a difference lie?) with their own family of hundreds of tests and their own BH correction; folding
    them into the verdict would let a single taxon's q decide about the whole community, or make the verdict
    depend on how many taxa were tested. Their summary is added to the sentences only.
    """
    decisive = _decisive(tests)
    sig = (tests["q_value"] < ALPHA_LEVEL) & decisive
    sentences = [*_beta_sentences(tests, perms), *_alpha_sentences(tests), *_unadjusted_sentences(tests, decisive),
                 *_dysbiosis_sentences(tests, dys), *differential_sentences(diff)]
    if sig.any():
        level = "evidence"
        found = ", ".join(dict.fromkeys(_test_label(row) for row in tests[sig].itertuples()))
        head = f"The gut community differs between cases and controls in this cohort (q < {ALPHA_LEVEL}: {found})."
    elif (tests.loc[decisive, "p_value"] < ALPHA_LEVEL).any():
        level = "weak"
        head = ("Weak evidence at most: some tests have p < 0.05, but none survives correction for the "
                f"{len(tests)} tests run (all {int(decisive.sum())} deciding tests q ≥ {ALPHA_LEVEL}).")
    else:
        level = "none"
        head = ("No evidence of a difference between cases and controls in community composition, diversity or "
                f"dysbiosis score (all {int(decisive.sum())} deciding tests q ≥ {ALPHA_LEVEL}).")
    for h in rarefied_history:
        kept = tests.loc[tests.analysis == "alpha", ["n_case", "n_control"]].max()
        sentences.append(f"Alpha diversity was computed at an equal depth of {h['depth']} reads: "
                         f"{int(kept.n_case)} cases and {int(kept.n_control)} controls had enough reads, "
                         f"{h['n_dropped']} sample(s) with fewer were left out of the alpha tests only.")
    if "chao1" in set(tests.metric) and not rarefied_history:
        sentences.append("Richness was computed on unrarefied read counts, so it also reflects sequencing depth; "
                         "rarefy (--rarefy DEPTH) to compare richness at equal depth.")
    small = min(n_per.values())
    if level != "evidence" and small < 20:
        sentences.append(f"With only {small} samples in the smaller group, a modest difference could go undetected: "
                         "absence of evidence is not evidence of absence.")
    sentences.append("This is an association in observational data, not proof of cause; a research result, "
                     "not medical advice.")
    return {"level": level, "headline": head, "sentences": sentences, "q_threshold": ALPHA_LEVEL}


_ALPHA_NAMES = {"observed": "observed richness", "shannon": "Shannon diversity", "simpson": "Gini–Simpson diversity",
                "chao1": "Chao1 richness"}


_TEST_NAMES = {"mann_whitney": "Mann–Whitney", "kruskal_wallis": "Kruskal–Wallis",
               "wilcoxon_signed_rank": "Wilcoxon signed-rank", "van_elteren": "van Elteren"}
#: The case/control rank tests (design-dependent) and the covariate-adjusted models of the community layer.
RANK_TESTS = ("mann_whitney", "wilcoxon_signed_rank", "van_elteren")
ADJUSTED_TESTS = ("ols", "mixedlm")


def _decisive(tests: pd.DataFrame) -> pd.Series:
    """Which tests decide the verdict level: every test, except unadjusted alpha-diversity tests of a metric
    that also has a covariate-adjusted (OLS) test — with covariates given, the adjusted test is the one asked."""
    adjusted = set(tests.loc[(tests.analysis == "alpha") & tests.test.isin(ADJUSTED_TESTS), "metric"])
    unadjusted = (tests.analysis == "alpha") & tests.test.isin([*RANK_TESTS, "kruskal_wallis"])
    return ~(unadjusted & tests.metric.isin(adjusted))


def _test_label(row: Any) -> str:
    if row.analysis == "alpha":
        return _ALPHA_NAMES.get(row.metric, row.metric) + (" (adjusted)" if row.test in ADJUSTED_TESTS else "")
    name = _METRIC_NAMES.get(row.metric, row.metric)
    return {"permanova": f"PERMANOVA {name}", "permdisp": f"PERMDISP {name}"}.get(row.analysis, "dysbiosis score")


def _unadjusted_sentences(tests: pd.DataFrame, decisive: pd.Series) -> list[str]:
    """Say when an unadjusted alpha test is significant but its adjusted twin is not (a confounded signal)."""
    out = []
    for row in tests[~decisive & (tests.q_value < ALPHA_LEVEL)].itertuples():
        twin = tests[(tests.analysis == "alpha") & tests.test.isin(ADJUSTED_TESTS) & (tests.metric == row.metric)].iloc[0]
        if twin.q_value >= ALPHA_LEVEL:
            covs = str(twin.comparison).split("|", 1)[-1].strip()
            out.append(f"Unadjusted, {_ALPHA_NAMES.get(row.metric, row.metric)} differs ({_TEST_NAMES.get(row.test, row.test)}, "
                       f"q {_fmt_p(row.q_value)}), but not once {covs} is adjusted for (q {_fmt_p(twin.q_value)}): "
                       "the difference follows the covariates, and the adjusted test is the one that counts.")
    return out


def _beta_sentences(tests: pd.DataFrame, perms: dict[str, PermanovaResult]) -> list[str]:
    out = []
    for row in tests[tests.analysis == "permanova"].itertuples():
        name = _METRIC_NAMES.get(row.metric, row.metric)
        verb = "differs" if row.q_value < ALPHA_LEVEL else "does not differ detectably"
        perm = perms[row.metric].permutations
        floor = " (the smallest p possible with this many permutations)" if row.p_value <= 1 / (perm + 1) + 1e-12 else ""
        text = (f"Community composition ({name}) {verb} between groups: PERMANOVA R² = {row.effect:.3f}, "
                f"pseudo-F = {row.statistic:.2f}, p {_fmt_p(row.p_value)}{floor} with {perm} permutations, "
                f"q {_fmt_p(row.q_value)}.")
        disp = tests[(tests.analysis == "permdisp") & (tests.metric == row.metric)]
        if len(disp) and disp.q_value.iloc[0] < ALPHA_LEVEL:
            wider = "cases" if disp.effect.iloc[0] > 0 else "controls"
            text += (f" The groups also differ in spread (PERMDISP q {_fmt_p(disp.q_value.iloc[0])}; {wider} are more "
                     "variable), so part of this difference may be dispersion rather than a shift in location.")
        out.append(text)
    return out


def _alpha_sentences(tests: pd.DataFrame) -> list[str]:
    shannon = tests[(tests.analysis == "alpha") & (tests.metric == "shannon")]
    adjusted = shannon[shannon.test.isin(ADJUSTED_TESTS)]
    if len(adjusted):
        return [_adjusted_alpha_sentence(adjusted.iloc[0])]
    rows = shannon[shannon.test.isin(RANK_TESTS)]
    out = []
    for row in rows.itertuples():
        if row.q_value < ALPHA_LEVEL:
            direction = "lower" if row.effect < 0 else "higher"
            out.append(f"Cases have {direction} Shannon diversity than controls (Hodges–Lehmann shift "
                       f"{row.effect:.3f}, 95 % CI {row.ci_low:.3f} to {row.ci_high:.3f}; q {_fmt_p(row.q_value)}).")
        else:
            out.append(f"Shannon diversity does not differ detectably (shift {row.effect:.3f}, 95 % CI "
                       f"{row.ci_low:.3f} to {row.ci_high:.3f}; q {_fmt_p(row.q_value)}).")
    return out


def _adjusted_alpha_sentence(row: pd.Series) -> str:
    covs = str(row.comparison).split("|", 1)[-1].strip()
    if row.q_value < ALPHA_LEVEL:
        direction = "lower" if row.effect < 0 else "higher"
        return (f"Adjusted for {covs}, cases have {direction} Shannon diversity than controls (difference "
                f"{row.effect:.3f}, 95 % CI {row.ci_low:.3f} to {row.ci_high:.3f}; q {_fmt_p(row.q_value)}).")
    return (f"Adjusted for {covs}, Shannon diversity does not differ detectably (difference {row.effect:.3f}, "
            f"95 % CI {row.ci_low:.3f} to {row.ci_high:.3f}; q {_fmt_p(row.q_value)}).")


def _dysbiosis_sentences(tests: pd.DataFrame, dys: DysbiosisResult) -> list[str]:
    s = dys.scores.dropna(subset=["score"])
    frac = s.groupby(LABEL, observed=True)["dysbiotic"].mean()
    row = tests[(tests.analysis == "dysbiosis") & tests.test.isin(RANK_TESTS)].iloc[0]
    higher = "higher" if row.effect > 0 else "lower"
    verb = f"is {higher} in cases" if row.q_value < ALPHA_LEVEL else "does not differ detectably"
    return [f"The dysbiosis score (median {_METRIC_NAMES.get(dys.metric, dys.metric)} distance to controls) {verb} "
            f"(shift {row.effect:.3f}, q {_fmt_p(row.q_value)}); {frac.get('case', np.nan):.0%} of cases and "
            f"{frac.get('control', np.nan):.0%} of controls lie above the controls' "
            f"{_ordinal(round(dys.quantile * 100))} percentile."]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _named(rows: pd.DataFrame) -> str:
    parts = [f"{str(r.feature_id).split('|')[-1].removeprefix('s__').replace('_', ' ')} (log2 fold change "
             f"{r.effect:.2f}, q {_fmt_p(r.q_value)})" for r in rows.head(TOP_NAMED).itertuples()]
    return ", ".join(parts)


def differential_sentences(diff: DifferentialResult | None) -> list[str]:
    """The differential layer's summary: taxa up / down at q < 0.05 (abundance where present, and prevalence),
    the top hits with effect and q, and the label-shuffle negative control."""
    if diff is None:
        return []
    tab = diff.table[diff.table["term"] == diff.terms[0]].sort_values(["q_value", "p_value"])
    sig = tab[tab["q_value"] < ALPHA_LEVEL]
    up, down = sig[sig["effect"] > 0], sig[sig["effect"] < 0]
    text = (f"Which taxa differ ({diff.n_features} tested, abundance where present and prevalence modelled apart): "
            f"{len(up)} more and {len(down)} less abundant in cases where present (q < {ALPHA_LEVEL})")
    if diff.prevalence is not None:
        prev = diff.prevalence[diff.prevalence["term"] == diff.terms[0]]
        hit = prev["q_value"] < ALPHA_LEVEL
        text += f"; {int((hit & (prev['effect'] > 0)).sum())} more and {int((hit & (prev['effect'] < 0)).sum())} less often present"
    text += "." if sig.empty else f". Largest evidence: {_named(pd.concat([down, up]).sort_values('q_value'))}."
    return [text, describe_control(diff.negative_control, name="the case/control labels")]
