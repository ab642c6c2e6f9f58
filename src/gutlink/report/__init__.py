"""The report: one self-contained HTML page plus machine-readable tables, written atomically.

``write(result, out_dir)`` creates ``out_dir`` holding ``report.html`` (inline CSS and SVG figures, no
scripts, no network requests), ``summary.json`` (every number, versions, inputs with sha256) and one TSV per
table. Renderers are chosen by the result's type (:func:`render`), so a new analysis adds one renderer.
"""

from __future__ import annotations

from .context import Context, Section
from .export import summary, tables
from .output import OutputExistsError, write
from .page import context_for, render_html
from .renderers import render

__all__ = ["Context", "OutputExistsError", "Section", "context_for", "render", "render_html", "summary",
           "tables", "write"]

# importing these modules registers their renderers with :func:`render`
from . import renderers_indices  # noqa: E402,F401,I001
from . import renderers_dynamics  # noqa: E402,F401
from . import renderers_evidence  # noqa: E402,F401
from . import renderers_guilds  # noqa: E402,F401
from . import renderers_literature  # noqa: E402,F401
from . import renderers_mimicry  # noqa: E402,F401
from . import renderers_predict  # noqa: E402,F401
from . import renderers_run  # noqa: E402,F401
