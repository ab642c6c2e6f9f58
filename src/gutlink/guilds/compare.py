"""Do guild loads and the barrier balance differ between cases and controls?

Examples
--------
>>> from gutlink.datasets import franzosa2019
>>> from gutlink.design import case_control
>>> c = case_control(franzosa2019(), group="Diagnosis", case="CD", control="Control")
>>> res = guild_test(c, n_shuffles=20, rng=0)
>>> res.table.loc[res.table.metric == "barrier_balance", "test"].tolist()
['mann_whitney']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..cohort import Cohort
from ..community._stats import _mixed, _ols, _tests_frame, two_group_row
from ..community.permanova import permutation_matrix
from ..design import LABEL, require_column
from ..design import labels as _labels
from ..errors import DesignError
from ..results import Result
from .knowledge import GUILDS
from .scores import BALANCE, GuildScoresResult, guild_scores

__all__ = ["ASSESSABLE", "GuildTestResult", "guild_test"]

#: Median fraction of abundance a guild must assign (member or non-member) to be tested at all.
ASSESSABLE = 0.5


@dataclass(frozen=True)
class GuildTestResult(Result):
    """Case/control tests of every guild load and the barrier balance.

    ``tests`` (also ``table``): one row per score and test (the design-aware rank test, and with covariates an
    OLS or mixed model), BH q-values over all rows, ``assessable`` False (and no p-value) where the knowledge base
    assigns under half the abundance. ``shuffle``: the label-shuffle negative control — per score the fraction
    of shuffles with p < 0.05 (≈ 0.05 when the test is calibrated) and where the observed p falls among them.
    """

    tests: pd.DataFrame
    shuffle: pd.DataFrame
    scores: GuildScoresResult
    n_shuffles: int
    structure: str = "independent samples"
    notes: tuple[str, ...] = field(default=())
    values: pd.DataFrame = field(default_factory=pd.DataFrame, metadata={"json": False})

    @property
    def table(self) -> pd.DataFrame:
        """One row per test."""
        return self.tests


def _score_frame(scores: GuildScoresResult) -> tuple[pd.DataFrame, pd.Series]:
    wide = scores.wide("load")
    assigned = scores.wide("assigned").median()
    return wide[[*GUILDS, BALANCE]], assigned


def _rows(values: pd.DataFrame, meta: pd.DataFrame, assessable: pd.Series, covariates: Sequence[str],
          subject: str | None, block: str | None) -> list[dict]:
    rows = []
    for metric in values.columns:
        if not assessable[metric]:
            rows.append({"analysis": "guilds", "metric": metric, "test": "not_assessable",
                         "comparison": "under half the abundance assigned"})
            continue
        rows.append(two_group_row(values[metric], meta, analysis="guilds", metric=metric, subject=subject,
                                  block=block))
        if covariates:
            groups = block or subject
            rows.append(_ols(values[metric], meta, covariates, analysis="guilds", metric=metric) if groups is None
                        else _mixed(values[metric], meta, covariates, groups, analysis="guilds", metric=metric))
    return rows


def _shuffle(values: pd.DataFrame, meta: pd.DataFrame, assessable: pd.Series, observed: pd.Series,
             n: int, strata: str | None, subject: str | None, block: str | None,
             rng: np.random.Generator) -> pd.DataFrame:
    cols = [c for c in values.columns if assessable[c]]
    if n <= 0 or not cols:
        return pd.DataFrame(columns=["metric", "fraction_p_below_0.05", "observed_rank_p"])
    within = meta[block or strata].astype(str).to_numpy() if (block or strata) else None
    plots = meta[subject].astype(str).to_numpy() if subject else None
    perms = permutation_matrix(len(meta), n, strata=within, plots=plots, rng=rng)
    labels = meta[LABEL].to_numpy()
    p = np.full((n, len(cols)), np.nan)
    if subject is None and block is None:
        p = _shuffled_mann_whitney(values[cols], labels, perms)
    for i, perm in enumerate(perms if subject is not None or block is not None else []):
        shuffled = meta.assign(**{LABEL: labels[perm]})
        for j, c in enumerate(cols):
            p[i, j] = two_group_row(values[c], shuffled, analysis="guilds", metric=c, subject=subject,
                                    block=block)["p_value"]
    obs = observed.reindex(cols).to_numpy(dtype=float)
    return pd.DataFrame({"metric": cols, "fraction_p_below_0.05": np.nanmean(p < 0.05, axis=0),
                         "observed_rank_p": (1 + np.sum(p <= obs, axis=0)) / (n + 1)})


def _shuffled_mann_whitney(values: pd.DataFrame, labels: np.ndarray, perms: np.ndarray) -> np.ndarray:
    """Mann–Whitney p-values of every score under every label permutation at once (independent samples): the
    same test as the observed one (``scipy.stats.mannwhitneyu``), vectorised over the permutations."""
    out = np.full((len(perms), values.shape[1]), np.nan)
    case = np.asarray(labels)[perms] == "case"  # permutations × samples
    for j, col in enumerate(values.columns):
        v = values[col].to_numpy(dtype=float)
        ok = np.isfinite(v)
        if ok.sum() < 2 or np.ptp(v[ok]) == 0:
            continue
        order = np.argsort(~case[:, ok], axis=1, kind="stable")  # cases first, in sample order
        n1 = int(case[0, ok].sum())
        if n1 == 0 or n1 == ok.sum():
            continue
        mat = v[ok][order]
        out[:, j] = stats.mannwhitneyu(mat[:, :n1], mat[:, n1:], axis=1, alternative="two-sided").pvalue
    return out


def guild_test(cohort: Cohort, *, covariates: Sequence[str] = (), subject: str | None = None,
               block: str | None = None, strata: str | None = None, n_shuffles: int = 200,
               threshold: float = 0.9, rng: int | np.random.Generator | None = None) -> GuildTestResult:
    """Guild loads and the barrier balance tested between cases and controls, respecting the design.

    The rank test of :mod:`gutlink.community` (Mann–Whitney with the Hodges–Lehmann shift; subject means with
    *subject*; signed-rank within pairs or van Elteren within larger *block*\\ s), and with *covariates* OLS or a
    mixed model with a random intercept per block / subject. The negative control re-runs the rank test on
    *n_shuffles* label shuffles that keep the design (whole subjects; within blocks or *strata*).

    Parameters
    ----------
    cohort
        A case/control cohort (:func:`gutlink.design.case_control`).
    covariates, subject, block, strata
        The design, as in :func:`gutlink.community.alpha_test`.
    n_shuffles
        Label shuffles of the negative control (0: none).
    threshold
        Genus consensus threshold of the guild assignment.
    rng
        Seed or generator of the shuffles.

    Returns
    -------
    GuildTestResult
        Tests with BH q-values, the shuffle control, and the per-sample scores.
    """
    for col, role in ((subject, "subject"), (block, "block"), (strata, "strata"), *((c, "covariate")
                                                                                     for c in covariates)):
        if col is not None:
            require_column(cohort.metadata, col, role)
    _labels(cohort)
    if n_shuffles < 0:
        raise DesignError("n_shuffles must be 0 or more.")
    gen = np.random.default_rng(rng)
    scores = guild_scores(cohort, threshold=threshold)
    values, assigned = _score_frame(scores)
    values = values.reindex(cohort.sample_ids)
    meta = cohort.metadata
    assessable = assigned >= ASSESSABLE
    tests = _tests_frame(_rows(values, meta, assessable, covariates, subject, block))
    tests.insert(2, "assessable", tests["metric"].map(assessable).astype(bool))
    rank = tests[tests["test"].isin(["mann_whitney", "wilcoxon_signed_rank", "van_elteren"])]
    shuffle = _shuffle(values, meta, assessable, rank.set_index("metric")["p_value"], n_shuffles, strata, subject,
                       block, gen)
    structure = ("matched blocks of " + repr(block) if block else "repeated measures of " + repr(subject)
                 if subject else "independent samples")
    notes = tuple(f"{g}: not assessable (median {assigned[g]:.0%} of abundance assigned)"
                  for g in assigned.index if not assessable[g])
    return GuildTestResult(tests=tests, shuffle=shuffle, scores=scores, n_shuffles=n_shuffles, structure=structure,
                           notes=notes, values=values.assign(**{LABEL: meta[LABEL].astype(str)}))
