"""The evidence rubric, written as data: what earns a layer its grade.

A layer is graded only when it could be assessed and no design check of a cohort behind it is red (then it is
``not gradable``: measured, but not evidence). A layer whose main test does not pass (:data:`SIGNIFICANCE`) is
``no evidence``. Otherwise it collects one point per criterion of :data:`RUBRIC` that it meets, and
:data:`GRADE_POINTS` turns the points into ``strong`` / ``moderate`` / ``weak``. A negative control that finds
as much as the real labels do caps the grade at ``weak`` whatever the points (:data:`CAPS`).

Examples
--------
>>> [r["criterion"] for r in RUBRIC]
['effect size', 'consistency across cohorts', 'adjustment for confounders', 'concordance with the literature', 'negative control']
>>> grade_from_points(3), grade_from_points(1)
('strong', 'weak')
"""

from __future__ import annotations

import pandas as pd

__all__ = ["CAPS", "EFFECT_THRESHOLDS", "GRADES", "GRADE_POINTS", "LAYERS", "RUBRIC", "SIGNIFICANCE",
           "grade_from_points", "rubric_table"]

#: Grades, strongest first. ``not gradable``: a design check of a cohort behind it is red.
GRADES: tuple[str, ...] = ("strong", "moderate", "weak", "no evidence", "not gradable", "not assessable")

#: Layers in grid order, with their display names.
LAYERS: dict[str, str] = {
    "community": "Community composition (PERMANOVA)",
    "diversity": "Alpha diversity (Shannon)",
    "dysbiosis": "Dysbiosis score",
    "taxa": "Taxa that differ",
    "taxa_meta": "Taxa pooled across cohorts (random effects)",
    "literature": "Concordance with the literature (BugSigDB)",
    "prediction_within": "Prediction within cohorts (AUROC)",
    "prediction_across": "Prediction across cohorts (leave-one-study-out AUROC)",
    "guilds": "Barrier guilds (barrier balance)",
    "markers": "Host markers",
    "mimicry": "Molecular mimicry",
    "interventions": "Interventions",
}

#: When a layer's main test passes (the first gate of every grade).
SIGNIFICANCE: dict[str, str] = {
    "community": "PERMANOVA q < 0.05 (BH across the run's community tests)",
    "diversity": "Shannon q < 0.05 (covariate-adjusted where covariates were given)",
    "dysbiosis": "dysbiosis rank test q < 0.05",
    "taxa": "at least one taxon at q < 0.05 (BH across taxa)",
    "taxa_meta": "at least one taxon with pooled q < 0.05 (BH across taxa)",
    "literature": "concordant: enrichment q < 0.05 and direction agreement above the random-signature null",
    "prediction_within": "95 % CI of the cross-validated AUROC above 0.5",
    "prediction_across": "95 % CI of the random-effects pooled held-out AUROC above 0.5",
    "guilds": "barrier balance q < 0.05",
    "markers": "at least one marker pair at q < 0.1",
    "mimicry": "q < 0.05 of the layer's main test",
    "interventions": "q < 0.05 of the layer's main test",
}

#: Effect size that earns the effect-size point, per layer (absolute value of the layer's ``effect``).
EFFECT_THRESHOLDS: dict[str, tuple[float, str]] = {
    "community": (0.02, "PERMANOVA R² ≥ 0.02"),
    "diversity": (0.2, "|Shannon difference| ≥ 0.2 nats"),
    "dysbiosis": (0.05, "|dysbiosis shift| ≥ 0.05"),
    "taxa": (0.05, "≥ 5 % of the tested taxa differ"),
    "taxa_meta": (0.05, "≥ 5 % of the pooled taxa differ"),
    "literature": (0.6, "≥ 60 % of the differing signature genera in the published direction"),
    "prediction_within": (0.7, "AUROC ≥ 0.7"),
    "prediction_across": (0.7, "pooled held-out AUROC ≥ 0.7"),
    "guilds": (0.2, "|barrier-balance difference| ≥ 0.2"),
    "markers": (0.2, "|strongest pair's coefficient| ≥ 0.2"),
    "mimicry": (0.2, "|effect| ≥ 0.2"),
    "interventions": (0.2, "|effect| ≥ 0.2"),
}

#: One point per criterion met (the layer's row fields it reads are named in ``field``).
RUBRIC: tuple[dict[str, str], ...] = (
    {"criterion": "effect size", "field": "effect",
     "rule": "the layer's effect reaches EFFECT_THRESHOLDS (a significant but negligible effect earns nothing)"},
    {"criterion": "consistency across cohorts", "field": "consistent",
     "rule": "two or more cohorts, at least half of them significant and all with the same sign "
             "(held-out cohorts for prediction across cohorts); one cohort earns nothing"},
    {"criterion": "adjustment for confounders", "field": "adjusted",
     "rule": "covariates were adjusted for in every cohort and no design check is amber for confounding"},
    {"criterion": "concordance with the literature", "field": "literature",
     "rule": "taxa layers only: the cohort's taxa are concordant with BugSigDB's signatures of the condition"},
    {"criterion": "negative control", "field": "negative_control",
     "rule": "a label-shuffle negative control ran and found no more than expected by chance (calibrated)"},
)

#: Points → grade, for a layer whose main test passed.
GRADE_POINTS: tuple[tuple[int, str], ...] = ((3, "strong"), (2, "moderate"), (0, "weak"))

#: Conditions that cap a grade whatever its points.
CAPS: dict[str, str] = {"negative_control=excess": "weak"}


def grade_from_points(points: int) -> str:
    """The grade of a significant layer with *points* rubric points (:data:`GRADE_POINTS`)."""
    for least, grade in GRADE_POINTS:
        if points >= least:
            return grade
    return "weak"


def rubric_table() -> pd.DataFrame:
    """The rubric as one table (criteria, then per-layer significance gates and effect thresholds)."""
    rows = [{"kind": "criterion", "layer": "", "name": r["criterion"], "rule": r["rule"]} for r in RUBRIC]
    rows += [{"kind": "significance", "layer": k, "name": LAYERS[k], "rule": v} for k, v in SIGNIFICANCE.items()]
    rows += [{"kind": "effect threshold", "layer": k, "name": LAYERS[k], "rule": f"{v[1]} ({v[0]:g})"}
             for k, v in EFFECT_THRESHOLDS.items()]
    rows += [{"kind": "grade", "layer": "", "name": g, "rule": f"significant and ≥ {n} point(s)"}
             for n, g in GRADE_POINTS]
    rows += [{"kind": "cap", "layer": "", "name": v, "rule": k} for k, v in CAPS.items()]
    return pd.DataFrame(rows)
