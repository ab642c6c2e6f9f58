"""Two-group statistics shared by the community tests: Mann–Whitney with Hodges–Lehmann, Kruskal–Wallis, OLS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..design import LABEL
from ..errors import DesignError
from ..multitest import bh
from ..results import TEST_COLUMNS

__all__ = ["hodges_lehmann"]


def _test_row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(TEST_COLUMNS, np.nan)
    row.update(values)
    return row


def _tests_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=TEST_COLUMNS)
    frame["q_value"] = bh(frame["p_value"].to_numpy(dtype=float))
    return frame


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
