"""Every command's report page in headless Chromium (the outputs walk of test_outputs_contract.py): at desktop and
phone widths no console error, no request besides the page itself, no text overflowing its box, no sideways
scroll, every figure drawn, and a methods paragraph; printed at A4 width nothing is cut and no figure splits.

Skipped, with the reason, where Chromium or playwright is missing and ``CI`` is unset (see test_browser.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_browser import ARGS, CHROMIUM, _require_browser
from test_browser_screens import _OVERFLOW, PRINT_HEIGHT, PRINT_WIDTH
from test_outputs_contract import _NO_QUIET, _commands

from gutlink.cli import main

pytestmark = pytest.mark.browser

_FIGURES = """() => [...document.querySelectorAll('figure[id^="fig-"]')].map(f => {
  const s = f.querySelector('svg'); const b = s ? s.getBoundingClientRect() : {width: 0, height: 0};
  return [f.id, b.width, b.height]; })"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    _require_browser()
    root = tmp_path_factory.mktemp("pages")
    inputs, outs = root / "inputs", root / "outs"
    inputs.mkdir()
    outs.mkdir()
    commands = _commands(inputs, outs)
    for name, argv in commands.items():
        quiet = [] if name in _NO_QUIET else ["--quiet"]
        assert main([*argv, "--out", str(outs / name), *quiet]) == 0, name
    return {name: outs / name / "report.html" for name in commands}


def _print_problems(browser, name: str, html: Path) -> list[str]:
    """Printed at A4 width: nothing cut at the right, every figure fits a page and is never split."""
    page = browser.new_page(viewport={"width": PRINT_WIDTH, "height": PRINT_HEIGHT})
    page.goto(html.as_uri(), wait_until="load")
    page.emulate_media(media="print")
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    figures = page.evaluate("""() => [...document.querySelectorAll('figure')].map(f => [f.id,
        f.getBoundingClientRect().height, getComputedStyle(f).breakInside])""")
    page.close()
    out = [f"{name} printed: cut at the right {widths}"] if widths[0] > widths[1] + 1 else []
    return out + [f"{name} printed: figure {f}" for f in figures if f[1] > PRINT_HEIGHT or f[2] != "avoid"]


def test_every_command_page_is_clean(pages: dict[str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            for name, html in pages.items():
                for width in (1280, 375):
                    seen: list[str] = []
                    page = browser.new_page(viewport={"width": width, "height": 900})
                    page.on("console", lambda m, seen=seen: seen.append(m.text) if m.type in ("error", "warning")
                            else None)
                    page.on("pageerror", lambda e, seen=seen: seen.append(str(e)))
                    page.on("request", lambda r, seen=seen, html=html: seen.append(f"request {r.url}")
                            if r.url != html.as_uri() else None)
                    page.goto(html.as_uri(), wait_until="load")
                    over = page.evaluate(_OVERFLOW)
                    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
                    small = [f for f in page.evaluate(_FIGURES) if f[1] < 100 or f[2] < 60]
                    methods = page.locator("#methods-text").count()
                    page.close()
                    tag = f"{name} at {width} px"
                    problems += [f"{tag}: {s}" for s in seen] + [f"{tag}: overflow {o}" for o in over]
                    problems += [f"{tag}: figure not drawn {f}" for f in small]
                    if widths[0] > widths[1] + 1:
                        problems.append(f"{tag}: page scrolls sideways {widths}")
                    if methods != 1:
                        problems.append(f"{tag}: no methods paragraph")
                problems += _print_problems(browser, name, html)
        finally:
            browser.close()
    assert problems == []
