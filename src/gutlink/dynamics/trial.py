"""Intervention trials: within-subject change from a pre window to a post window (paired pre/post), per arm, and
the arm-by-arm difference of those changes in crossover designs; on taxa (CLR), Shannon diversity and guild loads;
responders by the size of their community shift.

Each subject contributes one number per arm and feature: the mean over its post-window samples minus the mean over
its pre-window samples (several samples per window are averaged, never treated as independent). The change is
tested by the Wilcoxon signed-rank test across subjects (exact for small samples), Benjamini–Hochberg within each
arm and analysis; ``effect`` is the median change. A crossover contrast tests, within the subjects who did both
arms, the difference of their changes. Research tool, never medical advice.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from gutlink.cohort import Cohort
>>> rng = np.random.default_rng(0)
>>> meta = pd.DataFrame({"subject": np.repeat([f"p{i}" for i in range(8)], 4), "day": np.tile([-2, -1, 1, 2], 8)},
...                     index=[f"s{i}" for i in range(32)])
>>> x = rng.poisson(100, (32, 3)).astype(float)
>>> x[meta["day"].to_numpy() > 0, 0] *= 4          # taxon f0 rises after day 0 in everyone
>>> res = trial(Cohort(x, meta), subject="subject", time="day", pre=(-2, -1), post=(1, 2), rank=None,
...             guilds=False)
>>> row = res.table.set_index("feature_id").loc["feature_0"]
>>> bool(row["effect"] > 0.5 and row["p_value"] < 0.01)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..cohort import Cohort
from ..errors import DesignError
from ..guilds import guild_scores
from ..multitest import bh
from ..results import Result

__all__ = ["TrialResult", "trial"]

CAVEAT = "Research tool, never medical advice."
#: Fewest subjects with both windows for a test (the exact signed-rank p-value cannot go below 2 / 2^n).
MIN_SUBJECTS = 5


@dataclass(frozen=True)
class TrialResult(Result):
    """Within-subject changes: ``table`` (analysis, arm, feature_id, effect = median change, n_subjects, n_up,
    n_down, statistic, p_value, q_value), ``responders`` (per arm and subject: Bray–Curtis shift between its
    pre and post mean compositions, responder = above the arm's median, and baseline Shannon), ``notes``."""

    table: pd.DataFrame
    responders: pd.DataFrame
    pre: tuple[float, float]
    post: tuple[float, float]
    arms: tuple[str, ...]
    notes: tuple[str, ...] = ()
    caveat: str = CAVEAT


def _window_means(values: pd.DataFrame, meta: pd.DataFrame, subject: str, time: str,
                  window: tuple[float, float]) -> pd.DataFrame:
    t = pd.to_numeric(meta[time], errors="coerce")
    inside = (t >= window[0]) & (t <= window[1])
    return values.loc[inside.to_numpy()].groupby(meta.loc[inside, subject].astype(str).to_numpy()).mean()


def _signed_rank(change: pd.DataFrame, analysis: str, arm: str) -> pd.DataFrame:
    rows = []
    for feature in change.columns:                                 # one test per feature
        d = change[feature].dropna().to_numpy()
        nz = d[d != 0]
        stat, p = np.nan, np.nan
        if len(d) >= MIN_SUBJECTS and len(nz) > 0:
            res = stats.wilcoxon(nz, zero_method="wilcox", alternative="two-sided")
            stat, p = float(res.statistic), float(res.pvalue)
        rows.append({"analysis": analysis, "arm": arm, "feature_id": str(feature),
                     "effect": float(np.median(d)) if len(d) else np.nan, "n_subjects": len(d),
                     "n_up": int((d > 0).sum()), "n_down": int((d < 0).sum()), "statistic": stat, "p_value": p})
    out = pd.DataFrame(rows)
    ok = out["p_value"].notna().to_numpy()
    out["q_value"] = np.nan
    if ok.any():
        out.loc[ok, "q_value"] = bh(out.loc[ok, "p_value"].to_numpy())
    return out


def _layers(cohort: Cohort, rank: str | None, min_prevalence: float, guilds: bool) -> dict[str, pd.DataFrame]:
    """Samples × features per analysis: CLR of the taxa kept, Shannon, guild loads and the barrier balance."""
    c = cohort.aggregate(rank) if rank is not None else cohort
    clr = c.clr()
    keep = (c.dense() > 0).mean(axis=0) >= min_prevalence
    rel = c.relative()
    with np.errstate(divide="ignore", invalid="ignore"):
        shannon = -np.nansum(np.where(rel > 0, rel * np.log(rel), 0.0), axis=1)
    out = {"taxon": clr.loc[:, keep], "diversity": pd.DataFrame({"shannon": shannon}, index=c.sample_ids)}
    if guilds:
        out["guild"] = guild_scores(cohort).wide("load").reindex(cohort.sample_ids)
    return out


def _responders(cohort: Cohort, meta: pd.DataFrame, subject: str, time: str, pre: tuple[float, float],
                post: tuple[float, float], arm: str) -> pd.DataFrame:
    rel = pd.DataFrame(cohort.relative(), index=cohort.sample_ids)
    a, b = _window_means(rel, meta, subject, time, pre), _window_means(rel, meta, subject, time, post)
    both = a.index.intersection(b.index)
    shift = (np.abs(a.loc[both] - b.loc[both]).sum(axis=1) / (a.loc[both].sum(axis=1) + b.loc[both].sum(axis=1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = a.loc[both].to_numpy()
        base_shannon = -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1)
    return pd.DataFrame({"arm": arm, "subject": both, "bray_curtis_shift": shift.to_numpy(),
                         "responder": shift.to_numpy() > np.median(shift.to_numpy()) if len(both) else [],
                         "baseline_shannon": base_shannon})


def trial(cohort: Cohort, *, subject: str, time: str, pre: tuple[float, float], post: tuple[float, float],
          arm: str | None = None, rank: str | None = "genus", min_prevalence: float = 0.2,
          guilds: bool = True, arms: Sequence[str] | None = None) -> TrialResult:
    """Paired pre/post (and crossover) analysis of an intervention trial.

    Parameters
    ----------
    cohort
        Samples with *subject*, *time* and optionally *arm* in the metadata.
    subject, time
        Metadata columns of subject IDs and sampling times (numeric, e.g. study day).
    pre, post
        Inclusive time windows ``(start, end)`` before and during / after the intervention.
    arm
        Metadata column of the arm (diet, product); a subject may appear in several arms (crossover).
    rank
        Aggregate taxa to this rank first (``None``: keep the features as they are).
    min_prevalence
        Test taxa present in at least this fraction of samples.
    guilds
        Also test guild loads and the barrier balance (gutlink.guilds).
    arms
        Arms to analyse (default all, in order of appearance).

    Returns
    -------
    TrialResult
    """
    meta = cohort.metadata
    for col in (subject, time, *([arm] if arm else [])):
        if col not in meta.columns:
            raise DesignError(f"column {col!r} is not in the metadata (columns: {list(meta.columns)[:8]}).")
    if not (pre[1] >= pre[0] and post[1] >= post[0] and post[0] > pre[1]):
        raise DesignError(f"windows must be ordered (start ≤ end) and the post window {post} must start after the "
                          f"pre window {pre} ends.")
    labels = meta[arm].astype(str) if arm else pd.Series("all", index=meta.index)
    names = list(arms) if arms is not None else list(dict.fromkeys(labels[meta[arm].notna()] if arm else labels))
    layers = _layers(cohort, rank, min_prevalence, guilds)
    tables, responders, notes, changes = [], [], [], {}
    for a in names:                                                # one block of tests per arm
        rows = (labels == a).to_numpy()
        if not rows.any():
            raise DesignError(f"arm {a!r} has no samples (arms: {sorted(set(labels))}).")
        sub = meta.loc[rows]
        for analysis, values in layers.items():
            v = values.loc[rows]
            before = _window_means(v, sub, subject, time, pre)
            after = _window_means(v, sub, subject, time, post)
            both = before.index.intersection(after.index)
            change = after.loc[both] - before.loc[both]
            changes[(a, analysis)] = change
            tables.append(_signed_rank(change, analysis, a))
        n = len(changes[(a, "taxon")])
        if n < MIN_SUBJECTS:
            notes.append(f"arm {a!r}: only {n} subjects have samples in both windows; no test (needs "
                         f"{MIN_SUBJECTS}).")
        responders.append(_responders(cohort.subset(samples=np.flatnonzero(rows)), sub, subject, time, pre, post, a))
    tables += _crossover(changes, names, layers, notes)
    return TrialResult(pd.concat(tables, ignore_index=True), pd.concat(responders, ignore_index=True),
                       (float(pre[0]), float(pre[1])), (float(post[0]), float(post[1])), tuple(names), tuple(notes))


def _crossover(changes: dict[tuple[str, str], pd.DataFrame], names: list[str], layers: dict[str, pd.DataFrame],
               notes: list[str]) -> list[pd.DataFrame]:
    """Within-subject difference of changes between the first arm and each other arm (subjects in both)."""
    out = []
    for other in names[1:]:
        for analysis in layers:
            a, b = changes[(names[0], analysis)], changes[(other, analysis)]
            both = a.index.intersection(b.index)
            if len(both) == 0:
                continue
            out.append(_signed_rank(a.loc[both] - b.loc[both], analysis, f"{names[0]} - {other}"))
        common = changes[(names[0], "taxon")].index.intersection(changes[(other, "taxon")].index)
        if len(common):
            notes.append(f"crossover {names[0]} - {other}: {len(common)} subjects did both arms (period and "
                         "carry-over effects are not modelled).")
    return out
