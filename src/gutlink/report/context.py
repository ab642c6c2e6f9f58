"""What every renderer needs besides its result: the Jinja environment, group styles and sample labels.

Examples
--------
>>> env = environment()
>>> env.from_string("{{ x }}").render(x="<b>")
'&lt;b&gt;'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from .figures import GroupStyle
from .fmt import FILTERS, fmt_ci, is_missing

__all__ = ["Context", "Section", "environment", "css", "slug"]


_FIGURE = """<figure id="{{ id }}">{{ svg }}<figcaption>{{ caption }}</figcaption></figure>"""

@dataclass(frozen=True)
class Section:
    """One part of the page: a heading, its HTML body, and the ids of the figures it holds."""

    id: str
    title: str
    body: Markup
    figures: tuple[str, ...] = ()
    children: tuple[Section, ...] = ()

    @property
    def all_figures(self) -> tuple[str, ...]:
        """Figure ids of this section and its children."""
        return self.figures + tuple(f for c in self.children for f in c.all_figures)


@dataclass(frozen=True)
class Context:
    """Shared state of one rendering: templates, group order/colours/names and per-sample group labels."""

    env: Environment
    groups: GroupStyle
    labels: pd.Series | None = None
    tests: pd.DataFrame | None = None
    q_threshold: float = 0.05

    def name(self, label: object) -> str:
        """Display name of a group label (e.g. ``'case'`` → ``'Cases (CD)'``)."""
        return self.groups.name(label)

    def render(self, template: str, **values: object) -> Markup:
        """Render a template fragment (autoescaped) with this context available as ``ctx``."""
        return Markup(self.env.get_template(template).render(ctx=self, **values))

    def figure(self, fig_id: str, svg: Markup, caption: str) -> Markup:
        """*svg* inside ``<figure id=fig_id>`` with an (escaped) caption: what the browser tests and the first
        screen's links look for."""
        return Markup(self.env.from_string(_FIGURE).render(id=fig_id, svg=svg, caption=caption))

    def test(self, analysis: str, metric: str, test: str | None = None) -> dict[str, object] | None:
        """The run-wide row of one test (with its q-value across the whole run), or ``None``."""
        if self.tests is None or self.tests.empty:
            return None
        t = self.tests
        hit = t[(t["analysis"] == analysis) & (t["metric"] == metric)]
        if test is not None:
            hit = hit[hit["test"] == test]
        return {str(k): v for k, v in hit.iloc[0].items()} if len(hit) else None


def slug(text: object) -> str:
    """An HTML-id-safe version of *text* (lower case, ``[a-z0-9-]``)."""
    s = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return s or "x"


def environment() -> Environment:
    """The report's Jinja environment: package templates, autoescaping, undefined names are errors."""
    env = Environment(loader=PackageLoader("gutlink.report", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(FILTERS)
    env.filters["slug"] = slug
    env.globals.update(ci=fmt_ci, missing=is_missing)
    return env


def css() -> Markup:
    """The page's stylesheet (a package resource), to be inlined."""
    text = resources.files("gutlink.report").joinpath("templates", "style.css").read_text(encoding="utf-8")
    if "</" in text:  # cannot happen with our own file; keeps the <style> element closed where we close it
        raise ValueError("style.css must not contain '</'")
    return Markup(text)
