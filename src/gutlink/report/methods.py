"""A methods paragraph the user can paste, generated from what ran: software and versions, the design, every
test with its correction, permutations, shuffles and seeds.

:func:`methods_sentences` dispatches on the result type like :func:`~gutlink.report.renderers.render`; a result
without its own sentences is described by its tests (the ``test`` column of its tables) and the q-value
correction every gutlink q-value uses (Benjamini–Hochberg, :func:`gutlink.multitest.bh`).
:func:`methods_section` assembles the paragraph of a :class:`~gutlink.run.Run` or of a bare result.

Examples
--------
>>> from gutlink.design import Design
>>> design_sentence(Design(group="Diagnosis", case=("CD",), control=("Control",), covariates=("age",)))
'Cases (Diagnosis = CD) were compared with controls (Diagnosis = Control), adjusted for age.'
>>> versions_sentence({"gutlink": "0.1.0", "python": "3.11.7", "numpy": "2.0"})
'Analyses were run with gutlink 0.1.0 (Python 3.11.7; numpy 2.0).'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import singledispatch
from typing import Any

import pandas as pd
from markupsafe import Markup

from ..community import AlphaResult, DysbiosisResult, PermanovaResult
from ..design import Design
from ..differential import DifferentialResult
from ..evidence import AtlasResult, Evidence
from ..link import LinkResult
from ..results import Result
from ..run import Run, software_versions
from .context import Context, Section
from .fmt import fmt_name

__all__ = ["design_sentence", "methods_paragraph", "methods_section", "methods_sentences", "versions_sentence"]

#: How the tests of the tables are named in the paragraph.
TEST_NAMES = {"mann_whitney": "two-sided Mann–Whitney U tests (effect: Hodges–Lehmann shift with its 95 % CI)",
              "kruskal_wallis": "Kruskal–Wallis tests", "fisher_exact": "Fisher's exact test",
              "permdisp": "PERMDISP (distances to group centroids)"}
BH = "Benjamini–Hochberg"


def _join(items: Iterable[str]) -> str:
    items = [str(i) for i in items if str(i)]
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def versions_sentence(versions: Mapping[str, str]) -> str:
    """Which software, which versions."""
    v = dict(versions)
    head = f"gutlink {v.pop('gutlink', '?')}"
    py = v.pop("python", "")
    libs = "; ".join(f"{k} {val}" for k, val in v.items())
    inner = "; ".join(x for x in ((f"Python {py}" if py else ""), libs) if x)
    return f"Analyses were run with {head}" + (f" ({inner})." if inner else ".")


def design_sentence(design: Design) -> str:
    """The comparison and what it respected (covariates, subjects, blocks, strata, studies)."""
    text = (f"Cases ({design.group} = {' + '.join(design.case)}) were compared with controls "
            f"({design.group} = {' + '.join(design.control)})")
    extra = []
    if design.covariates:
        extra.append(f"adjusted for {_join(design.covariates)}")
    for name, what in (("subject", "repeated samples grouped by subject"), ("block", "blocks"),
                       ("strata", "permutations restricted within strata"), ("study", "studies"),
                       ("batch", "batches")):
        col = getattr(design, name, None)
        if col:
            extra.append(f"{what} ({name} column {col})")
    return text + (", " + ", ".join(extra) if extra else "") + "."


def _tests_of(frame: pd.DataFrame | None) -> list[str]:
    if frame is None or "test" not in getattr(frame, "columns", ()):
        return []
    return [TEST_NAMES.get(str(t), fmt_name(t)) for t in dict.fromkeys(frame["test"].dropna().astype(str))]


@singledispatch
def methods_sentences(result: Result) -> list[str]:
    """Sentences describing how *result* was computed (default: its tests and their correction)."""
    title = getattr(result, "REPORT_TITLE", "") or type(result).__name__
    table = getattr(result, "tests", None)
    if not isinstance(table, pd.DataFrame):
        table = getattr(result, "table", None)
    tests = _tests_of(table if isinstance(table, pd.DataFrame) else None)
    out = [f"{str(title)[0].upper()}{str(title)[1:]}."]
    if tests:
        out.append(f"Tests: {_join(tests)}.")
    if isinstance(table, pd.DataFrame) and "q_value" in table.columns:
        out.append(f"q-values are {BH} false-discovery-rate adjusted.")
    return out


def _alpha(res: AlphaResult) -> str:
    metrics = [fmt_name(m) for m in res.values.columns if m != "group_label"]
    return (f"Alpha diversity ({_join(metrics)}) was compared between groups by {_join(_tests_of(res.tests))}.")


def _permanova(perms: Mapping[str, PermanovaResult]) -> str:
    first = next(iter(perms.values()))
    strata = f", permutations restricted within {first.strata}" if first.strata else ""
    return (f"Community composition ({_join(fmt_name(m) for m in perms)} distances) was ordinated by principal "
            f"coordinates analysis and tested by PERMANOVA ({first.formula}, {first.by} sums of squares, "
            f"{first.permutations} permutations{strata}); differences in spread by PERMDISP.")


def _dysbiosis(res: DysbiosisResult) -> str:
    return (f"Each sample's dysbiosis score was its median {fmt_name(res.metric)} distance to the control samples; "
            f"samples above the controls' {100 * res.quantile:.0f}th percentile were called dysbiotic.")


def _differential(res: DifferentialResult) -> list[str]:
    out = [f"Differential abundance: model {res.model} ({res.formula}) on {res.n_features} features and "
           f"{res.n_samples} samples, q-values by {BH} across features (threshold {res.alpha:g})."]
    pm = res.presence_model or {}
    if pm.get("model"):
        out.append(f"Presence/absence was modelled apart ({pm['model']}).")
    nc = res.negative_control or {}
    if nc.get("n_shuffles"):
        out.append(f"Negative control: the analysis was repeated on {nc['n_shuffles']} shuffles of "
                   f"{nc.get('variable', 'the labels')} (permuted within {nc.get('permuted_within', 'all samples')}).")
    return out


def _prediction(p: Any) -> str:
    proto = getattr(p, "protocol", {}) or {}
    cv = (f"{proto.get('n_repeats', '?')} × {proto.get('n_folds', '?')}-fold nested cross-validation "
          f"({proto.get('n_inner', '?')} inner folds{', grouped by subject' if proto.get('grouped') else ''})")
    perms = int(proto.get("n_permutations") or 0)
    tail = f", with a {perms}-permutation label test" if perms else ""
    return (f"Prediction: {p.model} classifier, {proto.get('normalisation', '')} features, all preprocessing inside "
            f"the folds, {cv}; AUROC with its 95 % CI{tail}.")


def _link_layers(res: LinkResult) -> list[str]:
    out = []
    if res.guilds is not None:
        out.append(f"Barrier and immune guild scores were tested on {res.guilds.structure} with {BH} q-values "
                   f"within the guild family and {res.guilds.n_shuffles} design-preserving label shuffles as a "
                   "negative control.")
    if res.markers is not None:
        out.append(f"Host markers were related to guild scores by {res.markers.model} models ({BH} q-values).")
    lit = res.literature
    if lit is not None and lit.verdict != "not assessable":
        src = lit.source or {}
        out.append(f"Published signatures of {lit.condition} ({src.get('database', 'BugSigDB')} export "
                   f"{src.get('export', '?')}, {str(src.get('licence', '')).split(' (')[0]}) were compared with the differential "
                   f"results by rank enrichment against {lit.n_permutations} size-matched random signatures, "
                   f"studies weighted equally.")
    return out


@methods_sentences.register
def _(res: AlphaResult) -> list[str]:
    return [_alpha(res), f"q-values by {BH}."]


@methods_sentences.register
def _(res: DifferentialResult) -> list[str]:
    return _differential(res)


@methods_sentences.register
def _(res: LinkResult) -> list[str]:
    s = res.cohort_summary or {}
    rank = f" at {res.rank} level" if res.rank else ""
    out = [f"{s.get('n_samples_analysed', sum(res.n_per_group.values()))} samples ({res.n_per_group.get('case', 0)} "
           f"cases, {res.n_per_group.get('control', 0)} controls) and {s.get('n_features', '?')} features{rank} "
           f"({s.get('units', '')}) were analysed.", _alpha(res.alpha)]
    if res.permanova:
        out.append(_permanova(res.permanova))
    out.append(_dysbiosis(res.dysbiosis))
    out.append(f"The community tests' q-values are {BH} adjusted across the {len(res.tests)} tests of the run "
               f"(threshold {res.verdict.get('q_threshold', 0.05)}).")
    if res.differential is not None:
        out += _differential(res.differential)
    if res.prediction is not None:
        out.append(_prediction(res.prediction))
    out += _link_layers(res)
    out.append(_rubric_sentence())
    return out


def _rubric_sentence() -> str:
    return ("Each layer was graded by the evidence rubric (evidence_rubric.tsv): its main test must pass, then one "
            "point each for effect size, consistency across cohorts, adjustment for confounders, concordance with "
            "the literature and a calibrated negative control; a layer behind a red design check is not gradable, "
            "and the overall statement is never stronger than its best layer.")


@methods_sentences.register
def _(res: Evidence) -> list[str]:
    cohorts = sorted({str(c) for c in res.cohorts["cohort"]}) if "cohort" in res.cohorts else []
    return [f"Evidence for {res.condition} was gathered from {len(cohorts)} cohort(s) across "
            f"{len(res.layers)} layer(s); interval-bearing layers of several cohorts were pooled by random-effects "
            "meta-analysis (REML).", _rubric_sentence()]


@methods_sentences.register
def _(res: AtlasResult) -> list[str]:
    out = [f"gutlink atlas ran link on {len(res.links) or len(res.cohorts)} cohort(s) for "
           f"{len(res.evidence)} condition(s); prediction across cohorts was assessed leave-one-study-out and taxa "
           "were pooled across cohorts by random effects (REML)."]
    out += [s for link in list(res.links.values())[:1] for s in methods_sentences(link)[1:-1]]
    return [*out, _rubric_sentence()]


def _seed(seed: Any) -> str:
    return f"Random seed: {seed}." if seed is not None else "No random seed was fixed."


def methods_paragraph(result: Result) -> str:
    """The whole paragraph of *result* (a :class:`~gutlink.run.Run` or a bare result)."""
    if isinstance(result, Run):
        parts = [versions_sentence(result.versions)]
        if result.command:
            parts.append(f"Command: {result.command}.")
        if result.design is not None:
            parts.append(design_sentence(result.design))
        for r in result.results:
            parts += methods_sentences(r)
        parts.append(_seed(result.seed))
        return " ".join(parts)
    versions = getattr(result, "versions", None)
    parts = [versions_sentence(versions if isinstance(versions, Mapping) and versions else software_versions())]
    parts += methods_sentences(result)
    if hasattr(result, "seed"):
        parts.append(_seed(result.seed))  # type: ignore[attr-defined]
    return " ".join(parts)


def methods_section(result: Result, ctx: Context) -> Section:
    """The "Methods" section: the paragraph, ready to paste."""
    body = Markup(ctx.env.from_string(_TEMPLATE).render(text=methods_paragraph(result)))
    return Section("methods", "Methods (to paste)", body)


_TEMPLATE = """<p class="lead">Generated from what ran; edit freely. Every number is in <code>summary.json</code>.</p>
<blockquote id="methods-text" class="methods">{{ text }}</blockquote>"""
