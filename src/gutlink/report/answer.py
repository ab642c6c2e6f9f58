"""The first screen of a ``link`` report: "is there a link?", one plain sentence per layer that ran, and a small
layer × grade grid — both taken from the :class:`~gutlink.evidence.Evidence` of the one cohort, so ``link`` and
``atlas`` speak one language.

The sentences and grid cells are the Evidence's own (numbers formatted by :func:`gutlink.evidence.synthesis.fmt`)
and ``summary.json`` holds that Evidence under ``evidence``, so every number on the first screen can be found
there. Each sentence links to the section and the figure behind it, and names the table file that holds its rows.

Examples
--------
>>> LAYER_TARGETS["community"].section, LAYER_TARGETS["taxa"].figure
('permanova', 'fig-volcano')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..evidence import Evidence, evidence
from ..evidence.synthesis import fmt
from ..link import LinkResult
from ..results import Result
from ..run import Run
from .context import Section

__all__ = ["COHORT_NAME", "LAYER_TARGETS", "Target", "answer", "condition_name", "link_evidence", "link_of"]

#: How the one cohort of a ``link`` run is named in its Evidence.
COHORT_NAME = "this cohort"


@dataclass(frozen=True)
class Target:
    """Where a layer's numbers live on the page (section, figure and table ids) and beside it (the TSV file)."""

    section: str
    figure: str
    table: str
    table_id: str = ""


#: Section id, figure id and table file of each evidence layer in a ``link`` report.
LAYER_TARGETS: dict[str, Target] = {
    "community": Target("permanova", "fig-pcoa-braycurtis", "permanova.tsv", "tests"),
    "diversity": Target("alpha", "fig-alpha-shannon", "alpha_tests.tsv", "alpha-tests"),
    "dysbiosis": Target("dysbiosis", "fig-dysbiosis", "dysbiosis_tests.tsv", "dysbiosis-tests"),
    "taxa": Target("differential", "fig-volcano", "differential.tsv", "differential-table"),
    "literature": Target("literature", "fig-literature-studies", "literature_tests.tsv", "literature-tests"),
    "prediction_within": Target("prediction", "fig-roc", "roc.tsv", "prediction-features"),
    "guilds": Target("barrier", "fig-barrier", "guild_tests.tsv", "guild-tests"),
    "markers": Target("immune-markers", "fig-marker-heatmap", "markers.tsv"),
}


def link_of(result: Result) -> LinkResult | None:
    """The link result a page or summary is about (a bare one, or a run's main result), else ``None``."""
    if isinstance(result, Run):
        return link_of(result.main)
    return result if isinstance(result, LinkResult) else None


def condition_name(result: LinkResult) -> str:
    """The condition as the first screen names it: the case label(s) as given."""
    return " + ".join(map(str, result.case))


def link_evidence(result: LinkResult) -> Evidence:
    """The Evidence of one ``link`` run (one cohort): every layer that ran, graded by the rubric."""
    return evidence(condition_name(result), links={COHORT_NAME: result})


_ID = re.compile(r'\bid="([^"]+)"')


def _ids(sections: Iterable[Section]) -> set[str]:
    """Every id the sections put on the page (section ids and the ids inside their bodies)."""
    out: set[str] = set()
    for s in sections:
        out |= {s.id, *_ID.findall(str(s.body))}
        out |= _ids(s.children)
    return out


def _figure_anchor(figure: str, ids: set[str]) -> str:
    """The figure's own id, or its SVG's (a figure drawn without a ``<figure>`` wrapper), else ``""``."""
    return next((i for i in (figure, f"{figure}-figure_1") if i in ids), "")


def _cell(value: Any) -> str:
    v = float(value) if value is not None else np.nan
    return fmt(v) if np.isfinite(v) else ""


def _item(row: dict[str, Any], ids: set[str], metric: str) -> dict[str, Any]:
    target = LAYER_TARGETS.get(str(row["layer"]))
    figure = target.figure if target else ""
    if row["layer"] == "community":
        figure = f"fig-pcoa-{metric}"
    ci = ""
    if _cell(row.get("ci_low")) and _cell(row.get("ci_high")):
        ci = f"{_cell(row['ci_low'])} to {_cell(row['ci_high'])}"
    return {"layer": str(row["layer"]), "name": str(row["name"]), "grade": str(row["grade"]),
            "sentence": str(row["sentence"]), "effect": _cell(row.get("effect")), "ci": ci,
            "q": _cell(row.get("q_value")), "effect_name": str(row.get("effect_name", "")).split(";")[0],
            "section": target.section if target and target.section in ids else "",
            "figure": _figure_anchor(figure, ids), "table": target.table if target else "",
            "table_id": target.table_id if target and target.table_id in ids else ""}


def answer(result: Result, sections: Iterable[Section]) -> dict[str, Any] | None:
    """The first screen's content for *result* (``None`` unless it is, or runs, a ``link``).

    Links point only at ids present among *sections*; a layer whose section is not on the page is shown
    without a link.
    """
    res = link_of(result)
    if res is None:
        return None
    ev = link_evidence(res)
    ids = _ids(sections)
    metric = "braycurtis" if "braycurtis" in res.permanova else next(iter(res.permanova), "braycurtis")
    items = [_item(r, ids, metric) for r in ev.layers.to_dict("records")]
    return {"condition": ev.condition, "statement": str(ev.overall["statement"]),
            "grade": str(ev.overall["grade"]), "items": items, "max_points": int(ev.overall["max_points"])}
