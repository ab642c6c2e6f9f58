"""Report sections of community dynamics (gLV / cLV fits, forecasts, steady states, scenarios).

The report only renders: every number comes from the result. Research tool, never medical advice.
"""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from ..dynamics import (
    ClassifierReadoutResult,
    DynamicsModel,
    ForecastResult,
    HoldoutResult,
    InvasionResult,
    KeystoneResult,
    ReadoutResult,
    ScenarioResult,
    SteadyStateResult,
)
from ..dynamics.trial import TrialResult
from .context import Context, Section
from .figures_dynamics import forecast_figure, holdout_figure, probability_figure, readout_figure, scenario_figure
from .renderers import render

__all__: list[str] = []

CAVEAT = "Research tool, never medical advice."
MAX_ROWS = 30


def _section(ctx: Context, sid: str, title: str, lines: list[str], table: pd.DataFrame | None,
             figures: tuple[tuple[str, Markup], ...] = ()) -> list[Section]:
    rows, columns, more = [], [], 0
    if table is not None and len(table):
        shown = table.head(MAX_ROWS)
        columns = [str(c) for c in shown.columns]
        rows = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r] for r in shown.itertuples(index=False)]
        more = len(table) - len(shown)
    body = ctx.render("dynamics.html.j2", caveat=CAVEAT, lines=lines, columns=columns, rows=rows, more=more,
                      figures=[svg for _, svg in figures])
    return [Section(sid, title, body, tuple(fid for fid, _ in figures))]


@render.register
def _(result: DynamicsModel, ctx: Context) -> list[Section]:
    kind = "generalised Lotka–Volterra (absolute abundance)" if result.model == "glv" else \
        "compositional Lotka–Volterra (relative abundance, Joseph et al. 2020)"
    how = {"forecast": "the held-out subjects' forecast error", "one-step": "held-out one-step log-difference error",
           "none": "given (one candidate, no cross-validation)"}.get(result.selection, result.selection)
    stab = {"negdef": "self-interactions negative and the interaction matrix's symmetric part negative definite"
            + (" (eigenvalues shrunk to reach it)" if result.stabilised else ""),
            "diagonal": "self-interactions negative", "none": "no stability constraint"}.get(result.stability, "")
    lines = [f"Fitted a {kind} model on {len(result.taxa)} taxa, {result.n_subjects} subjects and "
             f"{result.n_intervals} intervals by elastic-net regression on log-differences ({stab}); penalty "
             f"{result.alpha:.3g} with L1 share {result.l1_ratio:g}, chosen by leave-one-subject-out "
             f"cross-validation on {how}."]
    if result.reference:
        lines.append(f"Reference taxon of the log-ratios: {result.reference}.")
    if not result.converged:
        lines.append("The solver stopped at its iteration limit before meeting its stopping rule for the chosen "
                     "penalty (an ill-conditioned design with a weak L1 penalty): the coefficients approximate the "
                     "penalised optimum.")
    if "n_unconverged" in result.cv and int(result.cv["n_unconverged"].sum()):
        cv = result.cv
        lines.append(f"In the cross-validation {int((cv['n_unconverged'] > 0).sum())} of {len(cv)} penalty "
                     "candidates stopped at the iteration limit in at least one fold.")
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
    figs = [("fig-dyn-holdout", holdout_figure(result.table, fig_id="fig-dyn-holdout",
                                               title="Held-out forecast error per subject"))]
    done = [f for f in result.forecasts if f.status == "ok"]
    if done:
        figs.append(("fig-dyn-forecast", forecast_figure(done[0].table, fig_id="fig-dyn-forecast",
                                                         title=f"Forecast of held-out subject {done[0].subject}")))
        lines.append(f"The second figure shows held-out subject {done[0].subject}: observed points, the forecast "
                     "from its first sample, and persistence.")
    return _section(ctx, "dynamics-holdout", "Held-out forecasts", lines, result.table, tuple(figs))


@render.register
def _(result: ForecastResult, ctx: Context) -> list[Section]:
    lines = [f"Forecast of subject {result.subject}: RMSE {result.rmse:.3f} (persistence "
             f"{result.rmse_persistence:.3f}); solver status {result.status}. {result.message}"]
    figs = (("fig-dyn-forecast1", forecast_figure(result.table, fig_id="fig-dyn-forecast1",
                                                  title=f"Forecast of subject {result.subject}")),) \
        if result.status == "ok" else ()
    return _section(ctx, "dynamics-forecast", "Forecast", lines, None, figs)


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
             f"subjects, all integrated as one batch); {result.failed} replicate(s) blew up or failed and are "
             "left out."]
    fig = scenario_figure(result.table, fig_id="fig-dyn-scenario", title="Scenario trajectories with bands")
    return _section(ctx, "dynamics-scenario", "What-if scenario", lines, result.readouts,
                    (("fig-dyn-scenario", fig),))


@render.register
def _(result: InvasionResult, ctx: Context) -> list[Section]:
    t = result.table
    est = t[t["establishes"]]["invader"].tolist()
    lines = ["Colonisation resistance: the growth rate from rare of each invader in the resident steady state "
             "without it (positive: it establishes; negative: the community keeps it out), with 95% bootstrap "
             "intervals." + (f" Perturbations held on: {', '.join(result.perturbation)}." if result.perturbation
                             else ""),
             (f"{len(est)} of {len(t)} invaders establish in the point fit." if len(t) > 1 else
              f"{t['invader'].iloc[0]} {'establishes' if len(est) else 'does not establish'} in the point fit "
              f"(rate {t['invasion_rate'].iloc[0]:.3g} per day; {t['fraction_invades'].iloc[0]:.0%} of the "
              "bootstrap replicates invade).")]
    return _section(ctx, "dynamics-invasion", "Colonisation resistance", lines, t)


@render.register
def _(result: ReadoutResult, ctx: Context) -> list[Section]:
    what = {"guilds": "guild loads and barrier balance (gutlink.guilds) of the final simulated community",
            "dysbiosis": "dysbiosis score (median Bray–Curtis distance to the reference profiles)"}
    lines = [f"Readout shifts: {what.get(result.kind, result.kind)}, scenario minus no intervention, median and "
             "95% band over the bootstrap replicates.", *result.notes]
    fid = f"fig-dyn-readout-{result.kind}"
    fig = readout_figure(result.table, fig_id=fid, title=f"Readout shifts ({result.kind})")
    return _section(ctx, fid.removeprefix("fig-"), f"Scenario readouts: {result.kind}", lines, result.table,
                    ((fid, fig),))


@render.register
def _(result: ClassifierReadoutResult, ctx: Context) -> list[Section]:
    lines = [f"Disease probability of the saved classifier ({result.classifier or 'gutlink predict model'}) "
             "applied to every bootstrap replicate's simulated community at each time, with and without the "
             "interventions (median and 95% band over the replicates). It is the classifier's output on a "
             "simulated community, not anyone's risk.", *result.notes]
    matched = result.matches
    if not result.assessable:
        return _section(ctx, "dynamics-classifier", "Scenario readout: disease classifier", lines, matched)
    fig = probability_figure(result.table, fig_id="fig-dyn-classifier",
                             title="Predicted disease probability over the scenario")
    return _section(ctx, "dynamics-classifier", "Scenario readout: disease classifier", lines, result.table,
                    (("fig-dyn-classifier", fig),))


@render.register
def _(result: TrialResult, ctx: Context) -> list[Section]:
    t = result.table
    tested = t[t["q_value"].notna()]
    hits = tested[tested["q_value"] < 0.1].sort_values("p_value")
    n_mixed = int((t["mixed_q"] < 0.1).sum()) if "mixed_q" in t else 0
    lines = [f"Within-subject change from the pre window {result.pre[0]:g}–{result.pre[1]:g} to the post window "
             f"{result.post[0]:g}–{result.post[1]:g}; arms: {', '.join(result.arms)}. Primary test (robust): each "
             "subject's change of its window means, Wilcoxon signed-rank across subjects, Benjamini–Hochberg within "
             "each arm and analysis (effect: median change; taxa: CLR; diversity: Shannon; guilds: load fraction or "
             "barrier balance). Secondary test (mixed_*): feature ~ post × arm (+ period) + (1 | subject) + "
             "(1 | subject:arm:window) on every sample of the windows, REML, t on containment df.",
             f"{len(hits)} of {len(tested)} tested changes have q < 0.1 by the signed-rank test; {n_mixed} by the "
             "mixed model." if len(hits) else
             f"No change reaches q < 0.1 by the signed-rank test among {len(tested)} tests ({n_mixed} by the mixed "
             "model): no evidence of a within-subject change at this sample size (absence of evidence, not "
             "evidence of no change).", *result.notes]
    shown = hits if len(hits) else tested.sort_values("p_value")
    out = _section(ctx, "trial", "Intervention trial", lines, shown)
    x = result.crossover
    if len(x):
        carry = x[x["term"] == "carry-over"]
        n_carry = int((carry["q_value"] < 0.1).sum())
        xl = ["2 × 2 crossover analysis between the sequences (per-period responses: each period's post − pre "
              "change): carry-over from the sum of both periods' responses, period and treatment from their "
              "difference (two-sample t tests; BH within analysis and term).",
              f"{n_carry} of {len(carry)} features show carry-over at q < 0.1" + (
                  ": for those, the treatment contrast of both periods is biased; use the first period only."
                  if n_carry else ".")]
        out += _section(ctx, "trial-crossover", "Crossover: carry-over and period", xl,
                        x.sort_values("p_value"))
    return out
