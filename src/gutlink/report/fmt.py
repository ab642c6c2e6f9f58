"""Number formatting for the report (Jinja filters); missing values print as an em dash.

Examples
--------
>>> fmt_p(0.00001), fmt_p(0.0421), fmt_p(float("nan"))
('< 0.001', '0.042', '—')
>>> fmt_num(12345.678), fmt_num(0.000123), fmt_ci(-0.1, 0.25)
('12346', '0.000123', '−0.100 to 0.250')
>>> fmt_pct(0.25), fmt_name("hodges_lehmann_shift")
('25 %', 'Hodges–Lehmann shift')
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["DASH", "fmt_ci", "fmt_name", "fmt_num", "fmt_p", "fmt_pct", "is_missing", "FILTERS"]

DASH = "—"
MINUS = "−"

#: Display names of snake_case identifiers used in result tables.
NAMES = {
    "braycurtis": "Bray–Curtis", "jaccard": "Jaccard", "aitchison": "Aitchison",
    "observed": "Observed taxa", "shannon": "Shannon", "simpson": "Gini–Simpson", "chao1": "Chao1",
    "mann_whitney": "Mann–Whitney U", "kruskal_wallis": "Kruskal–Wallis", "ols": "Linear model (adjusted)",
    "fisher_exact": "Fisher's exact", "permdisp": "PERMDISP", "alpha": "Alpha diversity",
    "permanova": "PERMANOVA", "dysbiosis": "Dysbiosis score",
    "hodges_lehmann_shift": "Hodges–Lehmann shift", "epsilon_squared": "ε²",
    "adjusted_mean_difference": "Adjusted mean difference", "r_squared": "R²",
    "difference_in_mean_distance_to_centroid": "Δ dispersion",
    "difference_in_fraction": "Δ fraction dysbiotic", "group_label": "case vs control",
    "~ group_label": "case vs control", "permanova (margin)": "PERMANOVA (marginal)",
    "permanova (terms)": "PERMANOVA (sequential)",
}


def is_missing(value: Any) -> bool:
    """True for None, NaN, inf and pandas' missing markers."""
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def fmt_num(value: Any, digits: int = 3) -> str:
    """A number: whole numbers stay whole, others get *digits* decimals (significant digits below 0.01)."""
    if is_missing(value):
        return DASH
    v = float(value)
    if v == int(v) and abs(v) < 1e15:
        text = str(int(v))
    elif abs(v) < 0.01:
        text = f"{v:.{digits}g}"
    elif abs(v) < 1000:
        text = f"{v:.{digits}f}"
    else:
        text = f"{v:.0f}"
    return text.replace("-", MINUS)


def fmt_p(value: Any) -> str:
    """A p- or q-value: ``< 0.001`` or three decimals; em dash when missing."""
    if is_missing(value):
        return DASH
    v = float(value)
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def fmt_ci(low: Any, high: Any) -> str:
    """A confidence interval ``low to high``; em dash when either end is missing."""
    if is_missing(low) or is_missing(high):
        return DASH
    return f"{fmt_num(low)} to {fmt_num(high)}"


def fmt_pct(value: Any) -> str:
    """A fraction as a whole percentage."""
    return DASH if is_missing(value) else f"{100 * float(value):.0f} %"


def fmt_name(value: Any) -> str:
    """Display name of a snake_case identifier (unknown ones are returned unchanged)."""
    if is_missing(value):
        return DASH
    return NAMES.get(str(value), str(value))


#: The filters registered on the report's Jinja environment.
FILTERS = {"num": fmt_num, "p": fmt_p, "pct": fmt_pct, "name": fmt_name}
