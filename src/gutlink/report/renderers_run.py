"""Report sections of a command's run: the design checks, then every result of the run.

Registers :func:`~gutlink.report.renderers.render` and :func:`~gutlink.report.export.tables` for
:class:`~gutlink.design.DesignChecks` and :class:`~gutlink.run.Run`.
"""

from __future__ import annotations

import pandas as pd

from ..design import DesignChecks
from ..link import LinkResult
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


@render.register
def _(result: Run, ctx: Context) -> list[Section]:
    sections = [s for r in result.results for s in render(r, ctx)]
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
    if result.checks is not None:
        out.update(tables(result.checks))
    return out
