"""One row per layer and cohort, read from the results that ran (pure functions; nothing is recomputed).

Every row carries :data:`ROW_COLUMNS`: the layer, the cohort, the effect with its name and 95 % interval, the
test, p and q, whether the layer's main test passed (``significant``, see
:data:`gutlink.evidence.rubric.SIGNIFICANCE`), whether covariates were adjusted for, the negative control's
outcome (``calibrated`` / ``excess`` / ``not run``), the literature verdict (taxa layer), the cohort's design
status and red checks, and whether the layer could be assessed (with the reason when not).

Examples
--------
>>> import pandas as pd
>>> rows = prediction_across_rows(pd.DataFrame({"study": ["a", "b"], "auroc": [0.8, 0.7], "ci_low": [0.7, 0.6],
...                                             "ci_high": [0.9, 0.8]}))
>>> [r["cohort"] for r in rows], rows[0]["significant"]
(['a', 'b'], True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..link import LinkResult
from ..verdict import ADJUSTED_TESTS, ALPHA_LEVEL, RANK_TESTS

__all__ = ["ROW_COLUMNS", "link_rows", "meta_rows", "prediction_across_rows", "row"]

ROW_COLUMNS = ["layer", "cohort", "effect", "effect_name", "ci_low", "ci_high", "test", "p_value", "q_value",
               "n_tested", "n_significant", "significant", "adjusted", "confounding_amber", "negative_control",
               "literature", "design_status", "design_red", "assessable", "reason"]
#: A shuffle control is calibrated when its median discoveries stay at or below this share of the real ones
#: (and at or below 1 when the real labels find nothing), or, for p-value controls, this share of p < 0.05.
CONTROL_SHARE = 0.2
CONTROL_P_SHARE = 0.1


def row(layer: str, cohort: str, **values: Any) -> dict[str, Any]:
    """A layer row with every :data:`ROW_COLUMNS` key (missing numbers NaN, flags off, assessable)."""
    out: dict[str, Any] = {c: np.nan for c in ROW_COLUMNS}
    out.update(layer=layer, cohort=cohort, effect_name="", test="", significant=False, adjusted=False,
               confounding_amber=False, negative_control="not run", literature="", design_status="",
               design_red="", assessable=True, reason="", n_tested=np.nan, n_significant=np.nan)
    out.update(values)
    return out


def _design(res: LinkResult) -> dict[str, Any]:
    checks = res.design_checks
    if checks is None:
        return {"design_status": "", "design_red": "", "confounding_amber": False}
    red = "; ".join(str(c) for c in checks.red["check"])
    amber = checks.table[(checks.table["status"] != "green")
                         & checks.table["check"].astype(str).str.contains("confound")]
    return {"design_status": checks.status, "design_red": red, "confounding_amber": bool(len(amber))}


def _test_row(tests: pd.DataFrame, analysis: str, metric: str | None = None) -> pd.Series | None:
    t = tests[tests["analysis"] == analysis]
    if metric is not None:
        t = t[t["metric"] == metric]
    adjusted = t[t["test"].isin(ADJUSTED_TESTS)]
    t = adjusted if len(adjusted) else t[t["test"].isin(RANK_TESTS)] if t["test"].isin(RANK_TESTS).any() else t
    return t.iloc[0] if len(t) else None


def _from_test(layer: str, cohort: str, r: pd.Series | None, base: dict[str, Any]) -> dict[str, Any]:
    if r is None or not np.isfinite(float(r["p_value"])):
        return row(layer, cohort, assessable=False, reason="the test did not run or has no p-value", **base)
    q = float(r["q_value"])
    return row(layer, cohort, effect=float(r["effect"]), effect_name=str(r["effect_name"]),
               ci_low=float(r["ci_low"]), ci_high=float(r["ci_high"]), test=str(r["test"]),
               p_value=float(r["p_value"]), q_value=q, significant=bool(q < ALPHA_LEVEL),
               **{**base, "adjusted": base["adjusted"] and str(r["test"]) in (*ADJUSTED_TESTS, "permanova (margin)",
                                                                                "permanova (terms)")})


def _shuffle_outcome(observed: int, control: Mapping[str, Any] | None) -> str:
    if not control or not control.get("n_shuffles"):
        return "not run"
    median = float(np.median(np.asarray(control["discoveries"], dtype=float)))
    ok = median <= max(1.0, CONTROL_SHARE * observed) if observed == 0 else median <= CONTROL_SHARE * observed
    return "calibrated" if ok else "excess"


def link_rows(res: LinkResult, cohort: str) -> list[dict[str, Any]]:
    """The layer rows of one ``link`` run: community, diversity, dysbiosis, taxa, literature, prediction within,
    guilds and host markers (each only when it ran)."""
    base = {**_design(res), "adjusted": bool(res.covariates)}
    tests = res.tests
    metric = "braycurtis" if "braycurtis" in res.permanova else next(iter(res.permanova), None)
    out = [_from_test("community", cohort, _test_row(tests, "permanova", metric), base),
           _from_test("diversity", cohort, _test_row(tests, "alpha", "shannon"), base),
           _from_test("dysbiosis", cohort, _test_row(tests, "dysbiosis"), base)]
    lit = res.literature
    lit_verdict = lit.verdict if lit is not None else str(res.literature_info.get("verdict", ""))
    diff = res.differential
    if diff is not None:
        tab = diff.table[diff.table["term"] == diff.terms[0]] if diff.terms else diff.table.iloc[:0]
        n_sig = int((tab["q_value"] < ALPHA_LEVEL).sum())
        n = int(len(tab))
        out.append(row("taxa", cohort, effect=n_sig / n if n else np.nan, effect_name="fraction of taxa differing",
                       test=str(diff.model), p_value=float(tab["p_value"].min()) if n else np.nan,
                       q_value=float(tab["q_value"].min()) if n else np.nan, n_tested=n, n_significant=n_sig,
                       significant=n_sig > 0, negative_control=_shuffle_outcome(n_sig, diff.negative_control),
                       literature=lit_verdict, assessable=n > 0, reason="" if n else "no taxon was tested",
                       **base))
    if res.literature_info:
        out.append(_literature_row(res, cohort, base))
    if res.prediction is not None:
        p = res.prediction
        lo, hi = p.auroc_ci
        perm = getattr(p, "permutation_p", None)
        out.append(row("prediction_within", cohort, effect=float(p.auroc), effect_name="auroc", ci_low=float(lo),
                       ci_high=float(hi), test=f"{p.model}, nested CV", p_value=np.nan if perm is None else perm,
                       significant=bool(lo > 0.5),
                       negative_control="not run" if perm is None else "calibrated", **base))
    if res.guilds is not None:
        out.append(_guild_row(res, cohort, base))
    if res.markers is not None:
        t = res.markers.table.sort_values(["q_value", "p_value"], kind="mergesort")
        top = t.iloc[0] if len(t) else None
        out.append(row("markers", cohort, effect=np.nan if top is None else float(top["effect"]),
                       effect_name="coefficient of the strongest pair", test=str(res.markers.model),
                       p_value=np.nan if top is None else float(top["p_value"]),
                       q_value=np.nan if top is None else float(top["q_value"]), n_tested=len(t),
                       n_significant=int((t["q_value"] < 0.1).sum()),
                       significant=bool(top is not None and top["q_value"] < 0.1), assessable=top is not None,
                       **base))
    return out


def _literature_row(res: LinkResult, cohort: str, base: dict[str, Any]) -> dict[str, Any]:
    lit, info = res.literature, res.literature_info
    if lit is None or lit.verdict == "not assessable":
        reason = info.get("reason", "") if lit is None else lit.reason
        return row("literature", cohort, assessable=False, reason=str(reason), literature="not assessable", **base)
    t = lit.tests.set_index("test")
    agree = float(t.loc["direction_agreement", "statistic"]) if "direction_agreement" in t.index else np.nan
    q = float(t.loc["enrichment", "q_value"]) if "enrichment" in t.index else np.nan
    return row("literature", cohort, effect=agree, effect_name="direction_agreement",
               test=f"BugSigDB enrichment ({', '.join(lit.labels)})",
               p_value=float(t.loc["enrichment", "p_value"]) if "enrichment" in t.index else np.nan, q_value=q,
               n_tested=int(lit.overall.get("n_studies", 0)), n_significant=int(lit.overall.get("n_studies_concordant",
                                                                                                 0)),
               significant=lit.verdict == "concordant", literature=lit.verdict,
               negative_control="not run", **base)


def _guild_row(res: LinkResult, cohort: str, base: dict[str, Any]) -> dict[str, Any]:
    g = res.guilds
    assert g is not None
    t = g.tests[g.tests["metric"] == "barrier_balance"]
    adjusted = t[t["test"].isin(ADJUSTED_TESTS)]
    t = adjusted if len(adjusted) else t[t["test"].isin(RANK_TESTS)]
    if t.empty or not np.isfinite(float(t["p_value"].iloc[0])):
        return row("guilds", cohort, assessable=False, reason="the barrier balance could not be assessed", **base)
    r = t.iloc[0]
    control = "not run"
    if len(g.shuffle):
        frac = float(g.shuffle["fraction_p_below_0.05"].median())
        control = "calibrated" if frac <= CONTROL_P_SHARE else "excess"
    return row("guilds", cohort, effect=float(r["effect"]), effect_name=str(r.get("effect_name", "")),
               ci_low=float(r.get("ci_low", np.nan)), ci_high=float(r.get("ci_high", np.nan)), test=str(r["test"]),
               p_value=float(r["p_value"]), q_value=float(r["q_value"]), significant=bool(r["q_value"] < ALPHA_LEVEL),
               negative_control=control, **{**base, "adjusted": base["adjusted"] and len(adjusted) > 0})


def prediction_across_rows(table: pd.DataFrame, *, adjusted: bool = False) -> list[dict[str, Any]]:
    """Rows of a leave-one-study-out table (``study, auroc, ci_low, ci_high``): one per held-out cohort."""
    out = []
    for r in table.itertuples():
        ok = bool(np.isfinite(r.auroc))
        out.append(row("prediction_across", str(r.study), effect=float(r.auroc), effect_name="held-out auroc",
                       ci_low=float(r.ci_low), ci_high=float(r.ci_high), test="leave-one-study-out",
                       significant=bool(ok and r.ci_low > 0.5), adjusted=adjusted, assessable=ok,
                       reason="" if ok else "the held-out cohort could not be scored"))
    return out


def meta_rows(meta: Any, cohorts: str) -> list[dict[str, Any]]:
    """One row of a random-effects meta-analysis of differential results across cohorts (:mod:`gutlink.meta`)."""
    t = meta.table
    t = t[t["term"] == t["term"].iloc[0]] if len(t) else t
    n, n_sig = int(len(t)), int((t["q_value"] < ALPHA_LEVEL).sum()) if len(t) else 0
    return [row("taxa_meta", cohorts, effect=n_sig / n if n else np.nan, effect_name="fraction of taxa differing",
                test=f"random effects ({meta.method}, {meta.test})",
                p_value=float(t["p_value"].min()) if n else np.nan, q_value=float(t["q_value"].min()) if n else np.nan,
                n_tested=n, n_significant=n_sig, significant=n_sig > 0, assessable=n > 0,
                consistent=bool(n_sig and "i2" in t and float(t.loc[t["q_value"] < ALPHA_LEVEL, "i2"].median()) < 0.5),
                n_cohorts=int(meta.n_studies), reason="" if n else "no taxon was tested in two or more cohorts")]
