"""Machine-readable outputs: one TSV per result table and the JSON summary.

:func:`tables` dispatches on the result type like :func:`gutlink.report.renderers.render`; a new analysis adds
one ``@tables.register`` function.
"""

from __future__ import annotations

import dataclasses
import json
from functools import singledispatch
from typing import Any

import pandas as pd

from .. import __version__
from ..community import AlphaResult, DysbiosisResult, OrdinationResult, PermanovaResult, PermdispResult
from ..differential import DifferentialResult
from ..io.writers import neutralise
from ..link import LinkResult
from ..meta import MetaResult
from ..results import Result, jsonable
from ..run import Run
from .answer import link_evidence
from .context import slug

__all__ = ["tables", "summary", "summary_json", "to_tsv"]


@singledispatch
def tables(result: Result) -> dict[str, pd.DataFrame]:
    """File name → table for every tidy table of *result* (default: its ``.table``).

    Parameters
    ----------
    result
        Any gutlink result.

    Returns
    -------
    dict of str to DataFrame
    """
    return {f"{slug(type(result).__name__)}.tsv": result.table}  # type: ignore[attr-defined]


@tables.register
def _(result: AlphaResult) -> dict[str, pd.DataFrame]:
    return {"alpha_diversity.tsv": result.values, "alpha_tests.tsv": result.tests}


@tables.register
def _(result: OrdinationResult) -> dict[str, pd.DataFrame]:
    return {f"pcoa_{slug(result.metric)}.tsv": result.coordinates}


def _permanova_frame(results: list[PermanovaResult]) -> pd.DataFrame:
    parts = [r.table.assign(metric=r.metric, formula=r.formula, by=r.by, permutations=r.permutations,
                            strata=r.strata) for r in results]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return frame[["metric", *[c for c in frame.columns if c != "metric"]]] if parts else frame


def _permdisp_frame(results: list[PermdispResult]) -> pd.DataFrame:
    parts = [r.groups.assign(metric=r.metric, statistic=r.statistic, p_value=r.p_value,
                             permutations=r.permutations) for r in results]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return frame[["metric", *[c for c in frame.columns if c != "metric"]]] if parts else frame


@tables.register
def _(result: PermanovaResult) -> dict[str, pd.DataFrame]:
    return {"permanova.tsv": _permanova_frame([result])}


@tables.register
def _(result: PermdispResult) -> dict[str, pd.DataFrame]:
    return {"permdisp.tsv": _permdisp_frame([result])}


@tables.register
def _(result: DysbiosisResult) -> dict[str, pd.DataFrame]:
    scores = result.scores.assign(metric=result.metric, threshold=result.threshold)
    return {"dysbiosis_scores.tsv": scores, "dysbiosis_tests.tsv": result.tests}


@tables.register
def _(result: MetaResult) -> dict[str, pd.DataFrame]:
    return {"meta.tsv": result.table, "meta_loso.tsv": result.loso, "meta_studies.tsv": result.studies}


@tables.register
def _(result: DifferentialResult) -> dict[str, pd.DataFrame]:
    out = {"differential.tsv": result.table}
    if result.prevalence is not None:
        out["prevalence.tsv"] = result.prevalence
    if result.omnibus is not None and len(result.omnibus):
        out["omnibus.tsv"] = result.omnibus
    if isinstance(result.meta, MetaResult):
        out.update(tables(result.meta))
    return out


@tables.register
def _(result: LinkResult) -> dict[str, pd.DataFrame]:
    out = {**tables(result.alpha)}
    for ordination in result.ordinations.values():
        out.update(tables(ordination))
    out["permanova.tsv"] = _permanova_frame(list(result.permanova.values()))
    out["permdisp.tsv"] = _permdisp_frame(list(result.permdisp.values()))
    out.update(tables(result.dysbiosis))
    out["tests.tsv"] = result.tests
    if result.differential is not None:
        out.update(tables(result.differential))
    if result.prediction is not None:
        out.update(tables(result.prediction))
    for layer in (result.guilds, result.markers, result.literature):  # their tables are registered elsewhere
        if layer is not None:
            out.update(tables(layer))
    ev = link_evidence(result)
    out.update({"evidence_layers.tsv": ev.layers, "evidence_rubric.tsv": ev.rubric})
    return out


def to_tsv(frame: pd.DataFrame) -> str:
    """Tab-separated text; a named index becomes the first column; missing values — NaN, None and empty text —
    are ``NA`` (one convention in every table); text that a spreadsheet would run as a formula gets a leading
    ``'`` (:func:`gutlink.io.writers.neutralise`)."""
    safe = neutralise(frame)
    for position in range(safe.shape[1]):
        column = safe.iloc[:, position]
        if column.dtype == object:
            safe.isetitem(position, column.mask(column.eq(""), None))
    return safe.to_csv(sep="\t", index=frame.index.name is not None, na_rep="NA", lineterminator="\n")


def _plain(value: Any) -> Any:
    """Like :func:`gutlink.results.jsonable`, but nested results become dictionaries too."""
    if isinstance(value, Result):
        return summary(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return jsonable(value)


def summary(result: Result) -> dict[str, Any]:
    """``result.to_dict()`` with every nested result expanded (JSON-safe); a :class:`~gutlink.run.Run` without
    a document of its own carries its main result's summary beside its provenance."""
    if isinstance(result, Run) and not result.document:
        return {**summary(result.main), **result.to_dict()}
    out = result.to_dict()
    for f in dataclasses.fields(result):
        if f.metadata.get("json", True):
            value = getattr(result, f.name)
            if isinstance(value, (Result, dict, list, tuple)):
                out[f.name] = _plain(value)
    if isinstance(result, LinkResult):  # the first screen's grid and sentences, as numbers
        out["evidence"] = summary(link_evidence(result))
    return out


def summary_json(result: Result, files: dict[str, str]) -> str:
    """The text of ``summary.json``: the result's fields, plus ``report`` (gutlink version, sha256 of every other
    output file)."""
    doc = {**summary(result), "report": {"gutlink_version": __version__, "files": files}}
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
