"""Regenerate the report's reference screenshots (tests/data/screenshots/*.png) in headless Chromium.

The report is the bundled Franzosa 2019 PRISM cohort, CD vs Control, with the prediction layer (the same call as
tests/test_browser_screens.py). Each view is shot at full resolution and stored downscaled by :data:`SCALE`
(small files; the test compares at an even coarser scale, robust to font differences).

Run after a deliberate change of the page's look, check the new PNGs by eye, and commit them:

    python scripts/make_screenshots.py            # writes tests/data/screenshots/
    python scripts/make_screenshots.py --out DIR  # elsewhere, e.g. to inspect without replacing

Needs Debian's chromium (/usr/bin/chromium) and the playwright package.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--font-render-hinting=none", "--hide-scrollbars"]
REFERENCES = Path(__file__).resolve().parents[1] / "tests" / "data" / "screenshots"
#: Stored references are this fraction of the shot's size.
SCALE = 0.25
#: name → (viewport width, height, what to shoot: "viewport" for the first screen, else a CSS selector).
VIEWS: dict[str, tuple[int, int, str]] = {
    "first_screen_desktop": (1280, 900, "viewport"),
    "first_screen_phone": (375, 800, "viewport"),
    "community_desktop": (1280, 900, "#beta"),
}


def build_report(folder: Path) -> Path:
    """Write the reference report into *folder* and return its ``report.html``."""
    from gutlink import report
    from gutlink.datasets import franzosa2019
    from gutlink.link import link

    res = link(franzosa2019(), group="Diagnosis", case=["CD"], control="Control", n_permutations=99, predict=True, rng=1)
    return report.write(res, folder / "franzosa", overwrite=True) / "report.html"


#: Width (px) of this text in the page's body font: the references are comparable only where it matches.
PROBE = "Is there a link between the gut microbiome and 0123456789?"
FONT_FILE = "font.json"


def font_probe(html: Path) -> dict[str, object]:
    """The body font's computed family and the rendered width of :data:`PROBE` in it (Chromium's own metrics)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(html.as_uri(), wait_until="load")
            width = page.evaluate("""(text) => { const s = document.createElement('span'); s.textContent = text;
                s.style.whiteSpace = 'nowrap'; document.body.appendChild(s);
                const w = s.getBoundingClientRect().width; s.remove(); return w; }""", PROBE)
            family = page.evaluate("() => getComputedStyle(document.body).fontFamily")
        finally:
            browser.close()
    return {"probe": PROBE, "width": round(float(width), 2), "font_family": family}


def shoot(html: Path, out: Path, views: dict[str, tuple[int, int, str]] = VIEWS) -> dict[str, Path]:
    """Full-resolution PNG of every view of *html* into *out* (``<name>.png``)."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            for name, (width, height, target) in views.items():
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(html.as_uri(), wait_until="load")
                path = out / f"{name}.png"
                if target == "viewport":
                    page.screenshot(path=str(path))
                else:
                    page.locator(target).screenshot(path=str(path))
                page.close()
                paths[name] = path
        finally:
            browser.close()
    return paths


def downscale(src: Path, dst: Path, scale: float = SCALE) -> None:
    """Store *src* at *scale* of its size (grey levels are enough to compare layouts)."""
    from PIL import Image

    with Image.open(src) as im:
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im.convert("L").resize(size, Image.Resampling.BOX).save(dst, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REFERENCES, help="folder for the PNG references")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        html = build_report(Path(tmp))
        shots = shoot(html, Path(tmp) / "shots")
        args.out.mkdir(parents=True, exist_ok=True)
        for name, path in shots.items():
            downscale(path, args.out / f"{name}.png")
            print(args.out / f"{name}.png")
        probe = json.dumps(font_probe(html), indent=2) + "\n"
        (args.out / FONT_FILE).write_text(probe, encoding="utf-8")
        print(args.out / FONT_FILE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
