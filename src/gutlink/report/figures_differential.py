"""Figures of the differential-abundance and meta-analysis sections: volcano, forest, meta-analysis forest.

Every function returns inline SVG markup (see :mod:`gutlink.report.svg`); feature names are user text and go
through :func:`~gutlink.report.svg.mpl_text` (no mathtext, shortened), matplotlib escapes them in the SVG.

Examples
--------
>>> import pandas as pd
>>> tab = pd.DataFrame({"feature_id": ["a", "b", "c"], "effect": [2.0, -1.5, 0.1], "ci_low": [1.0, -2.5, -0.5],
...                     "ci_high": [3.0, -0.5, 0.7], "q_value": [0.001, 0.02, 0.9]})
>>> svg = volcano_figure(tab, alpha=0.05, fig_id="fig-volcano", title="volcano", xlabel="log2 fold change")
>>> "<svg" in svg and ">a<" in svg
True
>>> "<svg" in forest_figure(tab, fig_id="fig-forest", title="forest", xlabel="log2 fold change")
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text
from matplotlib.transforms import Bbox

from .figures import PALETTE
from .svg import figure_svg, mpl_text

__all__ = ["display_name", "forest_figure", "meta_forest_figure", "taxon_name", "volcano_figure"]

UP, DOWN, NEUTRAL = PALETTE[1], PALETTE[0], "#9aa3ad"
#: Most labelled points in a volcano plot, and how many of the smallest q-values are tried for a free place.
MAX_LABELS, MAX_CANDIDATES = 12, 30


def taxon_name(feature: object) -> str:
    """A readable taxon name: the last rank of a lineage without its ``s__`` prefix, underscores as spaces.

    Examples
    --------
    >>> taxon_name("k__Bacteria|g__Faecalibacterium|s__Faecalibacterium_prausnitzii")
    'Faecalibacterium prausnitzii'
    """
    text = str(feature).split("|")[-1]
    if len(text) > 3 and text[1:3] == "__":
        text = text[3:]
    return text.replace("_", " ")


def display_name(feature: object, limit: int = 36) -> str:
    """:func:`taxon_name` made safe for a matplotlib label (no mathtext, shortened)."""
    return mpl_text(taxon_name(feature), limit)


def _no_data(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def _neg_log_q(q: pd.Series) -> np.ndarray:
    values = pd.to_numeric(q, errors="coerce").to_numpy(dtype=float)
    return -np.log10(np.clip(values, 1e-300, 1.0))


def _draw_volcano(fig: Figure, table: pd.DataFrame, alpha: float, xlabel: str) -> None:
    ax = fig.add_subplot()
    tab = table[np.isfinite(pd.to_numeric(table["effect"], errors="coerce")) & table["q_value"].notna()]
    if tab.empty:
        _no_data(ax, "no feature could be tested")
        return
    x, y = tab["effect"].to_numpy(dtype=float), _neg_log_q(tab["q_value"])
    sig = tab["q_value"].to_numpy(dtype=float) < alpha
    colours = np.where(~sig, NEUTRAL, np.where(x > 0, UP, DOWN))
    ax.scatter(x, y, s=np.where(sig, 26, 12), c=list(colours), alpha=0.85, edgecolors="white", linewidths=0.4)
    ax.axhline(-np.log10(alpha), color="#444444", ls="--", lw=0.8)
    ax.axvline(0, color="#dddddd", lw=0.8, zorder=0)
    ax.margins(x=0.12, y=0.1)  # room for the outermost labels
    ax.set_xlabel(mpl_text(xlabel, 60))
    ax.set_ylabel("−log10 q")
    note = ax.text(0.99, 0.01, f"dashed: q = {alpha:g}", transform=ax.transAxes, ha="right", va="bottom",
                   fontsize=7, color="#555555")
    order = np.argsort(-y, kind="stable")
    _label_points(ax, x, y, tab["feature_id"].to_numpy(), order[sig[order]][:MAX_CANDIDATES], keep_clear=[note])


#: Label offsets tried around each point, in points (right, left, above, below, then the diagonals, then farther).
_OFFSETS = [(dx * r, dy * r) for r in (6, 14, 24) for dx, dy in
            ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1))]


def _overlaps(box: Bbox, placed: list[Bbox]) -> bool:
    return any(box.overlaps(other) for other in placed)


def _label_points(ax: Axes, x: np.ndarray, y: np.ndarray, names: np.ndarray, chosen: np.ndarray, *,
                  keep_clear: Sequence[Text] = (), most: int = MAX_LABELS) -> list[Annotation]:
    """Name the *chosen* points (most significant first) by greedy placement: each label takes the first offset
    around its point whose box overlaps no label already placed, no labelled point and stays inside the axes;
    a label with no free place is dropped rather than drawn over another; at most *most* are drawn, and none
    covers the texts of *keep_clear*. Returns the labels drawn.

    The figure's layout is fixed first (and then frozen), so the boxes measured here are the boxes drawn.
    """
    fig = ax.get_figure(root=True)
    if not isinstance(fig, Figure) or not len(chosen):
        return []
    renderer = FigureCanvasAgg(fig).get_renderer()  # measures text as the SVG will draw it (same dpi and fonts)
    fig.draw_without_rendering()  # run constrained layout once, then keep it
    fig.set_layout_engine("none")
    inside = ax.get_window_extent(renderer)
    points = ax.transData.transform(np.column_stack([x[chosen], y[chosen]]))
    placed: list[Bbox] = [Bbox.from_extents(px - 3, py - 3, px + 3, py + 3) for px, py in points]
    placed += [t.get_window_extent(renderer) for t in keep_clear]
    drawn: list[Annotation] = []
    for i in chosen:
        if len(drawn) >= most:
            break
        text = ax.annotate(display_name(names[i], 28), (x[i], y[i]), xytext=(0, 0), textcoords="offset points",
                           fontsize=7, color="#222222", va="center", ha="left",
                           arrowprops={"arrowstyle": "-", "color": "#999999", "lw": 0.5, "shrinkA": 0,
                                       "shrinkB": 2})
        for dx, dy in _OFFSETS:
            text.set_position((dx, dy))
            text.set_horizontalalignment("left" if dx > 0 else "right" if dx < 0 else "center")
            text.update_positions(renderer)
            box = Text.get_window_extent(text, renderer).padded(1.0)  # the text, not its leader line
            if inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1) and not _overlaps(box, placed):
                placed.append(box)
                drawn.append(text)
                break
        else:
            text.remove()
    return drawn


def volcano_figure(table: pd.DataFrame, *, alpha: float, fig_id: str, title: str, xlabel: str) -> Markup:
    """Effect against −log10 q for every feature; those below *alpha* coloured by direction and labelled.

    Parameters
    ----------
    table
        Rows with ``feature_id``, ``effect`` and ``q_value`` (one term).
    alpha
        q-value threshold (dashed line).
    fig_id, title
        SVG id prefix and accessible title.
    xlabel
        What the effect measures.
    """
    return figure_svg(lambda fig: _draw_volcano(fig, table, alpha, xlabel), fig_id, title, size=(5.6, 4.2))


def _interval_rows(ax: Axes, rows: pd.DataFrame, ypos: np.ndarray, *, colour_by_sign: bool = True,
                   marker: str = "s", size: float = 28) -> None:
    eff = rows["effect"].to_numpy(dtype=float)
    lo, hi = rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float)
    colours = [UP if e > 0 else DOWN for e in eff] if colour_by_sign else ["#333333"] * len(eff)
    for y, e, a, b, col in zip(ypos, eff, lo, hi, colours):
        if np.isfinite(a) and np.isfinite(b):
            ax.plot([a, b], [y, y], color=col, lw=1.4, solid_capstyle="butt")
        ax.scatter([e], [y], s=size, marker=marker, color=col, zorder=3, edgecolors="white", linewidths=0.4)


def _draw_forest(fig: Figure, rows: pd.DataFrame, xlabel: str) -> None:
    ax = fig.add_subplot()
    if rows.empty:
        _no_data(ax, "no feature passed the threshold")
        return
    rows = rows.sort_values("effect")
    ypos = np.arange(len(rows))
    _interval_rows(ax, rows, ypos)
    ax.axvline(0, color="#888888", lw=0.8, zorder=0)
    ax.set_yticks(ypos, [display_name(f) for f in rows["feature_id"]])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(mpl_text(xlabel, 60))


def forest_figure(rows: pd.DataFrame, *, fig_id: str, title: str, xlabel: str) -> Markup:
    """Effect and 95 % CI of each row (the top features), sorted by effect."""
    height = 1.2 + 0.24 * max(len(rows), 3)
    return figure_svg(lambda fig: _draw_forest(fig, rows, xlabel), fig_id, title, size=(5.6, height))


def _meta_layout(features: list[str], studies: pd.DataFrame) -> list[tuple[str, str, pd.Series | None]]:
    """Rows from top to bottom: for each feature its studies, then the pooled estimate."""
    out: list[tuple[str, str, pd.Series | None]] = []
    for f in features:
        for _, row in studies[studies["feature_id"] == f].iterrows():
            out.append((f, str(row["study"]), row))
        out.append((f, "pooled", None))
    return out


def _draw_meta(fig: Figure, pooled: pd.DataFrame, studies: pd.DataFrame, xlabel: str) -> None:
    ax = fig.add_subplot()
    features = list(pooled["feature_id"])
    if not features:
        _no_data(ax, "no feature was pooled")
        return
    layout = _meta_layout(features, studies)
    ypos = np.arange(len(layout))[::-1]
    labels = []
    for y, (feature, study, row) in zip(ypos, layout):
        if row is None:
            _interval_rows(ax, pooled[pooled["feature_id"] == feature], np.array([y]), marker="D", size=46)
            labels.append(f"{display_name(feature, 30)} — pooled")
            if y > 0:
                ax.axhline(y - 0.5, color="#e3e7ed", lw=0.8, zorder=0)
        else:
            frame = pd.DataFrame([{"effect": row["effect"], "ci_low": row["effect"] - 1.96 * row["se"],
                                   "ci_high": row["effect"] + 1.96 * row["se"]}])
            _interval_rows(ax, frame, np.array([y]), colour_by_sign=False, marker="o", size=16)
            labels.append(mpl_text(study, 24))
    ax.axvline(0, color="#888888", lw=0.8, zorder=0)
    ax.set_yticks(ypos, labels, fontsize=7)
    ax.set_ylim(-0.7, len(layout) - 0.3)
    ax.set_xlabel(mpl_text(xlabel, 60))


def meta_forest_figure(pooled: pd.DataFrame, studies: pd.DataFrame, *, fig_id: str, title: str,
                       xlabel: str) -> Markup:
    """Per-study effects (circles, 95 % CI) and the random-effects pooled estimate (diamond) per feature.

    Parameters
    ----------
    pooled
        Pooled rows (``feature_id, effect, ci_low, ci_high``) of the features to show, top first.
    studies
        Per-study rows (``feature_id, study, effect, se``).
    """
    n_rows = sum(int((studies["feature_id"] == f).sum()) + 1 for f in pooled["feature_id"])
    return figure_svg(lambda fig: _draw_meta(fig, pooled, studies, xlabel), fig_id, title,
                      size=(5.8, 1.2 + 0.2 * max(n_rows, 4)))
