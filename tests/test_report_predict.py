"""Report sections of the prediction results: figures by id, tables beside the page, user text escaped."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from _html import Page

from gutlink import report
from gutlink.datasets import franzosa2019
from gutlink.predict import cross_validate, loso
from gutlink.report.renderers_predict import PredictRun

EVIL = "<script>alert(1)</script>"
EVIL_STUDY = '<img src=x onerror=alert(2)>'
DESIGN = {"group": "Diagnosis", "case": "CD", "control": "Control", "n_folds": 3, "rng": 0}


def _parse(html: str) -> Page:
    return Page(html)


def _figure(html: str, fig_id: str) -> str:
    start = html.index(f'<figure id="{fig_id}"')
    return html[start:html.index("</figure>", start)]


@pytest.fixture(scope="module")
def cohort():
    c = franzosa2019()
    study = np.where(np.arange(c.n_samples) % 2 == 0, EVIL_STUDY, "south")
    return c.with_metadata(c.metadata.assign(study=study))


@pytest.fixture(scope="module")
def cv(cohort):
    res = cross_validate(cohort, n_repeats=2, n_permutations=3, **DESIGN)
    names = [EVIL, *res.importance.index[1:]]
    return dataclasses.replace(res, importance=res.importance.set_axis(names).rename_axis("feature_id"))


@pytest.fixture(scope="module")
def transfer(cohort):
    return loso(cohort, study="study", n_repeats=1, **DESIGN)


def test_classifier_page_has_its_figures(cv):
    html = report.render_html(cv)
    ids = _parse(html).ids
    assert {"fig-roc", "fig-calibration", "fig-importance", "prediction", "prediction-features"} <= set(ids)
    assert len(ids) == len(set(ids))
    for fig in ("fig-roc", "fig-calibration", "fig-importance"):
        assert "<svg" in _figure(html, fig)
    assert "<title>gutlink: disease prediction" in html


def test_headline_against_the_permutation_null(cv):
    html = report.render_html(cv)
    headline = html[html.index('id="prediction-headline"'):]
    headline = headline[:headline.index("</p>")]
    assert f"{cv.auroc:.3f}" in headline and "shuffled labels" in headline and "3 permutations" in headline


def test_feature_name_is_text_never_markup(cv):
    html = report.render_html(cv)
    page = _parse(html)
    assert "script" not in page.tag_names and EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;" in _figure(html, "fig-importance")  # the SVG label, escaped by matplotlib


def test_per_study_auroc_table(cohort):
    res = cross_validate(cohort, n_repeats=1, study="study", **DESIGN)
    html = report.render_html(res)
    assert 'id="prediction-per-study"' in html and "&lt;img src=x" in html


def test_transfer_section(transfer):
    html = report.render_html(transfer)
    page = _parse(html)
    assert {"fig-transfer", "transfer-loso"} <= set(page.ids)
    assert "<svg" in _figure(html, "fig-transfer")
    assert "img" not in page.tag_names and not [a for a in page.attr_names if a.startswith("on")]


def test_write_predict_run(cv, transfer, tmp_path):
    run = PredictRun(cv=cv, transfer=transfer, document={"auroc": cv.auroc, "seed": 0})
    out = report.write(run, tmp_path / "out")
    assert {p.name for p in out.iterdir()} == {"report.html", "summary.json", "predictions.tsv", "importance.tsv",
                                               "roc.tsv", "calibration.tsv", "folds.tsv", "loso.tsv",
                                               "cross_study.tsv"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["auroc"] == cv.auroc and "report.html" in summary["report"]["files"]
    html = (out / "report.html").read_text()
    assert {"fig-roc", "fig-calibration", "fig-importance", "fig-transfer"} <= set(_parse(html).ids)
