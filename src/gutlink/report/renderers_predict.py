"""Report sections of the prediction results: cross-validated classifier and cross-study transfer.

Registers :func:`~gutlink.report.renderers.render` and :func:`~gutlink.report.export.tables` for
:class:`~gutlink.predict.ClassifierResult`, :class:`~gutlink.predict.TransferResult`, the scored samples of
``--apply`` and the multi-disease result (``gutlink predict`` writes them in one :class:`~gutlink.run.Run`). Feature and study
names are user text: the templates autoescape them, and figure labels go through
:func:`~gutlink.report.svg.mpl_text`, which matplotlib escapes in the SVG.

Examples
--------
>>> from gutlink.datasets import toy
>>> from gutlink.predict import cross_validate
>>> from gutlink.report import context_for
>>> res = cross_validate(toy(), group="group", case="case", control="control", n_repeats=1, n_folds=3, rng=0)
>>> [s.all_figures for s in render(res, context_for(res))]
[('fig-roc', 'fig-calibration', 'fig-importance')]
>>> sorted(tables(res))
['calibration.tsv', 'folds.tsv', 'importance.tsv', 'predictions.tsv', 'roc.tsv']
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..predict.multi import MultiDiseaseResult
from ..predict.results import ClassifierResult, PredictionResult, TransferResult
from .context import Context, Section
from .export import tables
from .figures import PALETTE
from .figures_differential import display_name, taxon_name
from .renderers import render
from .svg import figure_svg, mpl_text

__all__ = ["TOP_FEATURES", "apply_section", "classifier_section",
           "multi_section", "transfer_section"]

#: Features in the importance figure and table.
TOP_FEATURES = 20
_CASE, _CONTROL, _GREY = PALETTE[1], PALETTE[0], "#888888"


# ----------------------------------------------------------------------------- figures
def _no_data(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_roc(fig: Figure, roc: pd.DataFrame, auroc: float) -> None:
    ax = fig.add_subplot()
    if roc.empty:
        _no_data(ax, "no ROC curve")
        return
    ax.fill_between(roc["fpr"], roc["tpr_low"], roc["tpr_high"], color=_CASE, alpha=0.2, lw=0,
                    label="95 % band (bootstrap)")
    ax.plot(roc["fpr"], roc["tpr"], color=_CASE, lw=1.8, label=f"mean ROC (AUROC {auroc:.3f})")
    ax.plot([0, 1], [0, 1], color=_GREY, ls="--", lw=0.8, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="False positive rate (1 − specificity)",
           ylabel="True positive rate (sensitivity)")
    ax.legend(loc="lower right", fontsize=8)


def _draw_calibration(fig: Figure, cal: pd.DataFrame) -> None:
    ax = fig.add_subplot()
    if cal.empty:
        _no_data(ax, "no calibration data")
        return
    n = cal["n"].to_numpy(dtype=float)
    varies = n.max() > 1.2 * max(n.min(), 1.0)  # quantile bins hold about equal numbers: then one size says it
    sizes = 12 + 60 * n / max(n.max(), 1.0) if varies else np.full(n.size, 30.0)
    label = "bin (area: samples)" if varies else f"bin of about {int(round(np.median(n)))} samples"
    ax.plot([0, 1], [0, 1], color=_GREY, ls="--", lw=0.8, label="perfect calibration")
    ax.plot(cal["mean_predicted"], cal["fraction_case"], color=_CONTROL, lw=1.2)
    ax.scatter(cal["mean_predicted"], cal["fraction_case"], s=sizes, color=_CONTROL, zorder=3, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Mean predicted probability", ylabel="Observed fraction of cases")
    ax.legend(loc="lower right", fontsize=8)


def _importance_values(top: pd.DataFrame) -> tuple[np.ndarray, str]:
    mean = top["mean"].to_numpy(dtype=float)
    if np.isfinite(mean).any():
        return np.nan_to_num(mean), "Mean importance (signed coefficient, impurity decrease or split-gain share)"
    return top["top_frequency"].to_numpy(dtype=float), "Fraction of fold models ranking it in the top"


def _draw_importance(fig: Figure, top: pd.DataFrame) -> None:
    ax = fig.add_subplot()
    if top.empty:
        _no_data(ax, "no feature importance")
        return
    values, xlabel = _importance_values(top)
    y = np.arange(len(top))[::-1]
    sd = np.nan_to_num(top["sd"].to_numpy(dtype=float)) if "sd" in top else None
    ax.barh(y, values, xerr=sd, color=[_CASE if v > 0 else _CONTROL for v in values], alpha=0.85,
            error_kw={"ecolor": "#444444", "lw": 0.7})
    ax.set_yticks(y, [display_name(f, 40) for f in top.index])
    ax.axvline(0, color="#999999", lw=0.6)
    ax.set_xlabel(xlabel)
    sec = ax.secondary_yaxis("right")
    sec.set_yticks(y, [f"{100 * v:.0f} %" for v in top["top_frequency"]])
    sec.set_ylabel("in the top of the fold models")


def _draw_transfer(fig: Figure, matrix: pd.DataFrame) -> None:
    ax = fig.add_subplot()
    if matrix.empty:
        _no_data(ax, "no study × study matrix")
        return
    values = matrix.to_numpy(dtype=float)
    mesh = ax.pcolormesh(np.ma.masked_invalid(values), cmap="viridis", vmin=0.5, vmax=1.0,
                         edgecolors="white", linewidth=1.0)
    for (i, j), v in np.ndenumerate(values):
        text = "—" if not np.isfinite(v) else f"{v:.2f}"
        ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", color="white" if v < 0.8 else "black")
    ax.set_xticks(np.arange(values.shape[1]) + 0.5, [mpl_text(c, 18) for c in matrix.columns], rotation=30,
                  ha="right")
    ax.set_yticks(np.arange(values.shape[0]) + 0.5, [mpl_text(r, 18) for r in matrix.index])
    ax.invert_yaxis()
    ax.set(xlabel="Tested on", ylabel="Trained on", aspect="equal")
    bar = fig.colorbar(mesh, ax=ax, shrink=0.8, label="AUROC")
    if bar.solids is not None:
        bar.solids.set_rasterized(False)  # vector only: the page's CSP blocks data: images


def _draw_scores(fig: Figure, table: pd.DataFrame) -> None:
    ax = fig.add_subplot()
    if table.empty:
        _no_data(ax, "no samples")
        return
    p = table["probability"].to_numpy(dtype=float)
    bins = np.linspace(0, 1, 21).tolist()
    if "group" in table.columns:
        names = sorted(pd.unique(table["group"].astype(str)))
        for i, name in enumerate(names[:8]):
            values = p[table["group"].astype(str).to_numpy() == name]
            ax.hist(values, bins=bins, histtype="step", lw=1.6, color=PALETTE[i % len(PALETTE)],
                    label=f"{mpl_text(name, 24)} (n = {values.size})")
        ax.legend(loc="upper center", fontsize=8)
    else:
        ax.hist(p, bins=bins, color=_CONTROL, alpha=0.85, label=f"all samples (n = {p.size})")
    ax.axvline(0.5, color=_GREY, ls="--", lw=0.8)
    ax.set(xlim=(0, 1), xlabel="Predicted case probability", ylabel="Samples")


def _draw_disease_auroc(fig: Figure, table: pd.DataFrame) -> None:
    ax = fig.add_subplot()
    if table.empty:
        _no_data(ax, "no diseases")
        return
    y = np.arange(len(table))[::-1]
    auc = table["auroc"].to_numpy(dtype=float)
    low = np.clip(auc - table["ci_low"].to_numpy(dtype=float), 0, None)
    high = np.clip(table["ci_high"].to_numpy(dtype=float) - auc, 0, None)
    ax.errorbar(auc, y, xerr=np.nan_to_num(np.vstack([low, high])), fmt="o", color=_CASE, ecolor="#444444",
                capsize=3)
    ax.axvline(0.5, color=_GREY, ls="--", lw=0.8)
    ax.set_yticks(y, [mpl_text(d, 30) for d in table["disease"]])
    ax.set(xlim=(min(0.4, float(np.nanmin(table["ci_low"])) - 0.02) if table["ci_low"].notna().any() else 0.4, 1.0),
           xlabel="AUROC vs controls (95 % CI)")


def _top_importance(result: ClassifierResult) -> pd.DataFrame:
    imp = result.importance
    if imp.empty or np.isfinite(imp["mean"].to_numpy(dtype=float)).any():
        return imp.head(TOP_FEATURES)
    return imp.sort_values("top_frequency", ascending=False, kind="stable").head(TOP_FEATURES)


def _classifier_figures(result: ClassifierResult, top: pd.DataFrame) -> dict[str, Markup]:
    n = len(top)
    return {"roc": figure_svg(lambda fig: _draw_roc(fig, result.roc, result.auroc), "fig-roc",
                              "ROC curve of the out-of-fold predictions with its 95 % band", size=(4.2, 4.0)),
            "calibration": figure_svg(lambda fig: _draw_calibration(fig, result.calibration), "fig-calibration",
                                      "Calibration: predicted probability against observed fraction of cases",
                                      size=(4.2, 4.0)),
            "importance": figure_svg(lambda fig: _draw_importance(fig, top), "fig-importance",
                                     f"The {n} most important features with their stability across folds",
                                     size=(9.0, max(2.4, 1.2 + 0.26 * n)))}


# ----------------------------------------------------------------------------- sections
def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict(orient="records")]


def _null(result: ClassifierResult) -> dict[str, Any] | None:
    if not result.permutation_auroc:
        return None
    null = np.asarray(result.permutation_auroc, dtype=float)
    low, high = np.quantile(null, [0.025, 0.975])
    return {"n": null.size, "mean": float(null.mean()), "low": float(low), "high": float(high),
            "p": result.permutation_p}


def _feature_rows(top: pd.DataFrame) -> list[dict[str, Any]]:
    rows = _records(top.reset_index())
    return [{**r, "name": taxon_name(r["feature_id"])} for r in rows]


def classifier_section(result: ClassifierResult, ctx: Context) -> Section:
    """Headline AUROC against the permutation null, ROC, calibration, top features and per-study AUROC."""
    top = _top_importance(result)
    body = ctx.render("predict_classifier.html.j2", r=result, null=_null(result), features=_feature_rows(top),
                      per_study=_records(result.per_study), **_classifier_figures(result, top))
    return Section("prediction", "Prediction: how well does the community predict the disease?", body,
                   ("fig-roc", "fig-calibration", "fig-importance"))


def transfer_section(result: TransferResult, ctx: Context) -> Section:
    """Leave-one-study-out table and the train-on-A / test-on-B heat map."""
    figure = None
    if not result.matrix.empty:
        figure = figure_svg(lambda fig: _draw_transfer(fig, result.matrix), "fig-transfer",
                            "Cross-study AUROC: trained on one study (rows), tested on another (columns)",
                            size=(7.0, max(3.0, 1.6 + 0.45 * len(result.matrix))))
    mean = float(result.table["auroc"].mean()) if len(result.table) else float("nan")
    body = ctx.render("predict_transfer.html.j2", r=result, rows=_records(result.table), mean=mean, figure=figure)
    return Section("transfer", "Does it hold in another study?", body, ("fig-transfer",) if figure else ())


def _missing_features(names: list[Any]) -> list[dict[str, str]]:
    return [{"id": str(f), "name": taxon_name(f)} for f in names]


def apply_section(result: PredictionResult, ctx: Context) -> Section:
    """The model used, the feature alignment, the score distribution and the per-group scores."""
    figure = figure_svg(lambda fig: _draw_scores(fig, result.table), "fig-apply-scores",
                        "Distribution of the predicted case probability", size=(6.0, 3.4))
    body = ctx.render("predict_apply.html.j2", r=result, a=result.alignment, info=result.info,
                      missing=_missing_features(list(result.alignment.get("missing_examples", []))),
                      groups=_records(result.by_group), figure=figure)
    return Section("apply", "Scores of a saved classifier", body, ("fig-apply-scores",))


def _specific(result: MultiDiseaseResult) -> list[dict[str, Any]]:
    imp = result.importance
    ranks = imp.abs().rank(ascending=False, method="first")
    top = (ranks <= result.top_k) & (imp.abs() > 0)
    only = top[top.sum(axis=1) == 1]
    rows = []
    for disease in imp.columns:
        feats = only.index[only[disease].to_numpy()]
        order = imp.loc[feats, disease].abs().sort_values(ascending=False, kind="stable").index
        rows += [{"disease": str(disease), "feature_id": str(f), "name": taxon_name(f),
                  "importance": float(imp.loc[f, disease])} for f in order]
    return rows


def multi_section(result: MultiDiseaseResult, ctx: Context) -> Section:
    """AUROC per disease with its CI, shared and disease-specific features, and their similarity."""
    figure = figure_svg(lambda fig: _draw_disease_auroc(fig, result.table), "fig-multi-auroc",
                        "Cross-validated AUROC per disease with 95 % CI",
                        size=(6.0, max(2.0, 1.0 + 0.45 * len(result.table))))
    shared = [{**r, "name": taxon_name(r["feature_id"])} for r in _records(result.shared)]
    sim = result.similarity
    similarity = [{"name": str(i), "values": [float(v) for v in row]} for i, row in zip(sim.index, sim.to_numpy(),
                                                                                      strict=True)]
    body = ctx.render("predict_multi.html.j2", r=result, diseases=_records(result.table), shared=shared,
                      specific=_specific(result), similarity=similarity,
                      similarity_columns=[str(c) for c in sim.columns], figure=figure)
    return Section("multi-disease", "Which signals are shared between diseases?", body, ("fig-multi-auroc",))


@render.register
def _(result: PredictionResult, ctx: Context) -> list[Section]:
    return [apply_section(result, ctx)]


@render.register
def _(result: MultiDiseaseResult, ctx: Context) -> list[Section]:
    return [multi_section(result, ctx)]


@render.register
def _(result: ClassifierResult, ctx: Context) -> list[Section]:
    return [classifier_section(result, ctx)]


@render.register
def _(result: TransferResult, ctx: Context) -> list[Section]:
    return [transfer_section(result, ctx)]


# ----------------------------------------------------------------------------- tables
def _classifier_tables(result: ClassifierResult) -> dict[str, pd.DataFrame]:
    folds = result.folds
    if "params" in folds.columns:
        folds = folds.assign(params=folds["params"].map(json.dumps))
    return {"predictions.tsv": result.predictions, "importance.tsv": result.importance, "roc.tsv": result.roc,
            "calibration.tsv": result.calibration, "folds.tsv": folds}


def _transfer_tables(result: TransferResult) -> dict[str, pd.DataFrame]:
    out = {"loso.tsv": result.table}
    if not result.matrix.empty:
        matrix = result.matrix
        out["cross_study.tsv"] = matrix if matrix.index.name else matrix.rename_axis("train")
    return out


@tables.register
def _(result: ClassifierResult) -> dict[str, pd.DataFrame]:
    return _classifier_tables(result)


@tables.register
def _(result: TransferResult) -> dict[str, pd.DataFrame]:
    return _transfer_tables(result)


def _apply_tables(result: PredictionResult) -> dict[str, pd.DataFrame]:
    return {"predictions.tsv": result.table.rename_axis(result.table.index.name or "sample_id"),
            "score_groups.tsv": result.by_group}


def _multi_tables(result: MultiDiseaseResult) -> dict[str, pd.DataFrame]:
    imp = result.importance
    return {"diseases.tsv": result.table, "importance_by_disease.tsv": imp.rename_axis(imp.index.name or "feature_id"),
            "shared_features.tsv": result.shared}


@tables.register
def _(result: PredictionResult) -> dict[str, pd.DataFrame]:
    return _apply_tables(result)


@tables.register
def _(result: MultiDiseaseResult) -> dict[str, pd.DataFrame]:
    return _multi_tables(result)

