"""Prediction: no leakage (each test able to fail), bad input, estimator contract, saved models, LOSO."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from gutlink import Cohort
from gutlink.datasets import franzosa2019, toy
from gutlink.errors import DesignError, InputFormatError
from gutlink.predict import (
    Closure,
    CLRTransform,
    LogStandardScaler,
    LogTransform,
    PrevalenceFilter,
    SavedModel,
    SelectKByAUC,
    apply_model,
    cross_validate,
    fit_model,
    load_model,
    loso,
    multi_disease,
    save_model,
)
from gutlink.predict.metrics import auroc, bootstrap_ci

FAST_RF = {"n_estimators": 25}


def noise_cohort(*, n_subjects: int = 40, per_subject: int = 1, p: int = 200, seed: int = 0,
                 signal: float = 0.0, n_studies: int = 1) -> Cohort:
    """Sparse log-normal counts with subject-level labels; *signal* shifts 5 features in cases."""
    g = np.random.default_rng(seed)
    base = g.lognormal(0, 2, size=(n_subjects, p)) * (g.random((n_subjects, p)) < 0.6)
    labels = g.permutation(np.r_[["case"] * (n_subjects // 2), ["control"] * (n_subjects - n_subjects // 2)])
    if signal:
        base[labels == "case", :5] = (base[labels == "case", :5] + 1) * np.exp(signal)
    x = np.repeat(base, per_subject, axis=0) * g.lognormal(0, 0.3, size=(n_subjects * per_subject, p))
    subjects = np.repeat([f"subj{i}" for i in range(n_subjects)], per_subject)
    meta = pd.DataFrame({"group": np.repeat(labels, per_subject), "subject": subjects,
                         "study": np.repeat([f"study{i % n_studies}" for i in range(n_subjects)], per_subject)},
                        index=[f"s{i}" for i in range(n_subjects * per_subject)])
    return Cohort(x, metadata=meta, units="counts")


def _cv(cohort: Cohort, **kw):
    args = dict(group="group", case="case", control="control", n_repeats=1, n_folds=5, rng=0)
    return cross_validate(cohort, **{**args, **kw})


# ----------------------------------------------------------------------------- leakage
def test_permuted_labels_on_real_data_give_chance_auroc():
    c = franzosa2019()
    meta = c.metadata
    gen = np.random.default_rng(1)
    aucs = []
    for seed in range(16):
        shuffled = meta.assign(Diagnosis=gen.permutation(meta["Diagnosis"].to_numpy()))
        res = cross_validate(c.with_metadata(shuffled), group="Diagnosis", case=["CD", "UC"], control="Control",
                             n_repeats=1, rng=seed)
        aucs.append(res.auroc)
    assert abs(np.mean(aucs) - 0.5) < 0.05, aucs


def test_real_labels_are_learnt():  # the same protocol is not blind: the real labels are predictable
    res = cross_validate(franzosa2019(), group="Diagnosis", case=["CD", "UC"], control="Control", n_repeats=1,
                         rng=0)
    assert res.auroc > 0.75 and res.auroc_ci[0] > 0.6


def test_grouped_cv_keeps_repeated_measures_apart():
    aucs = [_cv(noise_cohort(n_subjects=60, per_subject=2, seed=s), subject="subject", rng=s).auroc
            for s in range(6)]
    assert abs(np.mean(aucs) - 0.5) < 0.05, aucs
    # the same data without grouping leaks subject identity: the check above can fail
    leaky = [_cv(noise_cohort(n_subjects=60, per_subject=2, seed=s), rng=s).auroc for s in range(2)]
    assert np.mean(leaky) > 0.8, leaky


def test_selection_inside_folds_does_not_leak_but_outside_does():
    honest, leaky = [], []
    for s in range(3):
        c = noise_cohort(n_subjects=60, p=800, seed=10 + s)
        honest.append(_cv(c, select_k=10, rng=s).auroc)
        y = (c.metadata["group"] == "case").to_numpy()
        keep = SelectKByAUC(k=10).fit(c.dense(), y).keep_  # deliberately fitted on all samples
        leaky.append(_cv(c.subset(features=keep), rng=s).auroc)
    assert abs(np.mean(honest) - 0.5) < 0.1, honest
    assert np.mean(leaky) > 0.7, leaky


def test_planted_signal_is_found_and_ranked():
    res = _cv(noise_cohort(n_subjects=60, seed=3, signal=2.0), n_repeats=2)
    assert res.auroc > 0.9
    assert set(res.importance.index[:5]) & {f"feature_{j}" for j in range(5)}


def test_permutation_null_and_p_value():
    res = _cv(noise_cohort(n_subjects=40, seed=4, signal=2.0), n_permutations=5, model="rf", params=FAST_RF,
              grid={})
    assert len(res.permutation_auroc) == 5 and res.permutation_p == pytest.approx(1 / 6)
    assert "permutation_auroc" in res.table["metric"].tolist()


# ----------------------------------------------------------------------------- outputs
def test_result_outputs_are_consistent():
    res = _cv(noise_cohort(n_subjects=40, seed=5, signal=1.0, n_studies=2), study="study", n_repeats=2)
    pred = res.predictions
    assert pred.shape[0] == 40 and pred["probability"].between(0, 1).all()
    assert res.auroc == pytest.approx(np.mean([auroc(pred["y"].to_numpy(), p) for p in [pred["probability"]]]),
                                      abs=0.1)
    assert res.auroc_ci[0] <= res.auroc <= res.auroc_ci[1]
    assert len(res.folds) == 10 and set(res.per_study["study"]) == {"study0", "study1"}
    assert res.roc["tpr"].is_monotonic_increasing and res.roc["tpr"].iloc[-1] == 1.0
    assert res.calibration["n"].sum() == 40
    json.dumps(res.to_dict()) and json.dumps(res.summary())
    assert np.allclose(pred["log_odds"], np.log(pred["probability"] / (1 - pred["probability"])), atol=1e-6)


@pytest.mark.parametrize("model", ["elasticnet", "rf", "gbm", "ensemble"])
def test_every_model_runs(model):
    grid = {} if model != "elasticnet" else {"clf__C": [0.1, 1.0], "clf__l1_ratio": [0.5]}
    params = {"rf": FAST_RF, "gbm": {"max_iter": 20}, "ensemble": {"rf": FAST_RF}}.get(model)
    res = _cv(noise_cohort(n_subjects=40, seed=6, signal=2.0), model=model, grid=grid, params=params)
    assert res.auroc > 0.8


def test_same_seed_same_result_whatever_n_jobs():
    c = noise_cohort(n_subjects=30, seed=7, signal=1.0)
    a = _cv(c, n_repeats=2, rng=11)
    b = _cv(c, n_repeats=2, rng=11, n_jobs=2)
    assert np.array_equal(a.predictions["probability"], b.predictions["probability"])


def test_bootstrap_ci_resamples_subjects():
    y = np.repeat([0, 1], 20)
    s = np.r_[np.linspace(0, 1, 20), np.linspace(0.3, 1.3, 20)]
    narrow = bootstrap_ci(y, s[None, :], np.arange(40), rng=0)
    clustered = bootstrap_ci(y, s[None, :], np.repeat(np.arange(4), 10), rng=0)
    assert narrow[1] - narrow[0] < clustered[1] - clustered[0]


# ----------------------------------------------------------------------------- bad input
def test_single_class_is_an_error():
    c = toy()
    only_cases = c.subset(samples=(c.metadata["group"] == "case").to_numpy())
    with pytest.raises(DesignError, match="'control' does not occur"):
        cross_validate(only_cases, group="group", case="case", control="control")


def test_class_smaller_than_folds_names_the_largest_k():
    c = noise_cohort(n_subjects=40)
    keep = ~((c.metadata["group"] == "case").cumsum().gt(4) & (c.metadata["group"] == "case")).to_numpy()
    with pytest.raises(DesignError, match="largest number of folds possible is 4"):
        _cv(c.subset(samples=keep), n_folds=5)


def test_grouped_folds_count_subjects():
    c = noise_cohort(n_subjects=8, per_subject=5)
    with pytest.raises(DesignError, match="4 subjects.*largest number of folds possible is 4"):
        _cv(c, subject="subject", n_folds=5)


def test_loso_with_one_study_is_an_error():
    with pytest.raises(DesignError, match="at least 2 studies"):
        loso(noise_cohort(), group="group", case="case", control="control", study="study")


def test_nan_outcome_is_an_error():
    c = noise_cohort()
    meta = c.metadata.copy()
    meta.loc["s3", "group"] = np.nan
    with pytest.raises(DesignError, match="outcome column 'group' is missing for 1 sample"):
        _cv(c.with_metadata(meta))


def test_subject_in_both_classes_is_an_error():
    c = noise_cohort(n_subjects=20, per_subject=2)
    meta = c.metadata.copy()
    meta.iloc[0, meta.columns.get_loc("group")] = "control" if meta.iloc[0]["group"] == "case" else "case"
    with pytest.raises(DesignError, match="subject.*both case and control.*'subj0'"):
        _cv(c.with_metadata(meta), subject="subject")


def test_constant_features_are_an_error():
    c = noise_cohort()
    flat = Cohort(np.ones((c.n_samples, 3)), metadata=c.metadata, units="counts")
    with pytest.raises(DesignError, match="constant"):
        _cv(flat)


def test_unknown_model_and_missing_column():
    with pytest.raises(DesignError, match="unknown model"):
        _cv(noise_cohort(), model="svm")
    with pytest.raises(DesignError, match="no subject column 'donor'"):
        _cv(noise_cohort(), subject="donor")


# ----------------------------------------------------------------------------- estimator contract
@parametrize_with_checks([Closure(), PrevalenceFilter(), LogTransform(), CLRTransform(), LogStandardScaler(),
                          SelectKByAUC(k=2)])
def test_transformers_follow_the_estimator_contract(estimator, check):
    check(estimator)


def test_prevalence_filter_is_learnt_on_training_data_only():
    train = np.array([[1.0, 0, 0], [2, 0, 1], [3, 1, 0]])
    f = PrevalenceFilter(min_prevalence=0.5).fit(train)
    assert f.keep_.tolist() == [True, False, False]
    assert f.transform(np.array([[0.0, 5, 5]])).tolist() == [[0.0]]


# ----------------------------------------------------------------------------- transfer
def test_loso_and_matrix():
    c = noise_cohort(n_subjects=60, seed=8, signal=2.0, n_studies=3)
    res = loso(c, group="group", case="case", control="control", study="study", model="rf", params=FAST_RF,
               grid={}, n_repeats=1, rng=0)
    assert res.table["study"].tolist() == ["study0", "study1", "study2"]
    assert (res.table["auroc"] > 0.8).all()
    assert res.matrix.shape == (3, 3) and not res.matrix.isna().any().any()
    assert len(res.predictions) == 60
    json.dumps(res.summary())


def test_multi_disease_separates_shared_from_specific_signal():
    g = np.random.default_rng(13)
    x = g.lognormal(0, 1, size=(90, 60)) * (g.random((90, 60)) < 0.7)
    label = np.repeat(["control", "A", "B"], 30)
    x[label != "control", :4] = (x[label != "control", :4] + 1) * 8  # shared by A and B
    x[label == "B", 4:8] = (x[label == "B", 4:8] + 1) * 8  # B only
    meta = pd.DataFrame({"dx": label}, index=[f"s{i}" for i in range(90)])
    res = multi_disease(Cohort(x, metadata=meta, units="counts"), group="dx", cases=["A", "B"],
                        control="control", n_repeats=1, top_k=6, rng=0)
    assert (res.table["auroc"] > 0.9).all()
    shared = set(res.shared["feature_id"])
    assert {f"feature_{j}" for j in range(4)} & shared and not {f"feature_{j}" for j in range(4, 8)} & shared
    with pytest.raises(DesignError, match="at least two case values"):
        multi_disease(Cohort(x, metadata=meta, units="counts"), group="dx", cases=["A"], control="control")


# ----------------------------------------------------------------------------- saved models
@pytest.mark.parametrize("model,params", [("lasso", None), ("rf", FAST_RF), ("gbm", {"max_iter": 15}),
                                          ("ensemble", {"rf": FAST_RF})])
def test_saved_model_reproduces_the_pipeline(tmp_path, model, params):
    c = noise_cohort(n_subjects=40, seed=9, signal=1.5)
    m = fit_model(c, group="group", case="case", control="control", model=model, params=params, grid={}, rng=0)
    path = save_model(m, tmp_path / "model.json")
    loaded = load_model(path)
    assert loaded.features == m.features and json.loads(path.read_text())["format"] == "gutlink-model"
    expected = m.estimator.predict_proba(c.dense())[:, 1]
    assert np.allclose(apply_model(loaded, c).table["probability"], expected, atol=1e-12)


def test_apply_model_aligns_features():
    c = noise_cohort(n_subjects=40, seed=9, signal=1.5)
    m = fit_model(c, group="group", case="case", control="control", rng=0)
    ids = list(c.feature_ids)
    reordered = c.subset(features=ids[::-1][3:])  # reversed, the last three features dropped
    extra = Cohort(np.c_[reordered.dense(), np.ones(c.n_samples)], metadata=c.metadata,
                   taxonomy=pd.DataFrame(index=[*reordered.feature_ids, "new_taxon"]), units="counts")
    res = apply_model(m, extra)
    assert res.alignment["n_missing"] == 3 and res.alignment["n_extra"] == 1
    assert set(res.alignment["missing_examples"]) == set(ids[-3:])
    full = apply_model(m, c).table["probability"]
    assert np.corrcoef(full, res.table["probability"])[0, 1] > 0.9


def test_load_rejects_other_json(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(InputFormatError, match="not a gutlink model") as err:
        load_model(bad)
    assert err.value.path == str(bad)
    with pytest.raises(InputFormatError, match="not a JSON document"):
        SavedModel.from_json("{not json", source="m.json")


def test_apply_model_with_no_shared_feature_is_an_error():
    c = noise_cohort()
    m = fit_model(c, group="group", case="case", control="control", rng=0)
    other = Cohort(c.dense(), metadata=c.metadata, taxonomy=pd.DataFrame(index=[f"x{i}" for i in range(200)]),
                   units="counts")
    with pytest.raises(InputFormatError, match="none of the model's 200 features"):
        apply_model(m, other)


# ----------------------------------------------------------------------------- scale-out
def test_dask_cluster_gives_the_same_result():
    distributed = pytest.importorskip("distributed")
    c = noise_cohort(n_subjects=30, seed=12, signal=1.0)
    serial = _cv(c, rng=5)
    # worker processes, not threads: liblinear draws from a process-global C random state
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        on_dask = _cv(c, rng=5, scheduler=cluster.scheduler_address)
    assert np.array_equal(serial.predictions["probability"], on_dask.predictions["probability"])
