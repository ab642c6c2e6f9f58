"""Report sections of the mimicry scan and burden: figures, alignments, tables, escaping of every user string."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _html import Page

from gutlink import report
from gutlink.cohort import Cohort
from gutlink.mimicry import Proteome, burden_test, scan, summarize, taxon_burden
from gutlink.report.renderers_mimicry import alignment

EVIL_PROTEIN = "<script>alert(1)</script>"
EVIL_PROTEOME = "bug<img_src=x_onerror=alert(2)>"
EVIL_ANTIGEN = "<img src=x onerror=alert(3)>"
EVIL_DISEASE = "<b>MS</b>"
EVIL_CASE, EVIL_CONTROL = "<script>case</script>", '"><svg onload=alert(4)>'


def _parse(html: str) -> Page:
    return Page(html)


def _epitopes() -> pd.DataFrame:
    return pd.DataFrame({"epitope_id": ["MBP_core", "PLP1_core"], "sequence": ["ENPVVHFFKNIVTPR", "VLPWNAFPG"],
                         "core": ["VHFFKNIVT", "VLPWNAFPG"], "disease": [EVIL_DISEASE, "MS"],
                         "antigen": [EVIL_ANTIGEN, "proteolipid protein"]})


@pytest.fixture(scope="module")
def scanned():
    prots = [Proteome.from_records(EVIL_PROTEOME, [(EVIL_PROTEIN, "MKVHFFQNVITAAVHFFKNIVTGG"),
                                                   ("ok_1", "MSTIIPWNSFPGKL")]),
             Proteome.from_records("t1", [("t1_a", "MKTAYIAKQRQISFVKSHFSRQ")])]
    return scan(prots, _epitopes(), min_score=40)


@pytest.fixture(scope="module")
def cohort_result(scanned):
    rng = np.random.default_rng(0)
    ab = rng.gamma(1.0, 1.0, size=(12, 3)) * 100
    ab[:6, 0] *= 6
    meta = pd.DataFrame({"grp": [EVIL_CASE] * 6 + [EVIL_CONTROL] * 6}, index=[f"s{i}" for i in range(12)])
    cohort = Cohort(ab, metadata=meta, taxonomy=pd.DataFrame(index=["s__bug", "s__t1", "s__none"]), units="counts")
    manifest = pd.DataFrame({"taxon": ["s__bug", "s__t1"], "path": "", "proteome": [EVIL_PROTEOME, "t1"]})
    burden = burden_test(cohort, taxon_burden(scanned.hits), manifest=manifest, group="grp", case=[EVIL_CASE],
                         control=EVIL_CONTROL, n_permutations=49, rng=1)
    return summarize(scanned, manifest=manifest, burden=burden, group="grp", case=[EVIL_CASE], control=EVIL_CONTROL,
                     inputs={"files": [{"role": "proteome", "path": "x.faa", "sha256": "a" * 64}],
                             "epitopes": "user table"})


def test_scan_report_has_figures_alignments_and_taxon_table(scanned):
    html = report.render_html(scanned)
    page = _parse(html)
    assert {"fig-mimicry-diseases", "fig-mimicry-epitopes", "mimicry-taxon-burden", "mimic-1"} <= set(page.ids)
    assert len(page.ids) == len(set(page.ids))
    for fig in ("fig-mimicry-diseases", "fig-mimicry-epitopes"):
        start = html.index(f'<figure id="{fig}"')
        assert "<svg" in html[start:html.index("</figure>", start)]
    assert "VHFFKNIVT 13" in html and "||||:|++|" in html  # the 42-scoring mimic aligned to the MBP core


def test_user_strings_show_as_text_never_as_markup(cohort_result):
    html = report.render_html(cohort_result)
    page = _parse(html)
    assert "script" not in page.tag_names and "img" not in page.tag_names
    assert not [a for a in page.attr_names if a.startswith("on")]
    for evil in (EVIL_PROTEIN, EVIL_ANTIGEN, EVIL_DISEASE):
        assert evil.replace("<", "&lt;").replace(">", "&gt;") in html
    assert "&lt;script&gt;case&lt;/script&gt;" in html  # the case label, in the group names


def test_burden_section_one_figure_per_disease(cohort_result):
    html = report.render_html(cohort_result)
    ids = set(_parse(html).ids)
    diseases = [c for c in cohort_result.burden.samples.columns if c not in ("unmapped_fraction", "group_label")]
    assert len(diseases) == 2
    assert {"fig-mimicry-burden-b-ms-b", "fig-mimicry-burden-ms", "mimicry-burden"} <= ids
    assert "Mann–Whitney" in html and "shuffles of which proteome belongs" in html


def test_write_makes_the_report_folder(cohort_result, tmp_path):
    out = report.write(cohort_result, tmp_path / "out")
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "summary.json", "hits.tsv", "taxon_burden.tsv", "proteomes.tsv", "sample_burden.tsv",
            "burden_tests.tsv"} == names
    summary = json.loads((out / "summary.json").read_text())
    assert summary["type"] == "MimicryResult" and summary["n_hits"] == 3
    assert summary["burden"]["type"] == "BurdenResult" and summary["scan"]["type"] == "ScanResult"
    samples = pd.read_csv(out / "sample_burden.tsv", sep="\t")
    assert samples.columns[0] == "sample_id" and len(samples) == 12
    tb = pd.read_csv(out / "taxon_burden.tsv", sep="\t")
    assert set(tb["taxon"]) == {"s__bug"}


def test_no_hits_renders_and_says_so():
    res = scan([Proteome.from_records("empty", [("p", "MKTAYIAKQRQ")])], _epitopes(), min_score=40)
    html = report.render_html(res)
    assert "No window reached the threshold." in html and "No proteome has a hit." in html
    assert 'id="fig-mimicry-epitopes"' in html


def test_burden_result_alone_renders(cohort_result):
    html = report.render_html(cohort_result.burden)
    assert 'id="fig-mimicry-burden-ms"' in html and 'id="mimicry-burden"' in html


@pytest.mark.parametrize("query, window, marks", [("VHFFKNIVT", "VHFFKNIVT", "|||||||||"),
                                                  ("VLPWNAFPG", "IIPWNSFPG", "++|||:|||"),
                                                  ("AAAAA", "WWWWW", "     ")])
def test_alignment_marks_identities_and_substitutions(query, window, marks):
    top, middle, bottom = alignment(query, window, 1, 120)
    col = top.index(query)
    assert bottom.index(window) == col and middle[col:col + len(marks)].ljust(len(marks)) == marks
    assert top.split() == ["epitope", "1", query, str(len(query))]
    assert bottom.split() == ["mimic", "120", window, str(119 + len(query))]


# ----------------------------------------------------------------------------- the page in a real browser
_SVG_SIZES = """() => Object.fromEntries([...document.querySelectorAll('figure[id^="fig-mimicry-"]')].map(f => {
  const box = f.querySelector('svg').getBoundingClientRect();
  return [f.id, [box.width, box.height]];
}))"""


@pytest.mark.browser
def test_mimicry_report_in_headless_chromium(cohort_result, tmp_path):
    import importlib.util

    chromium = Path("/usr/bin/chromium")
    if not chromium.is_file() or importlib.util.find_spec("playwright") is None:
        pytest.skip("needs Debian's chromium and the playwright package")
    from playwright.sync_api import sync_playwright

    page_path = report.write(cohort_result, tmp_path / "out") / "report.html"
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(page_path.as_uri(), wait_until="load")
            sizes = page.evaluate(_SVG_SIZES)
            scripts = page.evaluate("() => document.scripts.length")
        finally:
            browser.close()
    assert problems == [] and scripts == 0
    assert {"fig-mimicry-diseases", "fig-mimicry-epitopes", "fig-mimicry-burden-ms"} <= set(sizes)
    assert all(w > 100 and h > 100 for w, h in sizes.values()), sizes


EVIL_STRATUM = "<i>DRB1*15:01</i>"


def test_stratified_burden_shows_strata_table_and_writes_it(scanned, tmp_path):
    rng = np.random.default_rng(2)
    ab = rng.gamma(1.0, 1.0, size=(16, 3)) * 100
    ab[:4, 0] *= 6
    meta = pd.DataFrame({"grp": (["case"] * 4 + ["ctrl"] * 4) * 2, "hla": [EVIL_STRATUM] * 8 + ["neg"] * 8},
                        index=[f"s{i}" for i in range(16)])
    cohort = Cohort(ab, metadata=meta, taxonomy=pd.DataFrame(index=["s__bug", "s__t1", "s__none"]), units="counts")
    manifest = pd.DataFrame({"taxon": ["s__bug", "s__t1"], "path": "", "proteome": [EVIL_PROTEOME, "t1"]})
    burden = burden_test(cohort, taxon_burden(scanned.hits), manifest=manifest, group="grp", case=["case"],
                         control="ctrl", strata="hla", n_permutations=19, rng=1)
    res = summarize(scanned, manifest=manifest, burden=burden, group="grp", case=["case"], control="ctrl",
                    strata="hla")
    html = report.render_html(res)
    page = _parse(html)
    assert "mimicry-burden-strata" in page.ids and "i" not in page.tag_names
    assert "van Elteren" in html and "&lt;i&gt;DRB1*15:01&lt;/i&gt;" in html
    assert "fig-mimicry-burden-hla" not in page.ids  # the stratum column is not a disease
    out = report.write(res, tmp_path / "out")
    strata = pd.read_csv(out / "burden_strata.tsv", sep="\t")
    assert len(strata) == 2 * 2 and set(strata["stratum"]) == {EVIL_STRATUM, "neg"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["design"]["strata"] == "hla" and summary["burden"]["strata"] == "hla"
    assert len(summary["burden"]["per_stratum"]) == 4
