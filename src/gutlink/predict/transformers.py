"""Preprocessing steps as scikit-learn transformers, so every one is fitted inside the training folds only.

Each follows the estimator contract: ``__init__`` stores its parameters untouched, ``fit`` learns attributes
ending in ``_``, ``transform`` uses only those. Input is a samples × features matrix of non-negative
abundances (counts, fractions or percent) unless stated otherwise.

Examples
--------
>>> import numpy as np
>>> x = np.array([[10.0, 0, 5], [3, 3, 0], [0, 2, 8]])
>>> PrevalenceFilter(min_prevalence=0.7).fit(x).keep_.tolist()  # none passes: the most prevalent is kept
[True, False, False]
>>> PrevalenceFilter(min_prevalence=0.6).fit_transform(x).shape
(3, 3)
>>> z = LogStandardScaler().fit_transform(Closure().fit_transform(x))
>>> bool(np.abs(z.mean(axis=0)).max() < 1e-12)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .metrics import column_auroc

__all__ = ["Closure", "PrevalenceFilter", "LogTransform", "CLRTransform", "LogStandardScaler", "SelectKByAUC",
           "StudyLogStandardScaler"]


def _nonneg(est: BaseEstimator, x: Any, *, reset: bool) -> np.ndarray:
    x = validate_data(est, x, reset=reset, dtype=np.float64)
    if (x < 0).any():
        raise ValueError(f"Negative values in data passed to {type(est).__name__}: it needs non-negative abundances.")
    return x


class _Tags:
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.positive_only = True
        return tags


class Closure(_Tags, TransformerMixin, BaseEstimator):
    """Rescale each sample to relative abundances summing to 1 (stateless; all-zero rows stay zero)."""

    def fit(self, X: Any, y: Any = None) -> Closure:
        """Record the number of features."""
        _nonneg(self, X, reset=True)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Divide each row by its total."""
        check_is_fitted(self, "n_features_in_")
        return _close(_nonneg(self, X, reset=False))

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit and transform in one validation pass."""
        return _close(_nonneg(self, X, reset=True))


def _close(x: np.ndarray) -> np.ndarray:
    totals = x.sum(axis=1, keepdims=True)
    return np.divide(x, totals, out=np.zeros_like(x), where=totals > 0)


class PrevalenceFilter(_Tags, TransformerMixin, BaseEstimator):
    """Keep features detected (value > *detection*) in at least *min_prevalence* of the training samples.

    When no feature passes, the single most prevalent one is kept so that a fold never ends up empty.
    """

    def __init__(self, min_prevalence: float = 0.1, detection: float = 0.0) -> None:
        self.min_prevalence = min_prevalence
        self.detection = detection

    def fit(self, X: Any, y: Any = None) -> PrevalenceFilter:
        """Learn the prevalence of each feature and which to keep (``keep_``)."""
        x = _nonneg(self, X, reset=True)
        self.prevalence_ = (x > self.detection).mean(axis=0)
        keep = self.prevalence_ >= self.min_prevalence
        if not keep.any():
            keep[int(np.argmax(self.prevalence_))] = True
        self.keep_ = keep
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Drop the features that failed the filter."""
        check_is_fitted(self, "keep_")
        x = _nonneg(self, X, reset=False)
        return x if self.keep_.all() else x[:, self.keep_]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the kept features."""
        check_is_fitted(self, "keep_")
        names = np.asarray(input_features if input_features is not None else
                           [f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        return names[self.keep_]


def _pseudocount(x: np.ndarray, given: float | None) -> float:
    if given is not None:
        return float(given)
    nz = x[x > 0]
    return float(nz.min()) / 2 if nz.size else 1e-6


class LogTransform(_Tags, TransformerMixin, BaseEstimator):
    """``log10(x + pseudocount)``; the default pseudocount (half the smallest non-zero training value) is learnt
    in ``fit``."""

    def __init__(self, pseudocount: float | None = None) -> None:
        self.pseudocount = pseudocount

    def fit(self, X: Any, y: Any = None) -> LogTransform:
        """Learn ``pseudocount_``."""
        self.pseudocount_ = _pseudocount(_nonneg(self, X, reset=True), self.pseudocount)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Apply the log."""
        check_is_fitted(self, "pseudocount_")
        return np.log10(_nonneg(self, X, reset=False) + self.pseudocount_)


class CLRTransform(_Tags, TransformerMixin, BaseEstimator):
    """Centred log-ratio of ``x + pseudocount`` per sample (the pseudocount is learnt in ``fit``)."""

    def __init__(self, pseudocount: float | None = None) -> None:
        self.pseudocount = pseudocount

    def fit(self, X: Any, y: Any = None) -> CLRTransform:
        """Learn ``pseudocount_``."""
        self.pseudocount_ = _pseudocount(_nonneg(self, X, reset=True), self.pseudocount)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Log, then centre each row."""
        check_is_fitted(self, "pseudocount_")
        logx = np.log(_nonneg(self, X, reset=False) + self.pseudocount_)
        return logx - logx.mean(axis=1, keepdims=True)


def _sd_offset(sd: np.ndarray, quantile: float) -> float:
    """The *quantile* of the standard deviations, or the smallest positive one (1 if none) when that is 0."""
    offset = float(np.quantile(sd, quantile))
    if offset > 0:
        return offset
    return float(sd[sd > 0].min()) if (sd > 0).any() else 1.0


class LogStandardScaler(_Tags, TransformerMixin, BaseEstimator):
    """SIAMCAT's *log.std*: ``log10(x + pseudocount)``, centred and divided by ``sd + q``.

    ``q`` is the *sd_quantile* quantile of the training standard deviations, which keeps near-constant
    features from being blown up (Wirbel et al. 2021 Genome Biol 22:93).
    """

    def __init__(self, pseudocount: float = 1e-5, sd_quantile: float = 0.1) -> None:
        self.pseudocount = pseudocount
        self.sd_quantile = sd_quantile

    def fit(self, X: Any, y: Any = None) -> LogStandardScaler:
        """Learn ``mean_`` and ``scale_`` of the logged training data."""
        self._fit_log(X)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """Fit and transform with one logarithm pass."""
        logx = self._fit_log(X)
        logx -= self.mean_
        logx /= self.scale_
        return logx

    def _fit_log(self, X: Any) -> np.ndarray:
        logx = np.log10(_nonneg(self, X, reset=True) + self.pseudocount)
        self.mean_ = logx.mean(axis=0)
        sd = logx.std(axis=0, ddof=1) if logx.shape[0] > 1 else np.zeros(logx.shape[1])
        self.scale_ = sd + _sd_offset(sd, self.sd_quantile)
        return logx

    def transform(self, X: Any) -> np.ndarray:
        """Log, centre and scale with the training statistics."""
        check_is_fitted(self, "scale_")
        logx = np.log10(_nonneg(self, X, reset=False) + self.pseudocount)
        return (logx - self.mean_) / self.scale_


class SelectKByAUC(TransformerMixin, BaseEstimator):
    """Keep the *k* features whose single-feature AUROC is farthest from 0.5 on the training fold.

    With more than two classes the score is the largest one-vs-rest distance; ``k=None`` keeps everything.
    """

    def __init__(self, k: int | None = 50) -> None:
        self.k = k

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def fit(self, X: Any, y: Any) -> SelectKByAUC:
        """Score each feature (``scores_``) and choose ``keep_``."""
        x, y = validate_data(self, X, y, reset=True, dtype=np.float64)
        self.classes_, codes = np.unique(y, return_inverse=True)
        scores = np.zeros(x.shape[1])
        for c in range(self.classes_.size if self.classes_.size > 2 else self.classes_.size - 1):
            scores = np.maximum(scores, np.abs(column_auroc((codes == c).astype(int), x) - 0.5))
        self.scores_ = scores
        k = x.shape[1] if self.k is None else min(int(self.k), x.shape[1])
        keep = np.zeros(x.shape[1], dtype=bool)
        keep[np.argsort(-self.scores_, kind="stable")[:k]] = True
        self.keep_ = keep
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Keep the selected columns."""
        check_is_fitted(self, "keep_")
        return validate_data(self, X, reset=False, dtype=np.float64)[:, self.keep_]


class StudyLogStandardScaler(_Tags, TransformerMixin, BaseEstimator):
    """Closure, prevalence filter and *log.std* standardisation **within each study**.

    The last input column holds a numeric study code; the other columns are non-negative abundances. ``fit``
    closes every sample to relative abundances, keeps the features detected in at least *min_prevalence* of
    the training samples (``keep_``), and learns, separately for every study present, the mean and the scale
    ``sd + q`` of ``log10(x + pseudocount)`` (``q`` the *sd_quantile* quantile of that study's standard
    deviations), as :class:`LogStandardScaler` does for the pooled data. ``transform`` standardises each sample
    with its own study's training statistics; a study absent from training (the held-out study of
    leave-one-study-out) is standardised with the mean and scale of its own samples in the data being
    transformed. That uses the test study's unlabelled feature values — never its labels. A new study should
    therefore be transformed in one batch of all its samples.
    """

    def __init__(self, min_prevalence: float = 0.1, pseudocount: float = 1e-5, sd_quantile: float = 0.1) -> None:
        self.min_prevalence = min_prevalence
        self.pseudocount = pseudocount
        self.sd_quantile = sd_quantile

    def _split(self, X: Any, *, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        data = validate_data(self, X, reset=reset, dtype=np.float64)
        if data.shape[1] < 2:
            raise ValueError("StudyLogStandardScaler needs at least one feature column and the study-code column.")
        x, study = data[:, :-1], data[:, -1]
        if (x < 0).any():
            raise ValueError("Negative values in data passed to StudyLogStandardScaler: it needs non-negative "
                             "abundances (the last column is the study code).")
        return x, study

    def _stats(self, logx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = logx.mean(axis=0)
        sd = logx.std(axis=0, ddof=1) if logx.shape[0] > 1 else np.zeros(logx.shape[1])
        return mean, sd + _sd_offset(sd, self.sd_quantile)

    def _log(self, x: np.ndarray) -> np.ndarray:
        return np.log10(_close(x)[:, self.keep_] + self.pseudocount)

    def fit(self, X: Any, y: Any = None) -> StudyLogStandardScaler:
        """Learn ``keep_`` on all training samples and ``studies_``, ``mean_``, ``scale_`` per study."""
        x, study = self._split(X, reset=True)
        prevalence = (x > 0).mean(axis=0)
        keep = prevalence >= self.min_prevalence
        if not keep.any():
            keep[int(np.argmax(prevalence))] = True
        self.keep_ = keep
        logx = self._log(x)
        self.studies_ = np.unique(study)
        stats = [self._stats(logx[study == s]) for s in self.studies_]
        self.mean_ = np.vstack([m for m, _ in stats])
        self.scale_ = np.vstack([s for _, s in stats])
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Standardise each sample within its study (own-sample statistics for a study unseen in ``fit``)."""
        check_is_fitted(self, "scale_")
        x, study = self._split(X, reset=False)
        logx = self._log(x)
        out = np.empty_like(logx)
        for s in np.unique(study):
            rows = study == s
            pos = np.searchsorted(self.studies_, s)
            if pos < self.studies_.size and self.studies_[pos] == s:
                mean, scale = self.mean_[pos], self.scale_[pos]
            else:
                mean, scale = self._stats(logx[rows])
            out[rows] = (logx[rows] - mean) / scale
        return out
