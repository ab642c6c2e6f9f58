"""The HMP2 dysbiosis score: each sample's median distance to the control samples."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from skbio import DistanceMatrix

from ..cohort import Cohort
from ..design import LABEL, require_column
from ..design import labels as _labels
from ..results import Result
from ._stats import _test_row, _tests_frame, two_group_row
from .diversity import distances_for as _distances

__all__ = ["DysbiosisResult", "dysbiosis_score", "MIN_REFERENCES"]

#: Fewest control references a sample is scored against.
MIN_REFERENCES = 2


@dataclass(frozen=True)
class DysbiosisResult(Result):
    """Per-sample dysbiosis score (HMP2 definition) and its test between groups."""

    metric: str
    quantile: float
    threshold: float
    scores: pd.DataFrame
    tests: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def table(self) -> pd.DataFrame:
        """One row per sample."""
        return self.scores


def dysbiosis_score(cohort: Cohort, *, metric: str = "braycurtis", quantile: float = 0.9,
                    subject: str | None = None, strata: str | None = None, block: str | None = None,
                    distances: DistanceMatrix | None = None) -> DysbiosisResult:
    """Median distance of each sample to the control (reference) samples.

    As defined for HMP2 (Lloyd-Price et al. 2019 *Nature* 569:655): a reference sample is scored
    leave-one-out (never against itself) and, when *subject* is given, never against samples of the same
    subject; with *block* (household, pair, family), never against references of its own block (a matched
    control shares the case's environment). With *strata* (e.g. country, study), each sample is compared only
    with the references of its own stratum, so a confounder that shifts whole strata does not pass for
    dysbiosis. A sample left with fewer than 2 references gets no score and a ``reason``; the scores are never
    taken over an empty reference. Samples above the reference scores' *quantile* (90th percentile) are called
    dysbiotic.

    The case/control test respects the design as :func:`gutlink.community.alpha_test` does (subject means,
    signed-rank within pairs, van Elteren within larger blocks); the fraction dysbiotic is compared with
    Fisher's exact test, on subjects' fractions (Mann–Whitney) with *subject*, or with the Cochran–Mantel–Haenszel
    test within blocks with *block*.
    """
    for col, role in ((subject, "subject"), (strata, "strata"), (block, "block")):
        if col is not None:
            require_column(cohort.metadata, col, role)
    labels = _labels(cohort)
    dm = _distances(cohort, metric, distances).data
    ref = (labels == "control").to_numpy()
    d, reason = _reference_distances(dm, ref, cohort.metadata, subject, strata, block)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
        score = np.nanmedian(d, axis=1)
    scored_refs = score[ref][np.isfinite(score[ref])]
    threshold = float(np.quantile(scored_refs, quantile)) if scored_refs.size else float("nan")
    scores = pd.DataFrame({LABEL: labels, "score": score, "reference": ref, "dysbiotic": score > threshold,
                           "reason": reason}, index=cohort.sample_ids)
    meta = cohort.metadata
    rows = [two_group_row(scores["score"], meta, analysis="dysbiosis", metric=metric, subject=subject, block=block),
            _fraction_row(scores, meta, metric, subject, block)]
    return DysbiosisResult(metric=metric, quantile=quantile, threshold=threshold, scores=scores,
                           tests=_tests_frame(rows), notes=_notes(scores, strata))


def _reference_distances(dm: np.ndarray, ref: np.ndarray, meta: pd.DataFrame, subject: str | None,
                         strata: str | None, block: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Distances of every sample to its allowed references (NaN elsewhere) and why a sample cannot be scored."""
    d = dm[:, ref].astype(float).copy()
    d[np.flatnonzero(ref), np.arange(ref.sum())] = np.nan  # leave-one-out for references
    excluded = [name for name, col in (("subject", subject), ("block", block)) if col is not None]
    for col in (subject, block):
        if col is not None:
            values = meta[col].astype(str).to_numpy()
            d[values[:, None] == values[ref][None, :]] = np.nan
    where = ""
    if strata is not None:
        values = meta[strata].astype(str).to_numpy()
        d[values[:, None] != values[ref][None, :]] = np.nan
        where = f" in its stratum of {strata!r}"
    usable = np.isfinite(d).sum(axis=1) >= MIN_REFERENCES
    d[~usable] = np.nan
    why = (f"fewer than {MIN_REFERENCES} control references{where} once the sample itself"
           + "".join(f", its {e}" for e in excluded) + " are left out")
    return d, np.where(usable, "", why)


def _notes(scores: pd.DataFrame, strata: str | None) -> tuple[str, ...]:
    missing = scores["reason"] != ""
    if not missing.any():
        return ()
    note = f"{int(missing.sum())} of {len(scores)} samples have no dysbiosis score: {scores['reason'][missing].iloc[0]}."
    if strata is not None and missing.all():
        note += (f" Every stratum of {strata!r} is too small to be its own reference; a household / pair column "
                 "belongs in block= (--block), which excludes the sample's own block instead.")
    return (note,)


def _fraction_row(scores: pd.DataFrame, meta: pd.DataFrame, metric: str, subject: str | None,
                  block: str | None) -> dict[str, Any]:
    ok = scores["score"].notna().to_numpy()
    s, m = scores[ok], meta[ok]
    if subject is not None:
        frac = two_group_row(s["dysbiotic"].astype(float), m, analysis="dysbiosis", metric=metric,
                             subject=subject, block=block)
        return {**frac, "comparison": "fraction dysbiotic per subject", "effect_name": frac["effect_name"]}
    if block is not None:
        return _cmh_test(s, m[block].astype(str), metric)
    return _fraction_test(s, metric)


def _cmh_test(scores: pd.DataFrame, blocks: pd.Series, metric: str) -> dict[str, Any]:
    """Cochran–Mantel–Haenszel test of dysbiotic × case within blocks (McNemar's test for pairs)."""
    from statsmodels.stats.contingency_tables import StratifiedTable

    frame = pd.DataFrame({"b": blocks.to_numpy(), "case": (scores[LABEL] == "case").to_numpy(),
                          "dys": scores["dysbiotic"].to_numpy(dtype=bool)})
    counts = frame.groupby(["b", "case", "dys"]).size().unstack(["case", "dys"], fill_value=0)
    counts = counts.reindex(columns=pd.MultiIndex.from_product([[True, False], [True, False]]), fill_value=0)
    tables = counts.to_numpy().reshape(-1, 2, 2)
    tables = tables[(tables.sum(axis=2) > 0).all(axis=1)]  # blocks with both classes
    row = _test_row(analysis="dysbiosis", metric=metric, test="cochran_mantel_haenszel",
                    comparison=f"fraction dysbiotic within {len(tables)} blocks", effect_name="mantel_haenszel_odds_ratio",
                    n_case=int(tables[:, 0].sum()), n_control=int(tables[:, 1].sum()))
    dysbiotic = int(tables[:, :, 0].sum())
    if dysbiotic == 0 or dysbiotic == int(tables.sum()):  # nobody (or everybody) dysbiotic: nothing to test
        return row
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        st = StratifiedTable(np.moveaxis(tables.astype(float), 0, -1))
        test = st.test_null_odds(correction=False)
        lo, hi = st.oddsratio_pooled_confint()
        row.update(statistic=float(test.statistic), p_value=float(test.pvalue), effect=float(st.oddsratio_pooled),
                   ci_low=float(lo), ci_high=float(hi))
    return row


def _fraction_test(scores: pd.DataFrame, metric: str) -> dict[str, Any]:
    """Fisher's exact test of the fraction dysbiotic, case vs control; effect = difference in fractions."""
    case = scores[scores[LABEL] == "case"]["dysbiotic"]
    ctrl = scores[scores[LABEL] == "control"]["dysbiotic"]
    if case.size == 0 or ctrl.size == 0:
        return _test_row(analysis="dysbiosis", metric=metric, test="fisher_exact", comparison="fraction dysbiotic",
                         effect_name="difference_in_fraction", n_case=case.size, n_control=ctrl.size)
    table = [[int(case.sum()), int((~case).sum())], [int(ctrl.sum()), int((~ctrl).sum())]]
    odds, p = stats.fisher_exact(table)
    diff = float(case.mean() - ctrl.mean())
    se = np.sqrt(case.mean() * (1 - case.mean()) / case.size + ctrl.mean() * (1 - ctrl.mean()) / ctrl.size)
    return _test_row(analysis="dysbiosis", metric=metric, test="fisher_exact", comparison="fraction dysbiotic",
                     statistic=float(odds), p_value=float(p), effect=diff, effect_name="difference_in_fraction",
                     ci_low=diff - 1.96 * se, ci_high=diff + 1.96 * se, n_case=case.size, n_control=ctrl.size)
