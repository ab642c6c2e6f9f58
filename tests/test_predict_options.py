"""Prediction options: per-study standardisation, gradient-boosting importances, the shared-preprocessing search."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from gutlink import Cohort
from gutlink.errors import DesignError
from gutlink.predict import StudyLogStandardScaler, build_pipeline, cross_validate, loso
from gutlink.predict.cv import fit_pipeline, search_classifier
from gutlink.predict.transformers import Closure, LogStandardScaler, PrevalenceFilter

DESIGN = {"group": "group", "case": "case", "control": "control"}


def batch_cohort(seed: int = 0, n: int = 60, p: int = 40, shift: float = 3.0, signal: float = 2.0) -> Cohort:
    """Four studies; 5 features higher in cases within every study, but a batch effect lowers the same
    features in the two studies where cases are common (80 % vs 20 %), so pooled they look lower in cases."""
    g = np.random.default_rng(seed)
    xs, metas = [], []
    for s, frac in enumerate([0.8, 0.2, 0.8, 0.2]):
        y = g.permutation(np.arange(n) < round(frac * n))
        x = g.lognormal(0, 1, size=(n, p)) * (g.random((n, p)) < 0.8)
        x[y, :5] *= np.exp(signal)
        if s % 2 == 0:
            x[:, :5] *= np.exp(-shift)
        xs.append(x)
        metas.append(pd.DataFrame({"group": np.where(y, "case", "control"), "study": f"st{s}"},
                                  index=[f"st{s}_{i}" for i in range(n)]))
    return Cohort(np.vstack(xs), metadata=pd.concat(metas), units="counts")


# ----------------------------------------------------------------------------- per-study standardisation
def test_per_study_standardisation_rescues_loso_from_a_batch_shift():
    c = batch_cohort()
    plain = loso(c, **DESIGN, study="study", matrix=False, rng=0)
    per_study = loso(c, **DESIGN, study="study", matrix=False, rng=0, per_study_standardise=True)
    assert plain.table["auroc"].mean() < 0.6  # the batch effect hides the signal from the pooled model
    assert per_study.table["auroc"].mean() > 0.75 and (per_study.table["auroc"] > 0.65).all()
    assert per_study.protocol["per_study_standardise"] is True


def test_per_study_standardisation_in_pooled_cv():
    c = batch_cohort(seed=1)
    plain = cross_validate(c, **DESIGN, study="study", n_repeats=1, rng=0)
    per_study = cross_validate(c, **DESIGN, study="study", n_repeats=1, rng=0, per_study_standardise=True)
    assert per_study.auroc > plain.auroc + 0.1
    assert per_study.protocol["per_study_standardise"] is True
    signal = per_study.importance.loc[[f"feature_{j}" for j in range(5)], "mean"]
    assert len(set(per_study.importance.index[:5]) & set(signal.index)) >= 4 and (signal > 0).all()


def _with_codes(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return np.column_stack([x, codes.astype(float)])


def test_study_scaler_uses_training_statistics_and_never_labels():
    g = np.random.default_rng(3)
    x = g.lognormal(0, 1, size=(30, 6))
    codes = np.repeat([0, 1, 2], 10)
    train = codes < 2
    scaler = StudyLogStandardScaler(min_prevalence=0.0)
    out = scaler.fit(_with_codes(x[train], codes[train]), g.integers(0, 2, train.sum())).transform(
        _with_codes(x, codes))
    other_y = StudyLogStandardScaler(min_prevalence=0.0).fit(_with_codes(x[train], codes[train]),
                                                             g.integers(0, 2, train.sum()))
    assert np.array_equal(out, other_y.transform(_with_codes(x, codes)))  # labels play no part
    # a study seen in training: exactly log-std with that study's statistics
    ref = LogStandardScaler().fit(Closure().fit_transform(x[codes == 1]))
    assert np.allclose(out[codes == 1], ref.transform(Closure().fit_transform(x[codes == 1])))
    # the unseen study is standardised on its own samples: centred, whatever the training studies held
    assert np.allclose(out[codes == 2].mean(axis=0), 0, atol=1e-12)
    alone = scaler.transform(_with_codes(x[codes == 2], codes[codes == 2]))
    assert np.allclose(alone, out[codes == 2])
    # a seen study's test samples use the training statistics, not their own
    one = scaler.transform(_with_codes(x[:1], codes[:1]))
    assert np.allclose(one, out[:1]) and np.abs(one).sum() > 0


def test_study_scaler_keeps_the_prevalence_filter_of_the_training_samples():
    x = np.array([[1.0, 0, 0, 2], [2, 0, 1, 1], [3, 1, 0, 1], [1, 0, 0, 1]])
    scaler = StudyLogStandardScaler(min_prevalence=0.5).fit(_with_codes(x, np.array([0, 0, 1, 1])))
    assert scaler.keep_.tolist() == [True, False, False, True]
    assert scaler.transform(_with_codes(x, np.array([0, 0, 5, 5]))).shape == (4, 2)
    with pytest.raises(ValueError, match="non-negative"):
        scaler.transform(_with_codes(-x, np.zeros(4)))


def test_per_study_standardisation_needs_a_study_and_log_std():
    c = batch_cohort()
    with pytest.raises(DesignError, match="needs a study column"):
        cross_validate(c, **DESIGN, n_repeats=1, per_study_standardise=True)
    with pytest.raises(DesignError, match="per-study log-std"):
        cross_validate(c, **DESIGN, study="study", n_repeats=1, normalisation="clr", per_study_standardise=True)


# ----------------------------------------------------------------------------- gradient boosting importances
def test_gbm_reports_split_gain_importance_and_stability():
    c = batch_cohort(seed=2)
    res = cross_validate(c, **DESIGN, model="gbm", params={"max_iter": 30}, grid={}, n_repeats=1, rng=0,
                         study="study", per_study_standardise=True)
    imp = res.importance
    assert np.isfinite(imp["mean"]).all() and (imp["mean"] >= 0).all()
    assert set(imp.index[:5]) == {f"feature_{j}" for j in range(5)}
    assert np.isfinite(res.stability) and 0 < res.stability <= 1
    per_fold = res.folds.shape[0]
    assert per_fold == 5 and imp["top_frequency"].iloc[0] == 1.0


# ----------------------------------------------------------------------------- the search
@pytest.mark.parametrize("model,grid,select", [
    ("lasso", None, None),
    ("lasso", None, 10),
    ("gbm", {"clf__learning_rate": [0.05, 0.3], "clf__max_depth": [2, 3]}, None),
])
def test_shared_preprocessing_search_chooses_as_grid_search(model, grid, select):
    c = batch_cohort(seed=4)
    x = c.dense()
    y = (c.metadata["group"] == "case").to_numpy(dtype=int)
    params = {"max_iter": 20} if model == "gbm" else None
    pipe, search = build_pipeline(model, random_state=0, params=params, grid=grid, select_k=select)
    inner = StratifiedKFold(3, shuffle=True, random_state=7)
    gs = GridSearchCV(clone(pipe), search, cv=inner, scoring="roc_auc").fit(x, y)
    assert search_classifier(pipe, search, x, y, None, inner) == gs.best_params_
    fitted, best = fit_pipeline(pipe, search, x, y, None, n_inner=3, seed=7)
    assert best == gs.best_params_
    assert np.allclose(fitted.predict_proba(x), gs.best_estimator_.predict_proba(x))


def test_search_with_learner_choice_still_uses_grid_search():
    c = batch_cohort(seed=5)
    x = c.dense()
    y = (c.metadata["group"] == "case").to_numpy(dtype=int)
    pipe, search = build_pipeline("auto", random_state=0, params={"rf": {"n_estimators": 10}})
    fitted, best = fit_pipeline(pipe, search, x, y, None, n_inner=3, seed=1)
    assert best["clf"] in {"LogisticRegression", "RandomForestClassifier"}
    assert isinstance(fitted.named_steps["prevalence"], PrevalenceFilter)
