"""Report section of the health indices (GMHI)."""

from __future__ import annotations

import pandas as pd

from ..indices import GMHIResult
from .context import Context, Section
from .export import tables
from .figures import box_strip_figure
from .renderers import render

__all__: list[str] = []


@render.register
def _(result: GMHIResult, ctx: Context) -> list[Section]:
    g = result.table["gmhi"]
    labels = ctx.labels if ctx.labels is not None else pd.Series("samples", index=g.index)
    svg = box_strip_figure(g, labels.reindex(g.index).fillna("samples"), ctx.groups, fig_id="fig-gmhi",
                           title="GMHI per sample", ylabel="GMHI (log10 ratio)", threshold=0.0,
                           threshold_label="0: healthy-like above, disease-like below")
    body = ctx.render("gmhi.html.j2", r=result, svg=svg, n=len(g), n_pos=int((g > 0).sum()),
                      n_neg=int((g < 0).sum()), n_zero=int((g == 0).sum()))
    return [Section("gmhi", "Gut Microbiome Health Index", body, ("fig-gmhi",))]


@tables.register
def _(result: GMHIResult) -> dict[str, pd.DataFrame]:
    table = result.table
    out = {"gmhi.tsv": table if table.index.name else table.rename_axis("sample_id")}
    if len(result.matches):
        out["gmhi_species.tsv"] = result.matches
    return out
