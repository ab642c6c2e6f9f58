"""The paper figures of a ``link`` page, each beside its layer: the composition of each group and the PCoA coloured
by every level of the group column (community layer), and the abundance of the top taxa per sample (taxa layer).

The composition comes from the differential table's per-group mean abundances; the per-level PCoA and the
per-taxon plots need the per-sample numbers of :func:`gutlink.plotdata.figure_data` in
``LinkResult.extra`` and are left out (with nothing claimed) when they are not there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from ..differential import DifferentialResult
from ..link import LinkResult
from ..plotdata import LEVELS, TOP_ABUNDANCE
from .context import Context, Section
from .figures import GroupStyle, pcoa_figure
from .figures_differential import taxon_name
from .figures_paper import TOP_GENERA, abundance_figure, composition_figure, composition_table
from .fmt import fmt_name, fmt_p

__all__ = ["composition_block", "levels_pcoa_block", "top_taxa_section"]

_FIGURE = """<figure id="{{ id }}">{{ svg }}<figcaption>{{ caption }}</figcaption></figure>"""


def _figure(ctx: Context, fig_id: str, svg: Markup, caption: str) -> Markup:
    return Markup(ctx.env.from_string(_FIGURE).render(id=fig_id, svg=svg, caption=caption))


def composition_block(result: LinkResult | DifferentialResult, ctx: Context) -> tuple[Markup, str] | None:
    """The stacked bars of each group's mean composition (top genera), or ``None`` without a differential table
    (a link result's, or the differential result itself: one bar per level of its variable)."""
    diff = result if isinstance(result, DifferentialResult) else result.differential
    if diff is None:
        return None
    comp = composition_table(diff.table, term=diff.terms[0] if diff.terms else None)
    if comp.empty:
        return None
    fig_id = "fig-composition"
    svg = composition_figure(comp, ctx.groups, fig_id=fig_id, title="Mean composition per group, top genera")
    caption = (f"Mean relative abundance of the {min(TOP_GENERA, comp.shape[1] - 1)} most abundant genera in each "
               "group (the per-group means of differential.tsv summed per genus); all other taxa, including those "
               "filtered out before testing, are pooled in grey.")
    return _figure(ctx, fig_id, svg, caption), fig_id


def _levels(result: LinkResult) -> pd.Series | None:
    levels = result.extra.get(LEVELS) if isinstance(result.extra, dict) else None
    return levels if isinstance(levels, pd.Series) and levels.nunique() > 2 else None


def levels_pcoa_block(result: LinkResult, ctx: Context) -> tuple[Markup, str] | None:
    """The first metric's PCoA coloured by every level of the group column (only with more than two levels)."""
    levels = _levels(result)
    if levels is None or not result.ordinations:
        return None
    metric, ordination = next(iter(result.ordinations.items()))
    groups = GroupStyle.from_labels(levels, control=result.control, case=result.case)
    fig_id = "fig-pcoa-levels"
    labels = levels.reindex(ordination.coordinates.index).astype(str)
    svg = pcoa_figure(ordination.coordinates, ordination.proportion_explained, labels, groups, fig_id=fig_id,
                      title=f"PCoA of {fmt_name(metric)} distances, coloured by {result.group}")
    caption = (f"The same PCoA of {fmt_name(metric)} distances, coloured by every level of “{result.group}” "
               f"({', '.join(groups.order)}); large outlined markers are each level's centroid. The tests pool "
               "the case levels.")
    return _figure(ctx, fig_id, svg, caption), fig_id


def _note(row: dict[str, Any]) -> str:
    q, which = (row["q_joint"], "joint q") if "q_joint" in row else (row.get("q_value"), "q")
    q_text = fmt_p(q)
    q_text = f"{which} {q_text}" if q_text.startswith("<") else f"{which} = {q_text}"
    effect = float(row["effect"])
    return f"effect {effect:.2f}, {q_text}" if np.isfinite(effect) else q_text


def top_taxa_section(result: LinkResult, ctx: Context) -> Section | None:
    """Per-taxon abundance plots of the top differential taxa (needs ``extra['top_abundance']``)."""
    values = result.extra.get(TOP_ABUNDANCE) if isinstance(result.extra, dict) else None
    diff = result.differential
    if not isinstance(values, pd.DataFrame) or values.empty or diff is None or ctx.labels is None:
        return None
    term = diff.terms[0] if diff.terms else str(diff.table["term"].iloc[0])
    rows = diff.table[diff.table["term"] == term].set_index("feature_id")
    keep = [f for f in values.columns if f in rows.index]
    if not keep:
        return None
    notes = [_note(rows.loc[f].to_dict()) for f in keep]
    fig_id = "fig-top-taxa"
    svg = abundance_figure(values[keep], ctx.labels, ctx.groups, fig_id=fig_id, notes=notes,
                           title="Relative abundance of the top taxa per sample, by group")
    caption = (f"The {len(keep)} taxa with the smallest q-values ({', '.join(taxon_name(f) for f in keep)}): each "
               "sample's relative abundance (log10) where the taxon was detected, as box and points per group; "
               "below, how many samples of each group lack it (the abundance and presence models test these two "
               "parts apart).")
    return Section("top-taxa", "Top taxa, sample by sample", _figure(ctx, fig_id, svg, caption), (fig_id,))
