"""The report's figures, one function each; every one returns inline SVG markup.

Colours are the Okabe–Ito palette (safe for the common colour-vision deficiencies) and every group also has
its own marker shape, so no figure depends on colour alone.

Examples
--------
>>> import pandas as pd
>>> groups = GroupStyle.from_labels(["a", "b", "a"], control="a")
>>> groups.order, groups.colour("a")
(('a', 'b'), '#0072B2')
>>> svg = box_strip_figure(pd.Series([1.0, 2.0, 3.0]), pd.Series(["a", "b", "a"]), groups,
...                        fig_id="fig-x", title="x", ylabel="value")
>>> "<svg" in svg
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .svg import figure_svg, mpl_text

__all__ = ["GroupStyle", "PALETTE", "box_strip_figure", "pcoa_figure"]

#: Okabe & Ito (2008) colours, control first.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "^", "s", "D", "v", "P", "X", "h")
_JITTER_SEED = 20190101  # fixed so figures are identical from run to run; a local Generator, never global


@dataclass(frozen=True)
class GroupStyle:
    """Order, colour and marker of each group label."""

    order: tuple[str, ...]
    names: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_labels(cls, labels: Iterable[object], *, control: object = None, case: Sequence[object] = (),
                    names: Mapping[str, str] | None = None) -> GroupStyle:
        """Control first, then the case labels in the given order, then any other label sorted.

        *names* maps labels to display names (e.g. ``'case'`` → ``'Cases (CD)'``).
        """
        present = [str(x) for x in pd.unique(pd.Series(list(labels), dtype=object).dropna())]
        first = [str(control)] if control is not None else []
        wanted = first + [str(c) for c in case]
        order = [g for g in wanted if g in present] + sorted(g for g in present if g not in wanted)
        return cls(order=tuple(dict.fromkeys(order)), names=dict(names or {}))

    def name(self, label: object) -> str:
        """Display name of *label*."""
        return self.names.get(str(label), str(label))

    def colour(self, label: object) -> str:
        """Hex colour of *label* (grey when unknown)."""
        key = str(label)
        return PALETTE[self.order.index(key) % len(PALETTE)] if key in self.order else "#888888"

    def marker(self, label: object) -> str:
        """Matplotlib marker of *label*."""
        key = str(label)
        return MARKERS[self.order.index(key) % len(MARKERS)] if key in self.order else "o"


def _axis_label(pc: str, share: float) -> str:
    return f"{pc} ({100 * share:.1f} % of variance)" if np.isfinite(share) else pc


def _no_data(ax: Axes, message: str = "no data to show") -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def _scatter_groups(ax: Axes, xy: pd.DataFrame, labels: pd.Series, groups: GroupStyle) -> None:
    for g in groups.order:
        pts = xy[labels.to_numpy() == g]
        if pts.empty:
            continue
        ax.scatter(pts.iloc[:, 0], pts.iloc[:, 1], s=22, marker=groups.marker(g), color=groups.colour(g),
                   alpha=0.75, edgecolors="white", linewidths=0.4, label=f"{mpl_text(groups.name(g))} (n = {len(pts)})")
        ax.scatter([pts.iloc[:, 0].mean()], [pts.iloc[:, 1].mean()], s=120, marker=groups.marker(g),
                   color=groups.colour(g), edgecolors="black", linewidths=1.2, zorder=3)


def _draw_pcoa(fig: Figure, coords: pd.DataFrame, shares: pd.Series, labels: pd.Series,
               groups: GroupStyle) -> None:
    ax = fig.add_subplot()
    if coords.empty:
        _no_data(ax)
        return
    xy = coords.iloc[:, :2].copy()
    if xy.shape[1] == 1:
        xy["PC2"] = 0.0
    xy = xy.astype(float).dropna()
    _scatter_groups(ax, xy, labels.reindex(xy.index).astype(str), groups)
    ax.set_xlabel(_axis_label("PC1", float(shares.get("PC1", np.nan))))
    ax.set_ylabel(_axis_label("PC2", float(shares.get("PC2", np.nan))))
    ax.axhline(0, color="#dddddd", lw=0.6, zorder=0)
    ax.axvline(0, color="#dddddd", lw=0.6, zorder=0)
    fig.legend(loc="outside lower center", ncols=min(3, len(groups.order)), fontsize=8, handletextpad=0.3,
               columnspacing=1.2)


def pcoa_figure(coords: pd.DataFrame, shares: pd.Series, labels: pd.Series, groups: GroupStyle, *,
                fig_id: str, title: str) -> Markup:
    """Scatter of the first two principal coordinates, coloured and shaped by group.

    Large outlined markers are the group centroids; the axis labels give each axis' share of variance.
    """
    return figure_svg(lambda fig: _draw_pcoa(fig, coords, shares, labels, groups), fig_id, title,
                      size=(4.2, 4.0))


def _group_values(values: pd.Series, labels: pd.Series, groups: GroupStyle) -> list[tuple[str, np.ndarray]]:
    lab = labels.reindex(values.index).astype(str)
    out = []
    for g in groups.order:
        v = pd.to_numeric(values[lab == g], errors="coerce").to_numpy(dtype=float)
        out.append((g, v[np.isfinite(v)]))
    return out


def _draw_box_strip(ax: Axes, data: list[tuple[str, np.ndarray]], groups: GroupStyle) -> None:
    rng = np.random.default_rng(_JITTER_SEED)
    for i, (g, v) in enumerate(data):
        if v.size == 0:
            continue
        ax.boxplot([v], positions=[i], widths=0.55, showfliers=False, patch_artist=True,
                   boxprops={"facecolor": "none", "edgecolor": "#333333"},
                   medianprops={"color": "#000000", "linewidth": 1.6},
                   whiskerprops={"color": "#333333"}, capprops={"color": "#333333"})
        x = i + rng.uniform(-0.18, 0.18, v.size)
        ax.scatter(x, v, s=14, marker=groups.marker(g), color=groups.colour(g), alpha=0.7,
                   edgecolors="none", zorder=2)
    ax.set_xticks(range(len(data)), [f"{mpl_text(groups.name(g), 24)}\nn = {v.size}" for g, v in data])
    ax.set_xlim(-0.6, len(data) - 0.4)


def _draw_box_strip_figure(fig: Figure, values: pd.Series, labels: pd.Series, groups: GroupStyle,
                           ylabel: str, threshold: float | None, threshold_label: str) -> None:
    ax = fig.add_subplot()
    data = _group_values(values, labels, groups)
    if not any(v.size for _, v in data):
        _no_data(ax)
        return
    _draw_box_strip(ax, data, groups)
    ax.set_ylabel(mpl_text(ylabel, 60))
    if threshold is not None and np.isfinite(threshold):
        line = ax.axhline(threshold, color="#444444", ls="--", lw=1.0, zorder=1)
        fig.legend([line], [mpl_text(threshold_label, 60)], loc="outside lower center", fontsize=8,
                   handlelength=2.5)


def box_strip_figure(values: pd.Series, labels: pd.Series, groups: GroupStyle, *, fig_id: str, title: str,
                     ylabel: str, threshold: float | None = None, threshold_label: str = "") -> Markup:
    """Box plot with every sample as a jittered point, one box per group.

    Parameters
    ----------
    values
        One value per sample (NaN values are left out).
    labels
        Group label per sample, same index as *values*.
    groups
        Order, colours and markers of the groups.
    fig_id, title
        SVG id prefix and accessible title.
    ylabel
        Label of the value axis.
    threshold, threshold_label
        Optional dashed horizontal line (e.g. the dysbiosis cut-off) and its label.
    """
    width = max(3.4, 1.2 + 1.2 * len(groups.order))
    return figure_svg(
        lambda fig: _draw_box_strip_figure(fig, values, labels, groups, ylabel, threshold, threshold_label),
        fig_id, title, size=(width, 3.4),
    )
