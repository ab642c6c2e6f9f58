"""Open a real report in headless Chromium: it renders, shows every figure, logs no error, loads nothing.

Skipped only where Chromium or playwright is missing *and* ``CI`` is unset; on CI a missing browser fails.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from _figures import layer_figures

from gutlink import report
from gutlink.datasets import franzosa2019
from gutlink.link import LinkResult, link

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _require_browser() -> None:
    missing = [what for what, ok in (("/usr/bin/chromium", CHROMIUM.is_file()),
                                     ("the playwright package", importlib.util.find_spec("playwright") is not None))
               if not ok]
    if not missing:
        return
    message = f"headless browser test needs {' and '.join(missing)}"
    if _on_ci():
        pytest.fail(message + " (CI is set, so this is a failure, not a skip)")
    pytest.skip(message + " (install Debian's chromium and `pip install playwright`)")


@pytest.fixture(scope="module")
def franzosa_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[LinkResult, Path]:
    """The bundled Franzosa 2019 cohort, CD vs Control, written as a report folder."""
    _require_browser()
    res = link(franzosa2019(), group="Diagnosis", case=["CD"], control="Control", n_permutations=99, rng=1)
    out = report.write(res, tmp_path_factory.mktemp("browser") / "franzosa")
    return res, out / "report.html"


def _expected_figures(res: LinkResult) -> list[str]:
    alpha = [f"fig-alpha-{m}" for m in res.alpha.values.columns if m != "group_label"]
    diff = [] if res.differential is None else ["fig-volcano", "fig-forest", "fig-composition"]
    diff += [] if res.prediction is None else ["fig-roc", "fig-calibration", "fig-importance"]
    lit = res.literature
    diff += ["fig-literature-studies"] if lit is not None and lit.verdict != "not assessable" and len(lit.studies) else []
    return alpha + [f"fig-pcoa-{m}" for m in res.ordinations] + ["fig-dysbiosis"] + diff + layer_figures(res)


def _visit(page_path: Path, screenshot: Path) -> dict[str, object]:
    """Open *page_path* and return requests, console errors, page errors and per-figure SVG sizes."""
    from playwright.sync_api import sync_playwright

    seen: dict[str, list] = {"requests": [], "console": [], "errors": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)  # fresh profile
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.on("console", lambda m: _log_problem(seen["console"], m.type, m.text))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.goto(page_path.as_uri(), wait_until="load")
            seen["figures"] = page.evaluate(_MEASURE)
            seen["title"] = page.title()
            seen["counts"] = page.evaluate("() => ({scripts: document.scripts.length, "
                                           "images: document.images.length, links: document.links.length})")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return seen


def _log_problem(log: list, kind: str, text: str) -> None:
    if kind in ("error", "warning"):
        log.append(f"{kind}: {text}")


_MEASURE = """() => Object.fromEntries([...document.querySelectorAll('figure[id]')].map(f => {
  const svg = f.querySelector('svg');
  const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const cap = f.querySelector('figcaption');
  return [f.id, {width: box.width, height: box.height, caption: cap ? cap.textContent.trim().length : 0,
                 title: svg && svg.querySelector('title') ? svg.querySelector('title').textContent : ''}];
}))"""


def test_report_in_headless_chromium(franzosa_report: tuple[LinkResult, Path]) -> None:
    res, html = franzosa_report
    shot = Path(os.environ.get("TMPDIR", "/tmp")) / "gutlink_report_screenshot.png"
    seen = _visit(html, shot)
    assert seen["requests"] == [html.as_uri()], "the page must make no request besides itself"
    assert seen["console"] == [] and seen["errors"] == []
    figures = seen["figures"]
    assert isinstance(figures, dict)
    assert sorted(figures) == sorted(_expected_figures(res))
    for fig_id, info in figures.items():
        assert info["width"] > 100 and info["height"] > 100, (fig_id, info)
        assert info["caption"] > 20 and info["title"], (fig_id, info)
    assert seen["counts"]["scripts"] == 0 and seen["counts"]["images"] == 0
    assert "CD vs Control" in str(seen["title"])
    assert shot.is_file() and shot.stat().st_size > 50_000


def test_report_fits_a_phone_screen(franzosa_report: tuple[LinkResult, Path]) -> None:
    """At 375 px wide the page never scrolls sideways: wide tables scroll inside themselves."""
    from playwright.sync_api import sync_playwright

    _, html = franzosa_report
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 800})
            page.goto(html.as_uri(), wait_until="load")
            widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        finally:
            browser.close()
    assert widths[0] <= widths[1] + 1, f"the page is {widths[0]} px wide on a {widths[1]} px screen"
