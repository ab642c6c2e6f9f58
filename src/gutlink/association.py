"""Is the community different between cases and controls? Alpha, beta (PERMANOVA, PERMDISP), dysbiosis score.

Every test reports an effect size, a confidence interval where one is defined, a p-value and a BH q-value.

Examples
--------
>>> from gutlink.datasets import toy
>>> c = case_control(toy(), group="group", case=["case"], control="control")
>>> c.metadata["group_label"].value_counts().to_dict()
{'case': 11, 'control': 8}
>>> res = alpha_test(c)
>>> res.tests.loc[res.tests.metric == "shannon", "test"].tolist()
['mann_whitney']
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from skbio import DistanceMatrix

from .cohort import Cohort
from .diversity import alpha_diversity, beta_diversity
from .errors import DesignError
from .multitest import bh
from .results import TEST_COLUMNS, Result

__all__ = [
    "AlphaResult", "PermanovaResult", "PermdispResult", "DysbiosisResult",
    "case_control", "alpha_test", "permanova", "permdisp", "dysbiosis_score",
    "hodges_lehmann", "MIN_GROUP_SIZE",
]

#: Smallest group a test is run on.
MIN_GROUP_SIZE = 3
LABEL = "group_label"


# ----------------------------------------------------------------------------- design
def case_control(cohort: Cohort, *, group: str, case: Sequence[str], control: str | Sequence[str]) -> Cohort:
    """Keep the case and control samples of *group*, adding a ``group_label`` column ('case' / 'control').

    *case* may hold several values (e.g. ``["CD", "UC"]``): they are pooled as cases, and the original value
    stays in the *group* column for per-level comparisons. Values are compared as strings.
    """
    meta = cohort.metadata
    if group not in meta.columns:
        close = [c for c in meta.columns if c.lower() == group.lower()]
        hint = f" Did you mean {close[0]!r}?" if close else f" Columns: {', '.join(map(str, meta.columns[:20]))}."
        raise DesignError(f"metadata has no column {group!r}.{hint}")
    values = meta[group].astype("string")
    cases = [str(c) for c in ([case] if isinstance(case, str) else case)]
    controls = [str(c) for c in ([control] if isinstance(control, str) else control)]
    present = set(values.dropna().unique())
    for v in cases + controls:
        if v not in present:
            raise DesignError(
                f"value {v!r} does not occur in column {group!r}; its values are "
                f"{sorted(present)[:20]}. Values are case-sensitive."
            )
    if set(cases) & set(controls):
        raise DesignError(f"{sorted(set(cases) & set(controls))} cannot be both case and control.")
    label = pd.Series(np.where(values.isin(cases), "case", np.where(values.isin(controls), "control", "")),
                      index=meta.index)
    label = label.where(values.notna(), "")
    keep = (label != "").to_numpy()
    sub = cohort.subset(samples=keep)
    out_meta = sub.metadata.copy()
    out_meta[LABEL] = pd.Categorical(label[keep], categories=["control", "case"])
    counts = out_meta[LABEL].value_counts()
    for lab in ("case", "control"):
        if counts.get(lab, 0) < MIN_GROUP_SIZE:
            raise DesignError(
                f"the {lab} group has {counts.get(lab, 0)} sample(s); at least {MIN_GROUP_SIZE} are needed "
                "(after dropping samples without abundances or metadata)."
            )
    return sub.with_metadata(out_meta)


def _labels(cohort: Cohort) -> pd.Series:
    if LABEL not in cohort.metadata.columns:
        raise DesignError("the cohort has no case/control labels; call gutlink.association.case_control first.")
    return cohort.metadata[LABEL].astype(str)


def _test_row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(TEST_COLUMNS, np.nan)
    row.update(values)
    return row


def _tests_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=TEST_COLUMNS)
    frame["q_value"] = bh(frame["p_value"].to_numpy(dtype=float))
    return frame


# ----------------------------------------------------------------------------- two-group statistics
def hodges_lehmann(case: np.ndarray, control: np.ndarray, *, level: float = 0.95) -> tuple[float, float, float]:
    """Hodges–Lehmann shift (median of case − control differences) with its distribution-free CI.

    The interval is the Moses interval from order statistics of the pairwise differences (normal
    approximation for the critical rank), the interval R's ``wilcox.test(conf.int=TRUE)`` reports for large
    samples.

    Examples
    --------
    >>> hodges_lehmann(np.array([5.0, 6, 7, 8]), np.array([1.0, 2, 3, 4]))[0]
    4.0
    """
    diffs = np.sort((case[:, None] - control[None, :]).ravel())
    n1, n2 = case.size, control.size
    shift = float(np.median(diffs))
    z = stats.norm.ppf(0.5 + level / 2)
    k = int(np.floor(n1 * n2 / 2 - z * np.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)))
    if k < 0:
        return shift, float("nan"), float("nan")
    return shift, float(diffs[k]), float(diffs[diffs.size - k - 1])


def _mann_whitney(values: pd.Series, labels: pd.Series, *, analysis: str, metric: str,
                  comparison: str = "case vs control") -> dict[str, Any]:
    a = values[labels == "case"].dropna().to_numpy(dtype=float)
    b = values[labels == "control"].dropna().to_numpy(dtype=float)
    res = stats.mannwhitneyu(a, b, alternative="two-sided")
    shift, lo, hi = hodges_lehmann(a, b)
    return _test_row(analysis=analysis, metric=metric, test="mann_whitney", comparison=comparison,
                     statistic=float(res.statistic), p_value=float(res.pvalue), effect=shift,
                     effect_name="hodges_lehmann_shift", ci_low=lo, ci_high=hi, n_case=a.size, n_control=b.size)


def _kruskal(values: pd.Series, levels: pd.Series, *, analysis: str, metric: str) -> dict[str, Any]:
    groups = [values[levels == lev].dropna().to_numpy(dtype=float) for lev in sorted(levels.unique())]
    h, p = stats.kruskal(*groups)
    n = sum(g.size for g in groups)
    return _test_row(analysis=analysis, metric=metric, test="kruskal_wallis",
                     comparison=" vs ".join(sorted(levels.unique())), statistic=float(h), p_value=float(p),
                     effect=float(h / (n - 1)), effect_name="epsilon_squared", n_case=n, n_control=np.nan)


def _ols(values: pd.Series, meta: pd.DataFrame, covariates: Sequence[str], *, analysis: str,
         metric: str) -> dict[str, Any]:
    import statsmodels.api as sm

    design = _covariate_design(meta, covariates)
    y = values.to_numpy(dtype=float)
    fit = sm.OLS(y, design).fit()
    lo, hi = fit.conf_int().loc["case"]
    labels = meta[LABEL].astype(str)
    return _test_row(analysis=analysis, metric=metric, test="ols", comparison="case vs control | " + " + ".join(covariates),
                     statistic=float(fit.tvalues["case"]), p_value=float(fit.pvalues["case"]),
                     effect=float(fit.params["case"]), effect_name="adjusted_mean_difference", ci_low=float(lo),
                     ci_high=float(hi), n_case=int((labels == "case").sum()), n_control=int((labels == "control").sum()))


def _covariate_design(meta: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Intercept, a 0/1 ``case`` column and dummy-coded covariates (first level as reference)."""
    parts = [pd.Series(1.0, index=meta.index, name="const"),
             (meta[LABEL].astype(str) == "case").astype(float).rename("case")]
    for cov in covariates:
        col = meta[cov]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            parts.append(col.astype(float).rename(cov))
        else:
            dummies = pd.get_dummies(col.astype("string"), prefix=cov, drop_first=True, dtype=float)
            parts.extend(dummies[c] for c in dummies.columns)
    design = pd.concat(parts, axis=1)
    if np.linalg.matrix_rank(design.to_numpy()) < design.shape[1]:
        raise DesignError(f"the covariates {list(covariates)} are collinear with the groups or each other.")
    return design


# ----------------------------------------------------------------------------- alpha
@dataclass(frozen=True)
class AlphaResult(Result):
    """Per-sample alpha diversity and its tests between groups."""

    values: pd.DataFrame
    tests: pd.DataFrame

    @property
    def table(self) -> pd.DataFrame:
        """One row per test."""
        return self.tests


def alpha_test(cohort: Cohort, *, metrics: tuple[str, ...] | None = None, covariates: Sequence[str] = (),
               levels_column: str | None = None) -> AlphaResult:
    """Alpha diversity tested between cases and controls.

    Mann–Whitney U with the Hodges–Lehmann shift and its 95 % CI; Kruskal–Wallis across the original levels
    when *levels_column* has more than two (e.g. CD, UC, control); an OLS model ``metric ~ case + covariates``
    when *covariates* are given (effect = adjusted difference with 95 % CI).
    """
    labels = _labels(cohort)
    values = alpha_diversity(cohort, metrics)
    rows = []
    for metric in values.columns:
        rows.append(_mann_whitney(values[metric], labels, analysis="alpha", metric=metric))
        if levels_column is not None and cohort.metadata[levels_column].nunique() > 2:
            rows.append(_kruskal(values[metric], cohort.metadata[levels_column].astype(str), analysis="alpha",
                                 metric=metric))
        if covariates:
            rows.append(_ols(values[metric], cohort.metadata, covariates, analysis="alpha", metric=metric))
    values = values.assign(**{LABEL: labels})
    return AlphaResult(values=values, tests=_tests_frame(rows))


# ----------------------------------------------------------------------------- beta
@dataclass(frozen=True)
class PermanovaResult(Result):
    """PERMANOVA table like vegan's ``adonis2``."""

    metric: str
    formula: str
    by: str
    permutations: int
    strata: str | None
    table: pd.DataFrame = field(default_factory=pd.DataFrame)  # type: ignore[assignment]

    def term(self, name: str = "group_label") -> pd.Series:
        """The row of one term."""
        return self.table.set_index("term").loc[name]


@dataclass(frozen=True)
class PermdispResult(Result):
    """Homogeneity of multivariate dispersions (vegan ``betadisper`` + ``permutest``)."""

    metric: str
    statistic: float
    p_value: float
    permutations: int
    groups: pd.DataFrame

    @property
    def table(self) -> pd.DataFrame:
        """Mean distance to centroid per group."""
        return self.groups


def _distances(cohort: Cohort, metric: str, distances: DistanceMatrix | None) -> DistanceMatrix:
    if distances is None:
        return beta_diversity(cohort, metric)  # type: ignore[arg-type]
    if list(distances.ids) != list(cohort.sample_ids):
        distances = distances.filter(list(cohort.sample_ids))
    return distances


def permanova(cohort: Cohort, formula: str | None = None, *, metric: str = "braycurtis",
              covariates: Sequence[str] = (), by: str = "margin", strata: str | None = None,
              permutations: int = 999, rng: int | np.random.Generator | None = None,
              distances: DistanceMatrix | None = None) -> PermanovaResult:
    """PERMANOVA of the case/control term (adjusted for *covariates*), like ``adonis2``.

    The default formula is ``~ covariates + group_label``; ``by='margin'`` tests each term given all others,
    ``by='terms'`` sequentially. *strata* names a metadata column within whose levels permutations are
    restricted (study, household, subject).
    """
    from .permanova import permanova_table

    if formula is None:
        formula = "~ " + " + ".join([*covariates, LABEL])
    dm = _distances(cohort, metric, distances)
    blocks = None if strata is None else cohort.metadata[strata].astype(str).to_numpy()
    table = permanova_table(dm.data, cohort.metadata, formula, by=by, strata=blocks,
                            permutations=permutations, rng=rng)
    return PermanovaResult(metric=metric, formula=formula, by=by, permutations=permutations, strata=strata,
                           table=table)


def permdisp(cohort: Cohort, *, metric: str = "braycurtis", permutations: int = 999,
             rng: int | np.random.Generator | None = None, distances: DistanceMatrix | None = None) -> PermdispResult:
    """Test whether cases and controls differ in spread (distance to their group centroid)."""
    from .permdisp import permdisp_table

    dm = _distances(cohort, metric, distances)
    stat, p, groups = permdisp_table(dm.data, _labels(cohort).to_numpy(), permutations=permutations, rng=rng)
    return PermdispResult(metric=metric, statistic=float(stat), p_value=float(p), permutations=permutations,
                          groups=groups)


# ----------------------------------------------------------------------------- dysbiosis
@dataclass(frozen=True)
class DysbiosisResult(Result):
    """Per-sample dysbiosis score (HMP2 definition) and its test between groups."""

    metric: str
    quantile: float
    threshold: float
    scores: pd.DataFrame
    tests: pd.DataFrame

    @property
    def table(self) -> pd.DataFrame:
        """One row per sample."""
        return self.scores


def dysbiosis_score(cohort: Cohort, *, metric: str = "braycurtis", quantile: float = 0.9,
                    subject: str | None = None, strata: str | None = None,
                    distances: DistanceMatrix | None = None) -> DysbiosisResult:
    """Median distance of each sample to the control (reference) samples.

    As defined for HMP2 (Lloyd-Price et al. 2019 *Nature* 569:655): a reference sample is scored
    leave-one-out (never against itself) and, when *subject* is given, never against samples of the same
    subject. With *strata* (e.g. country, study), each sample is compared only with the references of its own
    stratum, so a confounder that shifts whole strata does not pass for dysbiosis; samples of a stratum with
    fewer than 3 references get no score. Samples above the reference scores' *quantile* (90th percentile)
    are called dysbiotic.
    """
    labels = _labels(cohort)
    dm = _distances(cohort, metric, distances).data
    ref = (labels == "control").to_numpy()
    d = dm[:, ref].astype(float).copy()
    d[np.flatnonzero(ref), np.arange(ref.sum())] = np.nan  # leave-one-out for references
    if subject is not None:
        subj = cohort.metadata[subject].astype(str).to_numpy()
        d[subj[:, None] == subj[ref][None, :]] = np.nan
    if strata is not None:
        block = cohort.metadata[strata].astype(str).to_numpy()
        d[block[:, None] != block[ref][None, :]] = np.nan
    usable = np.isfinite(d).sum(axis=1) >= 2
    d[~usable] = np.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
        score = np.nanmedian(d, axis=1)
    threshold = float(np.nanquantile(score[ref], quantile))
    scores = pd.DataFrame({LABEL: labels, "score": score, "reference": ref, "dysbiotic": score > threshold},
                          index=cohort.sample_ids)
    rows = [_mann_whitney(scores["score"], labels, analysis="dysbiosis", metric=metric)]
    rows.append(_fraction_test(scores.dropna(subset=["score"]), metric))
    return DysbiosisResult(metric=metric, quantile=quantile, threshold=threshold, scores=scores,
                           tests=_tests_frame(rows))


def _fraction_test(scores: pd.DataFrame, metric: str) -> dict[str, Any]:
    """Fisher's exact test of the fraction dysbiotic, case vs control; effect = difference in fractions."""
    case = scores[scores[LABEL] == "case"]["dysbiotic"]
    ctrl = scores[scores[LABEL] == "control"]["dysbiotic"]
    table = [[int(case.sum()), int((~case).sum())], [int(ctrl.sum()), int((~ctrl).sum())]]
    odds, p = stats.fisher_exact(table)
    diff = float(case.mean() - ctrl.mean())
    se = np.sqrt(case.mean() * (1 - case.mean()) / case.size + ctrl.mean() * (1 - ctrl.mean()) / ctrl.size)
    return _test_row(analysis="dysbiosis", metric=metric, test="fisher_exact", comparison="fraction dysbiotic",
                     statistic=float(odds), p_value=float(p), effect=diff, effect_name="difference_in_fraction",
                     ci_low=diff - 1.96 * se, ci_high=diff + 1.96 * se, n_case=case.size, n_control=ctrl.size)
