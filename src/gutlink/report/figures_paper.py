"""Figures a paper could use: the composition of each group (top genera, others pooled) and the abundance of the
top taxa per sample and group. Both draw numbers the results already hold; the report only reshapes them.

:func:`composition_table` takes a differential table's per-group mean relative abundances (``mean_abundance_*``
columns) and sums them per genus (the mean of a sum is the sum of the means); :func:`composition_figure` draws
them as one stacked bar per group. :func:`abundance_figure` draws, per taxon, each sample's relative abundance
(log10 where present) by group, with the samples where the taxon was not detected counted below.

Examples
--------
>>> import pandas as pd
>>> tab = pd.DataFrame({"feature_id": ["s1", "s2", "s3"], "term": "t", "lineage": ["g__A|s__s1", "g__A|s__s2",
...                     "g__B|s__s3"], "mean_abundance_case": [0.2, 0.1, 0.5], "mean_abundance_control": [0.4, 0.0, 0.3]})
>>> composition_table(tab, top=1).round(2).to_dict("index")
{'case': {'B': 0.5, 'Other taxa': 0.5}, 'control': {'B': 0.3, 'Other taxa': 0.7}}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .figures import GroupStyle
from .figures_differential import display_name, taxon_name
from .svg import figure_svg, mpl_text

__all__ = ["OTHER", "TOP_GENERA", "abundance_figure", "composition_figure", "composition_table", "genus_of"]

#: Genera shown in the composition bars (the rest are pooled as :data:`OTHER`).
TOP_GENERA = 12
OTHER = "Other taxa"
#: Colours of the genera (a qualitative palette; the pooled rest is grey).
_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#332288", "#88CCEE",
            "#44AA99", "#117733", "#AA4499", "#882255", "#999933", "#661100", "#6699CC")
_PREFIX = "mean_abundance_"


def genus_of(feature: object, lineage: object = None) -> str:
    """The genus of a feature: the ``g__`` rank of its lineage, else its readable name.

    Examples
    --------
    >>> genus_of("s1", "k__Bacteria|g__Faecalibacterium|s__Faecalibacterium_prausnitzii")
    'Faecalibacterium'
    >>> genus_of("g__Bacteroides")
    'Bacteroides'
    """
    for part in str(lineage or "").replace(";", "|").split("|"):
        part = part.strip()
        if part.startswith("g__") and len(part) > 3:
            return part[3:].replace("_", " ")
    return taxon_name(feature)


def composition_table(table: pd.DataFrame, *, term: str | None = None, top: int = TOP_GENERA) -> pd.DataFrame:
    """Groups × genera mean relative abundance: the *top* genera by mean over groups, the rest as ``Other taxa``.

    *table* is a differential table (one term's rows are used: *term*, default the first) with ``feature_id``,
    optional ``lineage`` and one ``mean_abundance_<group>`` column per group. ``Other taxa`` is one minus the
    shown genera, so it includes taxa filtered out before testing.
    """
    cols = [c for c in table.columns if c.startswith(_PREFIX)]
    if not cols or table.empty:
        return pd.DataFrame()
    term = term if term is not None else str(table["term"].iloc[0])
    rows = table[table["term"] == term]
    lineage = rows["lineage"] if "lineage" in rows else pd.Series(None, index=rows.index)
    genus = [genus_of(f, g) for f, g in zip(rows["feature_id"], lineage)]
    means = rows[cols].astype(float).groupby(np.asarray(genus)).sum()
    means.columns = [c.removeprefix(_PREFIX) for c in cols]
    shown = means.mean(axis=1).sort_values(ascending=False, kind="stable").index[:top]
    out = means.loc[shown].T
    out[OTHER] = (1.0 - out.sum(axis=1)).clip(lower=0.0)
    return out


def _draw_composition(fig: Figure, comp: pd.DataFrame, groups: GroupStyle) -> None:
    ax = fig.add_subplot()
    order = [g for g in groups.order if g in comp.index] + [g for g in comp.index if g not in groups.order]
    comp = comp.loc[order]
    x = np.arange(len(comp))
    bottom = np.zeros(len(comp))
    for k, taxon in enumerate(comp.columns):
        colour = "#c8ccd2" if taxon == OTHER else _COLOURS[k % len(_COLOURS)]
        values = comp[taxon].to_numpy(dtype=float)
        ax.bar(x, values, bottom=bottom, width=0.7, color=colour, edgecolor="white", linewidth=0.5,
               label=mpl_text(taxon, 30))
        bottom += values
    ax.set_xticks(x, [mpl_text(groups.name(g), 22) for g in comp.index])
    ax.set_ylabel("mean relative abundance")
    ax.set_ylim(0, max(1.0, float(bottom.max())))
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7,
              handlelength=1.0, handletextpad=0.4, labelspacing=0.3)


def composition_figure(comp: pd.DataFrame, groups: GroupStyle, *, fig_id: str, title: str) -> Markup:
    """One stacked bar per group of :func:`composition_table`'s genera (legend top to bottom as stacked)."""
    width = 3.4 + 0.7 * len(comp)
    return figure_svg(lambda fig: _draw_composition(fig, comp, groups), fig_id, title, size=(width, 3.8))


def _two_lines(name: str) -> str:
    """A group name on at most two short lines (``'Cases (CD + UC)'`` → ``'Cases\\n(CD + UC)'``)."""
    head, sep, tail = name.partition(" (")
    return mpl_text(head, 16) + (f"\n({mpl_text(tail, 15)}" if sep else "")


def _panel(ax: Axes, values: pd.Series, labels: pd.Series, groups: GroupStyle, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lab = labels.reindex(values.index).astype(str)
    present = [g for g in groups.order if (lab == g).any()]
    floor = None
    v_all = values.to_numpy(dtype=float)
    pos = v_all[np.isfinite(v_all) & (v_all > 0)]
    if pos.size:
        floor = float(np.log10(pos.min())) - 0.6
    for i, g in enumerate(present):
        v = values[lab == g].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        here = np.log10(v[v > 0])
        if here.size:
            ax.boxplot([here], positions=[i], widths=0.55, showfliers=False,
                       medianprops={"color": "#000000"}, boxprops={"color": "#333333"})
            ax.scatter(i + rng.uniform(-0.18, 0.18, here.size), here, s=9,
                       color=groups.colour(g), marker=groups.marker(g), alpha=0.7, edgecolors="none")
        zeros = int((v == 0).sum())
        if floor is not None:
            ax.text(i, floor, f"{zeros}/{v.size}\nabsent", ha="center", va="center", fontsize=6,
                    color="#555555")
    ax.set_xticks(range(len(present)), [_two_lines(groups.name(g)) for g in present], fontsize=7)
    ax.set_xlim(-0.6, len(present) - 0.4)
    if floor is not None:
        top = float(np.log10(pos.max())) + 0.2
        ax.set_ylim(floor - 0.45, top)


def _draw_abundance(fig: Figure, values: pd.DataFrame, labels: pd.Series, groups: GroupStyle,
                    notes: Sequence[str]) -> None:
    n = values.shape[1]
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k >= n:
            ax.set_visible(False)
            continue
        feature = values.columns[k]
        _panel(ax, values[feature], labels, groups, seed=k)
        ax.set_title(display_name(feature, 30) + (f"\n{mpl_text(notes[k], 36)}" if k < len(notes) else ""),
                     fontsize=7.5)
        if k % ncols == 0:
            ax.set_ylabel("log10 relative abundance", fontsize=7)


def abundance_figure(values: pd.DataFrame, labels: pd.Series, groups: GroupStyle, *, fig_id: str, title: str,
                     notes: Sequence[str] = ()) -> Markup:
    """Small multiples, one per taxon (columns of *values*: relative abundance per sample): log10 abundance
    where present as box and points per group, and how many samples of each group lack the taxon.

    *notes* are one short line per taxon under its name (e.g. its effect and q-value).
    """
    n = max(values.shape[1], 1)
    ncols = min(3, n)
    nrows = int(np.ceil(n / ncols))
    return figure_svg(lambda fig: _draw_abundance(fig, values, labels, groups, notes), fig_id, title,
                      size=(2.0 + 1.9 * ncols, 0.6 + 2.3 * nrows))
