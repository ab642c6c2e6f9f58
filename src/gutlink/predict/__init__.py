"""Disease prediction: leakage-free classifiers, cross-study transfer, saved models.

scikit-learn pipelines (closure → prevalence filter → log-std / CLR / log → optional selection → L1 or
elastic-net logistic regression, random forest or gradient boosting) evaluated by nested, repeated, optionally
grouped cross-validation (:func:`cross_validate`), leave-one-study-out and the train-on-A / test-on-B matrix
(:func:`loso`); several diseases against shared controls (:func:`multi_disease`); a fitted model is saved as
JSON (:func:`fit_model`, :func:`save_model`, :func:`load_model`) and applied to new samples with feature
alignment (:func:`apply_model`).

Examples
--------
>>> from gutlink.datasets import toy
>>> res = cross_validate(toy(), group="group", case="case", control="control", n_repeats=1, n_folds=3, rng=0)
>>> res.n_case, res.n_control
(11, 8)
"""

from __future__ import annotations

from .cv import cross_validate
from .design import max_folds
from .model_io import SavedModel, apply_model, fit_model, load_model, save_model
from .models import MODELS, NORMALISATIONS, build_pipeline
from .multi import MultiDiseaseResult, multi_disease
from .results import ClassifierResult, PredictionResult, TransferResult
from .transfer import loso
from .transformers import (
    Closure,
    CLRTransform,
    LogStandardScaler,
    LogTransform,
    PrevalenceFilter,
    SelectKByAUC,
    StudyLogStandardScaler,
)

__all__ = [
    "CLRTransform", "ClassifierResult", "Closure", "LogStandardScaler", "LogTransform", "MODELS",
    "MultiDiseaseResult", "NORMALISATIONS", "PredictionResult", "PrevalenceFilter", "SavedModel", "SelectKByAUC",
    "TransferResult", "apply_model", "build_pipeline", "cross_validate", "fit_model", "load_model", "loso",
    "max_folds", "multi_disease", "save_model", "StudyLogStandardScaler",
]
