"""Nested, repeated, optionally grouped cross-validation of a classifier on a case/control design.

Examples
--------
>>> from gutlink.datasets import toy
>>> res = cross_validate(toy(), group="group", case="case", control="control", model="lasso",
...                      n_repeats=2, n_folds=3, rng=0)
>>> 0 <= res.auroc <= 1, res.predictions.shape[0]
(True, 19)
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logit
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, ParameterGrid
from sklearn.pipeline import Pipeline

from .._progress import Ticker
from ..cohort import Cohort
from ..errors import DesignError
from ..parallel import run_tasks
from .checks import design_checks, refuse_if_red
from .design import Design, check_folds, inner_splitter, outer_splits, prepare
from .metrics import auroc, bootstrap_ci, calibration_table, roc_band, summary_metrics, within_block_discrimination
from .models import MODELS, build_pipeline
from .results import ClassifierResult

__all__ = ["cross_validate", "fit_pipeline", "search_classifier", "fold_importance", "boosting_importance",
           "model_input", "within_block", "FoldFit"]

Callback = Callable[[str, int, int], None]
TOP_K = 20


@dataclass(frozen=True)
class FoldFit:
    """What one outer fold returns."""

    repeat: int
    fold: int
    test: np.ndarray
    probability: np.ndarray
    importance: np.ndarray
    params: dict[str, Any]
    n_train: int


def fit_pipeline(pipe: Pipeline, search: Any, x: np.ndarray, y: np.ndarray, groups: np.ndarray | None, *,
                 n_inner: int, seed: int) -> tuple[Pipeline, dict[str, Any]]:
    """Fit *pipe* on ``(x, y)``, choosing hyperparameters from *search* by an inner (grouped) CV on AUROC.

    When the grid only tunes the classifier (every key ``clf__…``), the preprocessing of each inner training
    fold is fitted once and shared by all grid points (:func:`search_classifier`); the choice is the one
    :class:`~sklearn.model_selection.GridSearchCV` makes (same splits, candidates, mean AUROC, first best).
    """
    with warnings.catch_warnings():
        # saga / liblinear may stop at max_iter on weakly regularised grid points; the inner CV judges them
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        if not search:
            return clone(pipe).fit(x, y), {}
        inner = inner_splitter(y, groups, n_inner, seed)
        if isinstance(search, Mapping) and all(str(k).startswith("clf__") for k in search):
            best = search_classifier(pipe, search, x, y, groups, inner)
            fitted = clone(pipe).set_params(**best).fit(x, y)
        else:
            gs = GridSearchCV(clone(pipe), search, cv=inner, scoring="roc_auc", n_jobs=1, refit=True,
                              error_score="raise")
            gs.fit(x, y, groups=groups)
            fitted, best = gs.best_estimator_, gs.best_params_
    params = {k: (type(v).__name__ if hasattr(v, "fit") else v) for k, v in best.items()}
    return fitted, params


def search_classifier(pipe: Pipeline, search: Mapping[str, Any], x: np.ndarray, y: np.ndarray,
                      groups: np.ndarray | None, inner: Any) -> dict[str, Any]:
    """The best ``clf__…`` parameters by inner CV, preprocessing each inner training fold once.

    Equivalent to ``GridSearchCV(pipe, search, cv=inner, scoring="roc_auc")``: the preprocessing steps are
    fitted on the inner training part only (as inside the grid search), then every candidate classifier is
    fitted on the transformed data; candidates in :class:`~sklearn.model_selection.ParameterGrid` order, the
    first with the highest mean AUROC over the inner folds wins. AUROC is computed by ranks (:func:`auroc`,
    the same value as ``roc_auc_score`` without its per-call input validation, which dominated small fits).
    """
    candidates = list(ParameterGrid(dict(search)))
    prep, clf = Pipeline(pipe.steps[:-1]), pipe.steps[-1][1]
    splits = list(inner.split(x, y, groups))
    scores = np.empty((len(candidates), len(splits)))
    for j, (train, test) in enumerate(splits):
        fitted_prep = clone(prep)
        xt = fitted_prep.fit_transform(x[train], y[train])
        xv = fitted_prep.transform(x[test])
        for i, cand in enumerate(candidates):
            est = clone(clf).set_params(**{k.removeprefix("clf__"): v for k, v in cand.items()})
            scores[i, j] = auroc(y[test], _score(est.fit(xt, y[train]), xv))
    return candidates[int(np.argmax(np.average(scores, axis=1)))]


def _score(est: Any, x: np.ndarray) -> np.ndarray:
    """The continuous output scikit-learn's ``roc_auc`` scorer ranks: the decision function, else P(case)."""
    if hasattr(est, "decision_function"):
        return np.asarray(est.decision_function(x)).ravel()
    return est.predict_proba(x)[:, 1]


def fold_importance(pipe: Pipeline, n_features: int) -> np.ndarray:
    """Per-input-feature importance of a fitted pipeline (0 for features dropped by filter or selection)."""
    idx = np.arange(n_features)
    for _, step in pipe.steps[:-1]:
        keep = getattr(step, "keep_", None)
        if keep is not None:
            idx = idx[np.asarray(keep, dtype=bool)]
    values = _classifier_importance(pipe.steps[-1][1])
    if values is None:
        return np.full(n_features, np.nan)
    out = np.zeros(n_features)
    out[idx] = values
    return out


def boosting_importance(clf: Any) -> np.ndarray:
    """Split-gain importance of a fitted :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.

    The loss reduction (gain) of every split summed per feature over all trees, as a share of the total: the
    analogue of a forest's impurity importance, measured on the training data. Reads the fitted predictors'
    node arrays (scikit-learn internals, as the JSON export does).
    """
    out = np.zeros(int(clf.n_features_in_))
    for per_class in clf._predictors:
        for pred in per_class:
            nodes = pred.nodes[~pred.nodes["is_leaf"].astype(bool)]
            np.add.at(out, nodes["feature_idx"].astype(int), np.maximum(nodes["gain"].astype(float), 0.0))
    total = out.sum()
    return out / total if total > 0 else out


def _classifier_importance(clf: Any) -> np.ndarray | None:
    """Coefficients, impurity importances, or (soft-vote ensembles) the mean of the members' shares."""
    if hasattr(clf, "coef_"):
        return np.asarray(clf.coef_).ravel()
    if hasattr(clf, "feature_importances_"):
        return np.asarray(clf.feature_importances_)
    if hasattr(clf, "_predictors"):  # histogram gradient boosting: split-gain shares
        return boosting_importance(clf)
    if hasattr(clf, "estimators_") and hasattr(clf, "voting"):
        parts = [_classifier_importance(e) for e in clf.estimators_]
        if any(p is None for p in parts):
            return None
        arrays = [np.asarray(p) for p in parts]
        shares = [p / np.abs(p).sum() if np.abs(p).sum() > 0 else p for p in arrays]
        return np.mean(shares, axis=0)
    return None


def model_input(design: Design, per_study: bool) -> np.ndarray:
    """The matrix the pipeline sees: the abundances, plus the study code as a last column with *per_study*."""
    if not per_study:
        return design.x
    if design.study is None:
        raise DesignError("per-study standardisation needs a study column (study=… / --study).")
    codes, _ = pd.factorize(pd.Series(design.study, dtype=object))
    return np.column_stack([design.x, codes.astype(float)])


def _fit_fold(task: tuple[Any, ...], *, x: np.ndarray, y: np.ndarray, groups: np.ndarray | None,
              pipe: Pipeline, search: Any, n_inner: int, n_features: int) -> FoldFit:
    repeat, fold, train, test, seed = task
    g = None if groups is None else groups[train]
    fitted, params = fit_pipeline(pipe, search, x[train], y[train], g, n_inner=n_inner, seed=seed)
    proba = fitted.predict_proba(x[test])[:, 1]
    return FoldFit(repeat, fold, test, proba, fold_importance(fitted, n_features), params, len(train))


def _run_cv(design: Design, y: np.ndarray, pipe: Pipeline, search: Any, *, n_folds: int, n_repeats: int,
            n_inner: int, gen: np.random.Generator, n_jobs: int, scheduler: Any, per_study: bool,
            label: str | None = "cross-validation") -> list[FoldFit]:
    """Every outer fold of *n_repeats* repeats, in parallel; progress per fold (with an ETA) through
    :func:`gutlink.community.progress_to` under *label* (None: no lines, e.g. inside the permutation null)."""
    d = dataclasses.replace(design, y=y)
    seeds = [int(s) for s in gen.integers(0, 2**31 - 1, size=n_repeats)]
    tasks = [(r, f, tr, te, int(gen.integers(0, 2**31 - 1)))
             for r, f, tr, te in outer_splits(d, n_folds=n_folds, n_repeats=n_repeats, seeds=seeds)]
    work = partial(_fit_fold, x=model_input(design, per_study), y=y, groups=design.groups, pipe=pipe,
                   search=search, n_inner=n_inner, n_features=design.x.shape[1])
    on_done = None
    if label is not None:
        tick, done = Ticker(label, len(tasks), unit="folds"), [0]

        def on_done(_i: int, _fit: Any) -> None:
            done[0] += 1
            tick(done[0])

    return run_tasks(work, tasks, n_jobs=n_jobs, scheduler=scheduler, on_done=on_done)


def _oof(fits: Sequence[FoldFit], n_repeats: int, n: int) -> np.ndarray:
    oof = np.full((n_repeats, n), np.nan)
    for fit in fits:
        oof[fit.repeat, fit.test] = fit.probability
    return oof


def _fold_ids(fits: Sequence[FoldFit], n_repeats: int, n: int) -> np.ndarray:
    """The outer test fold of every sample in every repeat, ``(n_repeats, n)``."""
    out = np.full((n_repeats, n), -1, dtype=int)
    for fit in fits:
        out[fit.repeat, fit.test] = fit.fold
    return out


def _importance_table(fits: Sequence[FoldFit], feature_ids: pd.Index) -> tuple[pd.DataFrame, float]:
    imp = np.vstack([f.importance for f in fits])
    k = min(TOP_K, imp.shape[1])
    mag = np.abs(np.nan_to_num(imp))
    tops = np.argsort(-mag, axis=1, kind="stable")[:, :k]
    top = np.zeros_like(mag, dtype=bool)
    np.put_along_axis(top, tops, True, axis=1)
    top &= mag > 0
    table = pd.DataFrame({"mean": imp.mean(axis=0), "sd": imp.std(axis=0, ddof=1) if len(fits) > 1 else 0.0,
                          "selected_frequency": (mag > 0).mean(axis=0), "top_frequency": top.mean(axis=0)},
                         index=pd.Index(feature_ids, name="feature_id"))
    order = np.argsort(-np.abs(np.nan_to_num(table["mean"].to_numpy())), kind="stable")
    return table.iloc[order], _stability(top)


def _stability(top: np.ndarray) -> float:
    """Mean pairwise Jaccard similarity of the per-fold top-k feature sets (1 = identical every fold)."""
    if top.shape[0] < 2 or not top.any():
        return float("nan")
    inter = top.astype(float) @ top.T.astype(float)
    sizes = top.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - inter
    iu = np.triu_indices(top.shape[0], 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.nanmean(inter[iu] / union[iu]))


def _predictions(design: Design, oof: np.ndarray) -> pd.DataFrame:
    mean = oof.mean(axis=0)
    frame = pd.DataFrame({"label": np.where(design.y == 1, "case", "control"), "y": design.y,
                          "probability": mean, "probability_sd": oof.std(axis=0),
                          "log_odds": logit(np.clip(mean, 1e-6, 1 - 1e-6))}, index=design.cohort.sample_ids)
    if design.subjects is not None:
        frame["subject"] = design.subjects
    if design.blocks is not None:
        frame["block"] = design.blocks
    if design.study is not None:
        frame["study"] = design.study
    return frame


def _per_study(design: Design, oof: np.ndarray) -> pd.DataFrame:
    if design.study is None:
        return pd.DataFrame()
    rows = []
    for s in pd.unique(design.study):
        m = design.study == s
        aucs = [auroc(design.y[m], o[m]) for o in oof]
        rows.append({"study": str(s), "auroc": float(np.nanmean(aucs)) if not np.isnan(aucs).all() else np.nan,
                     "n_case": int(design.y[m].sum()), "n_control": int((design.y[m] == 0).sum())})
    return pd.DataFrame(rows)


def permuted_labels(design: Design, gen: np.random.Generator) -> np.ndarray:
    """Labels shuffled between subjects: within block when a block column is given (a case–control pair
    swaps its labels), else within study when a study column is given."""
    units = design.units
    stratum = design.blocks if design.blocks is not None else design.study
    frame = pd.DataFrame({"unit": units, "y": design.y, "block": stratum if stratum is not None else "all"})
    per_unit = frame.groupby("unit", sort=False).agg(y=("y", "first"), block=("block", "first"))
    shuffled = per_unit["y"].copy()
    for _, idx in per_unit.groupby("block").groups.items():
        shuffled.loc[idx] = gen.permutation(per_unit.loc[idx, "y"].to_numpy())
    return shuffled.loc[units].to_numpy()


def _check_args(model: str, n_repeats: int, n_permutations: int) -> None:
    if model not in MODELS:
        raise DesignError(f"unknown model {model!r}; use one of {', '.join(MODELS)}.")
    if n_repeats < 1 or n_permutations < 0:
        raise DesignError("n_repeats must be ≥ 1 and n_permutations ≥ 0.")


def cross_validate(cohort: Cohort, *, group: str, case: str | Sequence[str], control: str | Sequence[str],
                   model: str = "lasso", subject: str | None = None, study: str | None = None,
                   block: str | None = None, strict: bool = False, n_repeats: int = 10, n_folds: int = 5, n_inner: int = 3, n_permutations: int = 0,
                   normalisation: str = "log-std", min_prevalence: float = 0.1, select_k: int | None = None,
                   params: Mapping[str, Any] | None = None, grid: Mapping[str, Any] | None = None,
                   per_study_standardise: bool = False, rng: int | np.random.Generator | None = None,
                   n_jobs: int = 1, scheduler: Any = None, callback: Callback | None = None) -> ClassifierResult:
    """Nested, repeated stratified k-fold CV of a disease classifier.

    Every preprocessing step (closure, prevalence filter, normalisation, selection) and the hyperparameter
    search (an inner CV on AUROC) are fitted on the training part of each outer fold only. With *subject*, all
    splits are grouped so that a subject's samples are never on both sides; with *block*, so that a block's
    samples (a household, family or matched pair, which may hold cases and controls) sit in one fold, and the
    result also reports the within-block discrimination of the out-of-fold predictions
    (:func:`~gutlink.predict.metrics.within_block_discrimination`); with *study*, folds are also stratified
    by study when possible and per-study AUROCs of the out-of-fold predictions are reported. Before fitting,
    the design is checked (:func:`~gutlink.predict.checks.design_checks`: group ⟂ study / batch / any
    categorical column, a feature that separates the classes perfectly) and the checks kept on the result.

    Parameters
    ----------
    cohort
        Abundances (any units) with the metadata columns named below.
    group, case, control
        Outcome column, its case value(s) (pooled) and control value(s).
    model
        ``'lasso'`` (L1 logistic), ``'elasticnet'``, ``'rf'`` (random forest), ``'gbm'`` (histogram gradient
        boosting) or ``'auto'`` (the inner CV chooses among lasso, elastic net and random forest).
    subject, study
        Optional subject and study columns. A subject belongs to one class (repeated samples of a person).
    block
        Optional block column: matched sets (household, family, twin pair) that may hold both classes; kept
        in one fold (grouped, stratified as far as possible), resampled whole by the bootstrap, and the
        stratum of the label permutations. Subjects, when given too, must be nested in blocks.
    strict
        Raise :class:`~gutlink.errors.DesignError` instead of fitting when a design check is red.
    n_repeats, n_folds, n_inner
        Outer repeats × folds and inner folds.
    n_permutations
        Label permutations for the chance-level AUROC on this data (each one CV repeat).
    normalisation, min_prevalence, select_k, params, grid
        Pipeline settings; see :func:`gutlink.predict.models.build_pipeline`.
    per_study_standardise
        Standardise the log abundances within each *study* (needs *study*; log-std only). Each study's mean and
        scale are learnt from its samples in the training fold; a study with no training samples (as in
        leave-one-study-out) is standardised on its own samples' feature values at prediction time, never
        its labels. See :class:`~gutlink.predict.transformers.StudyLogStandardScaler`.
    rng
        Seed or generator: every random choice derives from it.
    n_jobs, scheduler
        joblib workers, or a Dask scheduler address / ``Client`` (then *n_jobs* is ignored).
    callback
        ``callback(step, i, n)`` progress hook.

    Returns
    -------
    ClassifierResult

    Examples
    --------
    >>> from gutlink.datasets import toy
    >>> res = cross_validate(toy(), group="group", case="case", control="control", model="rf",
    ...                      params={"n_estimators": 20}, grid={}, n_repeats=1, n_folds=3, rng=1)
    >>> res.table["metric"].tolist()
    ['auroc', 'auprc', 'balanced_accuracy', 'brier']
    """
    _check_args(model, n_repeats, n_permutations)
    notify = callback or (lambda step, i, n: None)
    design = prepare(cohort, group=group, case=case, control=control, subject=subject, study=study, block=block)
    check_folds(design, n_folds)
    model_input(design, per_study_standardise)  # fails early without a study column
    checks = design_checks(cohort, group=group, case=case, control=control, subject=subject, block=block,
                           study=study)
    if strict:
        refuse_if_red(checks)
    gen = np.random.default_rng(rng)
    pipe, search = build_pipeline(model, normalisation=normalisation, min_prevalence=min_prevalence,
                                  select_k=select_k, random_state=int(gen.integers(0, 2**31 - 1)),
                                  params=params, grid=grid, per_study=per_study_standardise)
    run = partial(_run_cv, design, pipe=pipe, search=search, n_folds=n_folds, n_inner=n_inner, gen=gen,
                  n_jobs=n_jobs, scheduler=scheduler, per_study=per_study_standardise)
    notify("cross-validation", 0, 2)
    fits = run(design.y, n_repeats=n_repeats)
    oof = _oof(fits, n_repeats, len(design.y))
    notify("permutation null", 1, 2)
    tick = Ticker("permutation null", n_permutations, unit="permutations")
    null_list = []
    for k in range(n_permutations):  # each permutation: every fold of one repeat on shuffled labels
        yp = permuted_labels(design, gen)
        null_list.append(auroc(yp, _oof(run(yp, n_repeats=1, label=None), 1, len(yp))[0]))
        tick(k + 1)
    null = tuple(null_list)
    protocol = {"n_repeats": n_repeats, "n_folds": n_folds, "n_inner": n_inner, "grouped": design.grouped,
                "subject": subject, "block": block, "study": study, "normalisation": normalisation,
                "min_prevalence": min_prevalence, "select_k": select_k, "n_permutations": n_permutations,
                "per_study_standardise": per_study_standardise}
    return _assemble(design, fits, oof, null, model=model, protocol=protocol, gen=gen, checks=checks)


def within_block(design: Design, score: np.ndarray, gen: np.random.Generator) -> dict[str, Any] | None:
    """Within-block discrimination of *score* (None without a block column), naming the column."""
    if design.blocks is None:
        return None
    out = within_block_discrimination(design.y, score, design.blocks, rng=gen)
    return {"block_column": design.block_column, **out}


def _assemble(design: Design, fits: list[FoldFit], oof: np.ndarray, null: tuple[float, ...], *, model: str,
              protocol: dict[str, Any], gen: np.random.Generator, checks: list[dict[str, str]]) -> ClassifierResult:
    metrics = summary_metrics(design.y, oof)
    ci = bootstrap_ci(design.y, oof, design.clusters, rng=gen)
    importance, stability = _importance_table(fits, design.cohort.feature_ids)
    folds = pd.DataFrame([{"repeat": f.repeat, "fold": f.fold, "n_train": f.n_train, "n_test": len(f.test),
                           "auroc": auroc(design.y[f.test], f.probability), "params": f.params} for f in fits])
    p_value = None if not null else float((1 + np.sum(np.asarray(null) >= metrics["auroc"])) / (1 + len(null)))
    return ClassifierResult(
        model=model, protocol=protocol, n_case=int(design.y.sum()), n_control=int((design.y == 0).sum()),
        n_features=int(design.x.shape[1]), auroc=metrics["auroc"], auroc_ci=ci, auroc_sd=metrics["auroc_sd"],
        auprc=metrics["auprc"], balanced_accuracy=metrics["balanced_accuracy"], brier=metrics["brier"],
        predictions=_predictions(design, oof), folds=folds, importance=importance, stability=stability,
        roc=roc_band(design.y, oof), calibration=calibration_table(design.y, oof.mean(axis=0)),
        per_study=_per_study(design, oof), permutation_auroc=null, permutation_p=p_value, oof=oof,
        design_checks=checks, within_block=within_block(design, oof.mean(axis=0), gen),
        fold_ids=_fold_ids(fits, oof.shape[0], oof.shape[1]))
