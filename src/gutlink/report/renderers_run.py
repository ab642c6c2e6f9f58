"""Report sections of a command's run: the design checks, then every result of the run.

Registers :func:`~gutlink.report.renderers.render` and :func:`~gutlink.report.export.tables` for
:class:`~gutlink.design.DesignChecks` and :class:`~gutlink.run.Run`.
"""

from __future__ import annotations

import pandas as pd

from ..design import DesignChecks
from ..link import LinkResult
from ..results import Result
from ..run import Run
from .context import Context, Section
from .export import tables
from .renderers import render

__all__ = ["design_checks_section"]


def design_checks_section(checks: DesignChecks, ctx: Context) -> Section:
    """The "Design checks" section: one row per check, red first."""
    order = {"red": 0, "amber": 1, "green": 2}
    frame = checks.table.sort_values("status", key=lambda s: s.map(order), kind="stable")
    rows = [{str(k): ("" if pd.isna(v) else v) for k, v in r.items()} for r in frame.to_dict(orient="records")]
    body = ctx.render("design_checks.html.j2", rows=rows, headline=checks.headline())
    return Section("design-checks", "Design checks", body)


@render.register
def _(result: DesignChecks, ctx: Context) -> list[Section]:
    return [design_checks_section(result, ctx)]


def _layers(result: Result) -> list[Result]:
    """The guild, host-marker and literature layers of a link result (rendered and written like results of their
    own)."""
    if not isinstance(result, LinkResult):
        return []
    return [r for r in (result.guilds, result.markers, result.literature) if r is not None]


def _with_layers(result: Result, ctx: Context) -> list[Section]:
    """A result's sections; a link result's guild and marker sections go before its "All tests" section."""
    sections = render(result, ctx)
    extra = [s for layer in _layers(result) for s in render(layer, ctx)]
    at = next((i for i, s in enumerate(sections) if s.id == "tests"), len(sections))
    return sections[:at] + extra + sections[at:]


@render.register
def _(result: Run, ctx: Context) -> list[Section]:
    sections = [s for r in result.results for s in _with_layers(r, ctx)]
    if result.checks is not None:
        at = 1 if isinstance(result.main, LinkResult) else 0  # after the link overview, else first
        sections.insert(at, design_checks_section(result.checks, ctx))
    return sections


@tables.register
def _(result: DesignChecks) -> dict[str, pd.DataFrame]:
    return {"design_checks.tsv": result.table}


@tables.register
def _(result: Run) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for r in result.results:
        out.update(tables(r))
        for layer in _layers(r):
            out.update(tables(layer))
    if result.checks is not None:
        out.update(tables(result.checks))
    return out
