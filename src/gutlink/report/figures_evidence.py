"""Figures of the evidence synthesis: a forest plot per condition and layer (each cohort's effect with its 95 %
interval, the random-effects pooled estimate as a diamond, the null as a line).

Examples
--------
>>> import pandas as pd
>>> f = pd.DataFrame({"cohort": ["a", "b", "pooled (random effects)"], "effect": [0.7, 0.6, 0.65],
...                   "ci_low": [0.6, 0.5, 0.58], "ci_high": [0.8, 0.7, 0.72], "pooled": [False, False, True]})
>>> forest_figure(f, null=0.5, xlabel="AUROC", fig_id="fig-f", title="forest").startswith("<svg")
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from .svg import figure_svg, mpl_text

__all__ = ["forest_figure"]


def _draw(fig: Figure, rows: pd.DataFrame, null: float, xlabel: str) -> None:
    ax = fig.add_subplot()
    n = len(rows)
    y = np.arange(n)[::-1].astype(float)
    eff = rows["effect"].to_numpy(dtype=float)
    lo, hi = rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float)
    pooled = rows["pooled"].to_numpy(dtype=bool)
    single = ~pooled
    ax.errorbar(eff[single], y[single], xerr=[eff[single] - lo[single], hi[single] - eff[single]], fmt="s",
                color="#33638d", ecolor="#33638d", ms=4, capsize=2, lw=1)
    for yi, e, a, b in zip(y[pooled], eff[pooled], lo[pooled], hi[pooled]):
        ax.fill([a, e, b, e], [yi, yi + 0.3, yi, yi - 0.3], color="#b2182b")
    ax.axvline(null, color="#555555", lw=0.8, ls="--")
    ax.set_yticks(y, [mpl_text(c, 34) for c in rows["cohort"]], fontsize=7)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel(xlabel)


def forest_figure(rows: pd.DataFrame, *, null: float, xlabel: str, fig_id: str, title: str) -> Markup:
    """A forest plot of *rows* (``cohort, effect, ci_low, ci_high, pooled``) as inline SVG."""
    return figure_svg(lambda fig: _draw(fig, rows.reset_index(drop=True), null, xlabel), fig_id, title,
                      size=(5.6, 1.2 + 0.28 * max(len(rows), 1)))
