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
from ..design import LABEL, labels as _labels
from ..results import Result
from ._stats import _mann_whitney, _test_row, _tests_frame
from .diversity import distances_for as _distances

__all__ = ["DysbiosisResult", "dysbiosis_score"]


@dataclass(frozen=True)
class DysbiosisResult(Result):
    """Per-sample dysbiosis score (HMP2 definition) and its test between groups."""

    metric: str
    quantile: float
    threshold: float
    scores: pd.DataFrame
    tests: pd.DataFrame

    @property
    def table(self) -> pd.DataFrame:
        """One row per sample."""
        return self.scores


def dysbiosis_score(cohort: Cohort, *, metric: str = "braycurtis", quantile: float = 0.9,
                    subject: str | None = None, strata: str | None = None,
                    distances: DistanceMatrix | None = None) -> DysbiosisResult:
    """Median distance of each sample to the control (reference) samples.

    As defined for HMP2 (Lloyd-Price et al. 2019 *Nature* 569:655): a reference sample is scored
    leave-one-out (never against itself) and, when *subject* is given, never against samples of the same
    subject. With *strata* (e.g. country, study), each sample is compared only with the references of its own
    stratum, so a confounder that shifts whole strata does not pass for dysbiosis; samples of a stratum with
    fewer than 3 references get no score. Samples above the reference scores' *quantile* (90th percentile)
    are called dysbiotic.
    """
    labels = _labels(cohort)
    dm = _distances(cohort, metric, distances).data
    ref = (labels == "control").to_numpy()
    d = dm[:, ref].astype(float).copy()
    d[np.flatnonzero(ref), np.arange(ref.sum())] = np.nan  # leave-one-out for references
    if subject is not None:
        subj = cohort.metadata[subject].astype(str).to_numpy()
        d[subj[:, None] == subj[ref][None, :]] = np.nan
    if strata is not None:
        block = cohort.metadata[strata].astype(str).to_numpy()
        d[block[:, None] != block[ref][None, :]] = np.nan
    usable = np.isfinite(d).sum(axis=1) >= 2
    d[~usable] = np.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
        score = np.nanmedian(d, axis=1)
    threshold = float(np.nanquantile(score[ref], quantile))
    scores = pd.DataFrame({LABEL: labels, "score": score, "reference": ref, "dysbiotic": score > threshold},
                          index=cohort.sample_ids)
    rows = [_mann_whitney(scores["score"], labels, analysis="dysbiosis", metric=metric)]
    rows.append(_fraction_test(scores.dropna(subset=["score"]), metric))
    return DysbiosisResult(metric=metric, quantile=quantile, threshold=threshold, scores=scores,
                           tests=_tests_frame(rows))


def _fraction_test(scores: pd.DataFrame, metric: str) -> dict[str, Any]:
    """Fisher's exact test of the fraction dysbiotic, case vs control; effect = difference in fractions."""
    case = scores[scores[LABEL] == "case"]["dysbiotic"]
    ctrl = scores[scores[LABEL] == "control"]["dysbiotic"]
    table = [[int(case.sum()), int((~case).sum())], [int(ctrl.sum()), int((~ctrl).sum())]]
    odds, p = stats.fisher_exact(table)
    diff = float(case.mean() - ctrl.mean())
    se = np.sqrt(case.mean() * (1 - case.mean()) / case.size + ctrl.mean() * (1 - ctrl.mean()) / ctrl.size)
    return _test_row(analysis="dysbiosis", metric=metric, test="fisher_exact", comparison="fraction dysbiotic",
                     statistic=float(odds), p_value=float(p), effect=diff, effect_name="difference_in_fraction",
                     ci_low=diff - 1.96 * se, ci_high=diff + 1.96 * se, n_case=case.size, n_control=ctrl.size)
