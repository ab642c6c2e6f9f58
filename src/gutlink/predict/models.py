"""The classifiers and their preprocessing pipelines, with the hyperparameter grids searched by nested CV.

Every pipeline starts from raw abundances: closure to relative abundance → prevalence filter → normalisation →
optional selection → classifier, so that nothing is learnt outside a training fold.

Examples
--------
>>> pipe, grid = build_pipeline("lasso", random_state=0)
>>> [name for name, _ in pipe.steps]
['closure', 'prevalence', 'normalise', 'select', 'clf']
>>> sorted(grid)
['clf__C']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from ..errors import DesignError
from .transformers import (
    Closure,
    CLRTransform,
    LogStandardScaler,
    LogTransform,
    PrevalenceFilter,
    SelectKByAUC,
    StudyLogStandardScaler,
)

__all__ = ["MODELS", "NORMALISATIONS", "Model", "Normalisation", "build_pipeline", "make_classifier"]

Model = Literal["lasso", "elasticnet", "rf", "gbm", "ensemble", "auto"]
Normalisation = Literal["log-std", "clr", "log", "none"]
MODELS: tuple[str, ...] = ("lasso", "elasticnet", "rf", "gbm", "ensemble", "auto")
NORMALISATIONS: tuple[str, ...] = ("log-std", "clr", "log", "none")

_C_GRID = list(np.logspace(-2, 1, 7))
_GRIDS: dict[str, dict[str, list[Any]]] = {
    "lasso": {"clf__C": _C_GRID},
    "elasticnet": {"clf__C": list(np.logspace(-2, 1, 5)), "clf__l1_ratio": [0.1, 0.5, 0.9]},
    "rf": {"clf__max_features": ["sqrt", 0.2]},
    "gbm": {"clf__learning_rate": [0.05, 0.1], "clf__max_depth": [2, 4]},
    "ensemble": {"clf__elasticnet__C": [0.1, 0.316, 1.0]},
}


def make_classifier(model: str, *, random_state: int | None = None, **params: Any) -> Any:
    """The bare classifier of *model* with gutlink's defaults (class-balanced where the learner supports it).

    Examples
    --------
    >>> type(make_classifier("rf", n_estimators=10)).__name__
    'RandomForestClassifier'
    """
    if model == "lasso":
        base = dict(l1_ratio=1.0, solver="liblinear", C=1.0, class_weight="balanced", max_iter=1000)
        return LogisticRegression(random_state=random_state, **{**base, **params})
    if model == "elasticnet":
        base = dict(l1_ratio=0.5, solver="saga", C=1.0, class_weight="balanced", max_iter=5000, tol=1e-3)
        return LogisticRegression(random_state=random_state, **{**base, **params})
    if model == "rf":
        base = dict(n_estimators=500, max_features="sqrt", class_weight="balanced_subsample", n_jobs=1)
        return RandomForestClassifier(random_state=random_state, **{**base, **params})
    if model == "ensemble":  # soft vote of a random forest and an elastic net on the same features
        members = [(name, make_classifier(name, random_state=random_state, **params.get(name, {})))
                   for name in ("rf", "elasticnet")]
        return VotingClassifier(members, voting="soft")
    if model == "gbm":
        base = dict(max_iter=100, learning_rate=0.1, max_depth=3, min_samples_leaf=5, early_stopping=False,
                    class_weight="balanced")
        return HistGradientBoostingClassifier(random_state=random_state, **{**base, **params})
    raise DesignError(f"unknown model {model!r}; use one of {', '.join(MODELS)}.")


def _normaliser(normalisation: str) -> Any:
    if normalisation == "log-std":
        return LogStandardScaler()
    if normalisation == "clr":
        return CLRTransform()
    if normalisation == "log":
        return LogTransform()
    if normalisation == "none":
        return "passthrough"
    raise DesignError(f"unknown normalisation {normalisation!r}; use one of {', '.join(NORMALISATIONS)}.")


def _auto_grid(random_state: int | None, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One sub-grid per candidate learner: the inner CV chooses the learner as well as its settings."""
    grids = []
    for name in ("lasso", "elasticnet", "rf"):
        sub: dict[str, Any] = {"clf": [make_classifier(name, random_state=random_state, **params.get(name, {}))]}
        sub.update(_GRIDS[name])
        grids.append(sub)
    return grids


def build_pipeline(model: str, *, normalisation: str = "log-std", min_prevalence: float = 0.1,
                   select_k: int | None = None, random_state: int | None = None,
                   params: Mapping[str, Any] | None = None, grid: Mapping[str, Any] | None = None,
                   per_study: bool = False) -> tuple[Pipeline, Any]:
    """The unfitted pipeline of *model* and the grid its inner CV searches.

    Parameters
    ----------
    model
        ``'lasso'``, ``'elasticnet'``, ``'rf'``, ``'gbm'``, ``'ensemble'`` (soft vote of a random forest and an
        elastic net, the latter's C tuned) or ``'auto'`` (the inner CV picks among lasso, elastic net and random
        forest).
    normalisation
        ``'log-std'`` (SIAMCAT's default), ``'clr'``, ``'log'`` or ``'none'``.
    min_prevalence
        Prevalence filter learnt on each training fold.
    select_k
        Keep the *k* features with the most extreme single-feature AUROC (training fold only); ``None`` keeps all.
    params
        Fixed classifier parameters (for ``'auto'`` and ``'ensemble'``: a mapping learner → parameters).
    grid
        Replaces the default grid (keys like ``'clf__C'``); ``{}`` turns the search off.
    per_study
        Standardise within each study (:class:`~gutlink.predict.transformers.StudyLogStandardScaler`, which
        does closure, prevalence filter and log-std in one step): the input then carries the study code as its
        last column. Only with ``normalisation='log-std'``.

    Examples
    --------
    >>> pipe, grid = build_pipeline("rf", params={"n_estimators": 50}, grid={})
    >>> pipe.named_steps["clf"].n_estimators, grid
    (50, {})
    """
    params = dict(params or {})
    if model == "ensemble":
        clf = make_classifier("ensemble", random_state=random_state, **params)
        search: Any = dict(_GRIDS[model]) if grid is None else dict(grid)
    elif model == "auto":
        clf = make_classifier("lasso", random_state=random_state)
        search = _auto_grid(random_state, params) if grid is None else dict(grid)
    else:
        clf = make_classifier(model, random_state=random_state, **params)
        search = dict(_GRIDS[model]) if grid is None else dict(grid)
    select = "passthrough" if select_k is None else SelectKByAUC(k=select_k)
    if per_study:
        if normalisation != "log-std":
            raise DesignError(f"per-study standardisation is a per-study log-std; it cannot be combined with "
                              f"normalisation {normalisation!r}. Use normalisation='log-std'.")
        steps = [("closure", "passthrough"), ("prevalence", "passthrough"),
                 ("normalise", StudyLogStandardScaler(min_prevalence=min_prevalence)), ("select", select),
                 ("clf", clf)]
        return Pipeline(steps), search
    steps = [("closure", Closure()), ("prevalence", PrevalenceFilter(min_prevalence=min_prevalence)),
             ("normalise", _normaliser(normalisation)), ("select", select), ("clf", clf)]
    return Pipeline(steps), search
