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
from ..design import LABEL, labels as _labels
from ..results import Result
from ._stats import _kruskal, _mann_whitney, _ols, _tests_frame
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
