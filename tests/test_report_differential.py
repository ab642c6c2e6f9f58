"""The report of a differential-abundance run and of a meta-analysis: figures, escaping, tables, control sentence."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _html import Page

from gutlink import Cohort, differential, meta, report
from gutlink.datasets import franzosa2019
from gutlink.differential import DifferentialResult
from gutlink.meta import MetaResult

EVIL_TAXON = "<script>alert(1)</script>_sp"
EVIL_LEVEL = '"><img src=x onerror=alert(2)>'
DOLLAR_TAXON = "Bug_$x^2$_sp"


@pytest.fixture(scope="module")
def evil_cohort() -> Cohort:
    """PRISM with hostile taxon names (markup, mathtext) and a hostile group level."""
    c = franzosa2019()
    names = list(c.feature_ids)
    abundant = list(np.argsort(-c.dense().mean(axis=0))[:2])
    names[abundant[0]], names[abundant[1]] = EVIL_TAXON, DOLLAR_TAXON
    meta = c.metadata.assign(Diagnosis=c.metadata["Diagnosis"].replace({"CD": EVIL_LEVEL}))
    tax = pd.DataFrame({"species": names}, index=names)
    return Cohort(c.dense(), metadata=meta.set_axis(c.sample_ids), taxonomy=tax, units="fraction")


@pytest.fixture(scope="module")
def evil_result(evil_cohort: Cohort) -> DifferentialResult:
    return differential.test(evil_cohort, "~ Diagnosis", group="Diagnosis", case=EVIL_LEVEL, control="Control",
                             n_shuffles=3, rng=1)


@pytest.fixture(scope="module")
def meta_result() -> MetaResult:
    c = franzosa2019()
    site = np.array(["siteA", "siteB", "siteC"])[np.arange(c.n_samples) % 3]
    return meta.by_study(c.with_metadata(c.metadata.assign(site=site)), "~ Diagnosis", study="site",
                         group="Diagnosis", case="CD", control="Control", prevalence=False)


def test_figures_and_sections(evil_result: DifferentialResult) -> None:
    page = Page(report.render_html(evil_result))
    assert set(page.figures) == {"fig-volcano", "fig-forest", "fig-composition"}
    for inner in page.figures.values():
        assert "svg" in inner and "title" in inner and "figcaption" in inner
    ids = [a["id"] for _, a in page.tags if a.get("id")]
    assert {"differential", "negative-control", "differential-table"} <= set(ids)
    assert len(ids) == len(set(ids))


def test_hostile_names_are_escaped(evil_result: DifferentialResult, tmp_path: Path) -> None:
    out = report.write(evil_result, tmp_path / "run")
    html = (out / "report.html").read_text(encoding="utf-8")
    page = Page(html)
    assert not {"script", "img"} & {t for t, _ in page.tags}
    assert not [k for _, a in page.tags for k in a if k.startswith("on")]
    for raw in ("<script>alert(1)", "<img src=x"):
        assert raw not in html
    text = page.all_text
    assert "<script>alert(1)</script> sp" in text  # shown as text in the table (underscores as spaces)
    assert "Bug $x^2$ sp" in text  # no mathtext, no backslash in HTML
    assert EVIL_LEVEL in text  # the group level (column headers: "Present in …")
    assert (out / "differential.tsv").is_file() and (out / "prevalence.tsv").is_file()
    tsv = pd.read_csv(out / "differential.tsv", sep="\t")
    assert EVIL_TAXON in set(tsv["feature_id"])
    json.loads((out / "summary.json").read_text(encoding="utf-8"))


def test_negative_control_sentence(evil_result: DifferentialResult) -> None:
    nc = evil_result.negative_control
    text = Page(report.render_html(evil_result)).all_text
    median = np.median(nc["discoveries"])
    assert f"Under 3 label shuffles of “Diagnosis”, a median of {median:g} features passed q < 0.05" in text
    plain = dataclasses.replace(evil_result, negative_control=None)
    assert "No label-shuffle negative control was run" in Page(report.render_html(plain)).all_text


def test_top_table_lists_significant_taxa_first(evil_result: DifferentialResult) -> None:
    html = report.render_html(evil_result)
    tab = evil_result.table.sort_values(["q_joint", "p_joint"])
    first = tab["feature_id"].iloc[0].replace("_", " ")
    table = html[html.index('id="differential-table"'):]
    assert first in table[: table.index("</tr>", table.index("<tbody>") + 10)]


def test_meta_report_has_its_forest_plot(meta_result: MetaResult, tmp_path: Path) -> None:
    out = report.write(meta_result, tmp_path / "meta")
    page = Page((out / "report.html").read_text(encoding="utf-8"))
    assert set(page.figures) == {"fig-meta-forest"}
    assert {"meta.tsv", "meta_loso.tsv", "meta_studies.tsv", "summary.json"} <= {p.name for p in out.iterdir()}
    assert "Leave-one-out" in page.all_text and "siteA" in page.all_text


def test_differential_with_meta_renders_both(evil_result: DifferentialResult, meta_result: MetaResult) -> None:
    page = Page(report.render_html(dataclasses.replace(evil_result, meta=meta_result)))
    assert set(page.figures) == {"fig-volcano", "fig-forest", "fig-meta-forest", "fig-composition"}
    assert set(report.tables(dataclasses.replace(evil_result, meta=meta_result))) == {
        "differential.tsv", "prevalence.tsv", "meta.tsv", "meta_loso.tsv", "meta_studies.tsv"}


def test_nothing_significant_still_renders() -> None:
    c = franzosa2019()
    gen = np.random.default_rng(0)
    shuffled = c.with_metadata(c.metadata.assign(fake=gen.permutation(np.tile(["a", "b"], 78)[: c.n_samples])))
    res = differential.test(shuffled, "~ fake", reference={"fake": "a"}, prevalence=False)
    page = Page(report.render_html(res))
    assert set(page.figures) == {"fig-volcano", "fig-forest", "fig-composition"}
    assert "nan" not in page.all_text.lower().split()


@pytest.mark.browser
def test_differential_page_in_headless_chromium(evil_result: DifferentialResult, meta_result: MetaResult,
                                                tmp_path: Path) -> None:
    """The page renders in Chromium with every figure drawn, no script, no request, no console error."""
    from test_browser import _require_browser, _visit

    _require_browser()
    out = report.write(dataclasses.replace(evil_result, meta=meta_result), tmp_path / "diff")
    html = out / "report.html"
    seen = _visit(html, tmp_path / "shot.png")
    assert seen["requests"] == [html.as_uri()]
    assert seen["console"] == [] and seen["errors"] == []
    figures = seen["figures"]
    assert isinstance(figures, dict) and sorted(figures) == ["fig-composition", "fig-forest", "fig-meta-forest",
                                                             "fig-volcano"]
    for fig_id, info in figures.items():
        assert info["width"] > 100 and info["height"] > 100 and info["caption"] > 20, (fig_id, info)
    assert seen["counts"]["scripts"] == 0 and "differential abundance" in str(seen["title"])


def test_omnibus_section_and_table(evil_cohort, tmp_path):
    """A three-level variable gets an omnibus section (escaped names) and omnibus.tsv beside the page."""
    result = differential.test(evil_cohort, "~ Diagnosis", min_prevalence=0.2)
    assert result.omnibus is not None and set(result.omnibus["term"]) == {"Diagnosis"}
    page = Page(report.render_html(result))
    assert "omnibus-table" in page.ids and "script" not in page.tag_names and "img" not in page.tag_names
    n_sig = int((result.omnibus["q_joint"] < result.alpha).sum())
    assert f"{n_sig} either (joint q)" in " ".join(page.all_text.split())
    out = report.write(result, tmp_path / "o")
    written = pd.read_csv(out / "omnibus.tsv", sep="\t")
    assert len(written) == len(result.omnibus) and "q_joint" in written.columns


def test_every_level_of_a_multi_level_factor_is_shown() -> None:
    """~ Diagnosis with CD, UC and Control: both CD vs Control and UC vs Control get their figures and table."""
    c = franzosa2019()
    res = differential.test(c, "~ Diagnosis", reference={"Diagnosis": "Control"}, n_shuffles=0, prevalence=False,
                            omnibus=False)
    assert len(res.terms) == 2
    page = Page(report.render_html(res))
    uc = [t for t in res.terms if "UC" in t][0]
    suffix = "-" + report.context.slug(uc)
    assert {"fig-volcano", "fig-forest", f"fig-volcano{suffix}", f"fig-forest{suffix}"} <= set(page.figures)
    ids = [a["id"] for _, a in page.tags if a.get("id")]
    assert f"differential-table{suffix}" in ids and len(ids) == len(set(ids))
    assert "UC" in page.all_text and "Control" in page.all_text
