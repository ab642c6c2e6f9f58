"""Forecasts of a subject from its first observation and its known perturbations, and honest held-out-subject
evaluation against persistence (the first observation carried forward) and the training mean composition.

Research tool, never medical advice.

Examples
--------
>>> import numpy as np
>>> from gutlink.dynamics.simulate import simulate_glv
>>> ts = simulate_glv(np.array([1.0, 0.8, 0.6]), -np.eye(3) - 0.1, n_subjects=4, times=np.arange(0, 8, 0.5),
...                   rng=0)
>>> res = holdout(ts, model="glv", alphas=[1e-4])
>>> bool(res.summary.loc["model", "median_rmse"] < res.summary.loc["persistence", "median_rmse"])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import DesignError
from ..results import Result
from .estimate import Stability
from .models import DynamicsModel, fit
from .series import TimeSeries
from .simulate import Path, integrate_clv, integrate_glv

__all__ = ["ForecastResult", "HoldoutResult", "forecast", "holdout", "trajectory"]

CAVEAT = "Research tool, never medical advice."


def trajectory(model: DynamicsModel, start: np.ndarray, times: np.ndarray, u: np.ndarray | None = None) -> Path:
    """Integrate *model* from *start* (gLV: absolute abundances; cLV: relative) over *times*.

    gLV states come back as absolute abundances, cLV states as relative abundances (all taxa).

    Examples
    --------
    >>> m = DynamicsModel("glv", ("a",), (), np.array([1.0]), np.array([[-1.0]]), np.zeros((1, 0)), 0.0, 1.0,
    ...                   1e-5)
    >>> round(float(trajectory(m, np.array([0.5]), np.array([0.0, 30.0])).states[-1, 0]), 3)
    1.0
    """
    if model.model == "glv":
        p = integrate_glv(model.growth, model.interactions * model.scale, model.effects,
                          np.asarray(start, float) / model.scale, times, u)
        return Path(p.times, p.states * model.scale, p.status, p.message)
    return integrate_clv(model.growth, model.interactions, model.effects, start, times, u,
                         ref_index=model.taxa.index(model.reference))


@dataclass(frozen=True)
class ForecastResult(Result):
    """Forecast of one subject: ``table`` (long: subject, time, taxon, observed, predicted, persistence),
    relative-abundance RMSE of the model and of persistence, and the solver status."""

    subject: str
    table: pd.DataFrame
    rmse: float
    rmse_persistence: float
    status: str
    message: str = ""
    caveat: str = CAVEAT


def forecast(model: DynamicsModel, ts: TimeSeries, *, subject: str) -> ForecastResult:
    """Forecast *subject* of *ts* from its first observation and its known perturbations.

    Parameters
    ----------
    model
        A fitted model whose taxa and perturbations match *ts*.
    ts
        The series holding the subject (only its first sample, its times and perturbations are used as input).
    subject
        The subject to forecast.

    Returns
    -------
    ForecastResult
        RMSE of relative abundance over all later time points and taxa, with persistence beside it.

    Examples
    --------
    >>> from gutlink.dynamics.simulate import simulate_glv
    >>> ts = simulate_glv(np.array([1.0, 0.5]), -np.eye(2), n_subjects=3, times=np.arange(6.0), rng=0)
    >>> forecast(fit(ts, alphas=[1e-4]), ts, subject="subject0").status
    'ok'
    """
    if tuple(ts.taxa) != model.taxa:
        raise DesignError("the series' taxa differ from the model's: filter the series the way the training "
                          "series was filtered.")
    if tuple(str(c) for c in ts.perturbations.columns) != model.perturbations:
        raise DesignError(f"the series' perturbations {list(ts.perturbations.columns)} differ from the model's "
                          f"{list(model.perturbations)}.")
    if subject not in ts.subject_ids:
        raise DesignError(f"subject {subject!r} is not in the series.")
    one = ts.subset_subjects([subject])
    obs = one.relative.to_numpy()
    start = one.absolute[0] if model.model == "glv" else obs[0]
    path = trajectory(model, start, one.times, one.perturbation_matrix())
    pred = path.states / path.states.sum(axis=1, keepdims=True)
    persist = np.broadcast_to(obs[0], obs.shape)
    later = slice(1, None)
    rmse = float(np.sqrt(np.mean((pred[later] - obs[later]) ** 2)))
    rmse_p = float(np.sqrt(np.mean((persist[later] - obs[later]) ** 2)))
    n, k = obs.shape
    table = pd.DataFrame({"subject": subject, "time": np.repeat(one.times, k), "taxon": np.tile(model.taxa, n),
                          "observed": obs.ravel(), "predicted": pred.ravel(), "persistence": persist.ravel()})
    return ForecastResult(subject, table, rmse, rmse_p, path.status, path.message)


@dataclass(frozen=True)
class HoldoutResult(Result):
    """Leave-one-subject-out forecasts: per-subject RMSE of relative abundance for the model, persistence
    (first observation carried forward) and the training mean composition; ``summary`` has their medians over
    the subjects whose forecast completed (``n_scored``) and the number that blew up or failed (``n_failed``)."""

    table: pd.DataFrame
    summary: pd.DataFrame
    model: str
    forecasts: tuple[ForecastResult, ...] = field(default=(), metadata={"json": False})
    caveat: str = CAVEAT


def holdout(ts: TimeSeries, *, model: Literal["glv", "clv"] = "glv", alphas: Sequence[float] | None = None,
            l1_ratios: Sequence[float] | None = None, stability: Stability = "negdef",
            select: Literal["forecast", "one-step"] = "forecast", pseudo: float = 1e-5,
            subjects: Sequence[str] | None = None) -> HoldoutResult:
    """Hold out each subject in turn: fit on the others (penalty chosen by CV over *their* subjects only, so
    nothing of the held-out subject leaks), forecast it from its first observation, score it.

    *alphas*, *l1_ratios*, *stability* and *select* are passed to :func:`~gutlink.dynamics.models.fit`.

    Examples
    --------
    >>> from gutlink.dynamics.simulate import simulate_glv
    >>> ts = simulate_glv(np.array([1.0, 0.5]), -np.eye(2), n_subjects=3, times=np.arange(6.0), rng=0)
    >>> holdout(ts, alphas=[1e-4]).table.shape[0]
    3
    """
    if ts.n_subjects < 3 and (alphas is None or len(alphas) > 1):
        raise DesignError("held-out forecasting with an inner CV needs ≥ 3 subjects; give one alpha.")
    rows, results = [], []
    for s in subjects or ts.subject_ids:                          # loop over held-out subjects
        train = ts.subset_subjects([o for o in ts.subject_ids if o != s])
        fitted = fit(train, model=model, alphas=alphas, l1_ratios=l1_ratios, stability=stability, select=select,
                     pseudo=pseudo)
        res = forecast(fitted, ts, subject=s)
        obs = ts.subset_subjects([s]).relative.to_numpy()[1:]
        mean = train.relative.to_numpy().mean(axis=0)
        rows.append({"subject": s, "rmse_model": res.rmse, "rmse_persistence": res.rmse_persistence,
                     "rmse_mean_composition": float(np.sqrt(np.mean((obs - mean) ** 2))), "alpha": fitted.alpha,
                     "l1_ratio": fitted.l1_ratio,
                     "status": res.status})
        results.append(res)
    table = pd.DataFrame(rows)
    cols = ("rmse_model", "rmse_persistence", "rmse_mean_composition")
    # a forecast that blew up or failed has no RMSE: it is counted in n_failed, never silently dropped
    summary = pd.DataFrame({"median_rmse": [table[c].median() for c in cols],
                            "n_scored": [int(table[c].notna().sum()) for c in cols],
                            "n_failed": [int(table[c].isna().sum()) for c in cols]},
                           index=["model", "persistence", "mean_composition"])
    return HoldoutResult(table, summary, model, tuple(results))
