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
from gutlink.run import Run

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
    run = Run(subcommand="predict", results=(cv, transfer), document={"auroc": cv.auroc}, seed=0)
    out = report.write(run, tmp_path / "out")
    assert {p.name for p in out.iterdir()} == {"report.html", "summary.json", "predictions.tsv", "importance.tsv",
                                               "roc.tsv", "calibration.tsv", "folds.tsv", "loso.tsv",
                                               "cross_study.tsv"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["auroc"] == cv.auroc and "report.html" in summary["report"]["files"]
    assert summary["subcommand"] == "predict" and summary["seed"] == 0 and "scikit-learn" in summary["versions"]
    html = (out / "report.html").read_text()
    assert {"fig-roc", "fig-calibration", "fig-importance", "fig-transfer"} <= set(_parse(html).ids)


# ----------------------------------------------------------------------------- --apply and --per-case pages
@pytest.fixture(scope="module")
def applied(cohort):
    from gutlink.predict import apply_model, fit_model

    model = fit_model(cohort, group="Diagnosis", case="CD", control="Control", grid={}, rng=0)
    some = list(model.features[:2])
    trimmed = cohort.subset(features=[f for f in cohort.feature_ids if f not in some])
    meta = trimmed.metadata.assign(Diagnosis=trimmed.metadata["Diagnosis"].replace({"UC": EVIL}))
    res = apply_model(model, trimmed.with_metadata(meta), group="Diagnosis")
    missing = [EVIL_STUDY, *res.alignment["missing_examples"][1:]]
    return dataclasses.replace(res, alignment={**res.alignment, "missing_examples": missing})


def test_apply_page(applied):
    html = report.render_html(applied)
    page = _parse(html)
    assert {"apply", "apply-model", "apply-alignment", "apply-groups", "fig-apply-scores"} <= set(page.ids)
    assert "<svg" in _figure(html, "fig-apply-scores")
    assert "<title>gutlink: a saved disease classifier applied" in html
    text = page.all_text
    a = applied.alignment
    assert f"{a['n_matched']} of {a['n_model_features']}" in text
    assert "Missing(countedasabsent)2," in text.replace(" ", "")
    groups = html[html.index('id="apply-groups"'):]
    assert "Control" in groups and "CD" in groups and "&lt;script&gt;" in groups
    assert "script" not in page.tag_names and "img" not in page.tag_names and EVIL not in html
    assert not [n for n in page.attr_names if n.startswith("on")]
    assert "apply-headline" not in page.ids  # no case/control labels given: no AUROC claimed


def test_apply_page_with_labels_reports_the_auroc(cohort, tmp_path):
    from gutlink.predict import apply_model, fit_model

    half = np.arange(cohort.n_samples) % 2 == 0
    model = fit_model(cohort.subset(samples=half), group="Diagnosis", case="CD", control="Control", rng=0)
    res = apply_model(model, cohort.subset(samples=~half), group="Diagnosis", case="CD", control="Control")
    assert 0.6 < res.auroc < 1  # held-out half: an honest external check, not the training fit
    assert res.auroc is not None and res.auroc_ci[0] <= res.auroc <= res.auroc_ci[1]
    assert set(res.table["group"]) == {"CD", "Control"} and len(res.table) == res.table["y"].size
    out = report.write(res, tmp_path / "out")
    assert {p.name for p in out.iterdir()} == {"report.html", "summary.json", "predictions.tsv", "score_groups.tsv"}
    headline = (out / "report.html").read_text()
    headline = headline[headline.index('id="apply-headline"'):]
    assert f"{res.auroc:.3f}" in headline[:headline.index("</p>")]
    assert json.loads((out / "summary.json").read_text())["auroc"] == res.auroc


@pytest.fixture(scope="module")
def multi(cohort):
    from gutlink.predict import multi_disease

    meta = cohort.metadata.assign(Diagnosis=cohort.metadata["Diagnosis"].replace({"UC": EVIL}))
    res = multi_disease(cohort.with_metadata(meta), group="Diagnosis", cases=["CD", EVIL], control="Control",
                        n_repeats=1, n_folds=3, top_k=10, rng=0)
    names = [EVIL_STUDY, *res.importance.index[1:]]
    imp = res.importance.set_axis(names)
    return dataclasses.replace(res, importance=imp)


def test_multi_disease_page(multi):
    html = report.render_html(multi)
    page = _parse(html)
    assert {"multi-disease", "multi-diseases", "multi-shared", "multi-specific", "multi-similarity",
            "fig-multi-auroc"} <= set(page.ids)
    assert len(page.ids) == len(set(page.ids)) and "<svg" in _figure(html, "fig-multi-auroc")
    table = html[html.index('id="multi-diseases"'):]
    table = table[:table.index("</table>")]
    for r in multi.table.itertuples():
        assert f"{r.auroc:.3f}" in table
    assert "&lt;script&gt;" in table and "&lt;script&gt;" in _figure(html, "fig-multi-auroc")
    assert "script" not in page.tag_names and "img" not in page.tag_names and EVIL not in html
    assert not [n for n in page.attr_names if n.startswith("on")]
    specific = html[html.index('id="multi-specific"'):]
    assert specific.count("<tr>") > 1  # header plus at least one disease-specific feature


def test_specific_features_exclude_shared_ones(multi):
    from gutlink.report.renderers_predict import _specific

    rows = _specific(multi)
    shared = set(multi.shared["feature_id"])
    assert rows and not {r["feature_id"] for r in rows} & shared
    for r in rows:  # each is in its disease's top k and in no other disease's
        ranks = multi.importance.abs().rank(ascending=False, method="first")
        assert ranks.loc[r["feature_id"], r["disease"]] <= multi.top_k


def test_per_study_standardisation_is_stated(cohort):
    res = loso(cohort, study="study", matrix=False, per_study_standardise=True, **DESIGN)
    assert "Per-study standardisation" in report.render_html(res)
    cv = cross_validate(cohort, study="study", n_repeats=1, per_study_standardise=True, **DESIGN)
    assert "standardised within each study" in report.render_html(cv)
