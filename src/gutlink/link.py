"""``gutlink link``: is this cohort's gut community different between cases and controls?

Runs the association layer end to end (alpha diversity, beta diversity with PCoA, PERMANOVA, PERMDISP,
dysbiosis score), then the differential-abundance layer (which taxa differ: :func:`gutlink.differential.test`),
the barrier and immune guild layer (:func:`gutlink.guilds.guild_test`, from the bundled trait knowledge base) and,
with *markers*, the host-marker layer (:func:`gutlink.guilds.marker_association`), the literature layer
(:func:`gutlink.literature.concordance` of the differential results with BugSigDB's signatures of the condition,
given or inferred from the case label), and writes a plain-language verdict from the numbers.

Examples
--------
>>> from gutlink.datasets import toy
>>> res = link(toy(), group="group", case=["case"], control="control", n_permutations=99, rng=1,
...            metrics=("braycurtis",))
>>> res.n_per_group
{'case': 11, 'control': 8}
>>> res.verdict["level"] in {"evidence", "weak", "none"}
True
>>> res.differential.model
'linda-ols'
>>> res.guilds.table["metric"].iloc[-1]
'barrier_balance'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from .cohort import Cohort
from .community import (
    BETA_METRICS,
    AlphaResult,
    DysbiosisResult,
    OrdinationResult,
    PermanovaResult,
    PermdispResult,
    alpha_test,
    beta_diversity,
    dysbiosis_score,
    ordination,
    pcoa,
    permanova,
    permdisp,
)
from .compat import renamed
from .design import LABEL, Design, DesignChecks, as_values, case_control, check
from .differential import DifferentialResult
from .differential import test as differential_test
from .errors import DesignError, UnknownConditionError
from .formula import quote
from .guilds import GuildTestResult, MarkerResult, guild_test, marker_association
from .literature import ConcordanceResult, concordance, resolve
from .multitest import bh
from .plotdata import figure_data
from .predict import cross_validate
from .results import TEST_COLUMNS, Result
from .run import software_versions
from .verdict import (
    ALPHA_LEVEL,
    METRIC_NAMES,
    PREDICT_FOLDS,
    PREDICT_REPEATS,
    RANK_TESTS,
    community_verdict,
    prediction_sentences,
    qualify,
)

__all__ = ["LinkResult", "link", "ALPHA_LEVEL"]

#: Label-shuffled copies of the differential layer's negative control.
DIFFERENTIAL_SHUFFLES = 10
#: Design-keeping label shuffles of the guild layer's negative control.
GUILD_SHUFFLES = 100
#: q-value below which a marker × guild/taxon pair is named in the verdict's sentences.
MARKER_Q = 0.1
#: Marker pairs named in the verdict's sentences (smallest q first).
TOP_MARKERS = 3
Callback = Callable[[str, int, int], None]


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
    extra: dict[str, Any] = field(default_factory=dict, metadata={"json": False})  # figure data (gutlink.plotdata)
    differential: DifferentialResult | None = None
    prediction: Any = None
    structure: dict[str, Any] = field(default_factory=dict)
    design_checks: DesignChecks | None = None
    guilds: GuildTestResult | None = None
    markers: MarkerResult | None = None
    literature: ConcordanceResult | None = None
    literature_info: dict[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """All tests of the run, with BH q-values across them."""
        return self.tests


def _prepare(cohort: Cohort, *, group: str, case: Sequence[str], control: Sequence[str], covariates: Sequence[str],
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


@renamed(permutations="n_permutations")
def link(cohort: Cohort, *, group: str, case: Sequence[str] | str, control: str | Sequence[str],
         covariates: Sequence[str] = (), strata: str | None = None, subject: str | None = None,
         rank: str | None = None, metrics: Sequence[str] = BETA_METRICS, n_permutations: int = 999,
         rng: int | None = 0, drop_empty: bool = False, inputs: dict[str, Any] | None = None,
         callback: Callback | None = None, differential: bool = True, predict: bool = False,
         by: Literal["margin", "terms"] = "margin", rarefy: int | None = None, block: str | None = None,
         one_per_subject: str | None = None, guilds: bool = True,
         markers: Sequence[str] | pd.DataFrame | None = None, guild_shuffles: int = GUILD_SHUFFLES,
         marker_model: Literal["random", "within"] = "random",
         marker_direction: Literal["marker", "taxon"] = "marker", literature: bool = True,
         condition: str | None = None) -> LinkResult:
    """Test whether the community differs between *case* and *control* samples of column *group*.

    Parameters
    ----------
    cohort
        Abundances with sample metadata attached (see :meth:`Cohort.align`).
    group, case, control
        The metadata column and its case value(s) and control value(s) (each pooled).
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
    n_permutations, rng
        Number of permutations (``permutations=``: deprecated spelling) and the seed of every random step.
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
    guilds
        Also score the barrier and immune guilds (LPS, butyrate, mucin, H2S producers, Th17 / Treg inducers, …,
        and the barrier balance) from the bundled knowledge base and test them between cases and controls with
        the same design (covariates; subject means with repeated *subject*; paired / van Elteren within *block*;
        *guild_shuffles* label shuffles that keep whole subjects and stay within *block* / *strata*). A guild the
        knowledge base cannot place is "not assessable", never "no evidence". Its own family of tests with its
        own BH correction: it joins the sentences, never the verdict's level.
    markers
        Host markers (cytokines, calprotectin, CRP, autoantibody titres): metadata columns, or a table indexed by
        sample ID. Each marker against each guild and prevalent taxon, adjusted for *covariates*, with a random
        intercept per *subject* when subjects repeat (else per *block*; ``marker_model="within"``: fixed
        intercepts, within-subject association only); BH over the whole grid. Sentences only.
    marker_direction
        ``"marker"``: marker ~ guild / taxon; ``"taxon"``: guild / taxon CLR ~ marker, the MaAsLin direction
        (:func:`gutlink.guilds.marker_association`).
    guild_shuffles
        Label shuffles of the guild layer's negative control (0: none).
    literature, condition
        The literature layer: the differential layer's per-taxon results (run inside the layer with the same
        design when *differential* is off) tested against BugSigDB's published signatures of *condition*
        (:func:`gutlink.literature.concordance`, *n_permutations* random signatures). Without *condition*, the
        condition is inferred from the case label(s) through the literature condition vocabulary (``"CD"``,
        ``"RA"``, ``"Crohn disease"``, …) and the sentence says so; when no case label names a condition, or the
        differential result is empty, the layer is "not assessable" with the reason (never "discordant", never an
        error). An explicit *condition* BugSigDB does not know is an
        :class:`~gutlink.errors.UnknownConditionError` naming the nearest conditions. Its sentences never change
        the verdict's level; ``literature_info`` records how the condition was chosen.

    Returns
    -------
    LinkResult
        ``structure`` states how subjects and blocks were handled (fields and ``sentences``). The samples are
        analysed in sample-ID order: the row order of the input changes no output.
    """
    cases, controls = as_values(case), as_values(control)
    cond_source = _condition(condition, cases) if literature else {}
    step = _progress(callback, 3 + 3 * len(metrics) + int(differential) + int(predict) + int(guilds)
                     + int(markers is not None) + int(literature))
    step("preparing cohort")
    gen = np.random.default_rng(rng)
    c, every = _prepare(cohort, group=group, case=cases, control=controls, covariates=covariates, strata=strata,
                        subject=subject, block=block, rank=rank, drop_empty=drop_empty,
                        one_per_subject=one_per_subject, gen=gen)
    checks = _checks(every, Design(group=group, case=cases, control=controls, covariates=tuple(covariates),
                                   subject=subject, block=block, strata=strata))
    # the community layer models repeated subjects (not when permutations already stay within them)
    unit = subject if _repeated(c, subject) and strata != subject else None
    step("alpha diversity" + (f" (rarefied to {rarefy} reads)" if rarefy else ""))
    levels = group if len(cases) > 1 else None
    alpha_cohort = _rarefied(c, rarefy, gen, group, cases, controls)
    alpha = alpha_test(alpha_cohort, covariates=covariates, levels_column=levels, block=block, subject=unit)
    rarefied = [{**h, "scope": "alpha diversity only"} for h in alpha_cohort.history if h.get("op") == "rarefy"]
    ords, perms, disps = {}, {}, {}
    dms: dict[str, Any] = {}  # DistanceMatrix, or None where the tests run on CLR coordinates
    ref_metric = "braycurtis" if "braycurtis" in metrics else metrics[0]
    for metric in metrics:
        step(f"{METRIC_NAMES.get(metric, metric)} distances and PCoA")
        if metric == "aitchison" and c.n_features < c.n_samples:
            # Euclidean on CLR: PCoA, PERMANOVA and PERMDISP run on the coordinates, no n x n matrix
            dms[metric] = None
            ords[metric] = ordination(c, metric)
        else:
            dms[metric] = beta_diversity(c, metric)  # type: ignore[arg-type]
            ords[metric] = pcoa(dms[metric], metric=metric)
        step(f"PERMANOVA ({METRIC_NAMES.get(metric, metric)}, {n_permutations} permutations)")
        perms[metric] = permanova(c, metric=metric, covariates=covariates, strata=strata, block=block, subject=unit,
                                  by=by, n_permutations=n_permutations, rng=gen, distances=dms[metric])
        step(f"PERMDISP ({METRIC_NAMES.get(metric, metric)})")
        disps[metric] = permdisp(c, metric=metric, n_permutations=n_permutations, strata=strata, block=block,
                                 subject=unit, rng=gen, distances=dms[metric])
        if metric != ref_metric:
            dms.pop(metric, None)  # only the reference metric's matrix is needed later (dysbiosis): free the rest
    step("dysbiosis score")
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
    guild_res = marker_res = None
    guild_skipped: list[str] = []
    if guilds:
        step(f"barrier and immune guilds ({guild_shuffles} label shuffles)")
        try:
            guild_res = _guilds(every, covariates=covariates, subject=subject, strata=strata, block=block,
                                n_shuffles=guild_shuffles, gen=gen)
        except DesignError as err:  # the table holds no taxa the trait knowledge base can place
            guild_skipped = [f"Barrier and immune guilds: not assessable ({err})"]
    if markers is not None:
        step("host markers × guilds and taxa")
        marker_res = _markers(every, markers, covariates=covariates, subject=subject, block=block,
                              repeated=marker_model, direction=marker_direction)
    lit_res, lit_info = None, dict(cond_source)
    if literature:
        step("literature concordance (BugSigDB)")
        lit_res, lit_info = _literature(every, diff, cond_source, covariates=covariates, subject=subject,
                                        strata=strata, block=block, n_permutations=n_permutations, gen=gen)
    tests = _all_tests(alpha, perms, disps, dys)
    labels = c.metadata[LABEL].astype(str)
    n_per = {"case": int((labels == "case").sum()), "control": int((labels == "control").sum())}
    verdict = community_verdict(tests, perms, disps, dys, n_per, diff, rarefied_history=rarefied)
    verdict["sentences"][-1:-1] = prediction_sentences(prediction)
    red = checks.status == "red"
    verdict["sentences"][-1:-1] = (guild_sentences(guild_res, red=red) + guild_skipped
                                   + marker_sentences(marker_res, red=red)
                                   + literature_sentences(lit_res, lit_info, red=red))
    structure = _structure(c, subject=subject, block=block, strata=strata, one_per_subject=one_per_subject,
                           alpha=alpha, dys=dys, perms=perms)
    verdict["sentences"][-1:-1] = structure["sentences"]
    verdict = qualify(verdict, checks)
    summary = _cohort_summary(cohort, c, group, cases, controls)
    summary["history"] += rarefied
    return LinkResult(inputs=dict(inputs or {}), group=group, case=cases, control=" + ".join(controls),
                      covariates=tuple(covariates), strata=strata, rank=rank, n_per_group=n_per,
                      cohort_summary=summary, alpha=alpha, ordinations=ords, permanova=perms, permdisp=disps,
                      dysbiosis=dys, tests=tests, verdict=verdict, versions=software_versions(),
                      seed=rng if isinstance(rng, int) else None, differential=diff, prediction=prediction,
                      structure=structure, design_checks=checks, guilds=guild_res, markers=marker_res,
                      literature=lit_res, literature_info=lit_info,
                      extra=figure_data(c, group=group, differential=diff))


def _checks(cohort: Cohort, design: Design) -> DesignChecks:
    """The design checks of the run; an unfittable design (a fatal check) is an error before any test."""
    checks = check(cohort, design)
    if len(checks.fatal):
        raise DesignError(" ".join(f"{r.message} {r.fix}".strip() for r in checks.fatal.itertuples()))
    return checks


def _rarefied(c: Cohort, depth: int | None, gen: np.random.Generator, group: str, cases: Sequence[str],
              control: Sequence[str]) -> Cohort:
    if depth is None:
        return c
    if c.units != "counts":
        raise DesignError(f"rarefy={depth} needs read counts, but the table holds {c.units}.")
    r = c.rarefy(depth, rng=gen)
    return case_control(r, group=group, case=cases, control=control)


# ----------------------------------------------------------------------------- prediction layer


def _dysbiosis(c: Cohort, *, metric: str, subject: str | None, unit: str | None, strata: str | None,
               block: str | None, distances: Any) -> DysbiosisResult:
    """Dysbiosis scores (never against the sample's own subject or block), tested on subject means when subjects
    repeat."""
    if unit is None and subject is not None:  # every subject once: exclusion is moot, the test is per sample
        subject = None
    return dysbiosis_score(c, metric=metric, subject=subject, strata=strata, block=block, distances=distances)


def _prediction(cohort: Cohort, *, subject: str | None, block: str | None, gen: np.random.Generator) -> Any:
    """Out-of-sample prediction of the case/control label (:func:`gutlink.predict.cross_validate`)."""
    n_min = int(cohort.metadata[LABEL].astype(str).value_counts().min())
    return cross_validate(cohort, group=LABEL, case="case", control="control", model="lasso", subject=subject,
                          block=block,
                          n_repeats=PREDICT_REPEATS, n_folds=min(PREDICT_FOLDS, n_min), rng=gen)


# ----------------------------------------------------------------------------- differential layer
def _differential(cohort: Cohort, *, covariates: Sequence[str], subject: str | None, strata: str | None,
                  block: str | None, gen: np.random.Generator) -> DifferentialResult:
    """Which taxa differ between the case/control labels, adjusted for the same covariates.

    Uses every sample of the design: with repeated subjects a random intercept per subject replaces the
    one-sample-per-subject reduction the community tests need.
    """
    formula = "~ " + " + ".join(quote(c) for c in [LABEL, *covariates])
    return differential_test(cohort, formula, reference={LABEL: "control"},
                             subject=subject if _repeated(cohort, subject) else None, block=block,
                             n_shuffles=DIFFERENTIAL_SHUFFLES, strata=strata, rng=gen, alpha=ALPHA_LEVEL)


# ----------------------------------------------------------------------------- literature layer
def _condition(condition: str | None, cases: Sequence[str]) -> dict[str, Any]:
    """How the literature layer's condition is chosen: given (an unknown name is an error naming the nearest
    ones), inferred from a case label through the vocabulary, or none (the layer is then not assessable)."""
    if condition is not None:
        cond = resolve(condition)
        return {"condition": cond.name, "labels": list(cond.labels), "source": "given", "given": condition}
    for value in cases:
        try:
            cond = resolve(str(value))
        except UnknownConditionError:
            continue
        return {"condition": cond.name, "labels": list(cond.labels), "source": "inferred", "case_label": str(value)}
    return {"condition": None, "source": "none",
            "reason": f"no condition given and the case label(s) {', '.join(map(repr, cases))} name no condition "
                      "the literature vocabulary knows; pass condition= (--condition NAME)"}


def _literature(cohort: Cohort, diff: DifferentialResult | None, info: dict[str, Any], *,
                covariates: Sequence[str], subject: str | None, strata: str | None, block: str | None,
                n_permutations: int, gen: np.random.Generator) -> tuple[ConcordanceResult | None, dict[str, Any]]:
    """Concordance of the per-taxon results with BugSigDB (the differential layer's, else run here with the
    same design); not assessable, with the reason, when no condition is known or the taxa cannot be placed."""
    out = dict(info)
    if info.get("condition") is None:
        return None, {**out, "verdict": "not assessable"}
    if diff is None:
        diff = _differential(cohort, covariates=covariates, subject=subject, strata=strata, block=block, gen=gen)
        out["differential"] = "run inside the literature layer (same design)"
    try:
        res = concordance(diff, condition=str(info.get("given", info["condition"])), term=diff.terms[0]
                          if diff.terms else None, n_permutations=n_permutations, alpha=ALPHA_LEVEL, rng=gen)
    except DesignError as err:  # every feature above genus rank, no tested term
        return None, {**out, "verdict": "not assessable", "reason": str(err)}
    return res, {**out, "verdict": res.verdict, "reason": res.reason}


def literature_sentences(res: ConcordanceResult | None, info: dict[str, Any], *, red: bool = False) -> list[str]:
    """The literature layer's summary: the concordance verdict with its numbers, how the condition was chosen,
    and the coverage; "not assessable" with the reason. Sentences only: never the verdict's level."""
    if not info:
        return []
    how = {"given": "", "inferred": f", inferred from the case label {info.get('case_label')!r}"}.get(
        str(info.get("source")), "")
    if res is None:
        name = info.get("condition") or "no condition"
        return [f"Literature (BugSigDB, {name}{how}): not assessable — {info.get('reason', '')}."]
    text = f"Literature (BugSigDB {', '.join(res.labels)}{how}): {res.verdict} — {res.reason}."
    cov = res.coverage
    if cov:
        text += (f" {cov['n_features_matched']} of {cov['n_features']} tested taxa matched an NCBI genus "
                 f"(unmatched taxa never count as disagreement); the cohort sees {cov['n_signature_genera_visible']} "
                 f"of {cov['n_signature_genera']} signature genera.")
    if red and res.verdict == "concordant":
        text += " Measured, but not evidence while a design check is red."
    return [text]


# ----------------------------------------------------------------------------- guild and host-marker layers
def _guilds(cohort: Cohort, *, covariates: Sequence[str], subject: str | None, strata: str | None,
            block: str | None, n_shuffles: int, gen: np.random.Generator) -> GuildTestResult:
    """Guild loads and the barrier balance, case vs control, on every sample of the design: subject means when
    subjects repeat (each subject one class; a subject that holds both classes is stratified on), paired or van
    Elteren within blocks, shuffles that keep whole subjects and stay within blocks / strata."""
    unit = subject if _repeated(cohort, subject) and strata != subject else None
    return guild_test(cohort, covariates=covariates, subject=unit, block=block, strata=strata,
                      n_shuffles=n_shuffles, rng=gen)


def _markers(cohort: Cohort, markers: Sequence[str] | pd.DataFrame, *, covariates: Sequence[str],
             subject: str | None, block: str | None, repeated: Literal["random", "within"],
             direction: Literal["marker", "taxon"] = "marker") -> MarkerResult:
    """Each host marker against each guild and prevalent taxon, with a random intercept per subject (repeated
    samples) or, without one, per block."""
    if isinstance(markers, str):
        markers = [markers]
    return marker_association(cohort, markers=markers, covariates=covariates,
                              subject=subject if _repeated(cohort, subject) else None, block=block,
                              repeated=repeated, direction=direction)


def _guild_name(metric: str) -> str:
    return metric.replace("_", " ")


def guild_sentences(res: GuildTestResult | None, *, red: bool = False) -> list[str]:
    """The guild layer's summary: which scores differ at q < 0.05 (design-aware rank test), which could not be
    assessed, and the shuffle control. Its own family of tests: it never changes the verdict's level."""
    if res is None:
        return []
    t = res.tests
    adjusted = t[t["test"].isin(("ols", "mixedlm"))]
    rank = adjusted if len(adjusted) else t[t["test"].isin(RANK_TESTS)]
    sig = rank[rank["q_value"] < ALPHA_LEVEL].sort_values("q_value")
    how = "covariate-adjusted, " if len(adjusted) else ""
    lead = (f"Barrier and immune guilds ({len(rank)} scores tested on {res.structure}, {how}own BH family, not "
            "part of the verdict's level): ")
    if sig.empty:
        text = lead + f"no guild score differs between cases and controls at q < {ALPHA_LEVEL}."
    else:
        word = "difference" if len(adjusted) else "shift"
        parts = [f"{_guild_name(r.metric)} {'higher' if r.effect > 0 else 'lower'} in cases ({word} {r.effect:.3g}, "
                 f"q {_fmt_q(r.q_value)})" for r in sig.itertuples()]
        text = lead + "; ".join(parts) + "."
        if red:
            text += " Measured, but not evidence while a design check is red."
    out = [text]
    unassessable = t.loc[t["test"] == "not_assessable", "metric"].tolist()
    if unassessable:
        out.append(f"Not assessable (the knowledge base places under half of the abundance): "
                   f"{', '.join(map(_guild_name, unassessable))} — no conclusion either way.")
    if len(res.shuffle):
        frac = float(res.shuffle["fraction_p_below_0.05"].median())
        out.append(f"Guild negative control: with {res.n_shuffles} design-keeping label shuffles a median {frac:.0%} "
                   "of the guild rank tests had p < 0.05 (about 5 % when calibrated).")
    return out


def marker_sentences(res: MarkerResult | None, *, red: bool = False) -> list[str]:
    """The host-marker layer's summary: pairs at q < 0.1 over the whole marker × guild/taxon grid, the strongest
    named with sign and q."""
    if res is None:
        return []
    t = res.table
    hits = t[t["q_value"] < MARKER_Q].sort_values(["q_value", "p_value"], kind="mergesort")
    text = (f"Host markers: {t['marker'].nunique()} marker(s) × {t['predictor'].nunique()} guilds and taxa "
            f"({len(t)} pairs; {res.model}); {len(hits)} pair(s) at q < {MARKER_Q}")
    if hits.empty:
        return [text + ": no evidence that a guild or taxon tracks these markers."]
    named = ", ".join(f"{r.marker} {'rises' if r.effect > 0 else 'falls'} with {_guild_name(str(r.predictor))} "
                      f"(q {_fmt_q(r.q_value)})" for r in hits.head(TOP_MARKERS).itertuples())
    text += f", e.g. {named}."
    if red:
        text += " Measured, but not evidence while a design check is red."
    return [text, "Marker associations are correlations in observational data; a guild tracking a marker does not "
                  "show which drives which."]


def _fmt_q(q: float) -> str:
    return "< 0.001" if q < 0.001 else f"= {q:.2g}"


def _progress(callback: Callback | None, total: int) -> Callable[[str], None]:
    counter = iter(range(total + 1))

    def step(name: str) -> None:
        i = next(counter, total)
        if callback is not None:
            callback(name, i, total)

    return step


def _cohort_summary(original: Cohort, analysed: Cohort, group: str, cases: tuple[str, ...],
                    control: tuple[str, ...]) -> dict[str, Any]:
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
    for metric, disp in disps.items():
        g = disp.groups.set_index("group")["mean_distance_to_centroid"]
        rows.append({**dict.fromkeys(TEST_COLUMNS, np.nan), "analysis": "permdisp", "metric": metric,
                     "test": "permdisp", "comparison": "case vs control", "statistic": disp.statistic,
                     "p_value": disp.p_value, "effect": float(g.get("case", np.nan) - g.get("control", np.nan)),
                     "effect_name": "difference_in_mean_distance_to_centroid"})
    rows += dys.tests.to_dict("records")
    frame = pd.DataFrame(rows, columns=TEST_COLUMNS)
    frame["q_value"] = bh(frame["p_value"].to_numpy(dtype=float))
    return frame
