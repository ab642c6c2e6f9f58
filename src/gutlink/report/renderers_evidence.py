"""Report sections and tables of the evidence synthesis: the condition × layer grid of grades, per condition the
overall statement and one plain sentence per layer, and forest plots across cohorts.

Every sentence is built from the numbers of the :class:`~gutlink.evidence.Evidence` rows that ``summary.json``
holds (``evidence[*].layers``), formatted by :func:`gutlink.evidence.synthesis.fmt`. Importing this module
registers :func:`~gutlink.report.renderers.render` and :func:`~gutlink.report.export.tables` for
:class:`~gutlink.evidence.Evidence` and :class:`~gutlink.evidence.AtlasResult`. Figure ids start with
``fig-evidence-``.

Examples
--------
>>> from gutlink.evidence import evidence, row
>>> from gutlink.report import render_html
>>> ev = evidence("MS", layers=[row("community", "c", effect=0.01, q_value=0.4, significant=False)])
>>> "no evidence" in render_html(ev)
True
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from markupsafe import Markup

from ..evidence import LAYERS, AtlasResult, Evidence, rubric_table
from ..evidence.atlas import FOREST_LAYERS
from .context import Context, Section, slug
from .export import tables
from .figures_evidence import forest_figure
from .renderers import render

__all__: list[str] = []

_NULL = {"prediction_within": 0.5, "prediction_across": 0.5}
_XLABEL = {"diversity": "Shannon difference, cases − controls", "prediction_within": "cross-validated AUROC",
           "prediction_across": "held-out AUROC (leave-one-study-out)"}
_GRID = """<p class="evidence-rubric">Grades follow the rubric in <code>evidence_rubric.tsv</code>: a layer's main
test must pass; then one point each for effect size, consistency across cohorts, adjustment for confounders,
concordance with the literature and a calibrated negative control (3+: strong, 2: moderate, 0–1: weak). A layer
behind a red design check is "not gradable"; the overall statement is never stronger than its best layer.</p>
<div class="table-wrap"><table class="evidence-grid"><thead><tr><th scope="col">condition</th>
{% for k in layers %}<th scope="col">{{ names[k] }}</th>{% endfor %}<th scope="col">overall</th></tr></thead><tbody>
{% for r in grid %}<tr><th scope="row"><a href="#evidence-{{ r.slug }}">{{ r.condition }}</a></th>
{% for k in layers %}<td class="grade-{{ r[k]|replace(' ', '-') }}">{{ r[k] or '–' }}</td>{% endfor %}
<td class="grade-{{ r.overall|replace(' ', '-') }}"><strong>{{ r.overall }}</strong></td></tr>{% endfor %}
</tbody></table></div>"""
_CONDITION = """<p class="evidence-overall"><strong>{{ ev.overall.statement }}</strong></p>
<ul class="evidence-sentences">{% for s in sentences %}<li>{{ s }}</li>{% endfor %}</ul>
{% for f in figures %}<figure id="{{ f.id }}">{{ f.svg }}<figcaption>{{ f.caption }}</figcaption></figure>{% endfor %}"""


def _grid_rows(evs: Sequence[Evidence]) -> tuple[list[str], list[dict[str, str]]]:
    layers = [k for k in LAYERS if any(k in ev.grid for ev in evs)]
    rows = [{"condition": ev.condition, "slug": slug(ev.condition), "overall": str(ev.overall["grade"]),
             **{k: ev.grid.get(k, "") for k in layers}} for ev in evs]
    return layers, rows


def _forest(ev: Evidence, forest: pd.DataFrame | None) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    if forest is None or forest.empty:
        return out
    for layer in FOREST_LAYERS:
        rows = forest[(forest["condition"] == ev.condition) & (forest["layer"] == layer)]
        if len(rows) < 2:
            continue
        fid = f"fig-evidence-{slug(ev.condition)}-{layer.replace('_', '-')}"
        caption = (f"{LAYERS[layer]} for {ev.condition}: each cohort's estimate with its 95 % interval; the diamond "
                   "is the random-effects (REML) pooled estimate; the dashed line is no difference.")
        out.append({"id": fid, "caption": caption,
                    "svg": forest_figure(rows, null=_NULL.get(layer, 0.0), xlabel=_XLABEL[layer], fig_id=fid,
                                         title=caption)})
    return out


def _sections(evs: Sequence[Evidence], ctx: Context, forest: pd.DataFrame | None) -> list[Section]:
    layers, grid = _grid_rows(evs)
    names = {k: LAYERS[k] for k in layers}
    children = []
    for ev in evs:
        figs = _forest(ev, forest)
        body = Markup(ctx.env.from_string(_CONDITION).render(ev=ev, sentences=list(ev.layers["sentence"]),
                                                             figures=figs))
        children.append(Section(f"evidence-{slug(ev.condition)}", f"Evidence: {ev.condition}", body,
                                tuple(str(f["id"]) for f in figs)))
    body = Markup(ctx.env.from_string(_GRID).render(layers=layers, names=names, grid=grid))
    return [Section("evidence", "Is there a link? Condition × layer grid", body, (), tuple(children))]


@render.register
def _(result: Evidence, ctx: Context) -> list[Section]:
    return _sections([result], ctx, None)


@render.register
def _(result: AtlasResult, ctx: Context) -> list[Section]:
    return _sections(result.evidence, ctx, result.forest)


def _evidence_tables(evs: Sequence[Evidence]) -> dict[str, pd.DataFrame]:
    layers = pd.concat([ev.layers.assign(condition=ev.condition) for ev in evs], ignore_index=True)
    cohorts = pd.concat([ev.cohorts.assign(condition=ev.condition) for ev in evs], ignore_index=True)
    return {"evidence_layers.tsv": layers, "evidence_cohorts.tsv": cohorts, "evidence_rubric.tsv": rubric_table()}


@tables.register
def _(result: Evidence) -> dict[str, pd.DataFrame]:
    return _evidence_tables([result])


@tables.register
def _(result: AtlasResult) -> dict[str, pd.DataFrame]:
    out = _evidence_tables(result.evidence) if result.evidence else {"evidence_rubric.tsv": rubric_table()}
    return {**out, "atlas_grid.tsv": result.grid, "atlas_cohorts.tsv": result.cohorts,
            "atlas_forest.tsv": result.forest}
