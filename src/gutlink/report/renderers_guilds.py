"""Report section of the barrier and immune guilds (the report only renders the result's numbers)."""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from ..guilds import GuildScoresResult, GuildTestResult, MarkerResult, MediationResult
from ..guilds.scores import BALANCE
from .context import Context, Section
from .export import tables
from .figures import box_strip_figure
from .figures_guilds import guild_panels_figure, marker_heatmap_figure
from .renderers import render

__all__: list[str] = []
_RANK_TESTS = ("mann_whitney", "wilcoxon_signed_rank", "van_elteren")


def _findings(tests: pd.DataFrame, q: float) -> list[str]:
    """One plain sentence per score, from its design-aware rank test."""
    out = []
    for r in tests[tests["test"].isin([*_RANK_TESTS, "not_assessable"])].itertuples():
        if r.test == "not_assessable":
            out.append(f"{r.metric}: not assessable — the knowledge base places under half of the abundance.")
        elif pd.notna(r.q_value) and r.q_value < q:
            way = "higher" if r.effect > 0 else "lower"
            out.append(f"{r.metric}: {way} in cases (shift {r.effect:.3g}, q = {r.q_value:.2g}).")
    if not out:
        out.append(f"No guild score differs between cases and controls at q < {q:g}: no evidence of a difference.")
    return out


def _section(ctx: Context, scores: GuildScoresResult, test: GuildTestResult | None) -> list[Section]:
    bal = scores.table[scores.table["guild"] == BALANCE].set_index("sample_id")["load"]
    svg, figs = "", tuple[str, ...]()
    if ctx.labels is not None:
        labels = ctx.labels.reindex(bal.index).fillna("samples")
        svg = ctx.figure("fig-barrier", box_strip_figure(bal, labels, ctx.groups, fig_id="fig-barrier",
                                                          title="Barrier balance per sample",
                                                          ylabel="butyrate producers vs eroding guilds (ilr)"),
                         "Barrier balance (butyrate producers against LPS, mucin and H2S producers, isometric "
                         "log-ratio) of each sample, by group.")
        svg += ctx.figure("fig-guild-loads",
                          guild_panels_figure(scores.wide("load").reindex(bal.index), labels, ctx.groups,
                                              fig_id="fig-guild-loads", title="Guild loads per sample, by group"),
                          "Share of each sample's abundance in each guild, by group.")
        figs = ("fig-barrier", "fig-guild-loads")
    shuffle = test.shuffle if test is not None else pd.DataFrame()
    body = ctx.render("guilds.html.j2", scores=scores, n_guilds=int(scores.coverage.shape[0]), svg=svg,
                      structure=(f"Tests on {test.structure}" if test is not None else "Scores only, no groups"),
                      findings=_findings(test.tests, ctx.q_threshold) if test is not None else [],
                      tests=test.tests.to_dict(orient="records") if test is not None else None,
                      shuffle=len(shuffle) > 0, n_shuffles=test.n_shuffles if test is not None else 0,
                      shuffle_median=float(shuffle["fraction_p_below_0.05"].median()) if len(shuffle) else None,
                      coverage=scores.coverage.to_dict(orient="records"),
                      notes=test.notes if test is not None else ())
    return [Section("barrier", "Barrier and immune guilds", body, figs)]


@render.register
def _(result: GuildTestResult, ctx: Context) -> list[Section]:
    return _section(ctx, result.scores, result)


@render.register
def _(result: GuildScoresResult, ctx: Context) -> list[Section]:
    return _section(ctx, result, None)


def _score_tables(result: GuildScoresResult) -> dict[str, pd.DataFrame]:
    return {"guild_scores.tsv": result.table, "guild_coverage.tsv": result.coverage,
            "guild_features.tsv": result.features}


@tables.register
def _(result: GuildScoresResult) -> dict[str, pd.DataFrame]:
    return _score_tables(result)


@tables.register
def _(result: GuildTestResult) -> dict[str, pd.DataFrame]:
    return {**_score_tables(result.scores), "guild_tests.tsv": result.tests, "guild_shuffle.tsv": result.shuffle}


@render.register
def _(result: MarkerResult, ctx: Context) -> list[Section]:
    t = result.table.sort_values("p_value", kind="mergesort")
    top = t[t["q_value"] < 0.1].head(40)
    has_guilds = bool((t["kind"] == "guild").any())
    svg = marker_heatmap_figure(t, fig_id="fig-marker-heatmap",
                                title="Host markers × guilds: partial correlation") if has_guilds else ""
    body = ctx.render("guild_markers.html.j2", r=result, rows=top.to_dict(orient="records"), n=len(t), svg=svg,
                      n_markers=int(t["marker"].nunique()), n_pred=int(t["predictor"].nunique()),
                      n_hits=int((t["q_value"] < 0.1).sum()))
    if len(result.blocks):
        b = result.blocks
        body = Markup(body + ctx.env.from_string(_BLOCKS).render(
            rows=b[b["q_value"] < 0.1].head(15).to_dict(orient="records"), n=len(b),
            n_m=int(b["marker_block"].nunique()), n_t=int(b["taxon_block"].nunique())))
    return [Section("immune-markers", "Immune markers", body, ("fig-marker-heatmap",) if svg else ())]


_BLOCKS = """<h3>Blocks of correlated markers × correlated taxa</h3>
<p>Markers grouped into {{ n_m }} blocks and taxa into {{ n_t }} by their own correlations (average |Spearman rho|
&ge; 0.5 within a block; not by the association tested); each of the {{ n }} block pairs tested once (Simes
combination of its pairs' p-values, BH over block pairs). {{ rows|length }} block pair(s) at q &lt; 0.1{% if rows %}
(at most 15; all in <code>marker_blocks.tsv</code>){% endif %}.</p>
{% if rows %}<table id="marker-blocks"><thead><tr><th scope="col">Markers</th><th scope="col">Taxa</th>
<th scope="col" class="num">Pairs</th><th scope="col" class="num">q (block)</th>
<th scope="col" class="num">Pairs q &lt; 0.1</th><th scope="col" class="num">Share positive</th></tr></thead><tbody>
{% for b in rows %}<tr><td>{{ b.markers }}</td><td>{{ b.taxa }}</td><td class="num">{{ b.n_pairs }}</td>
<td class="num">{{ "%.2g"|format(b.q_value) }}</td><td class="num">{{ b["n_pairs_q_below_0.1"] }}</td>
<td class="num">{{ "%.2f"|format(b.share_positive) }}</td></tr>
{% endfor %}</tbody></table>{% endif %}"""


@tables.register
def _(result: MarkerResult) -> dict[str, pd.DataFrame]:
    out = {"markers.tsv": result.table}
    if len(result.blocks):
        out["marker_blocks.tsv"] = result.blocks
    return out


_MEDIATION = """<p class="lead">{{ verdict }}</p>
<table id="mediation-effects">
<caption>{{ r.exposure }} → {{ r.mediator }} → {{ r.outcome }}{% if r.covariates %}, adjusted for
{{ r.covariates|join(", ") }}{% endif %}: product of coefficients, {{ r.n_boot }} bootstrap draws of
{{ r.resampled }} (percentile 95% intervals).</caption>
<thead><tr><th scope="col">Effect</th><th scope="col" class="num">Estimate</th><th scope="col">95% CI</th>
<th scope="col" class="num">p (bootstrap)</th></tr></thead>
<tbody>
{% for t in rows %}<tr><td>{{ t.effect }}</td><td class="num">{{ "%.4g"|format(t.estimate) }}</td>
<td>{{ "%.4g"|format(t.ci_low) }} to {{ "%.4g"|format(t.ci_high) }}</td><td class="num">{{ "%.2g"|format(t.p_value) }}</td></tr>
{% endfor %}</tbody></table>
<p class="note">Read with its assumptions, none of which the data check:</p>
<ul>{% for a in r.assumptions %}<li>{{ a }}</li>{% endfor %}</ul>
{% for note in r.notes %}<p class="note">{{ note }}</p>
{% endfor %}"""


def _mediation_verdict(r: MediationResult) -> str:
    ind = r.table.set_index("effect").loc["indirect"]
    path = f"{r.exposure} → {r.mediator} → {r.outcome}"
    if ind["ci_low"] > 0 or ind["ci_high"] < 0:
        share = ("" if not pd.notna(r.proportion_mediated)
                 else f", {r.proportion_mediated:.0%} of the total effect")
        return (f"Indirect effect through {r.mediator}: {ind['estimate']:.3g} (95% CI {ind['ci_low']:.3g} to "
                f"{ind['ci_high']:.3g}{share}) — consistent with {path}, not proof of it (see the assumptions).")
    return (f"No evidence of an indirect effect through {r.mediator}: {ind['estimate']:.3g} (95% CI "
            f"{ind['ci_low']:.3g} to {ind['ci_high']:.3g}) includes 0.")


@render.register
def _(result: MediationResult, ctx: Context) -> list[Section]:
    body = Markup(ctx.env.from_string(_MEDIATION).render(r=result, rows=result.table.to_dict(orient="records"),
                                                         verdict=_mediation_verdict(result)))
    return [Section("mediation", "Mediation", body)]


@tables.register
def _(result: MediationResult) -> dict[str, pd.DataFrame]:
    return {"mediation.tsv": result.table}
