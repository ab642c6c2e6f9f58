"""Random-effects meta-analysis across cohorts, every feature at once.

Each study contributes an effect and its variance per feature (e.g. the bias-corrected log2 fold changes of
:func:`gutlink.differential.test` run within each cohort). Between-study variance ``tau^2`` comes from
DerSimonian–Laird (closed form) or REML (the fixed-point iteration
``tau^2 = sum w^2 ((y - mu)^2 - v) / sum w^2 + 1 / sum w``, ``w = 1 / (v + tau^2)``, started at DL and truncated at
0); heterogeneity is reported as Cochran's Q, its p-value, and ``I^2`` from ``tau^2``; a leave-one-study-out table shows whether
one cohort drives a pooled effect. The pooled effect is tested against the normal distribution (``test="z"``, the
usual default) or with the Hartung–Knapp–Sidik–Jonkman adjustment (``test="knha"``: the variance scaled by the
weighted residual mean square and a t distribution with ``k - 1`` degrees of freedom), which keeps the type I error
near nominal when there are few studies (IntHout et al. 2014 BMC Med Res Methodol 14:25) at the price of much
wider intervals for two or three studies. Both agree with R metafor's ``rma(test = "z" | "knha")``.
A feature enters the pooled estimate from the studies where it was tested (at least two).

Examples
--------
>>> from gutlink.datasets import toy
>>> res = by_study(toy(), "~ group", study="sex", group="group", case="case", control="control",
...                min_studies=2, min_prevalence=0.3)
>>> res.method, sorted(res.studies["study"].unique())
('reml', ['Female', 'Male'])
>>> res.table.columns[:6].tolist()
['feature_id', 'term', 'effect', 'se', 'ci_low', 'ci_high']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from .cohort import Cohort
from .differential import test as differential_test
from .errors import DesignError
from .multitest import bh
from .results import Result

__all__ = ["MetaResult", "by_study", "combine", "random_effects"]

Method = Literal["reml", "dl"]
Test = Literal["z", "knha"]


@dataclass(frozen=True)
class MetaResult(Result):
    """Pooled effects per feature (``.table``), the per-study inputs and the leave-one-study-out table."""

    REPORT_TITLE: ClassVar[str] = "meta-analysis of differential abundance across studies"

    table: pd.DataFrame = field(metadata={"json": False})
    studies: pd.DataFrame = field(metadata={"json": False})
    loso: pd.DataFrame = field(metadata={"json": False})
    method: str = "reml"
    test: str = "z"
    n_studies: int = 0
    alpha: float = 0.05
    per_study: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary: method, studies and the number of pooled discoveries per term."""
        out = super().to_dict()
        out["discoveries"] = {t: int((g["q_value"] < self.alpha).sum()) for t, g in self.table.groupby("term")}
        return out


# ----------------------------------------------------------------------------- the estimator
def _fixed(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.nansum(w * y, axis=0) / np.nansum(w, axis=0)


def _dl(y: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = 1.0 / v
    mu = _fixed(y, w)
    q = np.nansum(w * (y - mu) ** 2, axis=0)
    k = np.isfinite(y).sum(axis=0)
    c = np.nansum(w, axis=0) - np.nansum(w**2, axis=0) / np.nansum(w, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = np.maximum(0.0, (q - (k - 1)) / c)
    return np.where(np.isfinite(tau2), tau2, 0.0), q


def _reml(y: np.ndarray, v: np.ndarray, tau2: np.ndarray, *, max_iter: int = 500, tol: float = 1e-12) -> np.ndarray:
    for _ in range(max_iter):
        w = 1.0 / (v + tau2)
        mu = _fixed(y, w)
        new = np.nansum(w**2 * ((y - mu) ** 2 - v), axis=0) / np.nansum(w**2, axis=0) + 1.0 / np.nansum(w, axis=0)
        new = np.maximum(new, 0.0)
        if np.nanmax(np.abs(new - tau2), initial=0.0) < tol:
            return new
        tau2 = new
    return tau2


def random_effects(effects: np.ndarray, variances: np.ndarray, *, method: Method = "reml",
                   test: Test = "z") -> dict[str, np.ndarray]:
    """Pool *effects* (studies × features, NaN where a study lacks the feature) with their *variances*.

    Returns arrays per feature: ``effect``, ``se``, ``z`` (the test statistic), ``df`` (``inf`` for the normal
    test, ``k - 1`` for Hartung–Knapp), ``p_value``, ``tau2``, ``q``, ``q_p_value``, ``i2`` and ``k`` (studies
    used).

    Examples
    --------
    >>> out = random_effects(np.array([[0.2], [0.5], [1.1]]), np.array([[0.04], [0.09], [0.05]]), method="dl")
    >>> round(float(out["tau2"][0]), 4), round(float(out["i2"][0]), 3)
    (0.1989, 0.78)
    """
    y = np.asarray(effects, dtype=float)
    v = np.where(np.isfinite(y), np.asarray(variances, dtype=float), np.nan)
    y = np.where(np.isfinite(v) & (v > 0), y, np.nan)
    tau2, q = _dl(y, v)
    if method == "reml":
        tau2 = _reml(y, v, tau2)
    elif method != "dl":
        raise ValueError(f"unknown method {method!r}; use 'reml' or 'dl'.")
    if test not in ("z", "knha"):
        raise ValueError(f"unknown test {test!r}; use 'z' or 'knha'.")
    k = np.isfinite(y).sum(axis=0)
    w = 1.0 / (v + tau2)
    mu = _fixed(y, w)
    se = 1.0 / np.sqrt(np.nansum(w, axis=0))
    df = np.full(mu.shape, np.inf)
    if test == "knha":
        with np.errstate(invalid="ignore", divide="ignore"):
            se = se * np.sqrt(np.nansum(w * (y - mu) ** 2, axis=0) / (k - 1))
        df = (k - 1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        # I^2 = tau^2 / (tau^2 + s^2), s^2 the typical within-study variance (Higgins & Thompson 2002); for DL
        # this is (Q - (k - 1)) / Q, for REML it follows the REML tau^2 (as metafor reports it)
        w0 = 1.0 / v
        s2 = (k - 1) * np.nansum(w0, axis=0) / (np.nansum(w0, axis=0) ** 2 - np.nansum(w0**2, axis=0))
        i2 = np.where(tau2 > 0, tau2 / (tau2 + s2), 0.0)
        z = mu / se
    ok = (k >= 2) & (se > 0)
    return {"effect": np.where(ok, mu, np.nan), "se": np.where(ok, se, np.nan), "z": np.where(ok, z, np.nan),
            "df": np.where(ok, df, np.nan),
            "p_value": np.where(ok, 2 * stats.t.sf(np.abs(z), np.maximum(df, 1)), np.nan),
            "tau2": np.where(ok, tau2, np.nan),
            "q": np.where(ok, q, np.nan), "q_p_value": np.where(ok, stats.chi2.sf(q, np.maximum(k - 1, 1)), np.nan),
            "i2": np.where(ok, i2, np.nan), "k": k}


# ----------------------------------------------------------------------------- tables
def _long(per_study: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    frames = []
    for name, table in per_study.items():
        missing = {"feature_id", "term", "effect", "se"} - set(table.columns)
        if missing:
            raise DesignError(f"study {name!r}: its table lacks columns {sorted(missing)}.")
        frames.append(table[["feature_id", "term", "effect", "se"]].assign(study=str(name)))
    if len(frames) < 2:
        raise DesignError(f"a meta-analysis needs at least two studies; got {len(frames)}.")
    return pd.concat(frames, ignore_index=True)


def _pool(long: pd.DataFrame, method: Method, test: Test = "z", alpha_level: float = 0.95) -> pd.DataFrame:
    out = []
    for term, g in long.groupby("term", sort=False):
        eff = g.pivot_table(index="study", columns="feature_id", values="effect", aggfunc="first", dropna=False)
        se = g.pivot_table(index="study", columns="feature_id", values="se", aggfunc="first", dropna=False)
        se = se.reindex(index=eff.index, columns=eff.columns)
        res = random_effects(eff.to_numpy(), se.to_numpy() ** 2, method=method, test=test)
        zc = stats.t.ppf(0.5 + alpha_level / 2, np.where(np.isfinite(res["df"]), res["df"], np.inf))
        agree = (np.sign(eff.to_numpy()) == np.sign(res["effect"])[None, :]).sum(axis=0)
        out.append(pd.DataFrame({
            "feature_id": eff.columns, "term": term, "effect": res["effect"], "se": res["se"],
            "ci_low": res["effect"] - zc * res["se"], "ci_high": res["effect"] + zc * res["se"], "z": res["z"],
            "p_value": res["p_value"], "q_value": bh(res["p_value"]), "tau2": res["tau2"], "i2": res["i2"],
            "q_heterogeneity": res["q"], "p_heterogeneity": res["q_p_value"], "n_studies": res["k"],
            "n_same_sign": agree, "method": method, "test": test}))
    return pd.concat(out, ignore_index=True)


def _loso(long: pd.DataFrame, method: Method, test: Test = "z") -> pd.DataFrame:
    studies = list(dict.fromkeys(long["study"]))
    frames = []
    for left in studies:
        rest = long[long["study"] != left]
        if rest["study"].nunique() < 2:
            continue
        pooled = _pool(rest, method, test)
        frames.append(pooled[["feature_id", "term", "effect", "se", "p_value", "tau2", "n_studies"]]
                      .assign(left_out=left))
    if not frames:  # two studies: leaving one out leaves nothing to pool
        return pd.DataFrame(columns=["feature_id", "term", "effect", "se", "p_value", "tau2", "n_studies",
                                     "left_out"])
    return pd.concat(frames, ignore_index=True)


def combine(per_study: Mapping[str, Any], *, method: Method = "reml", test: Test = "z",
            alpha: float = 0.05) -> MetaResult:
    """Random-effects pooling of per-study results (``DifferentialResult`` or tables with ``feature_id, term,
    effect, se``), with heterogeneity and a leave-one-study-out table; *test* ``"knha"`` applies the
    Hartung–Knapp–Sidik–Jonkman adjustment."""
    tables = {str(k): getattr(v, "table", v) for k, v in per_study.items()}
    long = _long(tables).dropna(subset=["effect", "se"])
    return MetaResult(table=_pool(long, method, test), studies=long, loso=_loso(long, method, test), method=method,
                      test=test, n_studies=len(tables), alpha=alpha)


def by_study(cohort: Cohort, formula: str, *, study: str, method: Method = "reml", test: Test = "z",
             min_studies: int = 2, alpha: float = 0.05, **test_kwargs: Any) -> MetaResult:
    """Run :func:`gutlink.differential.test` within each level of *study*, then pool by random effects.

    Studies where the design cannot be fitted (e.g. a single group) are skipped and listed in ``per_study``.
    """
    if study not in cohort.metadata.columns:
        raise DesignError(f"metadata has no study column {study!r}.")
    results, skipped = {}, {}
    for level in sorted(cohort.metadata[study].dropna().astype(str).unique()):
        sub = cohort.subset(samples=(cohort.metadata[study].astype(str) == level).to_numpy())
        try:
            results[level] = differential_test(sub, formula, alpha=alpha, **test_kwargs)
        except DesignError as err:
            skipped[level] = str(err)
    if len(results) < min_studies:
        raise DesignError(f"only {len(results)} of the {study!r} levels could be analysed (need {min_studies}); "
                          f"skipped: {skipped}.")
    out = combine(results, method=method, test=test, alpha=alpha)
    info = {k: {"n_samples": r.n_samples, "n_features": r.n_features, "bias": r.bias} for k, r in results.items()}
    return MetaResult(table=out.table, studies=out.studies, loso=out.loso, method=method, test=test,
                      n_studies=len(results), alpha=alpha, per_study={"analysed": info, "skipped": skipped})
