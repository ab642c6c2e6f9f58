"""The figures a link page draws from its guild layer and from link's per-sample figure data
(``LinkResult.extra``): shared by the page tests (tests/test_report.py, tests/test_browser.py)."""

from __future__ import annotations

from typing import Any


def layer_figures(res: Any) -> list[str]:
    """Figure ids of the guild layer, the PCoA by every case level (more than two levels) and the top-taxa plots."""
    out = ["fig-barrier", "fig-guild-loads"] if res.guilds is not None else []
    levels, top = res.extra.get("levels"), res.extra.get("top_abundance")
    if levels is not None and levels.nunique() > 2 and res.ordinations:
        out.append("fig-pcoa-levels")
    if top is not None and not top.empty and res.differential is not None:
        out.append("fig-top-taxa")
    return out
