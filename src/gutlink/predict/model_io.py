"""Save a fitted model as plain JSON (never pickle) and score new samples with feature alignment.

The JSON holds the feature list, every fitted preprocessing statistic and the classifier's numbers
(coefficients, or the trees' node arrays); :class:`SavedModel` evaluates it with numpy alone, so loading a
file can never execute code. Scores from the JSON equal the scikit-learn pipeline's ``predict_proba``.

Examples
--------
>>> from gutlink.datasets import toy
>>> m = fit_model(toy(), group="group", case="case", control="control", grid={}, rng=0)
>>> m2 = SavedModel.from_json(m.to_json())
>>> res = apply_model(m2, toy())
>>> bool(np.allclose(res.table["probability"], m.estimator.predict_proba(toy().dense())[:, 1]))
True
>>> res.alignment["n_missing"]
0
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.pipeline import Pipeline

from .. import __version__
from ..cohort import Cohort
from ..errors import InputFormatError
from .cv import fit_pipeline
from .design import prepare
from .metrics import auroc, bootstrap_ci
from .models import build_pipeline
from .results import PredictionResult

__all__ = ["SavedModel", "fit_model", "save_model", "load_model", "apply_model", "export_pipeline"]

FORMAT = "gutlink-model"
FORMAT_VERSION = 1


# ----------------------------------------------------------------------------- export
def _export_step(name: str, step: Any) -> dict[str, Any]:
    kind = type(step).__name__ if step != "passthrough" else "passthrough"
    out: dict[str, Any] = {"name": name, "type": kind}
    if kind == "PrevalenceFilter" or kind == "SelectKByAUC":
        out["keep"] = step.keep_.astype(bool).tolist()
    elif kind == "LogStandardScaler":
        out.update(pseudocount=float(step.pseudocount), mean=step.mean_.tolist(), scale=step.scale_.tolist())
    elif kind in ("LogTransform", "CLRTransform"):
        out["pseudocount"] = float(step.pseudocount_)
    elif kind not in ("Closure", "passthrough"):
        raise InputFormatError(f"cannot export pipeline step {kind!r} to JSON.")
    return out


def _export_tree(tree: Any) -> dict[str, Any]:
    t = tree.tree_
    value = t.value[:, 0, :]
    value = value / np.where(value.sum(axis=1, keepdims=True) > 0, value.sum(axis=1, keepdims=True), 1)
    return {"left": t.children_left.tolist(), "right": t.children_right.tolist(), "feature": t.feature.tolist(),
            "threshold": t.threshold.tolist(), "p_case": value[:, 1].tolist()}


def _export_classifier(clf: Any) -> dict[str, Any]:
    kind = type(clf).__name__
    if list(getattr(clf, "classes_", [0, 1])) != [0, 1]:
        raise InputFormatError("only 0/1 (control/case) classifiers can be exported.")
    if kind == "LogisticRegression":
        return {"type": "linear", "coef": clf.coef_.ravel().tolist(), "intercept": float(clf.intercept_[0])}
    if kind == "RandomForestClassifier":
        return {"type": "forest", "trees": [_export_tree(t) for t in clf.estimators_]}
    if kind == "HistGradientBoostingClassifier":  # uses the fitted predictors' node arrays (sklearn internals)
        trees = []
        for (pred,) in clf._predictors:
            n = pred.nodes
            trees.append({"left": n["left"].astype(int).tolist(), "right": n["right"].astype(int).tolist(),
                          "feature": n["feature_idx"].astype(int).tolist(), "threshold": n["num_threshold"].tolist(),
                          "is_leaf": n["is_leaf"].astype(bool).tolist(), "value": n["value"].tolist()})
        return {"type": "boosting", "baseline": float(np.ravel(clf._baseline_prediction)[0]), "trees": trees}
    if kind == "VotingClassifier" and clf.voting == "soft" and clf.weights is None:
        return {"type": "ensemble", "members": [_export_classifier(e) for e in clf.estimators_]}
    raise InputFormatError(f"cannot export classifier {kind!r} to JSON.")


def export_pipeline(pipe: Pipeline) -> dict[str, Any]:
    """The fitted pipeline as a JSON-safe dictionary (steps then classifier)."""
    steps = [_export_step(name, step) for name, step in pipe.steps[:-1]]
    return {"steps": steps, "classifier": _export_classifier(pipe.steps[-1][1])}


# ----------------------------------------------------------------------------- evaluate
def _apply_step(step: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    kind = step["type"]
    if kind == "Closure":
        totals = x.sum(axis=1, keepdims=True)
        return np.divide(x, totals, out=np.zeros_like(x), where=totals > 0)
    if kind in ("PrevalenceFilter", "SelectKByAUC"):
        return x[:, np.asarray(step["keep"], dtype=bool)]
    if kind == "LogStandardScaler":
        return (np.log10(x + step["pseudocount"]) - np.asarray(step["mean"])) / np.asarray(step["scale"])
    if kind == "LogTransform":
        return np.log10(x + step["pseudocount"])
    if kind == "CLRTransform":
        logx = np.log(x + step["pseudocount"])
        return logx - logx.mean(axis=1, keepdims=True)
    if kind == "passthrough":
        return x
    raise InputFormatError(f"unknown model step {kind!r}.")


def _leaves(tree: Mapping[str, Any], x: np.ndarray, is_leaf: np.ndarray) -> np.ndarray:
    left, right = np.asarray(tree["left"]), np.asarray(tree["right"])
    feature, threshold = np.asarray(tree["feature"]), np.asarray(tree["threshold"])
    node = np.zeros(x.shape[0], dtype=int)
    rows = np.arange(x.shape[0])
    while not is_leaf[node].all():
        inner = ~is_leaf[node]
        go_left = x[rows, feature[node]] <= threshold[node]
        node = np.where(inner, np.where(go_left, left[node], right[node]), node)
    return node


def _classify(clf: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
    kind = clf["type"]
    if kind == "linear":
        return expit(x @ np.asarray(clf["coef"]) + clf["intercept"])
    if kind == "forest":  # scikit-learn trees compare float32 inputs with float64 thresholds
        x32 = x.astype(np.float32).astype(np.float64)
        probs = [np.asarray(t["p_case"])[_leaves(t, x32, np.asarray(t["left"]) < 0)] for t in clf["trees"]]
        return np.mean(probs, axis=0)
    if kind == "boosting":
        raw = np.full(x.shape[0], clf["baseline"])
        for t in clf["trees"]:
            raw += np.asarray(t["value"])[_leaves(t, x, np.asarray(t["is_leaf"], dtype=bool))]
        return expit(raw)
    if kind == "ensemble":
        return np.mean([_classify(m, x) for m in clf["members"]], axis=0)
    raise InputFormatError(f"unknown classifier type {kind!r}.")


@dataclass(frozen=True)
class SavedModel:
    """A fitted model in its JSON form: features, preprocessing, classifier and provenance.

    ``estimator`` is the scikit-learn pipeline when the model was fitted in this session (never saved).
    """

    features: tuple[str, ...]
    spec: dict[str, Any]
    info: dict[str, Any]
    estimator: Pipeline | None = field(default=None, compare=False, repr=False)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Case probability of each row of *x* (columns in :attr:`features` order)."""
        x = np.asarray(x, dtype=float)
        for step in self.spec["steps"]:
            x = _apply_step(step, x)
        return _classify(self.spec["classifier"], x)

    def to_json(self) -> str:
        """The model as a JSON document."""
        doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "features": list(self.features),
               "info": self.info, **self.spec}
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str, *, source: str = "model") -> SavedModel:
        """Read a model written by :meth:`to_json` (validated; nothing is executed)."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputFormatError(f"not a JSON document: {err.msg}.", path=source, line=err.lineno) from err
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise InputFormatError(
                "not a gutlink model file (no 'format': 'gutlink-model').", path=source,
                hint="Save models with gutlink.predict.save_model or `gutlink predict --save-model`.")
        if int(doc.get("format_version", 0)) > FORMAT_VERSION:
            raise InputFormatError(f"model format version {doc['format_version']} is newer than this gutlink "
                                   f"reads ({FORMAT_VERSION}).", path=source, hint="Upgrade gutlink.")
        spec = {"steps": doc["steps"], "classifier": doc["classifier"]}
        return cls(features=tuple(doc["features"]), spec=spec, info=dict(doc.get("info", {})))


# ----------------------------------------------------------------------------- API
def fit_model(cohort: Cohort, *, group: str, case: str | Sequence[str], control: str | Sequence[str],
              model: str = "lasso", subject: str | None = None, block: str | None = None, n_inner: int = 5,
              normalisation: str = "log-std",
              min_prevalence: float = 0.1, select_k: int | None = None, params: Mapping[str, Any] | None = None,
              grid: Mapping[str, Any] | None = None, rng: int | np.random.Generator | None = None) -> SavedModel:
    """Fit the final model on all samples (hyperparameters by CV on them) for saving and applying.

    Its performance on new data is estimated by :func:`~gutlink.predict.cross_validate` with the same
    settings, not by this fit. The inner CV is grouped by *block* (household, pair) when given, else by
    *subject*.

    Examples
    --------
    >>> from gutlink.datasets import toy
    >>> m = fit_model(toy(), group="group", case="case", control="control", rng=0)
    >>> len(m.features), m.info["model"]
    (30, 'lasso')
    """
    design = prepare(cohort, group=group, case=case, control=control, subject=subject, block=block)
    gen = np.random.default_rng(rng)
    pipe, search = build_pipeline(model, normalisation=normalisation, min_prevalence=min_prevalence,
                                  select_k=select_k, random_state=int(gen.integers(2**31 - 1)), params=params,
                                  grid=grid)
    fitted, best = fit_pipeline(pipe, search, design.x, design.y, design.groups, n_inner=n_inner,
                                seed=int(gen.integers(2**31 - 1)))
    cases = [case] if isinstance(case, str) else list(case)
    info = {"model": model, "group": group, "case": cases, "control": control, "gutlink_version": __version__,
            "n_case": int(design.y.sum()), "n_control": int((design.y == 0).sum()), "params": best,
            "units": cohort.units, "normalisation": normalisation, "min_prevalence": min_prevalence,
            **({"block": block} if block is not None else {})}
    return SavedModel(features=tuple(str(f) for f in design.cohort.feature_ids), spec=export_pipeline(fitted),
                      info=info, estimator=fitted)


def save_model(model: SavedModel, path: str | os.PathLike[str]) -> Path:
    """Write *model* as JSON to *path* atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}"
    try:
        tmp.write_text(model.to_json(), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_model(path: str | os.PathLike[str]) -> SavedModel:
    """Read a JSON model file written by :func:`save_model`."""
    return SavedModel.from_json(Path(path).read_text(encoding="utf-8"), source=str(path))


def _weights(model: SavedModel) -> np.ndarray:
    """Share of the model's |coefficient| carried by each input feature (NaN for tree models)."""
    clf = model.spec["classifier"]
    if clf["type"] != "linear":
        return np.full(len(model.features), np.nan)
    idx = np.arange(len(model.features))
    for step in model.spec["steps"]:
        if "keep" in step:
            idx = idx[np.asarray(step["keep"], dtype=bool)]
    out = np.zeros(len(model.features))
    out[idx] = np.abs(clf["coef"])
    return out / out.sum() if out.sum() > 0 else out


def _alignment(model: SavedModel, cohort: Cohort) -> tuple[np.ndarray, dict[str, Any]]:
    ids = pd.Index([str(f) for f in cohort.feature_ids])
    pos = ids.get_indexer(list(model.features))
    missing = [f for f, p in zip(model.features, pos, strict=True) if p < 0]
    weight = _weights(model)
    report = {"n_model_features": len(model.features), "n_matched": int((pos >= 0).sum()),
              "n_missing": len(missing), "missing_examples": missing[:10],
              "n_extra": int(len(ids) - (pos >= 0).sum()),
              "missing_weight": float(weight[pos < 0].sum()) if len(missing) else 0.0}
    return pos, report


def apply_model(model: SavedModel, cohort: Cohort, *, group: str | None = None,
                case: str | Sequence[str] | None = None, control: str | Sequence[str] | None = None,
                rng: int | np.random.Generator | None = 0) -> PredictionResult:
    """Score the samples of *cohort* with a saved model.

    Features are matched to the model's by ID (exact): model features absent from the table count as zero,
    extra features are ignored; relative abundances are then taken over the model's features, as in training.
    ``alignment`` reports both, and ``missing_weight`` the share of a linear model's |coefficients| that sat
    on missing features. With *group* (a metadata column) the scores are summarised per group; with *case* and
    *control* values of it as well, only those samples are scored and the AUROC on them is reported, with a
    bootstrap CI (an external validation when the cohort is new to the model).
    """
    labels = None
    if group is not None:
        if case is not None and control is not None:
            design = prepare(cohort, group=group, case=case, control=control)
            cohort, labels = design.cohort, design.y
        elif group not in cohort.metadata.columns:
            raise InputFormatError(f"metadata has no column {group!r} to group the scores by.")
    pos, report = _alignment(model, cohort)
    if report["n_matched"] == 0:
        raise InputFormatError(
            f"none of the model's {len(model.features)} features occurs in the table (e.g. model "
            f"{list(model.features[:3])} vs table {list(map(str, cohort.feature_ids[:3]))}).",
            hint="Use a table at the same taxonomic rank and naming as the training data.")
    x = cohort.dense()
    aligned = np.where(pos[None, :] >= 0, x[:, np.clip(pos, 0, None)], 0.0)
    p = model.predict_proba(aligned)
    table = pd.DataFrame({"probability": p, "log_odds": logit(np.clip(p, 1e-6, 1 - 1e-6))}, index=cohort.sample_ids)
    auc, ci = None, None
    if group is not None:
        table["group"] = cohort.metadata.loc[cohort.sample_ids, group].astype(str).to_numpy()
    if labels is not None:
        table["y"] = labels
        auc = auroc(labels, p)
        ci = bootstrap_ci(labels, p[None, :], np.arange(labels.size).astype(str), rng=rng)
    return PredictionResult(table=table, alignment=report, model=str(model.info.get("model", "")),
                            info=dict(model.info), group=group, auroc=auc, auroc_ci=ci)
