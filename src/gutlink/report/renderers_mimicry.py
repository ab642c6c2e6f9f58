"""Report sections and tables for molecular mimicry: scan hits, per-taxon burden, per-sample burden by group.

Importing this module registers :func:`~gutlink.report.renderers.render` and :func:`~gutlink.report.export.tables`
for :class:`~gutlink.mimicry.ScanResult`, :class:`~gutlink.mimicry.BurdenResult` and
:class:`~gutlink.mimicry.MimicryResult` (``gutlink.report`` imports it). Every user string (protein, proteome,
taxon, epitope, disease and group names) reaches the page through autoescaped templates or as matplotlib text.
Figure ids start with ``fig-mimicry-``.

Examples
--------
>>> from gutlink.mimicry import Proteome, scan
>>> from gutlink.report import render_html
>>> res = scan([Proteome.from_records("bug", [("p1", "MKVHFFQNVITKL")])], "builtin:MS", min_score=40)
>>> html = render_html(res)
>>> 'id="fig-mimicry-epitopes"' in html and "VHFFQNVIT" in html
True
>>> alignment("VHFFKNIVT", "VHFFQNVIT", 5, 3)[1].strip()
'||||:|++|'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..design import LABEL
from ..mimicry.alphabet import AMINO_ACIDS, substitution_matrix
from ..mimicry.burden import BurdenResult, taxon_burden
from ..mimicry.scan import ScanResult
from ..mimicry.summary import MimicryResult
from ..results import TEST_COLUMNS
from .context import Context, Section, slug
from .export import tables
from .figures import PALETTE, GroupStyle, box_strip_figure
from .fmt import fmt_num
from .renderers import render
from .svg import figure_svg, mpl_text

__all__ = ["TOP_EPITOPES", "TOP_MIMICS", "TOP_TAXA", "alignment", "burden_section", "scan_section"]

#: Hits shown as alignments, epitopes shown in the bar chart, proteomes shown in the burden table.
TOP_MIMICS, TOP_EPITOPES, TOP_TAXA = 25, 30, 40
#: Display name of the burden test (the report's shared name table does not know it).
TEST_NAME = "Mann–Whitney U, p from shuffled taxon → proteome assignments"
#: Display name of the stratified burden test.
STRATIFIED_TEST_NAME = "van Elteren stratified Wilcoxon, p from shuffled taxon → proteome assignments"
_INDEX = {aa: i for i, aa in enumerate(AMINO_ACIDS)}


# ----------------------------------------------------------------------------- alignments
def alignment(query: str, window: str, query_start: int, start: int,
              matrix: np.ndarray | None = None) -> tuple[str, str, str]:
    """Three monospace lines: the epitope query, the match line and the mimic window, with 1-based positions.

    The match line marks an identity with ``|``, a substitution that *matrix* (BLOSUM62 by default) scores 2 or
    more with ``+``, one it scores 1 with ``:``, and anything else with a space.

    Examples
    --------
    >>> print("\\n".join(alignment("VLPWNAFPG", "IIPWNSFPG", 1, 40)))
    epitope  1 VLPWNAFPG 9
               ++|||:|||
    mimic   40 IIPWNSFPG 48
    """
    m = substitution_matrix("BLOSUM62") if matrix is None else matrix
    marks = "".join(_mark(a, b, m) for a, b in zip(query, window))
    width = max(len(str(query_start)), len(str(start)))
    q_end, w_end = query_start + len(query) - 1, start + len(window) - 1
    return (f"epitope {query_start:>{width}} {query} {q_end}", f"        {'':>{width}} {marks}",
            f"mimic   {start:>{width}} {window} {w_end}")


def _mark(a: str, b: str, m: np.ndarray) -> str:
    if a == b:
        return "|"
    if a not in _INDEX or b not in _INDEX:
        return " "
    score = m[_INDEX[a], _INDEX[b]]
    return "+" if score >= 2 else ":" if score > 0 else " "


def _matrix(parameters: Mapping[str, Any]) -> np.ndarray:
    return substitution_matrix(_matrix_name(parameters))


def _matrix_name(parameters: Mapping[str, Any]) -> str:
    name = parameters.get("matrix")
    return name if isinstance(name, str) and name != "custom" else "BLOSUM62"


def _top_mimics(result: ScanResult) -> list[dict[str, Any]]:
    hits = result.hits
    if hits.empty:
        return []
    ranked = hits.assign(_frac=hits["score"] / hits["self_score"].where(hits["self_score"] != 0, np.nan))
    ranked = ranked.sort_values(["_frac", "score", "identity"], ascending=False, kind="stable").head(TOP_MIMICS)
    m = _matrix(result.parameters)
    return [{**{k: row[k] for k in ("epitope_id", "disease", "antigen", "proteome", "protein", "start", "end",
                                     "score", "self_score", "identity", "mismatches")},
             "lines": alignment(str(row["query"]), str(row["window"]), int(row["query_start"]), int(row["start"]), m)}
            for _, row in ranked.iterrows()]


# ----------------------------------------------------------------------------- figures
def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


def _disease_colours(diseases: list[str]) -> dict[str, str]:
    return {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(sorted(diseases))}


def _draw_bars(fig: Figure, counts: pd.Series, colours: list[str], xlabel: str, legend: Mapping[str, str]) -> None:
    ax = fig.add_subplot()
    if counts.empty:
        _empty(ax, "no window reached the threshold")
        return
    y = np.arange(len(counts))[::-1]
    ax.barh(y, counts.to_numpy(), color=colours, edgecolor="white")
    ax.set_yticks(y, [mpl_text(label, 36) for label in counts.index])
    ax.set_xlabel(xlabel)
    for yi, v in zip(y, counts.to_numpy()):
        ax.text(v, yi, f" {int(v)}", va="center", fontsize=8, color="#333333")
    if len(legend) > 1:
        handles = [Patch(facecolor=c) for c in legend.values()]
        fig.legend(handles, [mpl_text(d, 24) for d in legend], loc="outside lower center",
                   ncols=min(4, len(legend)), fontsize=8)


def _disease_figure(hits: pd.DataFrame) -> Markup:
    counts = hits.groupby("disease").size().sort_values(ascending=False) if len(hits) else pd.Series(dtype=int)
    colours = _disease_colours(list(counts.index))
    height = 1.4 + 0.32 * max(len(counts), 1)
    return figure_svg(lambda fig: _draw_bars(fig, counts, [colours[d] for d in counts.index], "Hits (windows)", {}),
                      "fig-mimicry-diseases", "Mimicry hits per disease", size=(5.0, height))


def _epitope_figure(hits: pd.DataFrame) -> Markup:
    if len(hits):
        per = hits.groupby(["epitope_id", "disease"]).size().rename("n").reset_index()
        per = per.sort_values(["n", "epitope_id"], ascending=[False, True]).head(TOP_EPITOPES)
        counts = pd.Series(per["n"].to_numpy(), index=per["epitope_id"].to_numpy())
        colours = _disease_colours(sorted(set(per["disease"])))
        bars = [colours[d] for d in per["disease"]]
    else:
        counts, colours, bars = pd.Series(dtype=int), {}, []
    height = 1.6 + 0.28 * max(len(counts), 1)
    return figure_svg(lambda fig: _draw_bars(fig, counts, bars, "Hits (windows)", colours), "fig-mimicry-epitopes",
                      f"Mimicry hits per epitope (top {TOP_EPITOPES}), coloured by disease", size=(6.2, height))


# ----------------------------------------------------------------------------- per-taxon burden table
def _taxon_rows(burden: pd.DataFrame) -> tuple[list[dict[str, Any]], list[str]]:
    if burden.empty:
        return [], []
    keys = ["proteome"] + (["taxon"] if "taxon" in burden.columns else [])
    b = burden.assign(taxon=burden["taxon"].fillna("")) if "taxon" in burden.columns else burden
    wide = b.pivot_table(index=keys, columns="disease", values="weighted_hits", aggfunc="sum", fill_value=0.0)
    totals = b.groupby(keys).agg(n_hits=("n_hits", "sum"), best_score=("best_score", "max"),
                                 n_epitopes=("epitope_id", "nunique"))
    table = totals.join(wide).assign(total=wide.sum(axis=1)).sort_values("total", ascending=False).head(TOP_TAXA)
    diseases = [str(d) for d in wide.columns]
    rows = [{**dict(zip(keys, idx if isinstance(idx, tuple) else (idx,))), **row.to_dict()}
            for idx, row in table.iterrows()]
    return rows, diseases


# ----------------------------------------------------------------------------- scan section
_SCAN = """{% import "macros.html.j2" as m %}
<p class="lead">Windows of {{ p.k }} residues in the scanned proteomes that look like a human autoantigen epitope
(or, for celiac disease, a dietary antigen): {{ threshold }}. A hit is sequence similarity only; whether T or B
cells cross-react has to be tested in the laboratory.</p>
<dl class="facts">
<dt>Proteomes</dt><dd>{{ totals.n_proteomes }} ({{ totals.n_proteins|num }} proteins{% if totals.genes_called %},
genes called with pyrodigal in {{ totals.genes_called }}{% endif %})</dd>
<dt>Residues scanned</dt><dd>{{ totals.n_residues|num }} ({{ totals.n_windows|num }} windows scored,
{{ totals.n_windows_skipped|num }} skipped for X/B/Z/J or an internal stop)</dd>
<dt>Epitopes</dt><dd>{{ p.n_epitopes }} ({{ p.n_queries }} query windows){% if epitopes %} from {{ epitopes }}{% endif %}</dd>
<dt>Scoring</dt><dd>{{ scoring }}</dd>
<dt>Hits</dt><dd>{{ n_hits|num }} windows in {{ n_with_hits }} proteome(s)</dd>
</dl>
<div class="grid wide">
{% call m.figure("fig-mimicry-diseases", fig_diseases) %}Number of windows at or above the threshold, per disease
of the epitope they resemble.{% endcall %}
{% call m.figure("fig-mimicry-epitopes", fig_epitopes) %}Number of windows per epitope (at most the {{ top_epitopes }}
epitopes with most hits), coloured by disease. Every hit is in <code>hits.tsv</code>.{% endcall %}
</div>
"""

_ALIGN = """<p class="lead">The {{ items|length }} closest mimics (score as a fraction of the epitope core's
self-score). Match line: <code>|</code> identical residue, <code>+</code> a substitution that {{ matrix }}
scores 2 or more, <code>:</code> one it scores 1, blank otherwise. Positions are 1-based in the epitope and the protein.</p>
{% for a in items %}
<figure class="alignment" id="mimic-{{ loop.index }}">
<figcaption><strong>{{ a.epitope_id }}</strong>{% if a.antigen %} ({{ a.antigen }}){% endif %} · {{ a.disease }} ·
{{ a.proteome }} / {{ a.protein }}, residues {{ a.start }}–{{ a.end }} · score {{ a.score|num }} of {{ a.self_score|num }}
· identity {{ a.identity|pct }} ({{ a.mismatches }} mismatch{{ "es" if a.mismatches != 1 }})</figcaption>
<pre><code>{{ a.lines|join("\n") }}</code></pre>
</figure>
{% else %}
<p>No window reached the threshold.</p>
{% endfor %}
"""

_TAXA = """<p class="lead">Hits per proteome{{ " and taxon" if has_taxon }}: weighted hits add up score ÷ self-score
of every hit (1 for an identical window), per disease. {% if rows|length == top %}The {{ top }} proteomes with the most
weighted hits are shown. {% endif %}Every proteome, disease and epitope is in <code>taxon_burden.tsv</code>.</p>
{% if rows %}
<div class="table-scroll">
<table id="mimicry-taxon-burden">
<thead><tr><th scope="col">Proteome</th>{% if has_taxon %}<th scope="col">Taxon</th>{% endif %}
<th scope="col" class="num">Hits</th><th scope="col" class="num">Epitopes</th><th scope="col" class="num">Best score</th>
{% for d in diseases %}<th scope="col" class="num">{{ d }}: weighted hits</th>{% endfor %}</tr></thead>
<tbody>
{% for r in rows %}<tr><td>{{ r.proteome }}</td>{% if has_taxon %}<td>{{ r.taxon }}</td>{% endif %}
<td class="num">{{ r.n_hits|num }}</td><td class="num">{{ r.n_epitopes|num }}</td><td class="num">{{ r.best_score|num }}</td>
{% for d in diseases %}<td class="num">{{ r[d]|num }}</td>{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
</div>
{% else %}
<p>No proteome has a hit.</p>
{% endif %}
"""


def _totals(proteomes: pd.DataFrame) -> dict[str, Any]:
    cols = ("n_proteins", "n_residues", "n_windows", "n_windows_skipped")
    out = {c: int(proteomes[c].sum()) if c in proteomes else 0 for c in cols}
    out["genes_called"] = int(proteomes["genes_called"].sum()) if "genes_called" in proteomes else 0
    return {**out, "n_proteomes": len(proteomes)}


def _threshold(p: Mapping[str, Any]) -> str:
    if p.get("max_mismatches") is not None:
        kind = " conservative" if p.get("conservative") else ""
        return f"at most {p['max_mismatches']}{kind} substitution(s) against the epitope core"
    parts = []
    if p.get("min_score") is not None:
        parts.append(f"a summed {p.get('matrix')} score of at least {fmt_num(p['min_score'])}")
    if p.get("min_fraction") is not None:
        parts.append(f"at least {100 * float(p['min_fraction']):.0f} % of the epitope core's self-score")
    return " and ".join(parts) or "every window is reported"


def _scoring(p: Mapping[str, Any]) -> str:
    text = f"{p.get('matrix')}, k = {p.get('k')}"
    if p.get("weights"):
        text += ", position weights " + ", ".join(fmt_num(w) for w in p["weights"])
    return text


def _from_string(ctx: Context, template: str, **values: Any) -> Markup:
    return Markup(ctx.env.from_string(template).render(ctx=ctx, **values))


def scan_section(result: ScanResult, burden: pd.DataFrame, ctx: Context, *, epitopes: str = "") -> Section:
    """The scan: facts, hits per disease and per epitope, top mimics aligned, and per-taxon burden.

    Examples
    --------
    >>> from gutlink.mimicry import Proteome, scan
    >>> from gutlink.report import context_for
    >>> res = scan([Proteome.from_records("bug", [("p1", "MKVHFFQNVITKL")])], "builtin:MS", min_score=40)
    >>> sec = scan_section(res, taxon_burden(res.hits), context_for(res))
    >>> sec.all_figures, [c.id for c in sec.children]
    (('fig-mimicry-diseases', 'fig-mimicry-epitopes'), ['mimicry-top', 'mimicry-taxa'])
    """
    p, hits = result.parameters, result.hits
    body = _from_string(ctx, _SCAN, p=p, totals=_totals(result.proteomes), threshold=_threshold(p),
                        scoring=_scoring(p), epitopes=epitopes, n_hits=len(hits),
                        n_with_hits=int(hits["proteome"].nunique()) if len(hits) else 0,
                        fig_diseases=_disease_figure(hits), fig_epitopes=_epitope_figure(hits),
                        top_epitopes=TOP_EPITOPES)
    align = Section("mimicry-top", "Top mimics aligned to their epitope",
                    _from_string(ctx, _ALIGN, items=_top_mimics(result), matrix=_matrix_name(p)))
    rows, diseases = _taxon_rows(burden)
    taxa = Section("mimicry-taxa", "Mimicry burden per taxon",
                   _from_string(ctx, _TAXA, rows=rows, diseases=diseases, top=TOP_TAXA,
                                has_taxon="taxon" in burden.columns))
    return Section("mimicry", "Molecular mimicry: proteome scan", body,
                   ("fig-mimicry-diseases", "fig-mimicry-epitopes"), (align, taxa))


# ----------------------------------------------------------------------------- burden section
_BURDEN = """{% import "macros.html.j2" as m %}
<p class="lead">Each sample's mimicry burden is the sum, over its taxa, of relative abundance × the taxon's
weighted hits ({{ taxa_note }}). Cases and controls are compared with a Mann–Whitney U test whose p-value comes from
{{ permutations }} shuffles of which proteome belongs to which mapped taxon: it asks whether the mimics, not
abundance shifts alone, separate the groups.{% if strata %} Cases are compared with controls only within each
stratum of <strong>{{ strata }}</strong>: the test is van Elteren's stratified Wilcoxon (each stratum's U weighted by
1 ÷ (stratum size + 1)), the shuffled-assignment null uses the same statistic, and the shift is the matching
stratified Hodges–Lehmann estimate; each stratum is also tested on its own below.{% endif %}</p>
<dl class="facts">
{% if design %}<dt>Group column</dt><dd>{{ design.group }}</dd>
<dt>Cases</dt><dd>{{ design.case|join(", ") }}</dd><dt>Controls</dt><dd>{{ design.control }}</dd>{% endif %}
{% for g in unmapped %}<dt>{{ m.group_name(gctx, g.label) }}</dt><dd>n = {{ g.n }}; median abundance without a
proteome: {{ g.median|pct }}</dd>
{% endfor %}
</dl>
<div class="grid">
{% for f in figures %}
{% call m.figure(f.id, f.svg) %}Mimicry burden for <strong>{{ f.disease }}</strong> epitopes, one point per sample.
{% if f.test %}{{ m.test_text(f.test) }}{% if strata %} van Elteren (normal approximation)
{{ m.p(f.test.p_van_elteren) }}; pooled, unstratified{% else %} Plain{% endif %} Mann–Whitney
{{ m.p(f.test.p_mann_whitney) }}.{% endif %}{% endcall %}
{% endfor %}
</div>
{{ m.tests_table(tests, caption="Burden tests, one per disease; q corrects across diseases (Benjamini–Hochberg).") }}
{% if per_stratum %}
<div class="table-scroll">
<table id="mimicry-burden-strata">
<caption>Each stratum of {{ strata }} on its own: Mann–Whitney U, its plain p and the p from the same shuffles of
taxon → proteome assignments; weight is the stratum's van Elteren weight. Small strata have little power.</caption>
<thead><tr><th scope="col">Disease</th><th scope="col">Stratum</th><th scope="col" class="num">n case / control</th>
<th scope="col" class="num">Hodges–Lehmann shift</th><th scope="col" class="num">95 % CI</th>
<th scope="col" class="num">U</th><th scope="col" class="num">p (shuffled)</th><th scope="col" class="num">p (Mann–Whitney)</th>
<th scope="col" class="num">Weight</th></tr></thead>
<tbody>
{% for r in per_stratum %}<tr><td>{{ r.metric }}</td><td>{{ r.stratum }}</td>
<td class="num">{{ r.n_case|num }} / {{ r.n_control|num }}</td><td class="num">{{ r.effect|num }}</td>
<td class="num">{{ ci(r.ci_low, r.ci_high) }}</td><td class="num">{{ r.statistic|num }}</td>
<td class="num">{{ r.p_value|p }}</td><td class="num">{{ r.p_mann_whitney|p }}</td><td class="num">{{ r.weight|num }}</td></tr>
{% endfor %}
</tbody>
</table>
</div>
{% endif %}
<p>Per-sample values are in <code>sample_burden.tsv</code>{% if per_stratum %}, per-stratum tests in
<code>burden_strata.tsv</code>{% endif %}.</p>
"""


def _test_rows(result: BurdenResult) -> list[dict[str, Any]]:
    cols = TEST_COLUMNS + [c for c in ("p_mann_whitney", "p_van_elteren") if c in result.tests.columns]
    rows = result.tests[cols].to_dict(orient="records")
    if result.strata is None:
        return [{**{str(k): v for k, v in r.items()}, "test": TEST_NAME} for r in rows]
    return [{**{str(k): v for k, v in r.items()}, "test": STRATIFIED_TEST_NAME,
             "effect_name": "stratified Hodges–Lehmann shift"} for r in rows]


def _group_style(labels: pd.Series, design: Mapping[str, Any]) -> GroupStyle:
    names = {}
    if design:
        names = {"case": f"Cases ({' + '.join(map(str, design.get('case', [])))})",
                 "control": f"Controls ({design.get('control')})"}
    return GroupStyle.from_labels(labels, control="control", case=["case"], names=names)


def _burden_figures(result: BurdenResult, groups: GroupStyle) -> list[dict[str, Any]]:
    samples, out = result.samples, []
    labels = samples[LABEL].astype(str)
    tests = {str(r["metric"]): r for r in _test_rows(result)}
    for disease in [c for c in samples.columns if c not in ("unmapped_fraction", LABEL, result.strata)]:
        fig_id = f"fig-mimicry-burden-{slug(disease)}"
        svg = box_strip_figure(samples[disease], labels, groups, fig_id=fig_id,
                               title=f"Mimicry burden per sample for {disease} epitopes, by group",
                               ylabel="Abundance-weighted hits")
        out.append({"id": fig_id, "svg": svg, "disease": disease, "test": tests.get(str(disease))})
    return out


def _unmapped(result: BurdenResult, groups: GroupStyle) -> list[dict[str, Any]]:
    s = result.samples
    labels = s[LABEL].astype(str)
    return [{"label": g, "n": int((labels == g).sum()), "median": float(s.loc[labels == g, "unmapped_fraction"].median())}
            for g in groups.order if (labels == g).any()]


def burden_section(result: BurdenResult, ctx: Context, *, design: Mapping[str, Any] | None = None) -> Section:
    """Per-sample burden by group: one box/strip figure and one test per disease.

    Examples
    --------
    >>> from gutlink.cohort import Cohort
    >>> from gutlink.mimicry import Proteome, burden_test, scan
    >>> from gutlink.report import context_for
    >>> hits = scan([Proteome.from_records("t0", [("a", "MKVHFFKNIVTG")])], "builtin:MS", min_score=40).hits
    >>> cohort = Cohort(np.arange(1, 13, dtype=float).reshape(6, 2),
    ...                 metadata=pd.DataFrame({"g": list("aaabbb")}, index=list("uvwxyz")),
    ...                 taxonomy=pd.DataFrame(index=["s__t0", "s__other"]), units="counts")
    >>> manifest = pd.DataFrame({"taxon": ["s__t0"], "path": [""], "proteome": ["t0"]})
    >>> res = burden_test(cohort, taxon_burden(hits), manifest=manifest, group="g", case=["a"], control="b",
    ...                   n_permutations=9, rng=0)
    >>> burden_section(res, context_for(res)).figures
    ('fig-mimicry-burden-ms',)
    """
    design = dict(design or {})
    groups = _group_style(result.samples[LABEL].astype(str), design)
    gctx = Context(env=ctx.env, groups=groups)
    figures = _burden_figures(result, groups)
    body = _from_string(ctx, _BURDEN, figures=figures, tests=_test_rows(result), design=design, gctx=gctx,
                        unmapped=_unmapped(result, groups), permutations=result.permutations,
                        strata=result.strata, per_stratum=result.per_stratum.to_dict(orient="records"),
                        taxa_note="score ÷ self-score summed over its hits, averaged over its proteomes")
    return Section("mimicry-burden", "Mimicry burden per sample, by group", body, tuple(f["id"] for f in figures))


# ----------------------------------------------------------------------------- registrations
@render.register
def _(result: ScanResult, ctx: Context) -> list[Section]:
    return [scan_section(result, taxon_burden(result.hits), ctx)]


@render.register
def _(result: BurdenResult, ctx: Context) -> list[Section]:
    return [burden_section(result, ctx)]


@render.register
def _(result: MimicryResult, ctx: Context) -> list[Section]:
    sections = [scan_section(result.scan, result.taxon_burden, ctx, epitopes=str(result.inputs.get("epitopes", "")))]
    if result.burden is not None:
        sections.append(burden_section(result.burden, ctx, design=result.design))
    return sections


def _scan_tables(result: ScanResult, burden: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"hits.tsv": result.hits, "taxon_burden.tsv": burden, "proteomes.tsv": result.proteomes}


def _burden_tables(result: BurdenResult) -> dict[str, pd.DataFrame]:
    samples = result.samples.rename_axis("sample_id")
    out = {"sample_burden.tsv": samples, "burden_tests.tsv": result.tests}
    return {**out, "burden_strata.tsv": result.per_stratum} if result.strata is not None else out


@tables.register
def _(result: ScanResult) -> dict[str, pd.DataFrame]:
    return _scan_tables(result, taxon_burden(result.hits))


@tables.register
def _(result: BurdenResult) -> dict[str, pd.DataFrame]:
    return _burden_tables(result)


@tables.register
def _(result: MimicryResult) -> dict[str, pd.DataFrame]:
    out = _scan_tables(result.scan, result.taxon_burden)
    return {**out, **(_burden_tables(result.burden) if result.burden is not None else {})}
