"""Which taxa differ? A hurdle model: abundance where present, and presence, with the compositional bias corrected.

Every feature is fitted at once by matrix algebra. The abundance model regresses the log2 ratio of each non-zero
value to a zero-free per-sample reference on the formula's design, using only the samples where the feature is
present (as MaAsLin 3 does; see :mod:`gutlink.differential._transform` for why zeros are not floored by
default); each coefficient's mode across features (the shift that composition induces in every feature) is
removed, and the SEs account for that estimate (see :mod:`gutlink.differential._linmod`). A random intercept per
subject is fitted for all features together by REML (:mod:`gutlink.differential._mixed`). Presence / absence is
modelled separately by Firth logistic regression, and a label-shuffled negative control says how many
discoveries the same pipeline makes on the user's own data when there is nothing to find. A categorical term with
three or more levels is also tested as a whole (``.omnibus``: a multi-df F test of the bias-corrected
coefficients, and a penalised likelihood-ratio test of presence on levels − 1 df).

Examples
--------
>>> from gutlink import differential
>>> from gutlink.datasets import toy
>>> res = differential.test(toy(), "~ group", group="group", case="case", control="control")
>>> res.model, res.n_samples, res.table["term"].unique().tolist()
('linda-ols', 19, ['group[T.case]'])
>>> res.table.columns[:8].tolist()
['feature_id', 'lineage', 'term', 'comparison', 'effect', 'se', 'ci_low', 'ci_high']
>>> bool(res.table["q_value"].dropna().between(0, 1).all())  # NaN: taxa whose non-zero samples cannot be fitted
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import DesignError
from ..results import Result, jsonable
from ._design import (
    Design,
    Omnibus,
    build_design,
    constant_within,
    describe,
    group_labels,
    omnibus_terms,
    rebuild,
)
from ._linmod import OmnibusFit, TermFit, bias_corrected, ols_terms, omnibus_f
from ._mixed import check_blocks, lmm_terms
from ._prevalence import LRTest, prevalence_tests, single_threaded_blas
from ._shuffle import describe_control, negative_control
from ._table import COLUMNS, OMNIBUS_COLUMNS, effect_name, group_summary, joint, lineages, omnibus_frame, term_frame
from ._transform import ZeroHandling, log_ratios

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


def _blocks(design: Design, cohort: Cohort, subject: str | None) -> np.ndarray | None:
    if subject is None:
        return None
    if subject not in cohort.metadata.columns:
        raise DesignError(f"metadata has no subject column {subject!r}.")
    blocks = cohort.metadata[subject]
    check_blocks(blocks, subject)
    return blocks.astype(str).to_numpy()


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


def _fitter(design: Design, x: np.ndarray, blocks: np.ndarray | None, w: np.ndarray | None) -> Fitter:
    contrasts = [t.contrast for t in design.terms]
    return ols_terms(x, contrasts, w) if blocks is None else lmm_terms(x, blocks, contrasts, w)


def _modelled(y: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Responses with excluded zeros (NaN) set to 0, and the mask of modelled values (None: all)."""
    present = np.isfinite(y)
    if present.all():
        return y, None
    return np.where(present, y, 0.0), present


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


def _shuffle_count(design: Design, y: np.ndarray, w: np.ndarray | None, blocks: np.ndarray | None, variable: str,
                   *, correct: bool, alpha: float) -> Callable[[pd.Series], int]:
    from ..multitest import bh
    from ._linmod import t_test

    idx = [i for i, t in enumerate(design.terms) if t.variable == variable or variable in t.name]

    def count(values: pd.Series) -> int:
        data = design.metadata.assign(**{variable: values.to_numpy()})
        x = rebuild(design, data)
        fits = bias_corrected(_fitter(design, x, blocks, w), y, correct=correct)
        return sum(int((bh(t_test(fits[i].effect, fits[i].se, fits[i].df)[1]) < alpha).sum()) for i in idx)

    return count


def _control_variable(design: Design) -> str:
    if design.group is not None:
        return design.group
    first = design.terms[0]
    if first.variable is None:
        raise DesignError("the negative control shuffles the first term's variable, but the first term "
                          f"{first.name!r} is not a plain column; put the variable of interest first.")
    return first.variable


def _random_effect(design: Design, y: np.ndarray, w: np.ndarray | None, blocks: np.ndarray | None,
                   subject: str | None) -> dict | None:
    if blocks is None:
        return None
    from ._mixed import lmm

    fit = lmm(design.matrix, y, blocks, w)
    delta = fit.delta[fit.fitted]
    icc = delta / (1 + delta)
    return {"subject": subject, "n_subjects": int(pd.Series(blocks).nunique()), "method": "REML",
            "median_icc": float(np.median(icc)), "fraction_at_zero": float((delta == 0).mean()),
            "df_rule": "between-within"}


def _prevalence_table(design: Design, x: np.ndarray, cohort: Cohort, summary: pd.DataFrame,
                      omnibus: Sequence[Omnibus] = (), n_jobs: int = 1) -> tuple[pd.DataFrame, list[LRTest]]:
    present = (x > 0).astype(float)
    fits, tests = prevalence_tests(design.matrix, present, [t.contrast for t in design.terms],
                                   [o.matrix for o in omnibus], n_jobs=n_jobs)
    return _frames(design, fits, cohort, summary, model="firth-logistic", scale="clr", prevalence=True), tests


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


def _run_control(design: Design, y: np.ndarray, w: np.ndarray | None, blocks: np.ndarray | None, cohort: Cohort, *,
                 n_shuffles: int, strata: str | None, rng: Any, correct: bool, alpha: float) -> dict[str, Any]:
    variable = _control_variable(design)
    if strata is not None and strata not in cohort.metadata.columns:
        raise DesignError(f"metadata has no strata column {strata!r}.")
    levels = None if strata is None else cohort.metadata[strata].astype(str).to_numpy()
    values = design.metadata[variable]
    by_block = blocks if blocks is not None and constant_within(values, blocks) else None
    count = _shuffle_count(design, y, w, blocks, variable, correct=correct, alpha=alpha)
    return negative_control(count, values, n_shuffles=n_shuffles, strata=levels, blocks=by_block, rng=rng,
                            alpha=alpha)


def test(cohort: Cohort, formula: str, *, group: str | None = None, case: str | Sequence[str] | None = None,
         control: str | None = None, reference: Mapping[str, str] | None = None,
         contrasts: Sequence[tuple[str, str, str]] | Literal["pairwise"] | None = None,
         subject: str | None = None, rank: str | None = None, prevalence: bool = True,
         min_prevalence: float = 0.1, zeros: ZeroHandling = "exclude", pseudocount: float | None = None,
         winsor: float = 0.03, load: str | None = None, bias_correction: bool = True, n_shuffles: int = 0,
         strata: str | None = None, rng: int | np.random.Generator | None = None,
         alpha: float = 0.05, omnibus: bool | str | Sequence[str] | None = None,
         n_jobs: int = 1) -> DifferentialResult:
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
        Column of subject / household IDs: a random intercept per subject (REML, all features at once).
    rank
        Aggregate to this rank first (e.g. ``"genus"``).
    prevalence
        Also fit the presence / absence model (reported in ``.prevalence``).
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
        Negative control: copies with the variable of interest shuffled (within *strata*; whole subjects when
        the label is constant within subjects), counting features at q < *alpha*; seeded by *rng*.
    alpha
        The q-value threshold reported as a discovery.
    omnibus
        Categorical terms to test as a whole (does the feature differ among the levels at all?), reported in
        ``.omnibus``. ``None`` (default): the group (or first categorical) variable when it has three or more
        levels; ``True``: every categorical variable with three or more levels; a column name or list of names;
        ``False``: none. Abundance: a Wald F test that every non-reference level's bias-corrected coefficient is
        zero, on (levels − 1, residual) df, with the covariance of the corrected coefficients (their own and
        the estimated modes'); presence: a penalised likelihood-ratio test on levels − 1 df; joint p and q as
        for single terms; BH within each term.
    n_jobs
        Threads for the presence model, which fits the features in chunks (``-1``: every core); the results do
        not depend on it.

    Returns
    -------
    DifferentialResult
        ``.table``: one row per feature and term (effect = log2 fold change of the abundance where present —
        of every sample's abundance when zeros are floored —, SE, 95 % CI, t, df, p, BH q within the term,
        samples modelled ``n``, per-group prevalence and mean relative abundance; NaN effect where the feature's
        non-zero samples cannot support the design, e.g. present in one group only); ``.prevalence``: the same
        for presence (log odds ratios); ``.omnibus``: one row per feature and omnibus term (F, df_num, df, p,
        q; with the prevalence model: LR statistic, p, q and the joint p / q).

    Examples
    --------
    >>> from gutlink.datasets import toy
    >>> res = test(toy(), "~ group + sex", group="group", case="case", control="control", n_shuffles=2, rng=0)
    >>> sorted(res.table["term"].unique())
    ['group[T.case]', 'sex[T.Male]']
    >>> res.negative_control["n_shuffles"]
    2
    """
    if rank is not None:
        cohort = cohort.aggregate(rank)
    design = build_design(cohort.metadata, formula, group=group, case=case, control=control, reference=reference,
                          contrasts=contrasts)
    specs = omnibus_terms(design, omnibus)
    sub = cohort.subset(samples=design.keep)
    blocks, loads = _blocks(design, sub, subject), _load(sub, load)
    depth = np.asarray(sub.dense().sum(axis=1), dtype=float)
    sub = _features(sub, min_prevalence)
    x = sub.dense()
    y, info = log_ratios(x, sub.units, depth=depth, depth_design=_tested_columns(design), zeros=zeros,
                         pseudocount=pseudocount, winsor=winsor, load=loads)
    y, w = _modelled(y)
    correct = bias_correction and loads is None
    model = ("linda" if correct else "absolute" if loads is not None else "clr") + \
        ("-lmm" if blocks is not None else "-ols")
    with single_threaded_blas():  # many thin matrix products: BLAS threads cost more than they gain
        fits = bias_corrected(_fitter(design, design.matrix, blocks, w), y, correct=correct, keep=bool(specs))
        omnibus_fits = [omnibus_f([fits[r] for r in o.rows], list(o.matrix)) for o in specs]
        fits = [replace(f, fit=None, weights=None) for f in fits]  # release the residuals before the next model
        summary = group_summary(x / depth[:, None], group_labels(design), list(sub.feature_ids))
        n_used = None if w is None else w.sum(axis=0)
        table = _frames(design, fits, sub, summary, model=model, scale=info["scale"], prevalence=False, n=n_used)
        prev, tests = _prevalence_table(design, x, sub, summary, specs, n_jobs) if prevalence else (None, None)
        if prev is not None:
            table = joint(table, prev)
        omni = _omnibus_table(specs, omnibus_fits, tests, design, sub, summary, model=model, n=n_used)
        control_summary = None if not n_shuffles else _run_control(
            design, y, w, blocks, sub, n_shuffles=n_shuffles, strata=strata, rng=rng, correct=correct, alpha=alpha)
        random_effect = _random_effect(design, y, w, blocks, subject)
    return DifferentialResult(
        table=table, prevalence=prev, formula=str(formula), model=model, terms=tuple(t.name for t in design.terms),
        bias={t.name: float(f.bias) for t, f in zip(design.terms, fits)}, n_samples=design.n,
        n_features=sub.n_features, design=describe(design), transform=info,
        random_effect=random_effect, negative_control=control_summary,
        history=sub.history, alpha=alpha, omnibus=omni)
