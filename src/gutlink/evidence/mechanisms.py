"""Evidence rows of the layers that run as commands of their own: molecular mimicry (``gutlink mimicry`` with a
cohort: the case/control burden test) and interventions (``gutlink trial``: within-subject change of the barrier
balance per arm). They are read from the ``summary.json`` of those commands' output folders (JSON only, never
unpickled); nothing is recomputed.

Mimicry: the burden test of the epitope set of the condition (``MS`` epitopes for multiple sclerosis, ...). The
row's effect is the rank-biserial correlation ``2U / (n_case n_control) - 1`` from the test's Mann–Whitney U
(unit-free, so the rubric's effect-size threshold means the same in every cohort); its p and q are the test's
shuffled taxon → proteome p and its BH q.

Interventions: the barrier balance's median within-subject change from the pre to the post window in each arm
(and the arm difference of crossover designs), with the signed-rank p and q of ``gutlink trial``. The layer says
whether an intervention shifts the barrier balance, not whether it treats the condition.

Examples
--------
>>> s = {"type": "TrialResult", "table": [{"analysis": "guild", "arm": "fibre", "feature_id": "barrier_balance",
...       "effect": 0.8, "n_subjects": 12, "p_value": 0.004, "q_value": 0.02}], "design_checks": None}
>>> r = intervention_rows(s, "trial A")[0]
>>> r["layer"], r["cohort"], r["effect"], r["significant"]
('interventions', 'trial A: fibre', 0.8, True)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFormatError, UnknownConditionError
from ..literature import resolve
from ..verdict import ALPHA_LEVEL
from .layers import row

__all__ = ["KINDS", "intervention_rows", "mimicry_rows", "read_summary", "rows_from_folder"]

#: The layer kinds an atlas ``[[layer]]`` table may name, and the Result type their summary.json must hold.
KINDS = {"mimicry": "BurdenResult", "interventions": "TrialResult"}


def read_summary(folder: str | Path, kind: str) -> dict[str, Any]:
    """The ``summary.json`` of a gutlink output folder of *kind* (:data:`KINDS`), checked to be that kind."""
    path = Path(folder)
    path = path / "summary.json" if path.is_dir() else path
    if not path.is_file():
        raise InputFormatError(f"no such file; a {kind} layer reads the summary.json of a gutlink "
                               f"{'mimicry' if kind == 'mimicry' else 'trial'} output folder.", path=str(path),
                               hint="Give the output folder of that command as results = \"FOLDER\".")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputFormatError(f"not valid JSON ({err}).", path=str(path),
                               hint="Point to the summary.json gutlink wrote, unchanged.") from None
    if not isinstance(data, dict):
        raise InputFormatError("not a gutlink summary.", path=str(path), hint="Rerun the command.")
    if kind == "mimicry":
        data = {**dict(data.get("burden") or {}), "design_checks": data.get("design_checks")}
    elif data.get("subcommand") == "trial":  # the run bundle of `gutlink trial`: the trial's fields at top level
        data = {**data, "type": KINDS[kind]}
    if data.get("type") != KINDS[kind]:
        what = "gutlink mimicry with --abundance/--group (the burden test)" if kind == "mimicry" else "gutlink trial"
        raise InputFormatError(f"holds no {KINDS[kind]} (found {data.get('type')!r}).", path=str(path),
                               hint=f"A {kind} layer reads the output of {what}.")
    return data


def _design(summary: Mapping[str, Any]) -> dict[str, Any]:
    checks = summary.get("design_checks") or {}
    rows = checks.get("checks", checks.get("table", [])) if isinstance(checks, Mapping) else []
    red = "; ".join(str(r.get("check", "")) for r in rows if isinstance(r, Mapping) and r.get("status") == "red")
    return {"design_status": str(checks.get("status", "")) if isinstance(checks, Mapping) else "",
            "design_red": red}


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return out


def mimicry_rows(summary: Mapping[str, Any], cohort: str, condition: str) -> list[dict[str, Any]]:
    """Rows of a mimicry burden test (:func:`read_summary` of kind ``mimicry``) for *condition*: the tests whose
    epitope set names that condition; none when the run tested other conditions only."""
    want = resolve(condition).name
    out = []
    for t in summary.get("tests", []):
        try:
            if resolve(str(t.get("metric", ""))).name != want:
                continue
        except UnknownConditionError:
            continue
        n1, n0, u = _num(t.get("n_case")), _num(t.get("n_control")), _num(t.get("statistic"))
        effect = 2 * u / (n1 * n0) - 1 if n1 > 0 and n0 > 0 else float("nan")
        p, q = _num(t.get("p_value")), _num(t.get("q_value"))
        ok = bool(np.isfinite(p) and np.isfinite(effect))
        out.append(row("mimicry", f"{cohort}: {t.get('metric')} epitopes", effect=effect,
                       effect_name="rank-biserial correlation of the mimicry burden", test=str(t.get("test", "")),
                       p_value=p, q_value=q, significant=bool(ok and q < ALPHA_LEVEL),
                       assessable=ok,
                       reason="" if ok else "the burden test could not be computed", **_design(summary)))
    return out


def intervention_rows(summary: Mapping[str, Any], cohort: str) -> list[dict[str, Any]]:
    """Rows of a trial (:func:`read_summary` of kind ``interventions``): the barrier balance's within-subject
    change in each arm and arm contrast."""
    out = []
    for t in summary.get("table", []):
        if t.get("analysis") != "guild" or t.get("feature_id") != "barrier_balance":
            continue
        p, q, effect = _num(t.get("p_value")), _num(t.get("q_value")), _num(t.get("effect"))
        ok = bool(np.isfinite(p))
        out.append(row("interventions", f"{cohort}: {t.get('arm')}", effect=effect,
                       effect_name="median within-subject change of the barrier balance",
                       test="Wilcoxon signed-rank over subjects", p_value=p, q_value=q,
                       significant=bool(ok and q < ALPHA_LEVEL), assessable=ok,
                       reason="" if ok else "too few subjects with both windows", **_design(summary)))
    if not out:
        out.append(row("interventions", cohort, assessable=False, reason="the trial ran without guild scores "
                       "(--no-guilds) or no sample had guild members", **_design(summary)))
    return out


def rows_from_folder(kind: str, folder: str | Path, cohort: str, condition: str) -> list[dict[str, Any]]:
    """Evidence rows of one atlas ``[[layer]]`` entry."""
    summary = read_summary(folder, kind)
    return mimicry_rows(summary, cohort, condition) if kind == "mimicry" else intervention_rows(summary, cohort)
