"""Assemble the self-contained HTML page: header, verdict, disclaimer, contents and every section."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from .. import __version__
from ..design import LABEL
from ..link import LinkResult
from ..results import Result
from ..run import Run
from ..verdict import LEVELS
from .answer import answer
from .context import Context, Section, css, environment
from .figures import GroupStyle
from .methods import methods_section
from .renderers import render

__all__ = ["render_html", "context_for", "VERDICT_BADGES"]

#: Badge text of each verdict level.
VERDICT_BADGES = LEVELS


def _sample_labels(result: Result) -> pd.Series | None:
    for attr in ("values", "scores"):
        frame = getattr(result, attr, None)
        if isinstance(frame, pd.DataFrame) and LABEL in frame.columns:
            return frame[LABEL].astype(str)
    return None


def _group_names(result: LinkResult) -> dict[str, str]:
    return {"case": f"Cases ({' + '.join(map(str, result.case))})", "control": f"Controls ({result.control})"}


def context_for(result: Result) -> Context:
    """The rendering context of *result*: group order (control first), names and per-sample labels."""
    if isinstance(result, Run):
        return context_for(result.main)
    env = environment()
    if isinstance(result, LinkResult):
        labels = _sample_labels(result.alpha)
        groups = GroupStyle.from_labels(labels if labels is not None else [], control="control", case=["case"],
                                        names=_group_names(result))
        q = float(result.verdict.get("q_threshold", 0.05))
        return Context(env=env, groups=groups, labels=labels, tests=result.tests, q_threshold=q)
    labels = _sample_labels(result)
    groups = GroupStyle.from_labels(labels if labels is not None else ["samples"], control="control",
                                    case=["case"])
    return Context(env=env, groups=groups, labels=labels)


def _header(result: Result, ctx: Context) -> dict[str, Any]:
    if isinstance(result, Run):
        header = _header(result.main, ctx)
        if result.checks is not None and result.checks.status == "red":
            header["caveat"] = (result.checks.headline() + " No result below may be read as evidence without "
                                "the reason it still holds; see “Design checks”.")
        return header
    if not isinstance(result, LinkResult):
        title = getattr(result, "REPORT_TITLE", "") or re.sub(r"(?<!^)(?=[A-Z])", " ", type(result).__name__)
        return {"title": f"gutlink: {title}", "subtitle": "", "verdict": None}
    n = result.n_per_group
    subtitle = (f"Column “{result.group}”: {ctx.name('case')}, n = {n.get('case', 0)} "
                f"vs {ctx.name('control')}, n = {n.get('control', 0)}")
    level = str(result.verdict.get("level", ""))
    verdict = {"level": level if level in VERDICT_BADGES else "unknown",
               "badge": VERDICT_BADGES.get(level, "Verdict"),
               "headline": str(result.verdict.get("headline", "")),
               "sentences": [str(s) for s in result.verdict.get("sentences", [])]}
    title = f"Gut microbiome: {' + '.join(map(str, result.case))} vs {result.control}"
    return {"title": title, "subtitle": subtitle, "verdict": verdict}


def _toc(sections: list[Section]) -> list[dict[str, Any]]:
    return [{"id": s.id, "title": s.title, "children": _toc(list(s.children))} for s in sections]


def render_html(result: Result) -> str:
    """The complete report page for *result* as one self-contained HTML string.

    Examples
    --------
    >>> from gutlink.community import OrdinationResult
    >>> coords = pd.DataFrame({"PC1": [0.1, -0.1], "PC2": [0.0, 0.2]}, index=pd.Index(["a", "b"], name="sample_id"))
    >>> html = render_html(OrdinationResult("braycurtis", coords, pd.Series({"PC1": 0.7, "PC2": 0.3})))
    >>> html.startswith("<!doctype html>") and 'id="fig-pcoa-braycurtis"' in html
    True
    """
    ctx = context_for(result)
    sections = [*render(result, ctx), methods_section(result, ctx)]
    page = ctx.env.get_template("page.html.j2")
    header = {"caveat": "", **_header(result, ctx)}
    return page.render(ctx=ctx, css=css(), sections=sections, toc=_toc(sections), version=__version__,
                       answer=answer(result, sections), **header)

