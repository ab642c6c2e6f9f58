"""Figures of community dynamics: held-out forecasts beside persistence, scenario trajectories with bootstrap
bands, readout shifts. Inline SVG through :func:`gutlink.report.svg.figure_svg` (research tool, never medical
advice).

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"readout": ["a", "b"], "shift": [0.1, -0.2], "shift_low": [0.0, -0.3],
...                   "shift_high": [0.2, -0.1]})
>>> readout_figure(t, fig_id="fig-r", title="shifts").startswith("<svg")
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from .svg import figure_svg, mpl_text

__all__ = ["forecast_figure", "holdout_figure", "scenario_figure", "readout_figure", "probability_figure"]

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _top_taxa(frame: pd.DataFrame, value: str, k: int) -> list[str]:
    return frame.groupby("taxon")[value].max().sort_values(ascending=False).index[:k].tolist()


def forecast_figure(table: pd.DataFrame, *, fig_id: str, title: str, k: int = 5) -> Markup:
    """Observed (points), forecast (lines) and persistence (dotted) relative abundance of the *k* most abundant
    taxa of one held-out subject (``table`` of a :class:`~gutlink.dynamics.forecast.ForecastResult`)."""
    taxa = _top_taxa(table, "observed", k)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        for c, taxon in zip(COLORS, taxa):
            t = table[table["taxon"] == taxon]
            ax.plot(t["time"], t["observed"], "o", ms=3, color=c, label=mpl_text(taxon, 28))
            ax.plot(t["time"], t["predicted"], "-", lw=1.4, color=c)
            ax.plot(t["time"], t["persistence"], ":", lw=1.0, color=c)
        ax.set_xlabel("time")
        ax.set_ylabel("relative abundance")
        ax.set_title("points observed · line forecast · dotted persistence", fontsize=8)
        ax.legend(fontsize=7, loc="upper right")

    return figure_svg(draw, fig_id, title, size=(6.0, 3.6))


def holdout_figure(table: pd.DataFrame, *, fig_id: str, title: str) -> Markup:
    """Per held-out subject RMSE of the model, persistence and the mean composition (lower is better)."""
    cols = [("rmse_model", "model"), ("rmse_persistence", "persistence"), ("rmse_mean_composition", "mean composition")]

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        x = np.arange(len(table))
        for j, ((col, label), c) in enumerate(zip(cols, COLORS)):
            ax.bar(x + (j - 1) * 0.27, table[col].fillna(0.0), width=0.27, color=c, label=label)
        failed = table["rmse_model"].isna().to_numpy()
        for i in np.flatnonzero(failed):
            ax.text(x[i] - 0.27, 0, "failed", rotation=90, fontsize=7, va="bottom", ha="center")
        ax.set_xticks(x, [mpl_text(s, 12) for s in table["subject"]], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("RMSE of relative abundance")
        ax.legend(fontsize=7)

    return figure_svg(draw, fig_id, title, size=(6.0, 3.4))


def scenario_figure(table: pd.DataFrame, *, fig_id: str, title: str, k: int = 6) -> Markup:
    """Median trajectory with its 95% bootstrap band (shaded) and the no-intervention baseline (dashed) of the
    *k* taxa that reach the highest median."""
    taxa = _top_taxa(table, "median", k)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        for c, taxon in zip(COLORS, taxa):
            t = table[table["taxon"] == taxon]
            ax.fill_between(t["time"], t["low"], t["high"], color=c, alpha=0.18, lw=0)
            ax.plot(t["time"], t["median"], "-", color=c, lw=1.4, label=mpl_text(taxon, 28))
            ax.plot(t["time"], t["baseline"], "--", color=c, lw=0.9)
        ax.set_yscale("log")
        ax.set_xlabel("time (days)")
        ax.set_ylabel("abundance (model units)")
        ax.set_title("line scenario median · band 95% bootstrap · dashed no intervention", fontsize=8)
        ax.legend(fontsize=7, loc="lower right")

    return figure_svg(draw, fig_id, title, size=(6.0, 3.8))


def readout_figure(table: pd.DataFrame, *, fig_id: str, title: str) -> Markup:
    """Median shift of each readout (scenario − no intervention) with its 95% band."""
    t = table.dropna(subset=["shift"]).reset_index(drop=True)

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        y = np.arange(len(t))
        err = np.vstack([(t["shift"] - t["shift_low"]).clip(lower=0), (t["shift_high"] - t["shift"]).clip(lower=0)])
        ax.errorbar(t["shift"], y, xerr=err, fmt="o", color=COLORS[0], ms=4, capsize=2)
        ax.axvline(0, color="#888888", lw=0.8)
        ax.set_yticks(y, [mpl_text(r, 30) for r in t["readout"]], fontsize=7)
        ax.set_xlabel("shift: scenario − no intervention")

    return figure_svg(draw, fig_id, title, size=(5.0, 0.9 + 0.28 * max(len(t), 1)))


def probability_figure(table: pd.DataFrame, *, fig_id: str, title: str) -> Markup:
    """A saved classifier's disease probability over simulated time: scenario median with its 95% bootstrap band
    and the no-intervention baseline (dashed, with its band); times outside the training range marked."""

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        t = table["time"]
        ax.fill_between(t, table["scenario_low"], table["scenario_high"], color=COLORS[0], alpha=0.18, lw=0)
        ax.plot(t, table["scenario"], "-", color=COLORS[0], lw=1.4, label="scenario")
        ax.fill_between(t, table["baseline_low"], table["baseline_high"], color=COLORS[1], alpha=0.12, lw=0)
        ax.plot(t, table["baseline"], "--", color=COLORS[1], lw=1.0, label="no intervention")
        out = table["outside_training"].fillna(0) > 0
        if out.any():
            ax.plot(t[out], np.full(int(out.sum()), 1.02), "|", color="#aa3333", ms=6,
                    label="outside training range")
        ax.set_ylim(-0.02, 1.05)
        ax.set_xlabel("time (days)")
        ax.set_ylabel("predicted disease probability")
        ax.set_title("line median · band 95% bootstrap over model fits · dashed no intervention", fontsize=8)
        ax.legend(fontsize=7, loc="best")

    return figure_svg(draw, fig_id, title, size=(6.0, 3.4))
