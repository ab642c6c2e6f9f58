"""Matplotlib figures as inline SVG, safe to paste into an HTML page.

Figures are explicit :class:`matplotlib.figure.Figure` objects drawn inside :func:`matplotlib.rc_context`, so
pyplot's global state is never touched. Text stays text (``svg.fonttype = 'none'``), which keeps files small
and lets the browser escape nothing twice: matplotlib escapes ``<``, ``>`` and ``&`` in text and attributes.

Examples
--------
>>> svg = figure_svg(lambda fig: fig.add_subplot().plot([0, 1], [1, 0]), "fig-demo", "A falling line")
>>> svg.startswith("<svg") and 'id="fig-demo-figure_1"' in svg and "<title" in svg
True
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import matplotlib
from markupsafe import Markup, escape
from matplotlib.figure import Figure

__all__ = ["RC", "figure_svg", "mpl_text", "style"]

#: Matplotlib settings for every report figure (applied with ``rc_context``, never globally).
RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#555555",
    "axes.labelcolor": "#222222",
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "legend.frameon": False,
    "figure.dpi": 72,
}

_HEAD = re.compile(r"\A.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_TAG = re.compile(r"<[^>]*>")
_ID_REF = re.compile(r'(\bid="|url\(#|href="#)')


@contextmanager
def style() -> Iterator[None]:
    """Report figure style, restored on exit."""
    with matplotlib.rc_context(RC):  # type: ignore[arg-type]
        yield


def mpl_text(text: object, limit: int = 40) -> str:
    """User text made safe for matplotlib: ``$`` escaped (no mathtext), long text shortened."""
    s = " ".join(str(text).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("$", r"\$")


def figure_svg(draw: Callable[[Figure], object], fig_id: str, title: str,
               size: tuple[float, float] = (5.0, 3.6)) -> Markup:
    """Draw a figure with *draw* and return it as inline SVG markup.

    Parameters
    ----------
    draw
        Called with a fresh constrained-layout :class:`~matplotlib.figure.Figure`.
    fig_id
        Prefix for every ``id`` inside the SVG (ids stay unique when several SVGs share a page).
    title
        Accessible name, written as the SVG's ``<title>`` (escaped).
    size
        Width and height in inches.

    Returns
    -------
    Markup
        The ``<svg>`` element, without XML prolog or metadata.
    """
    with style(), matplotlib.rc_context({"svg.hashsalt": fig_id}):
        fig = Figure(figsize=size, layout="constrained")
        draw(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return Markup(_inline(buf.getvalue(), fig_id, title))


def _inline(svg: str, fig_id: str, title: str) -> str:
    svg = _METADATA.sub("", _HEAD.sub("", svg, count=1), count=1)
    svg = _TAG.sub(lambda m: _ID_REF.sub(lambda r: r.group(1) + fig_id + "-", m.group(0)), svg)
    title_id = f"{fig_id}-title"
    open_tag = f'<svg role="img" aria-labelledby="{title_id}" '
    svg = svg.replace("<svg ", open_tag, 1)
    end = svg.index(">", len(open_tag)) + 1
    return svg[:end] + f'<title id="{title_id}">{escape(title)}</title>' + svg[end:]
