"""One renderer per result class, chosen by :func:`functools.singledispatch` on the result's type.

A renderer turns a result into :class:`~gutlink.report.context.Section` objects (HTML fragments from
autoescaped templates, figures as inline SVG). A new analysis adds one ``@render.register`` function here.
"""

from __future__ import annotations

from functools import singledispatch

import pandas as pd

from ..association import LABEL, AlphaResult, DysbiosisResult, PermanovaResult, PermdispResult
from ..diversity import OrdinationResult
from ..link import LinkResult
from ..results import Result
from .context import Context, Section, slug
from .figures import box_strip_figure, pcoa_figure
from .fmt import fmt_name
from .overview import overview_section, reproduce_section

__all__ = ["render", "DISPERSION_P"]

#: PERMDISP p-value below which the page warns that PERMANOVA may reflect spread, not location.
DISPERSION_P = 0.05


@singledispatch
def render(result: Result, ctx: Context) -> list[Section]:
    """Sections of the report page for *result*.

    Parameters
    ----------
    result
        Any gutlink result with a registered renderer.
    ctx
        Templates, group styles and sample labels shared by all renderers.

    Returns
    -------
    list of Section
    """
    raise TypeError(f"no report renderer for {type(result).__name__}; register one with @render.register.")


# ----------------------------------------------------------------------------- alpha diversity
def _alpha_metrics(result: AlphaResult) -> list[str]:
    return [c for c in result.values.columns if c != LABEL]


def _alpha_figure(result: AlphaResult, metric: str, ctx: Context) -> tuple[str, object]:
    fig_id = f"fig-alpha-{slug(metric)}"
    labels = result.values[LABEL].astype(str)
    svg = box_strip_figure(result.values[metric], labels, ctx.groups, fig_id=fig_id,
                           title=f"{fmt_name(metric)} diversity per sample, by group", ylabel=fmt_name(metric))
    return fig_id, svg


@render.register
def _(result: AlphaResult, ctx: Context) -> list[Section]:
    figures = []
    for metric in _alpha_metrics(result):
        fig_id, svg = _alpha_figure(result, metric, ctx)
        rows = result.tests[(result.tests["metric"] == metric) & (result.tests["test"] == "mann_whitney")]
        figures.append({"id": fig_id, "svg": svg, "metric": metric, "test": _first(rows)})
    body = ctx.render("alpha.html.j2", figures=figures, tests=_records(result.tests))
    return [Section("alpha", "Alpha diversity (within-sample)", body, tuple(f["id"] for f in figures))]


# ----------------------------------------------------------------------------- ordination
@render.register
def _(result: OrdinationResult, ctx: Context) -> list[Section]:
    fig_id = f"fig-pcoa-{slug(result.metric)}"
    labels = ctx.labels if ctx.labels is not None else pd.Series("samples", index=result.coordinates.index)
    svg = pcoa_figure(result.coordinates, result.proportion_explained, labels, ctx.groups, fig_id=fig_id,
                      title=f"PCoA of {fmt_name(result.metric)} distances, coloured by group")
    body = ctx.render("pcoa.html.j2", fig_id=fig_id, svg=svg, metric=result.metric,
                      shares=result.proportion_explained.to_dict())
    return [Section(f"pcoa-{slug(result.metric)}", f"PCoA — {fmt_name(result.metric)}", body, (fig_id,))]


# ----------------------------------------------------------------------------- PERMANOVA / PERMDISP
def permanova_section(results: list[PermanovaResult], ctx: Context) -> Section:
    """One table of PERMANOVA terms across metrics."""
    rows = [{"metric": r.metric, "run": ctx.test("permanova", r.metric), **rec}
            for r in results for rec in _records(r.table)]
    settings = list(dict.fromkeys((r.formula, r.by, r.permutations, r.strata) for r in results))
    body = ctx.render("permanova.html.j2", rows=rows, settings=settings, label=LABEL)
    return Section("permanova", "PERMANOVA: does composition differ?", body)


def permdisp_section(results: list[PermdispResult], ctx: Context) -> Section:
    """One table of PERMDISP results across metrics, with a note where dispersions differ."""
    items = [{"metric": r.metric, "statistic": r.statistic, "p_value": r.p_value, "permutations": r.permutations,
              "groups": {str(g["group"]): g for g in _records(r.groups)}, "test": ctx.test("permdisp", r.metric)}
             for r in results]
    differ = [i["metric"] for i in items if i["p_value"] == i["p_value"] and i["p_value"] < DISPERSION_P]
    body = ctx.render("permdisp.html.j2", items=items, differ=differ, threshold=DISPERSION_P)
    return Section("permdisp", "PERMDISP: does spread differ?", body)


@render.register
def _(result: PermanovaResult, ctx: Context) -> list[Section]:
    return [permanova_section([result], ctx)]


@render.register
def _(result: PermdispResult, ctx: Context) -> list[Section]:
    return [permdisp_section([result], ctx)]


# ----------------------------------------------------------------------------- dysbiosis
@render.register
def _(result: DysbiosisResult, ctx: Context) -> list[Section]:
    scores = result.scores
    labels = scores[LABEL].astype(str)
    pct = f"{100 * result.quantile:.0f}th percentile of controls"
    svg = box_strip_figure(scores["score"], labels, ctx.groups, fig_id="fig-dysbiosis",
                           title="Dysbiosis score per sample, by group, with the dysbiosis threshold",
                           ylabel=f"Dysbiosis score ({fmt_name(result.metric)})", threshold=result.threshold,
                           threshold_label=pct)
    fractions = [{"label": g, "n": int((labels == g).sum()), "n_dysbiotic": int(scores["dysbiotic"][labels == g].sum())}
                 for g in ctx.groups.order if (labels == g).any()]
    body = ctx.render("dysbiosis.html.j2", result=result, svg=svg, fractions=fractions, pct=pct,
                      tests=_records(result.tests), mw=_first(result.tests[result.tests["test"] == "mann_whitney"]))
    return [Section("dysbiosis", "Dysbiosis score", body, ("fig-dysbiosis",))]


# ----------------------------------------------------------------------------- the whole run
def _beta_section(result: LinkResult, ctx: Context) -> Section:
    pcoas = [s for o in result.ordinations.values() for s in render(o, ctx)]
    children = [permanova_section(list(result.permanova.values()), ctx),
                permdisp_section(list(result.permdisp.values()), ctx)]
    body = ctx.render("beta.html.j2", pcoas=pcoas)
    figs = tuple(f for s in pcoas for f in s.figures)
    return Section("beta", "Community composition (between-sample)", body, figs, tuple(children))


def _tests_section(result: LinkResult, ctx: Context) -> Section:
    body = ctx.render("tests.html.j2", tests=_records(result.tests))
    return Section("tests", "All tests", body)


@render.register
def _(result: LinkResult, ctx: Context) -> list[Section]:
    return [overview_section(result, ctx), *render(result.alpha, ctx), _beta_section(result, ctx),
            *render(result.dysbiosis, ctx), _tests_section(result, ctx), reproduce_section(result, ctx)]


# ----------------------------------------------------------------------------- helpers
def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as dicts, with the index as a column when it is named."""
    frame = frame.reset_index() if frame.index.name else frame
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _first(frame: pd.DataFrame) -> dict[str, object] | None:
    rows = _records(frame)
    return rows[0] if rows else None

