"""Report section and tables of the literature concordance (BugSigDB): the verdict from the result's own
numbers, the study scores against their random-signature null, the overall tests, coverage and the genera
whose published direction is well replicated.

Importing this module registers :func:`~gutlink.report.renderers.render` and :func:`~gutlink.report.export.tables`
for :class:`~gutlink.literature.ConcordanceResult` (``gutlink.report`` imports it). Figure ids start with
``fig-literature-``.

Examples
--------
>>> import pandas as pd
>>> from gutlink.literature import concordance
>>> from gutlink.report import render_html
>>> empty = pd.DataFrame(columns=["feature_id", "term", "effect", "p_value"])
>>> html = render_html(concordance(empty, condition="RA"))
>>> "not assessable" in html.lower() and "CC BY 4.0" in html
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from ..literature import ConcordanceResult
from .context import Context, Section
from .export import tables
from .renderers import render
from .svg import figure_svg, mpl_text

__all__: list[str] = []

#: Replicated genera shown on the page (all are in ``literature_taxa.tsv``).
TOP_GENERA = 30
_TEST_NAMES = {"enrichment": "Enrichment, every signature (study-weighted rank score)",
               "enrichment_up": "Enrichment, signatures up in disease", "enrichment_down":
               "Enrichment, signatures down in disease", "direction_agreement": "Direction agreement",
               "specificity_vs_other_conditions": "Score vs studies of other conditions"}


def _draw_studies(fig: Figure, studies: pd.DataFrame, alpha: float) -> None:
    ax = fig.add_subplot()
    s = studies.sort_values("score", kind="mergesort")
    y = np.arange(len(s))
    colours = np.where(s["q_value"].to_numpy(dtype=float) < alpha, "#1b7837", "#9e9e9e")
    ax.barh(y, s["score"].to_numpy(dtype=float), color=colours, edgecolor="white")
    ax.axvline(0.0, color="#333333", lw=0.8)
    labels = [mpl_text(f"{st} ({n} sig.)", 30) for st, n in zip(s["study"], s["n_signatures"])]
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlim(-0.5, 0.5)
    ax.set_xlabel("signed rank score (0 = random signature; > 0 agrees)")


def _figure(result: ConcordanceResult) -> Markup:
    height = 1.4 + 0.22 * max(len(result.studies), 1)
    return figure_svg(lambda fig: _draw_studies(fig, result.studies, result.alpha), "fig-literature-studies",
                      f"Concordance of each study's {result.condition} signatures with the cohort (green: q < "
                      f"{result.alpha:g})", size=(6.0, height))


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict(orient="records")]


@render.register
def _(result: ConcordanceResult, ctx: Context) -> list[Section]:
    assessable = result.verdict != "not assessable"
    taxa = result.taxa
    replicated = taxa[(taxa["consensus"] != "")].head(TOP_GENERA) if len(taxa) else taxa
    tests = [{**r, "name": _TEST_NAMES.get(str(r["test"]), str(r["test"]))} for r in _records(result.tests)]
    body = ctx.render("literature.html.j2", r=result, assessable=assessable, tests=tests,
                      svg=_figure(result) if assessable and len(result.studies) else "",
                      cov=result.coverage, overall=result.overall, replicated=_records(replicated),
                      contradictions=_records(result.contradictions()) if len(taxa) else [],
                      labels=", ".join(result.labels))
    return [Section("literature", f"Literature concordance: {result.condition} (BugSigDB)", body,
                    ("fig-literature-studies",) if assessable and len(result.studies) else ())]


@tables.register
def _(result: ConcordanceResult) -> dict[str, pd.DataFrame]:
    return {"literature_signatures.tsv": result.table, "literature_studies.tsv": result.studies,
            "literature_taxa.tsv": result.taxa, "literature_tests.tsv": result.tests,
            "literature_mapping.tsv": result.mapping}
