"""The verdict of ``gutlink link``: plain-language sentences from the numbers, and the rule that no result is called
evidence while a design check is red.

:func:`community_verdict` draws the level and sentences from the community tests; the report only renders them.
A verdict is a dict with ``level`` (``evidence`` / ``weak`` / ``none``), ``headline`` and ``sentences``.
:func:`qualify` applies the design checks to it: with a red check an ``evidence`` verdict becomes
``flagged`` — a difference was measured, but the design cannot yet tell it from the red check's explanation —
and every verdict names the red checks and what would resolve them.

Examples
--------
>>> import pandas as pd
>>> from gutlink.design import CHECK_COLUMNS, Design, DesignChecks
>>> d = Design(group="g", case=("a",), control=("b",))
>>> red = pd.DataFrame([["confounding", "red", "run", "the groups line up with 'run'", "add --covariates run"]],
...                    columns=CHECK_COLUMNS)
>>> v = qualify({"level": "evidence", "headline": "The community differs.", "sentences": []},
...             DesignChecks(design=d, table=red))
>>> v["level"], v["headline"].startswith("A difference was measured")
('flagged', True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .community import DysbiosisResult, PermanovaResult, PermdispResult
from .design import LABEL, DesignChecks
from .differential import DifferentialResult, describe_control

__all__ = ["ALPHA_LEVEL", "LEVELS", "community_verdict", "differential_sentences", "prediction_sentences",
           "qualify"]

#: q-value below which a test counts as evidence.
ALPHA_LEVEL = 0.05
#: Taxa named in the verdict's differential sentence (smallest q first).
TOP_NAMED = 3
#: Cross-validation protocol of link's prediction layer (lasso, nested, grouped by subject when given).
PREDICT_REPEATS, PREDICT_FOLDS = 5, 5
#: Display names of the beta-diversity metrics.
METRIC_NAMES = {"braycurtis": "Bray–Curtis", "jaccard": "Jaccard", "aitchison": "Aitchison"}

#: Verdict levels, strongest first, with the badge the report shows.
LEVELS = {"evidence": "Evidence of a difference", "flagged": "Difference measured — design check red",
          "weak": "Weak evidence at most", "none": "No evidence of a difference"}


def qualify(verdict: dict[str, Any], checks: DesignChecks | None) -> dict[str, Any]:
    """*verdict* with the design checks applied (a new dict; *verdict* is not changed)."""
    out = {**verdict, "sentences": list(verdict.get("sentences", [])),
           "design_status": None if checks is None else checks.status}
    if checks is None or checks.status != "red":
        return out
    red = checks.red
    names = "; ".join(f"{r.check} ({r.column})" if r.column else str(r.check) for r in red.itertuples())
    fixes = " ".join(str(f) for f in red["fix"] if f)
    sentence = (f"Design check{'s' if len(red) > 1 else ''} red: {names}. " + " ".join(str(m) for m in red["message"])
                + (f" What would resolve it: {fixes}" if fixes else ""))
    if out.get("level") == "evidence":
        out["level"] = "flagged"
        out["headline"] = ("A difference was measured, but it cannot count as evidence while a design check is red "
                           f"({names}): " + str(verdict.get("headline", "")))
    out["sentences"].insert(0, sentence)
    return out


def prediction_sentences(prediction: Any) -> list[str]:
    """One sentence on how well the community predicts the label out of sample (none without the layer)."""
    if prediction is None:
        return []
    lo, hi = prediction.auroc_ci
    strength = ("well" if lo >= 0.8 else "moderately" if lo >= 0.65 else "weakly" if lo > 0.5 else
                "no better than chance")
    return [f"Out of sample, the community predicts case/control status {strength}: AUROC {prediction.auroc:.2f} "
            f"(95 % CI {lo:.2f} to {hi:.2f}; L1 logistic regression, nested {PREDICT_REPEATS} × "
            f"{prediction.protocol.get('n_folds', PREDICT_FOLDS)}-fold CV, all preprocessing inside the folds)."]


# ----------------------------------------------------------------------------- community verdict
def _fmt_p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def community_verdict(tests: pd.DataFrame, perms: dict[str, PermanovaResult], disps: dict[str, PermdispResult],
             dys: DysbiosisResult, n_per: dict[str, int], diff: DifferentialResult | None = None,
             rarefied_history: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Plain-language statements, each carrying its own numbers.

    The level (evidence / weak / none) comes from the run-wide family of community tests only (``tests``:
    alpha diversity, PERMANOVA, PERMDISP, dysbiosis), a small family fixed before looking at the data, with one
    BH correction across it. The per-taxon tests of the differential layer are a different question (where
    does a difference lie?) with their own family of hundreds of tests and their own BH correction; folding
    them into the verdict would let a single taxon's q decide about the whole community, or make the verdict
    depend on how many taxa were tested. Their summary is added to the sentences only.
    """
    decisive = _decisive(tests)
    sig = (tests["q_value"] < ALPHA_LEVEL) & decisive
    sentences = [*_beta_sentences(tests, perms), *_alpha_sentences(tests), *_unadjusted_sentences(tests, decisive),
                 *_dysbiosis_sentences(tests, dys), *differential_sentences(diff)]
    untested = decisive & ~np.isfinite(tests["q_value"].to_numpy(dtype=float))
    if untested.any():
        names = ", ".join(dict.fromkeys(_test_label(row) for row in tests[untested].itertuples()))
        sentences.insert(0, f"{int(untested.sum())} deciding test(s) were not assessable (no p-value: not run, "
                            f"or the statistic is undefined on this data): {names}.")
    decisive = decisive & ~untested
    if sig.any():
        level = "evidence"
        found = ", ".join(dict.fromkeys(_test_label(row) for row in tests[sig].itertuples()))
        head = f"The gut community differs between cases and controls in this cohort (q < {ALPHA_LEVEL}: {found})."
    elif (tests.loc[decisive, "p_value"] < ALPHA_LEVEL).any():
        level = "weak"
        head = ("Weak evidence at most: some tests have p < 0.05, but none survives correction for the "
                f"{len(tests)} tests run (all {int(decisive.sum())} deciding tests q ≥ {ALPHA_LEVEL}).")
    elif not decisive.any():
        level = "none"
        head = ("Not assessable: none of the deciding community tests produced a p-value "
                "(permutation tests not run, or no variation between samples).")
    else:
        level = "none"
        head = ("No evidence of a difference between cases and controls in community composition, diversity or "
                f"dysbiosis score (all {int(decisive.sum())} deciding tests q ≥ {ALPHA_LEVEL}).")
    for h in rarefied_history:
        kept = tests.loc[tests.analysis == "alpha", ["n_case", "n_control"]].max()
        sentences.append(f"Alpha diversity was computed at an equal depth of {h['depth']} reads: "
                         f"{int(kept.n_case)} cases and {int(kept.n_control)} controls had enough reads, "
                         f"{h['n_dropped']} sample(s) with fewer were left out of the alpha tests only.")
    if "chao1" in set(tests.metric) and not rarefied_history:
        sentences.append("Richness was computed on unrarefied read counts, so it also reflects sequencing depth; "
                         "rarefy (--rarefy DEPTH) to compare richness at equal depth.")
    small = min(n_per.values())
    if level != "evidence" and small < 20:
        sentences.append(f"With only {small} samples in the smaller group, a modest difference could go undetected: "
                         "absence of evidence is not evidence of absence.")
    sentences.append("This is an association in observational data, not proof of cause; a research result, "
                     "not medical advice.")
    return {"level": level, "headline": head, "sentences": sentences, "q_threshold": ALPHA_LEVEL}


_ALPHA_NAMES = {"observed": "observed richness", "shannon": "Shannon diversity", "simpson": "Gini–Simpson diversity",
                "chao1": "Chao1 richness"}


_TEST_NAMES = {"mann_whitney": "Mann–Whitney", "kruskal_wallis": "Kruskal–Wallis",
               "wilcoxon_signed_rank": "Wilcoxon signed-rank", "van_elteren": "van Elteren"}
#: The case/control rank tests (design-dependent) and the covariate-adjusted models of the community layer.
RANK_TESTS = ("mann_whitney", "wilcoxon_signed_rank", "van_elteren")
ADJUSTED_TESTS = ("ols", "mixedlm")


def _decisive(tests: pd.DataFrame) -> pd.Series:
    """Which tests decide the verdict level: every test, except unadjusted alpha-diversity tests of a metric
    that also has a covariate-adjusted (OLS) test — with covariates given, the adjusted test is the one asked."""
    adjusted = set(tests.loc[(tests.analysis == "alpha") & tests.test.isin(ADJUSTED_TESTS), "metric"])
    unadjusted = (tests.analysis == "alpha") & tests.test.isin([*RANK_TESTS, "kruskal_wallis"])
    return ~(unadjusted & tests.metric.isin(adjusted))


def _test_label(row: Any) -> str:
    if row.analysis == "alpha":
        return _ALPHA_NAMES.get(row.metric, row.metric) + (" (adjusted)" if row.test in ADJUSTED_TESTS else "")
    name = METRIC_NAMES.get(row.metric, row.metric)
    return {"permanova": f"PERMANOVA {name}", "permdisp": f"PERMDISP {name}"}.get(row.analysis, "dysbiosis score")


def _unadjusted_sentences(tests: pd.DataFrame, decisive: pd.Series) -> list[str]:
    """Say when an unadjusted alpha test is significant but its adjusted twin is not (a confounded signal)."""
    out = []
    for row in tests[~decisive & (tests.q_value < ALPHA_LEVEL)].itertuples():
        twin = tests[(tests.analysis == "alpha") & tests.test.isin(ADJUSTED_TESTS) & (tests.metric == row.metric)].iloc[0]
        if twin.q_value >= ALPHA_LEVEL:
            covs = str(twin.comparison).split("|", 1)[-1].strip()
            out.append(f"Unadjusted, {_ALPHA_NAMES.get(row.metric, row.metric)} differs ({_TEST_NAMES.get(row.test, row.test)}, "
                       f"q {_fmt_p(row.q_value)}), but not once {covs} is adjusted for (q {_fmt_p(twin.q_value)}): "
                       "the difference follows the covariates, and the adjusted test is the one that counts.")
    return out


def _beta_sentences(tests: pd.DataFrame, perms: dict[str, PermanovaResult]) -> list[str]:
    out = []
    for row in tests[tests.analysis == "permanova"].itertuples():
        name = METRIC_NAMES.get(row.metric, row.metric)
        perm = perms[row.metric].permutations
        if not np.isfinite(row.p_value):
            why = ("no permutations were run (--permutations 0), so no p-value exists" if perm == 0 else
                   "every distance is zero or the pseudo-F is undefined (no variation between samples under "
                   "this metric, e.g. every taxon present in every sample under Jaccard, or a single taxon)")
            out.append(f"Community composition ({name}): not assessable, {why}.")
            continue
        verb = "differs" if row.q_value < ALPHA_LEVEL else "does not differ detectably"
        floor = " (the smallest p possible with this many permutations)" if row.p_value <= 1 / (perm + 1) + 1e-12 else ""
        text = (f"Community composition ({name}) {verb} between groups: PERMANOVA R² = {row.effect:.3f}, "
                f"pseudo-F = {row.statistic:.2f}, p {_fmt_p(row.p_value)}{floor} with {perm} permutations, "
                f"q {_fmt_p(row.q_value)}.")
        disp = tests[(tests.analysis == "permdisp") & (tests.metric == row.metric)]
        if len(disp) and disp.q_value.iloc[0] < ALPHA_LEVEL:
            wider = "cases" if disp.effect.iloc[0] > 0 else "controls"
            text += (f" The groups also differ in spread (PERMDISP q {_fmt_p(disp.q_value.iloc[0])}; {wider} are more "
                     "variable), so part of this difference may be dispersion rather than a shift in location.")
        out.append(text)
    return out


def _alpha_sentences(tests: pd.DataFrame) -> list[str]:
    shannon = tests[(tests.analysis == "alpha") & (tests.metric == "shannon")]
    adjusted = shannon[shannon.test.isin(ADJUSTED_TESTS)]
    if len(adjusted):
        return [_adjusted_alpha_sentence(adjusted.iloc[0])]
    rows = shannon[shannon.test.isin(RANK_TESTS)]
    out = []
    for row in rows.itertuples():
        if not np.isfinite(row.p_value):
            out.append("Shannon diversity: not assessable (no p-value; the values are constant across samples, "
                       "e.g. a single-taxon table, or a group is empty).")
        elif row.q_value < ALPHA_LEVEL:
            direction = "lower" if row.effect < 0 else "higher"
            out.append(f"Cases have {direction} Shannon diversity than controls (Hodges–Lehmann shift "
                       f"{row.effect:.3f}, 95 % CI {row.ci_low:.3f} to {row.ci_high:.3f}; q {_fmt_p(row.q_value)}).")
        else:
            out.append(f"Shannon diversity does not differ detectably (shift {row.effect:.3f}, 95 % CI "
                       f"{row.ci_low:.3f} to {row.ci_high:.3f}; q {_fmt_p(row.q_value)}).")
    return out


def _adjusted_alpha_sentence(row: pd.Series) -> str:
    covs = str(row.comparison).split("|", 1)[-1].strip()
    if row.q_value < ALPHA_LEVEL:
        direction = "lower" if row.effect < 0 else "higher"
        return (f"Adjusted for {covs}, cases have {direction} Shannon diversity than controls (difference "
                f"{row.effect:.3f}, 95 % CI {row.ci_low:.3f} to {row.ci_high:.3f}; q {_fmt_p(row.q_value)}).")
    return (f"Adjusted for {covs}, Shannon diversity does not differ detectably (difference {row.effect:.3f}, "
            f"95 % CI {row.ci_low:.3f} to {row.ci_high:.3f}; q {_fmt_p(row.q_value)}).")


def _dysbiosis_sentences(tests: pd.DataFrame, dys: DysbiosisResult) -> list[str]:
    s = dys.scores.dropna(subset=["score"])
    frac = s.groupby(LABEL, observed=True)["dysbiotic"].mean()
    row = tests[(tests.analysis == "dysbiosis") & tests.test.isin(RANK_TESTS)].iloc[0]
    higher = "higher" if row.effect > 0 else "lower"
    verb = f"is {higher} in cases" if row.q_value < ALPHA_LEVEL else "does not differ detectably"
    return [f"The dysbiosis score (median {METRIC_NAMES.get(dys.metric, dys.metric)} distance to controls) {verb} "
            f"(shift {row.effect:.3f}, q {_fmt_p(row.q_value)}); {frac.get('case', np.nan):.0%} of cases and "
            f"{frac.get('control', np.nan):.0%} of controls lie above the controls' "
            f"{_ordinal(round(dys.quantile * 100))} percentile."]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _named(rows: pd.DataFrame) -> str:
    parts = [f"{str(r.feature_id).split('|')[-1].removeprefix('s__').replace('_', ' ')} (log2 fold change "
             f"{r.effect:.2f}, q {_fmt_p(r.q_value)})" for r in rows.head(TOP_NAMED).itertuples()]
    return ", ".join(parts)


def differential_sentences(diff: DifferentialResult | None) -> list[str]:
    """The differential layer's summary: taxa up / down at q < 0.05 (abundance where present, and prevalence),
    the top hits with effect and q, and the label-shuffle negative control."""
    if diff is None:
        return []
    tab = diff.table[diff.table["term"] == diff.terms[0]].sort_values(["q_value", "p_value"])
    sig = tab[tab["q_value"] < ALPHA_LEVEL]
    up, down = sig[sig["effect"] > 0], sig[sig["effect"] < 0]
    text = (f"Which taxa differ ({diff.n_features} tested, abundance where present and prevalence modelled apart): "
            f"{len(up)} more and {len(down)} less abundant in cases where present (q < {ALPHA_LEVEL})")
    if diff.prevalence is not None:
        prev = diff.prevalence[diff.prevalence["term"] == diff.terms[0]]
        hit = prev["q_value"] < ALPHA_LEVEL
        text += f"; {int((hit & (prev['effect'] > 0)).sum())} more and {int((hit & (prev['effect'] < 0)).sum())} less often present"
    text += "." if sig.empty else f". Largest evidence: {_named(pd.concat([down, up]).sort_values('q_value'))}."
    return [text, describe_control(diff.negative_control, name="the case/control labels")]
