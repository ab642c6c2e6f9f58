"""The first screen of a link report: "is there a link?" per layer, from the Evidence of the one cohort; every
sentence links to what is behind it and every number in it is a number of summary.json."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from gutlink.datasets import franzosa2019
from gutlink.evidence import LAYERS
from gutlink.evidence.synthesis import fmt
from gutlink.link import LinkResult, link
from gutlink.report import render_html, write
from gutlink.report.answer import LAYER_TARGETS, answer, link_evidence

_NUM = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]\d+)?")


@pytest.fixture(scope="module")
def cd(tmp_path_factory: pytest.TempPathFactory) -> tuple[LinkResult, Path]:
    res = link(franzosa2019().aggregate("genus"), group="Diagnosis", case=["CD"], control="Control",
               n_permutations=199, metrics=("braycurtis",), predict=True, rng=0)
    return res, write(res, tmp_path_factory.mktemp("answer") / "cd")


def _numbers(obj: object, out: set[str]) -> set[str]:
    if isinstance(obj, dict):
        for v in obj.values():
            _numbers(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _numbers(v, out)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out.add(fmt(obj))
    return out


def first_screen(page: str) -> str:
    m = re.search(r'<section id="answer".*?</section>', page, re.S)
    assert m, "the page has no first-screen answer"
    return m.group(0)


def _plain(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def check_traceable(page: str, doc: dict) -> int:
    """Every number in the first screen's sentences and grid is a number of summary.json; returns how many."""
    known = _numbers(doc, set())
    screen = first_screen(page)
    blocks = re.findall(r'<p class="answer-overall">(.*?)</p>', screen, re.S)
    blocks += re.findall(r"<li>(.*?)</li>", screen, re.S)
    blocks += re.findall(r"<td[^>]*>(.*?)</td>", screen, re.S) + re.findall(r"<caption>(.*?)</caption>", screen)
    checked = 0
    for b in blocks:
        text = _plain(b).replace("95 % CI", "CI").replace(doc["evidence"]["condition"], "")
        text = re.sub(r"\b\w+\.tsv\b", "", text)  # file names
        for tok in _NUM.findall(text):
            assert tok in known, f"{tok!r} of {text.strip()!r} is not a number of summary.json"
            checked += 1
    return checked


def test_first_screen_numbers_are_in_summary_json(cd: tuple[LinkResult, Path]) -> None:
    res, folder = cd
    page = (folder / "report.html").read_text()
    doc = json.loads((folder / "summary.json").read_text())
    assert check_traceable(page, doc) > 20
    ev = doc["evidence"]
    assert ev["grid"] == link_evidence(res).grid
    assert {"community", "diversity", "dysbiosis", "taxa", "literature", "prediction_within", "guilds"} <= set(ev["grid"])
    screen = _plain(first_screen(page))
    for layer in ev["grid"]:  # one sentence and one grid row per layer that ran
        assert LAYERS[layer] in screen
    assert (folder / "evidence_layers.tsv").is_file() and (folder / "evidence_rubric.tsv").is_file()


def test_the_check_can_fail(cd: tuple[LinkResult, Path]) -> None:
    _, folder = cd
    page = (folder / "report.html").read_text()
    doc = json.loads((folder / "summary.json").read_text())
    forged = page.replace('<p class="answer-overall">', '<p class="answer-overall">AUROC 0.987654 ', 1)
    with pytest.raises(AssertionError, match="0.987654"):
        check_traceable(forged, doc)


def test_every_sentence_links_to_what_is_behind_it(cd: tuple[LinkResult, Path]) -> None:
    _, folder = cd
    page = (folder / "report.html").read_text()
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    screen = first_screen(page)
    items = re.findall(r"<li>(.*?)</li>", screen, re.S)
    assert items
    for li in items:
        hrefs = re.findall(r'href="#([^"]+)"', li)
        assert hrefs, f"no link in {_plain(li)!r}"
        assert all(h in ids for h in hrefs), (hrefs, _plain(li))
        assert any(h.startswith("fig-") for h in hrefs), f"no figure link in {_plain(li)!r}"
        assert len(hrefs) == 3, f"section, figure and table links expected in {_plain(li)!r}: {hrefs}"
    assert all(h in ids for h in re.findall(r'href="#([^"]+)"', screen))
    # the first screen comes before the verdict, the disclaimer and the contents
    assert page.index('id="answer"') < page.index('id="verdict"') < page.index('id="disclaimer"')


def test_links_point_only_at_sections_on_the_page(cd: tuple[LinkResult, Path]) -> None:
    res, _ = cd
    content = answer(res, [])
    assert content is not None and content["items"]
    assert all(it["section"] == "" and it["figure"] == "" for it in content["items"])
    assert set(LAYER_TARGETS) >= {it["layer"] for it in content["items"]}


def test_user_text_is_escaped_on_the_first_screen(cd: tuple[LinkResult, Path]) -> None:
    res, _ = cd
    import dataclasses

    hostile = dataclasses.replace(res, case=("<script>alert(1)</script>",))
    page = render_html(hostile)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in first_screen(page)


def test_only_link_pages_have_the_first_screen(cd: tuple[LinkResult, Path]) -> None:
    res, _ = cd
    assert 'id="answer"' not in render_html(res.alpha)


def test_command_run_first_screen_is_traceable(tmp_path: Path) -> None:
    """Through the CLI (a Run: design checks, provenance) the first screen still reads from summary.json."""
    from gutlink.cli import main

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--permutations", "99", "--quiet"]) == 0
    page = (out / "report.html").read_text()
    doc = json.loads((out / "summary.json").read_text())
    assert doc["type"] == "Run" and doc["subcommand"] == "link"
    assert check_traceable(page, doc) > 20
    assert 'id="methods"' in page and 'id="design-checks"' in page
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    assert all(h in ids for h in re.findall(r'href="#([^"]+)"', first_screen(page)))
