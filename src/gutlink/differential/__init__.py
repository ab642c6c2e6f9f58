"""Which taxa differ? A hurdle model: abundance where present, and presence, with the compositional bias corrected.

Every feature is fitted at once by matrix algebra. The abundance model regresses the log2 ratio of each non-zero
value to a zero-free per-sample reference on the formula's design, using only the samples where the feature is
present (as MaAsLin 3 does; see :mod:`gutlink.differential._transform` for why zeros are not floored by
default); each coefficient's mode across features (the shift that composition induces in every feature) is
removed, and the SEs account for that estimate (see :mod:`gutlink.differential._linmod`). A random intercept per
subject (or block: household, pair, family; or both, nested) is fitted for all features together by REML
(:mod:`gutlink.differential._mixed`, :mod:`gutlink.differential._nested`). Presence / absence is modelled
separately by Firth logistic regression,
adjusted for log sequencing depth with count data, clustered on the subject / block and conditioned on the block
(:mod:`gutlink.differential._cluster`), and a label-shuffled negative control, shuffled as the design is
structured, says how many discoveries each part of the same pipeline makes on the user's own data when there is
nothing to find. A categorical term with
three or more levels is also tested as a whole (``.omnibus``: a multi-df F test of the bias-corrected
coefficients, and a penalised likelihood-ratio test of presence on levels − 1 df).

Examples
--------
>>> from gutlink import differential
>>> from gutlink.datasets import toy
>>> res = differential.test(toy(), "~ group", group="group", case="case", control="control")
>>> res.model, res.n_samples, res.table["term"].unique().tolist()
('linda-ols', 19, ['group[T.case]', 'log_depth'])
>>> res.table.columns[:8].tolist()
['feature_id', 'lineage', 'term', 'comparison', 'effect', 'se', 'ci_low', 'ci_high']
>>> bool(res.table["q_value"].dropna().between(0, 1).all())  # NaN: taxa whose non-zero samples cannot be fitted
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from .. import _memory
from ..cohort import Cohort
from ..errors import DesignError
from ..formula import quote
from ..parallel import on_cluster
from ..results import Result, jsonable
from ._cluster import clustered_tests, presence_design
from ._design import (
    Design,
    Omnibus,
    build_design,
    describe,
    group_labels,
    omnibus_terms,
    rebuild,
)
from ._linmod import WLS_CHUNK, OmnibusFit, TermFit, bias_corrected, ols_terms, omnibus_f
from ._mixed import check_blocks, lmm_terms
from ._nested import nested_lmm, nested_lmm_terms
from ._prevalence import LRTest, prevalence_tests, single_threaded_blas
from ._shuffle import P_CUT, describe_control, negative_control
from ._table import COLUMNS, OMNIBUS_COLUMNS, effect_name, group_summary, joint, lineages, omnibus_frame, term_frame
from ._transform import DEPTH_CORRELATION_CUT, ZeroHandling, depth_correlation, log_ratios, work_bytes

__all__ = ["COLUMNS", "OMNIBUS_COLUMNS", "DifferentialResult", "describe_control", "test"]

Fitter = Callable[[np.ndarray], list[TermFit]]


@dataclass(frozen=True)
class DifferentialResult(Result):
    """Per-feature effects of every tested term, with the prevalence model and the negative control.

    ``omnibus``: one row per feature and multi-level categorical term (``term`` is the variable, e.g.
    ``Diagnosis``): does the feature differ among the levels at all? (see :func:`test`); None when none was run.
    """

    REPORT_TITLE: ClassVar[str] = "differential abundance — which taxa differ?"

    table: pd.DataFrame = field(metadata={"json": False})
    prevalence: pd.DataFrame | None = field(metadata={"json": False})
    formula: str
    model: str
    terms: tuple[str, ...]
    bias: dict[str, float]
    n_samples: int
    n_features: int
    design: dict[str, Any]
    transform: dict[str, Any]
    random_effect: dict[str, Any] | None = None
    negative_control: dict[str, Any] | None = None
    history: tuple[dict[str, Any], ...] = ()
    alpha: float = 0.05
    meta: Any = None  # a MetaResult pooling the same model across studies (gutlink differential --study)
    omnibus: pd.DataFrame | None = field(default=None, metadata={"json": False})
    presence_model: dict[str, Any] | None = None

    def significant(self, q: float | None = None) -> pd.DataFrame:
        """Rows of the abundance table with ``q_value < q`` (default: the result's alpha)."""
        cut = self.alpha if q is None else q
        return self.table[self.table["q_value"] < cut]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (the full tables go to ``differential.tsv``), with discoveries per term."""
        out = super().to_dict()
        out["discoveries"] = {t: int((g["q_value"] < self.alpha).sum()) for t, g in self.table.groupby("term")}
        if self.prevalence is not None:
            out["prevalence_discoveries"] = {t: int((g["q_value"] < self.alpha).sum())
                                             for t, g in self.prevalence.groupby("term")}
        if self.omnibus is not None:
            out["omnibus_discoveries"] = {t: int((g["q_value"] < self.alpha).sum())
                                          for t, g in self.omnibus.groupby("term")}
            if "q_joint" in self.omnibus.columns:
                out["omnibus_joint_discoveries"] = {t: int((g["q_joint"] < self.alpha).sum())
                                                    for t, g in self.omnibus.groupby("term")}
        out["significant"] = jsonable(self.discoveries())
        out["history"] = jsonable(list(self.history))
        return out

    def discoveries(self) -> pd.DataFrame:
        """Rows with ``q_value`` or ``q_joint`` below alpha: the taxa that differ, with effect, CI and q-values."""
        cols = [c for c in ("feature_id", "term", "effect", "ci_low", "ci_high", "q_value", "p_value_prevalence",
                            "q_joint") if c in self.table.columns]
        hit = self.table["q_value"] < self.alpha
        if "q_joint" in self.table.columns:
            hit |= self.table["q_joint"] < self.alpha
        return self.table.loc[hit, cols].reset_index(drop=True)


# ----------------------------------------------------------------------------- preparation
def _features(cohort: Cohort, min_prevalence: float) -> Cohort:
    x = cohort.dense()
    prevalence = (x > 0).mean(axis=0)
    keep = (prevalence >= min_prevalence) & (x.sum(axis=0) > 0)
    if not keep.any():
        raise DesignError(f"all {cohort.n_features} features are absent (all zero) or below "
                          f"min_prevalence={min_prevalence} in the {cohort.n_samples} samples tested; lower "
                          "min_prevalence or check the sample selection.")
    out = cohort.subset(features=keep)
    op = {"op": "filter_prevalence", "min_prevalence": min_prevalence, "n_features_kept": int(keep.sum()),
          "n_features_dropped": int((~keep).sum())}
    return replace(out, history=cohort.history + (op,))


def _column(cohort: Cohort, name: str | None, role: str) -> np.ndarray | None:
    if name is None:
        return None
    if name not in cohort.metadata.columns:
        raise DesignError(f"metadata has no {role} column {name!r}.")
    values = cohort.metadata[name]
    check_blocks(values, name)
    return values.astype(str).to_numpy()


@dataclass(frozen=True)
class Structure:
    """The sample structure of a design: subject IDs (one class each), blocks (household / pair / family: may hold
    cases and controls), and the grouping the models cluster on (the block when given, else the subject)."""

    subjects: np.ndarray | None = None
    blocks: np.ndarray | None = None
    subject: str | None = None
    block: str | None = None

    @property
    def grouping(self) -> np.ndarray | None:
        """Random-intercept / cluster IDs: the block when given (subjects nest in blocks), else the subject."""
        return self.blocks if self.blocks is not None else self.subjects

    @property
    def grouping_name(self) -> str | None:
        return self.block if self.block is not None else self.subject

    @property
    def nested(self) -> bool:
        """Subjects within blocks, both given: the abundance model gets nested random intercepts."""
        return self.subjects is not None and self.blocks is not None


def _structure(cohort: Cohort, subject: str | None, block: str | None) -> Structure:
    subjects, blocks = _column(cohort, subject, "subject"), _column(cohort, block, "block")
    if subjects is not None and blocks is not None:
        spans = pd.DataFrame({"s": subjects, "b": blocks}).groupby("s")["b"].nunique()
        if (spans > 1).any():
            raise DesignError(f"{int((spans > 1).sum())} subject(s) of {subject!r} appear in several blocks of "
                              f"{block!r} (e.g. {spans[spans > 1].index[0]!r}); a subject must lie in one block. "
                              "Check the two columns, or give only one of them.")
    return Structure(subjects, blocks, subject, block)


def _load(cohort: Cohort, load: str | None) -> np.ndarray | None:
    if load is None:
        return None
    if load not in cohort.metadata.columns:
        raise DesignError(f"metadata has no total-load column {load!r}.")
    values = pd.to_numeric(cohort.metadata[load], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(values) & (values > 0)).all():
        raise DesignError(f"total load {load!r} must be a positive number for every sample tested "
                          f"({int((~(np.isfinite(values) & (values > 0))).sum())} are not).")
    return values


def _fitter(design: Design, x: np.ndarray, structure: Structure, w: np.ndarray | None) -> Fitter:
    """OLS; a random intercept per subject or block; or nested intercepts (subjects within blocks)."""
    contrasts = [t.contrast for t in design.terms]
    if structure.nested:
        return nested_lmm_terms(x, structure.subjects, structure.blocks, contrasts, w)  # type: ignore[arg-type]
    groups = structure.grouping
    return ols_terms(x, contrasts, w) if groups is None else lmm_terms(x, groups, contrasts, w)


def _modelled(y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Responses with excluded zeros (NaN) set to 0, and the mask of modelled values (None: all)."""
    present = np.isfinite(y)
    if present.all():
        return y, None
    y[~present] = 0.0  # in place: no second samples × features array
    return y, present


#: What lowers the memory of a differential run, named by every estimate that stops one.
MEMORY_HINT = ("Memory grows with samples × tested taxa: test fewer taxa (a higher --min-prevalence, or --rank genus), "
               "analyse fewer samples, or, on a machine with more memory, raise the limit with GUTLINK_MEMORY=<size> "
               "(e.g. 64G).")


def memory_estimate(n: int, m: int, p: int, *, groups: int | None = None, clustered_presence: bool = False,
                    zeros: ZeroHandling = "exclude", pseudocount: float | None = None,
                    prevalence: bool = True) -> int:
    """Peak bytes :func:`test` allocates for *n* samples × *m* tested features and *p* design columns (beyond
    the cohort it was given): the tested table, the log ratios, the masks, then the larger of the abundance
    model (residuals and one term's influence at a time; with *groups* random-effect groups, block sums and the
    REML work arrays) and the presence model (bounded chunks; with clusters, the residuals and cluster sums).
    Calibrated on ``benchmarks/bench_differential_scale.py``."""
    cells = n * m
    held = 8 * cells + work_bytes(n, m, zeros, pseudocount) + 2 * cells
    if groups is None:
        abundance = 16 * cells + 6 * min(WLS_CHUNK, cells) * 8
    else:
        abundance = 48 * cells + 2 * 8 * groups * m * p
    presence = 0 if not prevalence else (8 * cells + 8 * groups * m * p) if clustered_presence and groups \
        else 16 * min(2**19, cells) * 8
    return int(held + max(abundance, presence))


# ----------------------------------------------------------------------------- assembly
def _frames(design: Design, fits: Sequence[Any], cohort: Cohort, summary: pd.DataFrame, *, model: str,
            scale: str, prevalence: bool, n: np.ndarray | int | None = None) -> pd.DataFrame:
    lineage = lineages(cohort.taxonomy)
    features = list(cohort.feature_ids)
    extra = {c: summary[c].to_numpy() for c in summary.columns}
    frames = []
    for term, fit in zip(design.terms, fits):
        effect = fit.effect if hasattr(fit, "effect") else fit.estimate
        frames.append(term_frame(term, effect, fit.se, fit.df, features=features, lineage=lineage, model=model,
                                 n=design.n if n is None else n, effect_name=effect_name(term, scale, prevalence), extra=extra,
                                 p_value=getattr(fit, "p_value", None)))
    return pd.concat(frames, ignore_index=True)


def _shuffle_count(design: Design, y: np.ndarray, w: np.ndarray | None, presence: Presence | None, variable: str,
                   *, structure: Structure, correct: bool, alpha: float) -> Callable[[pd.Series], dict]:
    """Per shuffled copy: discoveries at q < alpha per part (abundance, presence, joint) for each term of the
    shuffled variable, and the fraction of presence p-values below 0.05."""
    from ..multitest import bh
    from ._linmod import t_test
    from ._table import joint_p

    idx = [i for i, t in enumerate(design.terms) if t.variable == variable or variable in t.name]

    def count(values: pd.Series) -> dict[str, dict[str, float]]:
        data = design.metadata.assign(**{variable: values.to_numpy()})
        x = rebuild(design, data)
        fits = bias_corrected(_fitter(design, x, structure, w), y, correct=correct)
        prev = None if presence is None else presence.fit(x, [design.terms[i].contrast for i in idx])[0]
        out = {}
        for k, i in enumerate(idx):
            p_abund = np.asarray(t_test(fits[i].effect, fits[i].se, fits[i].df)[1])
            row: dict[str, float] = {"abundance": int((bh(p_abund) < alpha).sum())}
            if prev is not None and prev[k].p_value is not None:
                p_prev = np.asarray(prev[k].p_value)
                row["presence"] = int((bh(p_prev) < alpha).sum())
                row["joint"] = int((bh(joint_p(p_abund, p_prev)) < alpha).sum())
                row["presence_p05"] = float(np.mean(p_prev[np.isfinite(p_prev)] < P_CUT)) \
                    if np.isfinite(p_prev).any() else float("nan")
            out[design.terms[i].name] = row
        return out

    return count


def _control_variable(design: Design) -> str:
    if design.group is not None:
        return design.group
    first = design.terms[0]
    if first.variable is None:
        raise DesignError("the negative control shuffles the first term's variable, but the first term "
                          f"{first.name!r} is not a plain column; put the variable of interest first.")
    return first.variable


def _random_effect(design: Design, y: np.ndarray, w: np.ndarray | None, structure: Structure) -> dict | None:
    blocks = structure.grouping
    if blocks is None:
        return None
    from ._mixed import lmm

    out: dict[str, Any] = {"subject": structure.subject, "block": structure.block,
                           "grouping": structure.grouping_name, "n_groups": int(pd.Series(blocks).nunique()),
                           "method": "REML", "df_rule": "between-within"}
    if structure.nested:  # subjects within blocks: two variance ratios per feature
        nfit = nested_lmm(design.matrix, y, structure.subjects, blocks, w)  # type: ignore[arg-type]
        ds, db = nfit.delta_subject[nfit.fitted], nfit.delta_block[nfit.fitted]
        total = 1 + ds + db
        return {**out, "structure": f"subjects of {structure.subject!r} within blocks of {structure.block!r}",
                "df_rule": "containment (block / subject / sample)",
                "n_subjects": int(pd.Series(structure.subjects).nunique()),
                "median_icc": float(np.median((ds + db) / total)),
                "median_icc_block": float(np.median(db / total)),
                "median_icc_subject": float(np.median(ds / total)),
                "fraction_at_zero": float(((ds == 0) & (db == 0)).mean())}
    fit = lmm(design.matrix, y, blocks, w)
    delta = fit.delta[fit.fitted]
    icc = delta / (1 + delta)
    out.update({"median_icc": float(np.median(icc)), "fraction_at_zero": float((delta == 0).mean())})
    if structure.subjects is not None:
        out["n_subjects"] = int(pd.Series(structure.subjects).nunique())
    return out


@dataclass(frozen=True)
class Presence:
    """The presence model of one analysis: 0/1 responses, the depth covariate and the sample structure."""

    present: np.ndarray
    depth: np.ndarray | None
    structure: Structure
    n_jobs: int = 1

    def design(self, x: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """The presence design for the (possibly shuffled) formula design *x*."""
        return presence_design(x, depth=self.depth, blocks=self.structure.blocks)

    def fit(self, x: np.ndarray, contrasts: Sequence[np.ndarray],
            joint: Sequence[np.ndarray] = ()) -> tuple[list[TermFit], list[LRTest]]:
        """Presence tests of *contrasts* (and contrast matrices *joint*) of the formula design *x*."""
        z, _ = self.design(x)
        pad = z.shape[1] - x.shape[1]
        vecs = [np.r_[np.asarray(v, dtype=float), np.zeros(pad)] for v in contrasts]
        mats = [np.hstack([np.atleast_2d(m), np.zeros((np.atleast_2d(m).shape[0], pad))]) for m in joint]
        groups = self.structure.grouping
        if groups is None:
            return prevalence_tests(z, self.present, vecs, mats, n_jobs=self.n_jobs)
        return clustered_tests(z, self.present, vecs, mats, clusters=groups, n_jobs=self.n_jobs)

    def describe(self, x: np.ndarray) -> dict[str, Any]:
        """JSON-safe description: the model, its covariates beyond the formula, and the clusters."""
        _, added = self.design(x)
        s = self.structure
        clustered = s.grouping is not None
        return {
            "model": "firth-logistic GEE (independence), MBN-corrected cluster-robust Wald" if clustered
            else "firth-logistic, penalised likelihood-ratio test",
            "depth_covariate": "centred log library size (raw counts)" if "log_depth" in added
            else "log library size already in the formula" if self.depth is not None else None,
            "added_columns": added, "clusters": s.grouping_name,
            "n_clusters": int(pd.Series(s.grouping).nunique()) if clustered else None,
            "within_block": s.block,
        }


def _abundance_depth(cohort: Cohort, formula: str, design: Design, words: dict[str, Any], wanted: bool | None,
                     applies: bool) -> tuple[Cohort, str, Design, dict[str, Any]]:
    """Add the centred log library size to the formula when *wanted* (``None``: when it correlates with a tested
    column); returns the cohort with the column, the formula, its design and what was done."""
    if cohort.units != "counts" or not applies or wanted is False:
        why = ("not count data" if cohort.units != "counts" else "only with zeros='exclude' and no load"
               if not applies else "switched off")
        return cohort, formula, design, {"added": False, "reason": why}
    depth = np.asarray(cohort.dense().sum(axis=1), dtype=float)
    kept = depth[design.keep]
    if (kept <= 0).any():
        return cohort, formula, design, {"added": False, "reason": "some samples have no reads"}
    r = depth_correlation(kept, _tested_columns(design))
    if wanted is None and r <= DEPTH_CORRELATION_CUT:
        return cohort, formula, design, {"added": False, "correlation": round(r, 4),
                                         "reason": f"log depth correlates with no tested column (|r| ≤ "
                                                   f"{DEPTH_CORRELATION_CUT})"}
    name, k = "log_depth", 1
    while name in cohort.metadata.columns:
        name, k = f"log_depth_{k}", k + 1
    logd = np.log(np.where(depth > 0, depth, np.nan))
    cohort = cohort.with_metadata(cohort.metadata.assign(**{name: logd - np.nanmean(np.log(kept))}))
    formula = f"{formula} + {quote(name)}"
    design = build_design(cohort.metadata, formula, **words)
    return cohort, formula, design, {"added": True, "term": name, "correlation": round(r, 4),
                                     "reason": "asked for" if wanted else f"|r| = {r:.2f} with a tested column"}


def _presence(x: np.ndarray, depth: np.ndarray | None, structure: Structure, n_jobs: int) -> Presence:
    return Presence(x > 0, depth, structure, n_jobs)  # 0/1 as bool (1 byte a cell); the fits take float chunks


def _prevalence_table(design: Design, presence: Presence, cohort: Cohort, summary: pd.DataFrame,
                      omnibus: Sequence[Omnibus] = ()) -> tuple[pd.DataFrame, list[LRTest]]:
    fits, tests = presence.fit(design.matrix, [t.contrast for t in design.terms], [o.matrix for o in omnibus])
    model = "firth-logistic" if presence.structure.grouping is None else "firth-logistic-gee"
    return _frames(design, fits, cohort, summary, model=model, scale="clr", prevalence=True), tests


def _omnibus_table(specs: Sequence[Omnibus], fits: Sequence[OmnibusFit], tests: Sequence[LRTest] | None,
                   design: Design, cohort: Cohort, summary: pd.DataFrame, *, model: str,
                   n: np.ndarray | None) -> pd.DataFrame | None:
    if not specs:
        return None
    lineage = lineages(cohort.taxonomy)
    extra = {c: summary[c].to_numpy() for c in summary.columns}
    frames = []
    for i, (spec, fit) in enumerate(zip(specs, fits)):
        frames.append(omnibus_frame(spec, fit, features=list(cohort.feature_ids), lineage=lineage, model=model,
                                    n=design.n if n is None else n, extra=extra,
                                    prevalence=None if tests is None else tests[i]))
    return pd.concat(frames, ignore_index=True)


def _tested_columns(design: Design) -> np.ndarray:
    used = np.zeros(design.p, dtype=bool)
    for t in design.terms:
        used |= np.abs(t.contrast) > 0
    return design.matrix[:, used]


def _run_control(design: Design, y: np.ndarray, w: np.ndarray | None, presence: Presence | None, cohort: Cohort,
                 structure: Structure, *, n_shuffles: int, strata: str | None, rng: Any, correct: bool,
                 alpha: float) -> dict[str, Any]:
    variable = _control_variable(design)
    if strata is not None and strata not in cohort.metadata.columns:
        raise DesignError(f"metadata has no strata column {strata!r}.")
    levels = None if strata is None else cohort.metadata[strata].astype(str).to_numpy()
    count = _shuffle_count(design, y, w, presence, variable, structure=structure, correct=correct, alpha=alpha)
    return negative_control(count, design.metadata[variable], n_shuffles=n_shuffles, strata=levels,
                            blocks=structure.blocks, subjects=structure.subjects, rng=rng, alpha=alpha)


def test(cohort: Cohort, formula: str, *, group: str | None = None, case: str | Sequence[str] | None = None,
         control: str | None = None, reference: Mapping[str, str] | None = None,
         contrasts: Sequence[tuple[str, str, str]] | Literal["pairwise"] | None = None,
         subject: str | None = None, block: str | None = None, rank: str | None = None, prevalence: bool = True,
         presence_depth: bool = True, abundance_depth: bool | None = None,
         min_prevalence: float = 0.1, zeros: ZeroHandling = "exclude", pseudocount: float | None = None,
         winsor: float = 0.03, load: str | None = None, bias_correction: bool = True, n_shuffles: int = 0,
         strata: str | None = None, rng: int | np.random.Generator | None = None,
         alpha: float = 0.05, omnibus: bool | str | Sequence[str] | None = None,
         n_jobs: int = 1, scheduler: Any = None) -> DifferentialResult:
    """Test every feature for association with the terms of *formula*, correcting the compositional bias.

    Parameters
    ----------
    cohort
        Abundances (counts, fractions or percent) with sample metadata attached.
    formula
        Right-hand side such as ``"~ group + age + sex"``; interactions (``a * b``), transforms (``np.log(x)``)
        and backtick-quoted names (```Fecal.Calprotectin```) work. Samples with a missing value in a formula
        column are dropped and counted in ``design['n_dropped_missing']``.
    group, case, control
        Optional case-control selection: keep samples whose *group* is one of *case* (pooled) or *control*, with
        *control* as the reference level. *group* is added to the formula when the formula lacks it.
    reference
        Reference level per categorical column, e.g. ``{"Diagnosis": "Control"}`` (default: first in sort order).
    contrasts
        Extra comparisons ``(column, level, other_level)``, or ``"pairwise"`` for every pair of non-reference
        levels of the group (or first categorical) column.
    subject
        Column of subject IDs (repeated samples of one person; a subject has one class): a random intercept per
        subject in the abundance model (REML, all features at once), and a presence model clustered on the
        subject (GEE with the MBN-corrected cluster-robust covariance, see :mod:`gutlink.differential._cluster`).
    block
        Column of block IDs: household, pair, sibship, family — a block may hold both cases and controls. The
        abundance model gets a random intercept per block; with *subject* too (several samples per subject,
        subjects nested in blocks — a subject in two blocks is a :class:`DesignError`) nested intercepts,
        subject within block (REML, :mod:`gutlink.differential._nested`), so that a subject-level contrast is
        tested on subjects, not samples (containment df: subjects − blocks − subject-level columns). The
        presence model conditions on the block (block means of the within-block-varying columns, clustered on
        the block), so both parts test within-block differences. The negative control permutes within blocks
        (labels of whole subjects, when the label is constant within subjects).
    rank
        Aggregate to this rank first (e.g. ``"genus"``).
    prevalence
        Also fit the presence / absence model (reported in ``.prevalence``).
    presence_depth
        With count data, adjust the presence model for the centred log library size of the raw counts (default):
        deeper samples detect more taxa, so without it a presence difference can come from depth alone
        (MaAsLin 3 does the same). Ignored for relative abundances, whose depth is unknown.
    abundance_depth
        With count data and ``zeros="exclude"``, add the centred log library size as a covariate of the formula
        (a term ``log_depth`` in the results; both parts are then adjusted). A taxon near its detection limit is
        seen in a shallow sample only when its share is high, so its non-zero values rise with shallowness and a
        depth difference between the groups looks like an abundance difference. ``None`` (default): added when
        log depth correlates with a tested column (|r| > 0.1, LinDA's cut-off), decided once on the real labels
        and kept in every shuffle of the negative control; ``True`` / ``False``: always / never. What was done
        is in ``transform["abundance_depth"]``.
    min_prevalence
        Test features present in at least this fraction of the samples tested.
    zeros, pseudocount, winsor
        Zero handling. ``"exclude"`` (default): the abundance model uses each feature's non-zero values only
        (presence is the prevalence model's job), which keeps the false-discovery rate at its nominal level when
        null taxa are often absent; ``"adaptive"`` (LinDA's rule for counts), ``"pseudocount"`` or
        ``"imputation"`` floor the zeros and model every sample. A fixed *pseudocount* implies flooring. *winsor*:
        the fraction of each feature's largest (non-zero) proportions to cap (LinDA's default 0.03).
    load
        Column of total microbial load (qPCR, flow cytometry, spike-in): model absolute abundance
        ``log2(proportion × load)`` instead of correcting the compositional bias.
    bias_correction
        Remove each term's mode across features (``False``: plain CLR regression).
    n_shuffles, strata, rng
        Negative control: copies with the variable of interest shuffled the way the design is structured
        (within *strata* and within blocks; whole subjects when the label is constant within subjects, else
        within subjects), each run through the whole model; ``negative_control["parts"]`` holds the
        discoveries at q < *alpha* of the abundance model, the presence model and the joint test (and the
        fraction of presence p-values below 0.05), ``["terms"]`` the same per term; seeded by *rng*.
    alpha
        The q-value threshold reported as a discovery.
    omnibus
        Categorical terms to test as a whole (does the feature differ among the levels at all?), reported in
        ``.omnibus``. ``None`` (default): the group (or first categorical) variable when it has three or more
        levels; ``True``: every categorical variable with three or more levels; a column name or list of names;
        ``False``: none. Abundance: a Wald F test that every non-reference level's bias-corrected coefficient is
        zero, on (levels − 1, residual) df, with the covariance of the corrected coefficients (their own and
        the estimated modes'); presence: a penalised likelihood-ratio test on levels − 1 df (with *subject* or
        *block*: the cluster-robust Wald F, whose F is then in ``statistic_prevalence``); joint p and q as for
        single terms; BH within each term.
    n_jobs
        Threads for the presence model, which fits the features in chunks (``-1``: every core); the results do
        not depend on it.
    scheduler
        A Dask ``distributed`` scheduler address (``"tcp://host:8786"``), cluster or ``Client``: the presence
        model's feature chunks (also those of every shuffled copy) are fitted there instead of on local threads,
        by the same chunk function, so the results are the same — to rounding (about 1e-13 relative) with
        worker processes, whose copies of the arrays sit at other memory alignments (see
        :func:`gutlink.parallel.on_cluster`; a call inside an ``on_cluster`` block uses that cluster).

    Returns
    -------
    DifferentialResult
        ``.table``: one row per feature and term (effect = log2 fold change of the abundance where present —
        of every sample's abundance when zeros are floored —, SE, 95 % CI, t, df, p, BH q within the term,
        samples modelled ``n``, per-group prevalence and mean relative abundance; NaN effect where the feature's
        non-zero samples cannot support the design, e.g. present in one group only); ``.prevalence``: the same
        for presence (log odds ratios); ``.presence_model`` says how presence was modelled; ``.omnibus``: one row per feature and omnibus term (F, df_num, df, p,
        q; with the prevalence model: LR statistic, p, q and the joint p / q).

    Examples
    --------
    >>> from gutlink.datasets import toy
    >>> res = test(toy(), "~ group + sex", group="group", case="case", control="control", n_shuffles=2, rng=0)
    >>> sorted(res.table["term"].unique())
    ['group[T.case]', 'log_depth', 'sex[T.Male]']
    >>> res.negative_control["n_shuffles"]
    2
    """
    cluster = on_cluster(scheduler) if scheduler is not None else contextlib.nullcontext()
    with cluster:
        if rank is not None:
            cohort = cohort.aggregate(rank)
        words = {"group": group, "case": case, "control": control, "reference": reference, "contrasts": contrasts}
        design = build_design(cohort.metadata, formula, **words)  # type: ignore[arg-type]
        cohort, formula, design, depth_term = _abundance_depth(cohort, formula, design, words, abundance_depth,
                                                               zeros == "exclude" and load is None)
        specs = omnibus_terms(design, omnibus)
        _memory.check(f"differential: selecting {design.n:,} samples × {cohort.n_features:,} features",
                      2 * 8 * design.n * cohort.n_features, hint=MEMORY_HINT)
        sub = cohort.subset(samples=design.keep)
        structure, loads = _structure(sub, subject, block), _load(sub, load)
        depth = np.asarray(sub.dense().sum(axis=1), dtype=float)
        sub = _features(sub, min_prevalence)
        groups = structure.grouping
        n_groups = None if groups is None else int(pd.Series(groups).nunique())
        _memory.check(f"differential of {sub.n_samples:,} samples × {sub.n_features:,} features",
                      memory_estimate(sub.n_samples, sub.n_features, design.p, groups=n_groups,
                                      clustered_presence=groups is not None, zeros=zeros, pseudocount=pseudocount,
                                      prevalence=prevalence), hint=MEMORY_HINT)
        x = sub.dense()
        y, info = log_ratios(x, sub.units, depth=depth, depth_design=_tested_columns(design), zeros=zeros,
                             pseudocount=pseudocount, winsor=winsor, load=loads)
        info["abundance_depth"] = depth_term
        y, w = _modelled(y)
        correct = bias_correction and loads is None
        model = ("linda" if correct else "absolute" if loads is not None else "clr") + \
            ("-lmm" if groups is not None else "-ols")
        presence = _presence(x, depth if presence_depth and sub.units == "counts" else None, structure, n_jobs) \
            if prevalence else None
        with single_threaded_blas():  # many thin matrix products: BLAS threads cost more than they gain
            fits = bias_corrected(_fitter(design, design.matrix, structure, w), y, correct=correct, keep=bool(specs))
            omnibus_fits = [omnibus_f([fits[r] for r in o.rows], list(o.matrix)) for o in specs]
            fits = [replace(f, fit=None, weights=None) for f in fits]  # release the residuals before the next model
            summary = group_summary(x, group_labels(design), list(sub.feature_ids), depth=depth)
            n_used = None if w is None else w.sum(axis=0)
            table = _frames(design, fits, sub, summary, model=model, scale=info["scale"], prevalence=False, n=n_used)
            prev, tests = _prevalence_table(design, presence, sub, summary, specs) if presence else (None, None)
            if prev is not None:
                table = joint(table, prev)
            omni = _omnibus_table(specs, omnibus_fits, tests, design, sub, summary, model=model, n=n_used)
            control_summary = None if not n_shuffles else _run_control(
                design, y, w, presence, sub, structure, n_shuffles=n_shuffles, strata=strata, rng=rng,
                correct=correct, alpha=alpha)
            random_effect = _random_effect(design, y, w, structure)
        return DifferentialResult(
            table=table, prevalence=prev, formula=str(formula), model=model, terms=tuple(t.name for t in design.terms),
            bias={t.name: float(f.bias) for t, f in zip(design.terms, fits)}, n_samples=design.n,
            n_features=sub.n_features, design=describe(design), transform=info,
            random_effect=random_effect, negative_control=control_summary,
            history=sub.history, alpha=alpha, omnibus=omni,
            presence_model=None if presence is None else presence.describe(design.matrix))
