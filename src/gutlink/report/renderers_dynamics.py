"""Report sections of community dynamics (gLV / cLV fits, forecasts, steady states, scenarios).

The report only renders: every number comes from the result. Research tool, never medical advice.
"""

from __future__ import annotations

import pandas as pd

from ..dynamics import (
    DynamicsModel,
    ForecastResult,
    HoldoutResult,
    KeystoneResult,
    ScenarioResult,
    SteadyStateResult,
)
from .context import Context, Section
from .renderers import render

__all__: list[str] = []

CAVEAT = "Research tool, never medical advice."
MAX_ROWS = 30


def _section(ctx: Context, sid: str, title: str, lines: list[str], table: pd.DataFrame | None) -> list[Section]:
    rows, columns, more = [], [], 0
    if table is not None and len(table):
        shown = table.head(MAX_ROWS)
        columns = [str(c) for c in shown.columns]
        rows = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r] for r in shown.itertuples(index=False)]
        more = len(table) - len(shown)
    body = ctx.render("dynamics.html.j2", caveat=CAVEAT, lines=lines, columns=columns, rows=rows, more=more)
    return [Section(sid, title, body)]


@render.register
def _(result: DynamicsModel, ctx: Context) -> list[Section]:
    kind = "generalised Lotka–Volterra (absolute abundance)" if result.model == "glv" else \
        "compositional Lotka–Volterra (relative abundance, Joseph et al. 2020)"
    lines = [f"Fitted a {kind} model on {len(result.taxa)} taxa, {result.n_subjects} subjects and "
             f"{result.n_intervals} intervals by ridge regression on log-differences; penalty {result.alpha:.3g} "
             "chosen by leave-one-subject-out cross-validation."]
    if result.reference:
        lines.append(f"Reference taxon of the log-ratios: {result.reference}.")
    tab = result.table
    tab = tab.reindex(tab["value"].abs().sort_values(ascending=False).index)
    return _section(ctx, "dynamics-model", "Community dynamics model", lines, tab)


@render.register
def _(result: HoldoutResult, ctx: Context) -> list[Section]:
    s = result.summary
    lines = [f"Held-out-subject forecasts ({result.model}): median RMSE of relative abundance "
             f"{s.loc['model', 'median_rmse']:.3f} against {s.loc['persistence', 'median_rmse']:.3f} for "
             f"persistence (first observation carried forward) and {s.loc['mean_composition', 'median_rmse']:.3f} "
             f"for the training mean composition.",
             f"{int(s.loc['model', 'n_failed'])} of {len(result.table)} forecasts blew up or failed and are not "
             "in the median."]
    return _section(ctx, "dynamics-holdout", "Held-out forecasts", lines, result.table)


@render.register
def _(result: ForecastResult, ctx: Context) -> list[Section]:
    lines = [f"Forecast of subject {result.subject}: RMSE {result.rmse:.3f} (persistence "
             f"{result.rmse_persistence:.3f}); solver status {result.status}. {result.message}"]
    return _section(ctx, "dynamics-forecast", "Forecast", lines, None)


@render.register
def _(result: SteadyStateResult, ctx: Context) -> list[Section]:
    return _section(ctx, "dynamics-steady", "Steady state", [result.message], result.table)


@render.register
def _(result: KeystoneResult, ctx: Context) -> list[Section]:
    lines = ["Effect of removing each taxon on the steady state (Bray–Curtis between the states without and "
             "with it, the removed taxon excluded)."]
    return _section(ctx, "dynamics-keystone", "Keystone taxa", lines, result.table)


@render.register
def _(result: ScenarioResult, ctx: Context) -> list[Section]:
    lines = [f"Scenario simulated over {result.n_models} model replicate(s) (95% bands from the bootstrap over "
             f"subjects); {result.failed} replicate(s) blew up and are left out."]
    return _section(ctx, "dynamics-scenario", "What-if scenario", lines, result.readouts)
