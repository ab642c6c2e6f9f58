"""Does a model hold in a cohort it never saw? Leave-one-study-out and the train-on-A / test-on-B matrix.

Examples
--------
>>> from gutlink.datasets import franzosa2019
>>> c = franzosa2019()
>>> c = c.with_metadata(c.metadata.assign(site=["a", "b"] * 77 + ["a"]))
>>> res = loso(c, group="Diagnosis", case=["CD", "UC"], control="Control", study="site", matrix=False,
...            rng=0)
>>> res.table["study"].tolist()
['a', 'b']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from .._progress import Ticker
from ..cohort import Cohort
from ..errors import DesignError
from ..parallel import run_tasks
from .checks import design_checks, refuse_if_red
from .cv import cross_validate, fit_pipeline, model_input, within_block
from .design import Design, prepare
from .metrics import auroc, bootstrap_ci
from .models import build_pipeline
from .results import TransferResult

__all__ = ["loso"]


def _both_classes(y: np.ndarray) -> bool:
    return bool((y == 1).any() and (y == 0).any())


def _fit_predict(task: tuple[np.ndarray, np.ndarray, int], *, design: Design, x: np.ndarray, pipe: Any,
                 search: Any, n_inner: int) -> np.ndarray:
    train, test, seed = task
    g = None if design.groups is None else design.groups[train]
    fitted, _ = fit_pipeline(pipe, search, x[train], design.y[train], g, n_inner=n_inner, seed=seed)
    return fitted.predict_proba(x[test])[:, 1]


def _check_studies(design: Design, study: str) -> np.ndarray:
    studies = pd.unique(design.study)  # type: ignore[arg-type]
    if studies.size < 2:
        raise DesignError(f"leave-one-study-out needs at least 2 studies in column {study!r}; it holds only "
                          f"{list(studies)}. Use cross_validate for a single study.")
    for s in studies:
        rest = design.study != s
        if not _both_classes(design.y[rest]):
            raise DesignError(f"without study {s!r} the training set lacks a class; every study's complement "
                              "must hold cases and controls.")
    if design.blocks is not None:
        per = pd.Series(design.study).groupby(design.blocks).nunique()
        if (per > 1).any():
            raise DesignError(f"{int((per > 1).sum())} block(s) of {design.block_column!r} span several studies of "
                              f"{study!r}, e.g. {list(per.index[per > 1][:5])}; a block must lie within one study "
                              "for leave-one-study-out.")
    return studies


def _loso_table(design: Design, studies: np.ndarray, preds: list[np.ndarray],
                gen: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, frames = [], []
    for s, p in zip(studies, preds, strict=True):
        m = design.study == s
        y, units = design.y[m], design.clusters[m]
        ok = _both_classes(y)
        ci = bootstrap_ci(y, p[None, :], units, rng=gen) if ok else (np.nan, np.nan)
        rows.append({"study": str(s), "auroc": auroc(y, p) if ok else np.nan, "ci_low": ci[0], "ci_high": ci[1],
                     "n_case": int(y.sum()), "n_control": int((y == 0).sum())})
        frames.append(pd.DataFrame({"study": str(s), "y": y, "probability": p},
                                   index=design.cohort.sample_ids[m]))
    return pd.DataFrame(rows), pd.concat(frames)


def _ticks(label: str, total: int, unit: str) -> Any:
    """``on_done`` for :func:`~gutlink.parallel.run_tasks`: progress with an ETA (see :mod:`gutlink._progress`)."""
    tick, done = Ticker(label, total, unit=unit), [0]

    def on_done(_i: int, _result: Any) -> None:
        done[0] += 1
        tick(done[0])

    return on_done


def _matrix(design: Design, studies: np.ndarray, work: Any, diagonal: dict[str, float], *, n_jobs: int,
            scheduler: Any, gen: np.random.Generator) -> pd.DataFrame:
    trainable = [s for s in studies if _both_classes(design.y[design.study == s])]
    tasks = [(np.flatnonzero(design.study == a), np.flatnonzero(design.study != a), int(gen.integers(2**31 - 1)))
             for a in trainable]
    preds = run_tasks(work, tasks, n_jobs=n_jobs, scheduler=scheduler,
                      on_done=_ticks("cross-study matrix", len(tasks), "training studies"))
    study = np.asarray(design.study)
    names = [str(s) for s in studies]
    out = pd.DataFrame(np.nan, index=pd.Index(names, name="train"), columns=pd.Index(names, name="test"))
    for a, (_, test, _), p in zip(trainable, tasks, preds, strict=True):
        for b in studies:
            if b == a:
                continue
            m = study[test] == b
            out.loc[str(a), str(b)] = auroc(design.y[test][m], p[m])
    for s, v in diagonal.items():
        out.loc[s, s] = v
    return out


def _diagonal(cohort: Cohort, design: Design, studies: np.ndarray, kwargs: dict[str, Any]) -> dict[str, float]:
    """Within-study cross-validated AUROC (NaN where a study is too small for the folds)."""
    out = {}
    for s in studies:
        sub = cohort.subset(samples=cohort.sample_ids.isin(design.cohort.sample_ids[design.study == s]))
        try:
            out[str(s)] = cross_validate(sub, **kwargs).auroc
        except DesignError:
            out[str(s)] = float("nan")
    return out


def loso(cohort: Cohort, *, group: str, case: str | Sequence[str], control: str | Sequence[str], study: str,
         model: str = "lasso", subject: str | None = None, block: str | None = None, strict: bool = False,
         matrix: bool = True, n_repeats: int = 3,
         n_folds: int = 5, n_inner: int = 3, normalisation: str = "log-std", min_prevalence: float = 0.1,
         params: Mapping[str, Any] | None = None, grid: Mapping[str, Any] | None = None,
         per_study_standardise: bool = False, rng: int | np.random.Generator | None = None, n_jobs: int = 1,
         scheduler: Any = None) -> TransferResult:
    """Leave-one-study-out AUROC per held-out study and, with *matrix*, the train-on-A / test-on-B matrix.

    Each model is fitted (with its inner-CV hyperparameter search, grouped by *subject* when given) on the
    training studies only and scored on the held-out one (its inner CV grouped by *block* too, when given;
    the within-block discrimination of the held-out predictions is then reported). The matrix diagonal is the within-study
    cross-validated AUROC (*n_repeats* × *n_folds*); off-diagonal cells train on one study and test on another.

    Parameters
    ----------
    cohort
        Pooled cohort of several studies.
    group, case, control, study, subject, block
        Outcome column and values, the study column, optional subject and block columns (blocks nested in
        studies).
    strict
        Raise :class:`~gutlink.errors.DesignError` instead of fitting when a design check is red.
    model, normalisation, min_prevalence, params, grid
        As in :func:`~gutlink.predict.cross_validate`.
    matrix
        Also compute the study × study matrix.
    per_study_standardise
        Standardise the log abundances within each study: the training studies on their own (training)
        samples, the held-out study on its own samples' feature values — unlabelled, but it does look at the
        whole test study at once.
    n_repeats, n_folds, n_inner
        CV settings of the matrix diagonal and of the inner search.
    rng, n_jobs, scheduler
        Randomness and parallelism, as in :func:`~gutlink.predict.cross_validate`.

    Returns
    -------
    TransferResult

    Examples
    --------
    >>> from gutlink.datasets import toy
    >>> c = toy()
    >>> loso(c.with_metadata(c.metadata.assign(s="one")), group="group", case="case",
    ...      control="control", study="s")
    Traceback (most recent call last):
    ...
    gutlink.errors.DesignError: leave-one-study-out needs at least 2 studies in column 's'; ...
    """
    design = prepare(cohort, group=group, case=case, control=control, subject=subject, study=study, block=block)
    studies = _check_studies(design, study)
    checks = design_checks(cohort, group=group, case=case, control=control, subject=subject, block=block,
                           study=study)
    if strict:
        refuse_if_red(checks)
    gen = np.random.default_rng(rng)
    pipe, search = build_pipeline(model, normalisation=normalisation, min_prevalence=min_prevalence,
                                  random_state=int(gen.integers(2**31 - 1)), params=params, grid=grid,
                                  per_study=per_study_standardise)
    work = partial(_fit_predict, design=design, x=model_input(design, per_study_standardise), pipe=pipe,
                   search=search, n_inner=n_inner)
    tasks = [(np.flatnonzero(design.study != s), np.flatnonzero(design.study == s), int(gen.integers(2**31 - 1)))
             for s in studies]
    fits = run_tasks(work, tasks, n_jobs=n_jobs, scheduler=scheduler,
                     on_done=_ticks("leave-one-study-out", len(tasks), "studies"))
    table, preds = _loso_table(design, studies, fits, gen)
    grid_ = pd.DataFrame()
    if matrix:
        kwargs = dict(group=group, case=case, control=control, model=model, subject=subject, block=block,
                      n_repeats=n_repeats,
                      n_folds=n_folds, n_inner=n_inner, normalisation=normalisation, min_prevalence=min_prevalence,
                      params=params, grid=grid, rng=gen, n_jobs=n_jobs, scheduler=scheduler)
        if per_study_standardise:  # one study: the same standardisation as log-std on that study
            kwargs.update(study=study, per_study_standardise=True)
        grid_ = _matrix(design, studies, work, _diagonal(cohort, design, studies, kwargs), n_jobs=n_jobs,
                        scheduler=scheduler, gen=gen)
    protocol = {"n_repeats": n_repeats, "n_folds": n_folds, "n_inner": n_inner, "subject": subject, "block": block,
                "normalisation": normalisation, "min_prevalence": min_prevalence,
                "per_study_standardise": per_study_standardise}
    held_out = preds["probability"].reindex(design.cohort.sample_ids).to_numpy()
    return TransferResult(model=model, study_column=study, table=table, matrix=grid_, predictions=preds,
                          protocol=protocol, design_checks=checks, within_block=within_block(design, held_out, gen))
