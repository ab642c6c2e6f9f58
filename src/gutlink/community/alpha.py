"""Is alpha diversity different between cases and controls?

Examples
--------
>>> from gutlink.datasets import toy
>>> from gutlink.design import case_control
>>> res = alpha_test(case_control(toy(), group="group", case=["case"], control="control"))
>>> res.tests.loc[res.tests.metric == "shannon", "test"].tolist()
['mann_whitney']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ..cohort import Cohort
from ..design import LABEL, require_column
from ..design import labels as _labels
from ..results import Result
from ._stats import _kruskal, _mixed, _ols, _tests_frame, subject_means, two_group_row
from .diversity import alpha_diversity

__all__ = ["AlphaResult", "alpha_test"]


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
               levels_column: str | None = None, block: str | None = None,
               subject: str | None = None) -> AlphaResult:
    """Alpha diversity tested between cases and controls, respecting matched and repeated-measure designs.

    Parameters
    ----------
    cohort
        A case/control cohort (:func:`gutlink.design.case_control`).
    metrics
        Alpha metrics (default: all that the units allow).
    covariates
        Adjust for these columns: OLS ``metric ~ case + covariates`` (effect = adjusted difference with 95 % CI);
        with *block* or *subject*, a mixed model with a random intercept per block (else subject).
    levels_column
        The original group column: Kruskal–Wallis across its levels when it has more than two (independent
        samples or subject means; not run with *block*).
    block
        Matched sets (household, pair, family) that may hold cases and controls. When every block that holds both
        classes is one case + one control: Wilcoxon signed-rank on the within-pair differences with the paired
        Hodges–Lehmann shift (median of Walsh averages) and its CI; otherwise van Elteren's stratified test with
        the stratified Hodges–Lehmann shift. Blocks holding one class only add nothing and are left out.
    subject
        Repeated samples of one person (one class per subject). Each subject's samples are averaged and the rank
        test runs on subject means, one unit per subject: valid whatever the number of samples per subject, no
        normality needed, and the same test as without repeats. Every sample enters the covariate model, with
        a random intercept per subject.

    Returns
    -------
    AlphaResult
        ``values`` per sample; ``tests`` one row per metric and test (``mann_whitney``,
        ``wilcoxon_signed_rank`` or ``van_elteren``; ``kruskal_wallis``; ``ols`` or ``mixedlm``).
    """
    for col, role in ((block, "block"), (subject, "subject")):
        if col is not None:
            require_column(cohort.metadata, col, role)
    labels = _labels(cohort)
    values = alpha_diversity(cohort, metrics)
    meta = cohort.metadata
    rows = []
    for metric in values.columns:
        rows.append(two_group_row(values[metric], meta, analysis="alpha", metric=metric, subject=subject,
                                  block=block))
        if levels_column is not None and block is None and meta[levels_column].nunique() > 2:
            rows.append(_levels_row(values[metric], meta, levels_column, subject, metric))
        if covariates:
            groups = block or subject
            rows.append(_ols(values[metric], meta, covariates, analysis="alpha", metric=metric) if groups is None
                        else _mixed(values[metric], meta, covariates, groups, analysis="alpha", metric=metric))
    values = values.assign(**{LABEL: labels})
    return AlphaResult(values=values, tests=_tests_frame(rows))


def _levels_row(values: pd.Series, meta: pd.DataFrame, levels_column: str, subject: str | None,
                metric: str) -> dict:
    if subject is None:
        return _kruskal(values, meta[levels_column].astype(str), analysis="alpha", metric=metric)
    frame = subject_means(values, meta.assign(**{LABEL: meta[levels_column]}), subject)
    return _kruskal(frame["value"], frame[LABEL].astype(str), analysis="alpha", metric=metric)
