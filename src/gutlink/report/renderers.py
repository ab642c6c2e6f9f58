"""One renderer per result class, chosen by :func:`functools.singledispatch` on the result's type.

A renderer turns a result into :class:`~gutlink.report.context.Section` objects (HTML fragments from
autoescaped templates, figures as inline SVG). A new analysis adds one ``@render.register`` function here.
"""

from __future__ import annotations

import dataclasses
from functools import singledispatch
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from ..community import AlphaResult, DysbiosisResult, OrdinationResult, PermanovaResult, PermdispResult
from ..design import LABEL
from ..differential import DifferentialResult, describe_control
from ..link import LinkResult
from ..meta import MetaResult
from ..results import Result
from .context import Context, Section, slug
from .figures import box_strip_figure, pcoa_figure
from .figures_differential import forest_figure, meta_forest_figure, taxon_name, volcano_figure
from .fmt import fmt_name
from .overview import overview_section, reproduce_section
from .renderers_paper import composition_block, levels_pcoa_block, top_taxa_section

__all__ = ["DISPERSION_P", "differential_section", "link_layers", "meta_section", "render"]

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
    figures: list[dict[str, Any]] = []
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
    differ = [r.metric for r in results if r.p_value == r.p_value and r.p_value < DISPERSION_P]
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


# ----------------------------------------------------------------------------- differential abundance
#: Rows of the top-taxa table, taxa in the forest plot, and taxa in the meta-analysis forest plot.
TOP_ROWS, FOREST_ROWS, META_FEATURES = 25, 20, 8
_EFFECT_LABELS = {"log2_fold_change_when_present": "log2 fold change where present",
                  "log2_fold_change": "log2 fold change",
                  "log2_fold_change_absolute_when_present": "log2 fold change of absolute abundance where present",
                  "log2_fold_change_absolute": "log2 fold change of absolute abundance"}


def _effect_label(tab: pd.DataFrame) -> str:
    name = str(tab["effect_name"].iloc[0]) if len(tab) else "log2_fold_change"
    base = name.removesuffix("_per_unit")
    return _EFFECT_LABELS.get(base, base.replace("_", " ")) + (" per unit" if name.endswith("_per_unit") else "")


def _term_tables(result: DifferentialResult, term: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    tab = result.table[result.table["term"] == term]
    prev = None if result.prevalence is None else result.prevalence[result.prevalence["term"] == term]
    return tab, prev


def _counts(tab: pd.DataFrame, prev: pd.DataFrame | None, alpha: float) -> dict[str, int | None]:
    sig = tab["q_value"] < alpha
    return {"up": int((sig & (tab["effect"] > 0)).sum()), "down": int((sig & (tab["effect"] < 0)).sum()),
            "prevalence": None if prev is None else int((prev["q_value"] < alpha).sum()),
            "joint": int((tab["q_joint"] < alpha).sum()) if "q_joint" in tab.columns else None}


def _top_rows(tab: pd.DataFrame, prev: pd.DataFrame | None, n: int) -> list[dict[str, object]]:
    q, p = ("q_joint", "p_joint") if "q_joint" in tab.columns else ("q_value", "p_value")
    top = tab.assign(sort_q=tab[q], sort_p=tab[p]).sort_values(["sort_q", "sort_p"], na_position="last").head(n)
    if prev is not None:
        p = prev.set_index("feature_id")
        top = top.assign(prev_effect=p["effect"].reindex(top["feature_id"]).to_numpy(),
                         prev_q=p["q_value"].reindex(top["feature_id"]).to_numpy())
    return [{**row, "name": taxon_name(row["feature_id"])} for row in _records(top)]


def _forest_rows(tab: pd.DataFrame, alpha: float) -> tuple[pd.DataFrame, str]:
    ranked = tab.dropna(subset=["effect", "q_value"]).sort_values("q_value")
    sig = ranked[ranked["q_value"] < alpha]
    if len(sig):
        shown = sig.head(FOREST_ROWS)
        return shown, f"the {len(shown)} with the smallest q of the {len(sig)} with q < {alpha:g}"
    return ranked.head(10), f"none has q < {alpha:g}; the {min(10, len(ranked))} with the smallest q are shown"


#: Levels of a multi-level factor given their own volcano, forest and table (one per non-reference level).
MAX_LEVEL_SECTIONS = 6


def _sibling_terms(result: DifferentialResult) -> list[str]:
    """The first term and the other levels of the same factor (``Diagnosis[T.CD]``, ``Diagnosis[T.UC]``)."""
    first = result.terms[0]
    stem = first.split("[", 1)[0]
    same = [t for t in result.terms[1:] if "[" in first and t.split("[", 1)[0] == stem]
    return [first, *same[: MAX_LEVEL_SECTIONS - 1]]


def _term_body(result: DifferentialResult, term: str, ctx: Context, *, figures: bool, tables: bool,
               comparison: str | None, label_name: str | None, sfx: str) -> tuple[Markup, tuple[str, ...]]:
    tab, prev = _term_tables(result, term)
    if comparison is None:
        comparison = str(tab["comparison"].iloc[0]) if len(tab) else term
    label = _effect_label(tab)
    values: dict[str, object] = {"volcano": None, "forest": None, "forest_note": ""}
    if figures:
        rows, note = _forest_rows(tab, result.alpha)
        values = {"volcano": volcano_figure(tab, alpha=result.alpha, fig_id=f"fig-volcano{sfx}", xlabel=label,
                                            title=f"Volcano plot: {comparison}"),
                  "forest": forest_figure(rows, fig_id=f"fig-forest{sfx}", xlabel=label,
                                          title=f"Top taxa with 95 % CI: {comparison}"), "forest_note": note}
    groups = [c.removeprefix("prevalence_") for c in tab.columns if c.startswith("prevalence_")]
    body = ctx.render("differential.html.j2", d=result, term={"name": term, "comparison": comparison},
                      counts=_counts(tab, prev, result.alpha), tables=tables, sfx=sfx,
                      control=describe_control(result.negative_control, name=label_name), figures=figures,
                      effect_label=label, groups=groups, rows=_top_rows(tab, prev, TOP_ROWS), **values)
    return body, (f"fig-volcano{sfx}", f"fig-forest{sfx}") if figures else ()


def differential_section(result: DifferentialResult, ctx: Context, *, figures: bool = True, tables: bool = True,
                         comparison: str | None = None, label_name: str | None = None,
                         composition: bool = False) -> Section:
    """The differential-abundance section: facts, negative control, volcano and forest plots, top taxa.

    Every level of a multi-level first factor gets its own sub-section (e.g. UC vs Control beside CD vs
    Control). *tables*: whether ``differential.tsv`` / ``prevalence.tsv`` are written beside the page;
    *composition*: a sub-section with each level's mean composition (the ``link`` page has it in its community
    section instead). *comparison* and *label_name* replace the first term's and the shuffled column's names
    (e.g. on the ``link`` page).
    """
    first, *others = _sibling_terms(result)
    body, figs = _term_body(result, first, ctx, figures=figures, tables=tables, comparison=comparison,
                            label_name=label_name, sfx="")
    levels = []
    for term in others:
        sfx = "-" + slug(term)
        sub, sub_figs = _term_body(result, term, ctx, figures=figures, tables=tables, comparison=None,
                                   label_name=label_name, sfx=sfx)
        levels.append(Section(f"differential{sfx}", _comparison(result, term), sub, sub_figs))
    children: tuple[Section, ...] = tuple(levels)
    if result.omnibus is not None and len(result.omnibus):
        children = (*children, omnibus_section(result, ctx))
    if isinstance(result.meta, MetaResult):
        children = (*children, meta_section(result.meta, ctx))
    block = composition_block(result, ctx) if composition and figures else None
    if block is not None:
        children = (Section("composition", "Composition of each group", block[0], (block[1],)), *children)
    return Section("differential", "Differential abundance: which taxa differ?", body, figs, children)


def _comparison(result: DifferentialResult, term: str) -> str:
    tab = result.table[result.table["term"] == term]
    return str(tab["comparison"].iloc[0]) if len(tab) else term


def omnibus_section(result: DifferentialResult, ctx: Context) -> Section:
    """Omnibus (multi-level) tests: discoveries per variable and the top taxa."""
    tab = result.omnibus
    assert tab is not None  # the section is rendered only for results with omnibus tests
    q = "q_joint" if "q_joint" in tab.columns else "q_value"
    terms = []
    for _term, g in tab.groupby("term", sort=False):
        terms.append({"comparison": str(g["comparison"].iloc[0]), "n": int(g["p_value"].notna().sum()),
                      "n_abundance": int((g["q_value"] < result.alpha).sum()),
                      "n_prevalence": int((g["q_value_prevalence"] < result.alpha).sum())
                      if "q_value_prevalence" in g.columns else None,
                      "n_joint": int((g["q_joint"] < result.alpha).sum()) if "q_joint" in g.columns else None})
    top = tab.assign(sort_q=tab[q]).sort_values("sort_q", na_position="last").head(TOP_ROWS)
    rows = [{**row, "name": taxon_name(row["feature_id"])} for row in _records(top)]
    body = ctx.render("omnibus.html.j2", terms=terms, rows=rows, alpha=result.alpha)
    return Section("omnibus", "Omnibus tests: do the taxa differ among the levels?", body, ())


def _loso_ranges(meta: MetaResult, term: str) -> pd.DataFrame:
    loso = meta.loso[meta.loso["term"] == term]
    if loso.empty:
        return pd.DataFrame(columns=["loso_low", "loso_high"])
    g = loso.groupby("feature_id")["effect"]
    return pd.DataFrame({"loso_low": g.min(), "loso_high": g.max()})


def _meta_rows(meta: MetaResult, term: str) -> list[dict[str, object]]:
    tab = meta.table[meta.table["term"] == term].dropna(subset=["effect"]).sort_values(["q_value", "p_value"])
    tab = tab.join(_loso_ranges(meta, term), on="feature_id")
    same = np.sign(tab["loso_low"]) == np.sign(tab["loso_high"])
    stable = np.where(tab["loso_low"].notna(), same & (np.sign(tab["loso_low"]) == np.sign(tab["effect"])), None)
    return [{**row, "name": taxon_name(row["feature_id"]), "loso_stable": s}
            for row, s in zip(_records(tab.head(TOP_ROWS)), stable[:TOP_ROWS])]


def meta_section(result: MetaResult, ctx: Context) -> Section:
    """The meta-analysis section: pooled effects, heterogeneity, leave-one-study-out, and its forest plot."""
    term = str(result.table["term"].iloc[0]) if len(result.table) else ""
    rows = _meta_rows(result, term)
    pooled = pd.DataFrame(rows[:META_FEATURES], columns=["feature_id", "effect", "ci_low", "ci_high"])
    studies = result.studies[result.studies["term"] == term]
    figure = meta_forest_figure(pooled, studies, fig_id="fig-meta-forest", xlabel="effect (per study and pooled)",
                                title=f"Meta-analysis forest plot: {term}") if rows else None
    tab = result.table[result.table["term"] == term]
    info = result.per_study or {}
    body = ctx.render("meta.html.j2", r=result, term=term, rows=rows, figure=figure, n_forest=META_FEATURES,
                      studies=sorted(info.get("analysed", {}) or set(result.studies["study"])),
                      skipped=info.get("skipped", {}), n_sig=int((tab["q_value"] < result.alpha).sum()),
                      n_pooled=int(tab["effect"].notna().sum()))
    return Section("meta-analysis", "Meta-analysis across studies", body, ("fig-meta-forest",) if figure else ())


@render.register
def _(result: DifferentialResult, ctx: Context) -> list[Section]:
    return [differential_section(result, ctx, composition=True)]


@render.register
def _(result: MetaResult, ctx: Context) -> list[Section]:
    return [meta_section(result, ctx)]


# ----------------------------------------------------------------------------- the whole run
def _beta_section(result: LinkResult, ctx: Context) -> Section:
    pcoas = [s for o in result.ordinations.values() for s in render(o, ctx)]
    children = [permanova_section(list(result.permanova.values()), ctx),
                permdisp_section(list(result.permdisp.values()), ctx)]
    blocks = [b for b in (composition_block(result, ctx), levels_pcoa_block(result, ctx)) if b is not None]
    body = ctx.render("beta.html.j2", pcoas=pcoas, extra=[b for b, _ in blocks])
    figs = tuple(f for s in pcoas for f in s.figures) + tuple(f for _, f in blocks)
    return Section("beta", "Community composition (between-sample)", body, figs, tuple(children))


def _tests_section(result: LinkResult, ctx: Context) -> Section:
    body = ctx.render("tests.html.j2", tests=_records(result.tests))
    return Section("tests", "All tests", body)


@render.register
def _(result: LinkResult, ctx: Context) -> list[Section]:
    diff = [] if result.differential is None else [differential_section(
        result.differential, ctx, figures=True, tables=True,
        comparison=f"{ctx.name('case')} vs {ctx.name('control')}", label_name="the case/control labels")]
    top = top_taxa_section(result, ctx)
    if diff and top is not None:
        diff = [dataclasses.replace(diff[0], children=(top, *diff[0].children))]
    return [overview_section(result, ctx), *render(result.alpha, ctx), _beta_section(result, ctx),
            *render(result.dysbiosis, ctx), *diff, *_prediction_sections(result, ctx),
            *[s for layer in link_layers(result) for s in render(layer, ctx)], _tests_section(result, ctx),
            reproduce_section(result, ctx)]


def link_layers(result: LinkResult) -> list[Result]:
    """The guild, host-marker and literature layers of a link result, rendered and written like results of
    their own (before the "All tests" section)."""
    return [r for r in (result.guilds, result.markers, result.literature) if r is not None]


def _prediction_sections(result: LinkResult, ctx: Context) -> list[Section]:
    """The prediction layer's sections (its renderer is registered by ``renderers_predict``)."""
    return [] if result.prediction is None else render(result.prediction, ctx)


# ----------------------------------------------------------------------------- helpers
def _records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as dicts, with the index as a column when it is named."""
    frame = frame.reset_index() if frame.index.name else frame
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _first(frame: pd.DataFrame) -> dict[str, object] | None:
    rows = _records(frame)
    return rows[0] if rows else None

