"""Figures of the guild and host-marker sections: guild loads by group (small multiples of box-and-strip
panels) and the marker × guild heatmap (partial correlation, stars where q is small).

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"marker": ["CRP", "CRP"], "predictor": ["butyrate_producer", "barrier_balance"],
...                   "kind": ["guild", "guild"], "partial_r": [-0.4, -0.3], "q_value": [0.001, 0.2]})
>>> svg = marker_heatmap_figure(t, fig_id="fig-h", title="heatmap")
>>> svg.startswith("<svg") and 'id="fig-h-title"' in svg
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from .figures import GroupStyle, _draw_box_strip, _group_values
from .svg import figure_svg, mpl_text

__all__ = ["guild_panels_figure", "marker_heatmap_figure", "PANEL_GUILDS"]

#: Guilds shown as panels (the barrier mechanism first), when present.
PANEL_GUILDS = ("butyrate_producer", "lps_producer", "lps_hexa_acylated", "mucin_degrader", "h2s_producer",
                "aerotolerant", "th17_inducer", "treg_inducer", "pathobiont")
#: Most markers shown as heatmap rows (strongest first); the full grid is in markers.tsv.
MAX_MARKERS = 30


def _draw_panels(fig: Figure, loads: pd.DataFrame, labels: pd.Series, groups: GroupStyle,
                 guilds: Sequence[str]) -> None:
    n_cols = 3
    n_rows = int(np.ceil(len(guilds) / n_cols))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for ax, guild in zip(axes.ravel(), guilds):
        _draw_box_strip(ax, _group_values(loads[guild], labels, groups), groups)
        ax.set_title(mpl_text(guild.replace("_", " "), 30), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(guilds):]:
        ax.set_axis_off()
    fig.supylabel("fraction of the sample's abundance", fontsize=8)


def guild_panels_figure(loads: pd.DataFrame, labels: pd.Series, groups: GroupStyle, *, fig_id: str,
                        title: str) -> Markup:
    """One box-and-strip panel per guild load (samples × guilds), one box per group."""
    guilds = [g for g in PANEL_GUILDS if g in loads.columns]
    rows = int(np.ceil(len(guilds) / 3))
    width = max(6.0, 3 * (0.9 + 0.75 * len(groups.order)))
    return figure_svg(lambda fig: _draw_panels(fig, loads, labels, groups, guilds), fig_id, title,
                      size=(width, 2.3 * rows + 0.4))


def _grid(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    t = table[table["kind"] == "guild"]
    r = t.pivot_table(index="marker", columns="predictor", values="partial_r", aggfunc="first", sort=False)
    q = t.pivot_table(index="marker", columns="predictor", values="q_value", aggfunc="first", sort=False)
    order = q.min(axis=1).sort_values(kind="mergesort").index[:MAX_MARKERS]
    return r.loc[order], q.loc[order]


def _draw_heatmap(fig: Figure, r: pd.DataFrame, q: pd.DataFrame) -> None:
    ax = fig.add_subplot()
    lim = float(np.nanmax(np.abs(r.to_numpy()))) if np.isfinite(r.to_numpy()).any() else 1.0
    image = ax.imshow(r.to_numpy(dtype=float), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(r.shape[1]), [mpl_text(c.replace("_", " "), 24) for c in r.columns], rotation=60,
                  ha="right", fontsize=7)
    ax.set_yticks(range(r.shape[0]), [mpl_text(m, 24) for m in r.index], fontsize=7)
    qv, rv = q.to_numpy(dtype=float), r.to_numpy(dtype=float)
    for i, j in zip(*np.nonzero(np.nan_to_num(qv, nan=1.0) < 0.1)):
        ink = "#ffffff" if abs(rv[i, j]) > 0.6 * lim else "#000000"  # legible on dark cells
        ax.text(j, i, "**" if qv[i, j] < 0.01 else "*", ha="center", va="center", fontsize=8, color=ink)
    fig.colorbar(image, ax=ax, shrink=0.8, label="partial correlation")


def marker_heatmap_figure(table: pd.DataFrame, *, fig_id: str, title: str) -> Markup:
    """Markers (rows) × guilds and the barrier balance (columns): the partial correlation of each pair, a star
    at q < 0.1 and two at q < 0.01 (BH over the whole grid)."""
    r, q = _grid(table)
    height = 1.8 + 0.22 * len(r)
    return figure_svg(lambda fig: _draw_heatmap(fig, r, q), fig_id, title, size=(6.4, height))
