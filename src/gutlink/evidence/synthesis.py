"""Evidence synthesis: every layer that ran for one condition, graded by the rubric, with an overall statement.

:func:`evidence` takes the results (one ``link`` run per cohort, a leave-one-study-out table, a meta-analysis,
and any further layer rows such as mimicry or interventions) and returns one frozen :class:`Evidence`; nothing
is recomputed. Per layer, the cohorts' rows are combined: the effect is the random-effects pooled one
(:func:`gutlink.meta.random_effects`, REML, standard errors from the 95 % intervals) where every cohort gives an
interval, else the median over cohorts; a layer passes its main test in one cohort when that cohort's test
passes, and across several cohorts when the pooled interval excludes the null or, without intervals, when at
least half of the cohorts pass. The grade follows :mod:`gutlink.evidence.rubric`; the overall statement takes
the grade of the best-supported layer and is never stronger.

Examples
--------
>>> from gutlink.evidence.layers import row
>>> ev = evidence("RA", layers=[row("community", "c1", effect=0.03, effect_name="r_squared", p_value=0.001,
...                                 q_value=0.004, significant=True, negative_control="calibrated")])
>>> ev.grid["community"], ev.overall["grade"]
('moderate', 'moderate')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DesignError
from ..link import LinkResult
from ..meta import random_effects
from ..results import Result
from .layers import ROW_COLUMNS, link_rows, meta_rows, prediction_across_rows
from .rubric import EFFECT_THRESHOLDS, GRADES, LAYERS, RUBRIC, grade_from_points, rubric_table

__all__ = ["Evidence", "evidence", "fmt"]

#: Null value of each layer's effect (for pooled intervals): 0.5 for AUROCs, 0 otherwise.
NULL_EFFECT = {"prediction_within": 0.5, "prediction_across": 0.5}
#: Layers whose effect is an interval-bearing quantity pooled across cohorts by random effects.
POOLED = ("diversity", "dysbiosis", "prediction_within", "prediction_across", "guilds")
_Z = float(stats.norm.isf(0.025))


def fmt(x: Any) -> str:
    """A number as the evidence sentences write it (3 significant digits; the test reads them back)."""
    v = float(x)
    if not np.isfinite(v):
        return "NA"
    if v != 0 and abs(v) < 0.001:
        return f"{v:.2e}"
    return f"{v:.3g}"


@dataclass(frozen=True)
class Evidence(Result):
    """The evidence for one condition.

    ``layers``: one row per layer (combined over cohorts) with its effect, interval, test, the rubric's
    criteria, points, grade and plain sentence; ``cohorts``: the per-cohort rows behind them; ``grid``: layer →
    grade; ``overall``: the grade and statement, never stronger than the best-supported layer.
    """

    REPORT_TITLE: ClassVar[str] = "evidence synthesis — is there a link, layer by layer?"

    condition: str
    layers: pd.DataFrame
    cohorts: pd.DataFrame
    grid: dict[str, str]
    overall: dict[str, Any]
    rubric: pd.DataFrame = field(metadata={"json": False})

    @property
    def table(self) -> pd.DataFrame:
        """The graded layers."""
        return self.layers


def _pool(rows: pd.DataFrame, layer: str) -> dict[str, Any]:
    """Combined effect, interval and pass of one layer over its assessable cohort rows."""
    k = len(rows)
    eff = rows["effect"].to_numpy(dtype=float)
    lo, hi = rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float)
    out: dict[str, Any] = {"n_cohorts": k, "n_cohorts_significant": int(rows["significant"].sum())}
    if k == 1:
        r = rows.iloc[0]
        return {**out, "effect": float(r["effect"]), "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]),
                "p_value": float(r["p_value"]), "q_value": float(r["q_value"]), "significant": bool(r["significant"]),
                "pooled": "one cohort", "i2": np.nan}
    se = (hi - lo) / (2 * _Z)
    null = NULL_EFFECT.get(layer, 0.0)
    if layer in POOLED and np.isfinite(se).all() and (se > 0).all():
        re = random_effects((eff - null)[:, None], (se**2)[:, None], method="reml")
        mu, s = float(re["effect"][0]) + null, float(re["se"][0])
        lo_p, hi_p = mu - _Z * s, mu + _Z * s
        sig = bool(lo_p > null or hi_p < null)
        return {**out, "effect": mu, "ci_low": lo_p, "ci_high": hi_p, "p_value": float(re["p_value"][0]),
                "q_value": np.nan, "significant": sig, "pooled": "random effects (REML)", "i2": float(re["i2"][0])}
    return {**out, "effect": float(np.nanmedian(eff)) if np.isfinite(eff).any() else np.nan, "ci_low": np.nan,
            "ci_high": np.nan, "p_value": np.nan, "q_value": float(rows["q_value"].min()),
            "significant": bool(out["n_cohorts_significant"] * 2 >= k and out["n_cohorts_significant"] > 0),
            "pooled": "median over cohorts; passes when at least half of the cohorts do", "i2": np.nan}


def _consistent(rows: pd.DataFrame, layer: str, combined: dict[str, Any]) -> bool:
    if layer == "taxa_meta":
        return bool(rows["consistent"].fillna(False).astype(bool).all()) if "consistent" in rows else False
    if len(rows) < 2:
        return False
    null = NULL_EFFECT.get(layer, 0.0)
    signs = np.sign(rows["effect"].to_numpy(dtype=float) - null)
    if layer == "community":  # R² has no sign: consistency is the share of cohorts that differ
        return combined["n_cohorts_significant"] * 2 >= len(rows)
    return bool(combined["n_cohorts_significant"] * 2 >= len(rows) and (np.abs(signs.sum()) == len(signs)))


def _grade(layer: str, rows: pd.DataFrame, lit_concordant: bool) -> dict[str, Any]:
    """The combined row of one layer with its rubric criteria, points and grade."""
    ok = rows[rows["assessable"].astype(bool)]
    red = sorted({str(x) for x in rows["design_red"] if str(x) not in ("", "nan")})
    base: dict[str, Any] = {"layer": layer, "name": LAYERS.get(layer, layer), "n_cohorts": len(ok),
                            "cohorts": ", ".join(ok["cohort"].astype(str)), "test": "; ".join(
                                dict.fromkeys(ok["test"].astype(str))), "effect_name": "; ".join(
                                dict.fromkeys(ok["effect_name"].astype(str))), "design_red": "; ".join(red)}
    if ok.empty:
        reasons = "; ".join(dict.fromkeys(str(r) for r in rows["reason"] if str(r) not in ("", "nan")))
        return {**base, "grade": "not assessable", "points": 0, "reason": reasons or "no result"}
    c = _pool(ok, layer)
    threshold = EFFECT_THRESHOLDS.get(layer, (np.inf, ""))[0]
    null = NULL_EFFECT.get(layer, 0.0)
    controls = set(ok["negative_control"].astype(str))
    criteria = {
        "effect_size": bool(np.isfinite(c["effect"]) and abs(c["effect"] - (0.0 if null == 0.5 else null))
                            >= threshold),
        "consistency": _consistent(ok, layer, c),
        "adjusted": bool(ok["adjusted"].astype(bool).all() and not ok["confounding_amber"].astype(bool).any()),
        "literature": bool(layer in ("taxa", "taxa_meta") and lit_concordant),
        "negative_control": controls == {"calibrated"},
    }
    points = int(sum(criteria.values()))
    if layer == "taxa_meta" and "n_cohorts" in ok:
        c["n_cohorts_pooled"] = int(ok["n_cohorts"].iloc[0])
    if red:
        grade = "not gradable"
    elif not c["significant"]:
        grade = "no evidence"
    else:
        grade = grade_from_points(points)
        if "excess" in controls:
            grade = "weak"
    return {**base, **c, **{f"criterion_{k}": v for k, v in criteria.items()}, "points": points,
            "negative_control": ", ".join(sorted(controls)), "grade": grade, "reason": ""}


def _sentence(r: Mapping[str, Any], condition: str) -> str:
    name = str(r["name"])
    grade = str(r["grade"])
    if grade == "not assessable":
        return f"{name}: not assessable ({r['reason']})."
    k = int(r["n_cohorts"])
    where = "in the one cohort" if k == 1 else f"over {k} cohorts ({r['n_cohorts_significant']} significant)"
    if r["layer"] == "taxa_meta":
        where = f"pooled over {int(r['n_cohorts_pooled'])} cohorts"
    eff = f"{r['effect_name'].split(';')[0].replace('_', ' ')} {fmt(r['effect'])}"
    if np.isfinite(float(r.get("ci_low", np.nan))):
        eff += f" (95 % CI {fmt(r['ci_low'])} to {fmt(r['ci_high'])})"
    if np.isfinite(float(r.get("q_value", np.nan))):
        eff += f", smallest q {fmt(r['q_value'])}"
    if grade == "not gradable":
        return (f"{name}: {eff} {where} — measured, but not evidence while a design check is red "
                f"({r['design_red']}).")
    if grade == "no evidence":
        text = f"{name}: no evidence for {condition} — {eff} {where}."
        if r["layer"] == "prediction_across":
            text = (f"{name}: the community's signal does not transfer across {condition} cohorts — {eff} {where}; "
                    "what separates cases from controls inside one cohort does not predict them in another.")
        return text
    return f"{name}: {grade} evidence — {eff} {where}; {int(r['points'])} of {len(RUBRIC)} rubric points."


_RANK = {g: i for i, g in enumerate(GRADES)}


def _overall(layers: pd.DataFrame, condition: str) -> dict[str, Any]:
    graded = layers[layers["grade"].isin(("strong", "moderate", "weak"))]
    if graded.empty:
        measured = layers[layers["grade"].isin(("no evidence", "not gradable"))]
        if measured.empty:
            return {"grade": "not assessable", "best_layer": "",
                    "statement": f"{condition}: not assessable — no layer could be assessed."}
        flagged = layers[layers["grade"] == "not gradable"]
        tail = (f" {len(flagged)} layer(s) measured a difference that cannot count while a design check is red."
                if len(flagged) else "")
        return {"grade": "no evidence", "best_layer": "",
                "statement": f"{condition}: no evidence of a link in the {len(measured)} layer(s) assessed.{tail}"}
    best = graded.assign(_r=graded["grade"].map(_RANK)).sort_values(["_r", "points"], ascending=[True, False],
                                                                    kind="mergesort").iloc[0]
    others = graded[graded["layer"] != best["layer"]]
    text = (f"{condition}: {best['grade']} evidence of a link at best, from {best['name'].lower()} "
            f"({int(best['points'])} of {len(RUBRIC)} rubric points)")
    if len(others):
        text += "; also graded: " + ", ".join(f"{n.lower()} {g}" for n, g in zip(others["name"], others["grade"]))
    absent = layers[layers["grade"] == "no evidence"]
    if len(absent):
        text += f"; no evidence in {len(absent)} layer(s)"
    return {"grade": str(best["grade"]), "best_layer": str(best["layer"]), "statement": text + "."}


def evidence(condition: str, *, links: Mapping[str, LinkResult] | Sequence[LinkResult] = (),
             transfer: pd.DataFrame | Any = None, meta: Any = None,
             layers: Sequence[Mapping[str, Any]] = ()) -> Evidence:
    """Gather and grade every layer that ran for *condition*.

    Parameters
    ----------
    condition
        The condition's name as shown.
    links
        ``link`` results, one per cohort (a mapping cohort name → result, or a sequence named ``cohort 1``, …).
    transfer
        Leave-one-study-out results across the condition's cohorts: a
        :class:`~gutlink.predict.TransferResult` or its table (``study, auroc, ci_low, ci_high``).
    meta
        A :class:`~gutlink.meta.MetaResult` of the cohorts' differential results.
    layers
        Further layer rows (mimicry burden, interventions, …) with the keys of
        :data:`gutlink.evidence.layers.ROW_COLUMNS` (:func:`gutlink.evidence.layers.row` fills the rest).

    Returns
    -------
    Evidence

    Raises
    ------
    DesignError
        When no result at all is given.
    """
    named = dict(links) if isinstance(links, Mapping) else {f"cohort {i + 1}": r for i, r in enumerate(links)}
    rows: list[dict[str, Any]] = [r for name, res in named.items() for r in link_rows(res, name)]
    if transfer is not None:
        rows += prediction_across_rows(getattr(transfer, "table", transfer),
                                       adjusted=False)
    if meta is not None:
        rows += meta_rows(meta, ", ".join(named) or "cohorts")
    rows += [{**{c: np.nan for c in ROW_COLUMNS}, **dict(r)} for r in layers]
    if not rows:
        raise DesignError(f"evidence({condition!r}): no result was given; pass links=, transfer=, meta= or layers=.")
    cohorts = pd.DataFrame(rows)
    for col in ROW_COLUMNS:
        if col not in cohorts:
            cohorts[col] = np.nan
    for flag in ("significant", "adjusted", "confounding_amber", "assessable"):
        cohorts[flag] = cohorts[flag].fillna(flag == "assessable").astype(bool)
    for text in ("design_red", "reason", "test", "effect_name", "negative_control", "literature"):
        cohorts[text] = cohorts[text].fillna("").astype(str)
    lit = cohorts[(cohorts["layer"] == "literature") & cohorts["assessable"]]
    n_conc = int((lit["literature"] == "concordant").sum())
    lit_concordant = bool(n_conc > 0 and 2 * n_conc >= len(lit))  # the literature layer's own pass
    order = [k for k in LAYERS if k in set(cohorts["layer"])] + sorted(set(cohorts["layer"]) - set(LAYERS))
    graded = pd.DataFrame([_grade(k, cohorts[cohorts["layer"] == k], lit_concordant) for k in order])
    graded["sentence"] = [_sentence(r, condition) for r in graded.to_dict("records")]
    counts = graded["grade"].value_counts()
    overall = {**_overall(graded, condition), "max_points": len(RUBRIC),
               "n_layers_no_evidence": int(counts.get("no evidence", 0)),
               "n_layers_not_gradable": int(counts.get("not gradable", 0)),
               "n_layers_assessed": int(graded["grade"].isin(("no evidence", "not gradable", "strong", "moderate",
                                                               "weak")).sum())}
    return Evidence(condition=condition, layers=graded, cohorts=cohorts.reset_index(drop=True),
                    grid=dict(zip(graded["layer"], graded["grade"])), overall=overall, rubric=rubric_table())
