"""The methods paragraph: generated from what ran (versions, tests, corrections, permutations, shuffles, seeds,
design), present in every command's report, escaped."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest

from gutlink.datasets import franzosa2019, toy
from gutlink.design import Design, check
from gutlink.link import LinkResult, link
from gutlink.report import render_html
from gutlink.report.methods import methods_paragraph
from gutlink.run import Run


@pytest.fixture(scope="module")
def res() -> LinkResult:
    return link(franzosa2019().aggregate("genus"), group="Diagnosis", case=["CD"], control="Control",
                n_permutations=99, metrics=("braycurtis", "aitchison"), predict=True, rng=7)


def _methods(page: str) -> str:
    m = re.search(r'<blockquote id="methods-text" class="methods">(.*?)</blockquote>', page, re.S)
    assert m, "no methods paragraph"
    return html.unescape(m.group(1))


def test_paragraph_says_what_ran(res: LinkResult) -> None:
    text = methods_paragraph(res)
    assert f"gutlink {res.versions['gutlink']}" in text and f"scikit-bio {res.versions['scikit-bio']}" in text
    perms = res.permanova["braycurtis"].permutations
    assert f"{perms} permutations" in text and "Bray–Curtis and Aitchison" in text
    assert res.differential is not None and res.differential.model in text
    assert f"{res.differential.negative_control['n_shuffles']} shuffles" in text
    assert res.prediction is not None and f"{res.prediction.protocol['n_repeats']} × " in text
    assert "Benjamini–Hochberg" in text and "Random seed: 7." in text
    assert f"{res.n_per_group['case']} cases, {res.n_per_group['control']} controls" in text
    assert res.literature is not None and f"{res.literature.n_permutations} size-matched" in text


def test_paragraph_follows_the_run(res: LinkResult) -> None:
    """Change what ran and the paragraph changes with it (nothing is boilerplate)."""
    fewer = dataclasses.replace(res, prediction=None, differential=None, literature=None, guilds=None, seed=None)
    text = methods_paragraph(fewer)
    assert "Prediction" not in text and "Differential abundance" not in text and "BugSigDB" not in text
    assert "No random seed was fixed." in text


def test_every_report_has_the_paragraph(res: LinkResult) -> None:
    page = render_html(res)
    assert 'id="methods"' in page and "Random seed: 7." in _methods(page)
    d = Design(group="group", case=("case",), control=("control",), covariates=("<b>age</b>",))
    checks = check(toy(), Design(group="group", case=("case",), control=("control",)))
    run = Run(subcommand="index", results=(checks,), design=d, checks=checks, command="gutlink index <x>", seed=3)
    text = _methods(render_html(run))
    assert "adjusted for <b>age</b>" in text and "Command: gutlink index <x>." in text and "Random seed: 3." in text
    assert "<b>age</b>" not in render_html(run).split('id="methods-text"')[1]  # escaped in the page
    assert 'id="methods"' in render_html(res.alpha)


def test_evidence_paragraph_names_the_rubric_and_pooling() -> None:
    from gutlink.evidence import evidence, row

    ev = evidence("MS", layers=[row("community", "a", effect=0.01, q_value=0.4), row("community", "b", effect=0.02)])
    text = methods_paragraph(ev)
    assert "Evidence for MS was gathered from 2 cohort(s) across 1 layer(s)" in text
    assert "random-effects" in text and "evidence_rubric.tsv" in text
