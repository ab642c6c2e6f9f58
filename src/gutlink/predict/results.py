"""Result classes of the prediction module (frozen dataclasses; the report renders them by type).

Examples
--------
>>> import dataclasses
>>> sorted(f.name for f in dataclasses.fields(ClassifierResult))[:3]
['auprc', 'auroc', 'auroc_ci']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..results import Result, jsonable
from .checks import red, worst

__all__ = ["ClassifierResult", "TransferResult", "PredictionResult"]

_NOJSON = {"json": False}


@dataclass(frozen=True)
class ClassifierResult(Result):
    """Cross-validated performance of one classifier on one case/control design.

    ``auroc`` is the mean over CV repeats of the AUROC of the pooled out-of-fold predictions; ``auroc_ci`` a
    95 % percentile CI from a stratified bootstrap of samples (of subjects when grouped), conditional on the
    fitted fold models (it does not include the variability of refitting them). ``predictions`` has
    one row per sample: ``label``, ``y`` (1 = case), ``probability`` (mean out-of-fold probability over
    repeats), ``probability_sd`` and ``log_odds`` (the learned disease index). ``importance`` has one row per
    input feature: ``mean`` (signed coefficient on the normalised scale for linear models, impurity decrease
    for forests, split-gain share for gradient boosting — both tree measures on the training data), ``sd``, ``selected_frequency`` (fraction of fold models using the
    feature) and ``top_frequency`` (fraction of folds where it is among the ``top_k`` most important).
    ``permutation_auroc`` holds the label-permutation null (one CV repeat per permutation); ``oof`` the
    out-of-fold probabilities of every repeat (repeats × samples, in ``predictions`` order) and ``fold_ids``
    the outer test fold of every sample in every repeat (same shape).

    ``design_checks`` lists the design checks measured before fitting (dictionaries with ``check, status,
    column, message, fix``; status ``'red' | 'amber' | 'green'``): while one is red (a feature or a study that
    separates the classes by itself) the AUROC measures that, not the disease, and :attr:`trusted` is False.
    ``within_block`` (with a block column) holds the within-block discrimination of the mean out-of-fold
    probability: ``fraction_case_higher`` over ``n_pairs`` case–control pairs in ``n_blocks`` blocks, with
    its bootstrap-over-blocks ``ci_low`` / ``ci_high``.
    """

    REPORT_TITLE: ClassVar[str] = "disease prediction (cross-validated classifier)"

    model: str
    protocol: dict[str, Any]
    n_case: int
    n_control: int
    n_features: int
    auroc: float
    auroc_ci: tuple[float, float]
    auroc_sd: float
    auprc: float
    balanced_accuracy: float
    brier: float
    predictions: pd.DataFrame = field(metadata=_NOJSON)
    folds: pd.DataFrame = field(default_factory=pd.DataFrame)
    importance: pd.DataFrame = field(default_factory=pd.DataFrame)
    stability: float = float("nan")
    roc: pd.DataFrame = field(default_factory=pd.DataFrame)
    calibration: pd.DataFrame = field(default_factory=pd.DataFrame)
    per_study: pd.DataFrame = field(default_factory=pd.DataFrame)
    permutation_auroc: tuple[float, ...] = ()
    permutation_p: float | None = None
    oof: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), metadata=_NOJSON, repr=False)
    design_checks: list[dict[str, str]] = field(default_factory=list)
    within_block: dict[str, Any] | None = None
    fold_ids: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=int), metadata=_NOJSON, repr=False)

    @property
    def red_checks(self) -> list[dict[str, str]]:
        """The red design checks (a separating feature, a study or batch that lines up with the groups, …)."""
        return red(self.design_checks)

    @property
    def trusted(self) -> bool:
        """False while a design check is red: the AUROC may then measure the design, not the disease."""
        return not self.red_checks

    @property
    def table(self) -> pd.DataFrame:
        """One row per performance measure (``metric, value, ci_low, ci_high``)."""
        rows = [("auroc", self.auroc, *self.auroc_ci), ("auprc", self.auprc, np.nan, np.nan),
                ("balanced_accuracy", self.balanced_accuracy, np.nan, np.nan), ("brier", self.brier, np.nan, np.nan)]
        if self.within_block is not None:
            w = self.within_block
            rows.append(("within_block_discrimination", w["fraction_case_higher"], w["ci_low"], w["ci_high"]))
        if self.permutation_auroc:
            null = np.asarray(self.permutation_auroc)
            rows.append(("permutation_auroc", float(null.mean()), *np.quantile(null, [0.025, 0.975])))
        return pd.DataFrame(rows, columns=["metric", "value", "ci_low", "ci_high"])

    def summary(self) -> dict[str, Any]:
        """The headline numbers for ``summary.json``."""
        out = {"model": self.model, "auroc": self.auroc, "auroc_ci": list(self.auroc_ci), "auprc": self.auprc,
               "balanced_accuracy": self.balanced_accuracy, "brier": self.brier, "n_case": self.n_case,
               "n_control": self.n_control, "protocol": self.protocol, "permutation_p": self.permutation_p}
        if self.permutation_auroc:
            out["permutation_auroc_mean"] = float(np.mean(self.permutation_auroc))
        if not self.per_study.empty:
            out["per_study"] = self.per_study
        if self.within_block is not None:
            out["within_block"] = self.within_block
        out.update(design_status=worst(self.design_checks), design_checks=self.design_checks)
        return jsonable(out)


@dataclass(frozen=True)
class TransferResult(Result):
    """Cross-study validation: leave-one-study-out (LOSO) and the train-on-A / test-on-B matrix.

    ``table`` has one row per held-out study (``study, auroc, ci_low, ci_high, n_case, n_control``); ``matrix``
    is train study × test study AUROC, its diagonal the within-study cross-validated AUROC (NaN where a study
    lacks a class). ``design_checks`` and ``within_block`` (of the held-out predictions) as in
    :class:`ClassifierResult`.
    """

    REPORT_TITLE: ClassVar[str] = "cross-study transfer of a disease classifier"

    model: str
    study_column: str
    table: pd.DataFrame
    matrix: pd.DataFrame = field(default_factory=pd.DataFrame)
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame, metadata=_NOJSON)
    protocol: dict[str, Any] = field(default_factory=dict)
    design_checks: list[dict[str, str]] = field(default_factory=list)
    within_block: dict[str, Any] | None = None

    @property
    def red_checks(self) -> list[dict[str, str]]:
        """The red design checks."""
        return red(self.design_checks)

    def summary(self) -> dict[str, Any]:
        """LOSO per study and its mean, for ``summary.json``."""
        out = {"model": self.model, "study_column": self.study_column,
               "loso_mean_auroc": float(self.table["auroc"].mean()), "loso": self.table,
               "matrix": {str(k): v for k, v in self.matrix.to_dict(orient="index").items()},
               "design_status": worst(self.design_checks), "design_checks": self.design_checks}
        if self.within_block is not None:
            out["within_block"] = self.within_block
        return jsonable(out)


@dataclass(frozen=True)
class PredictionResult(Result):
    """A saved model applied to new samples, with the feature alignment that was needed.

    ``table`` has one row per sample: ``probability`` and ``log_odds`` (and ``group`` when a metadata column
    was given; ``y``, 1 = case, when case and control values were given too). ``alignment``: model features
    matched / missing / extra. ``info``: the saved model's provenance (what it was trained on). ``auroc`` and
    ``auroc_ci`` (a stratified bootstrap of samples) are set when the new samples carry case/control labels.
    """

    REPORT_TITLE: ClassVar[str] = "a saved disease classifier applied to new samples"

    table: pd.DataFrame
    alignment: dict[str, Any]
    model: str
    info: dict[str, Any] = field(default_factory=dict)
    group: str | None = None
    auroc: float | None = None
    auroc_ci: tuple[float, float] | None = None

    @property
    def by_group(self) -> pd.DataFrame:
        """Score distribution per group (one row ``all`` without groups): n, mean, quartiles, share ≥ 0.5."""
        p = self.table["probability"]
        keys = self.table["group"].astype(str) if "group" in self.table.columns else pd.Series("all", index=p.index)
        rows = []
        for name, values in p.groupby(keys, sort=True):
            q = np.quantile(values, [0.25, 0.5, 0.75])
            rows.append({"group": str(name), "n": int(values.size), "mean": float(values.mean()),
                         "q25": float(q[0]), "median": float(q[1]), "q75": float(q[2]),
                         "fraction_above_0_5": float((values >= 0.5).mean())})
        return pd.DataFrame(rows, columns=["group", "n", "mean", "q25", "median", "q75", "fraction_above_0_5"])

    def summary(self) -> dict[str, Any]:
        """Alignment, per-group score summary and (with labels) the AUROC, for ``summary.json``."""
        out = {"model": self.model, "info": self.info, "alignment": self.alignment,
               "n_samples": int(len(self.table)), "group": self.group, "by_group": self.by_group}
        if self.auroc is not None:
            out.update(auroc=self.auroc, auroc_ci=list(self.auroc_ci or (np.nan, np.nan)))
        return jsonable(out)
