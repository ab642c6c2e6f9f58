"""Intervention trials: within-subject change from a pre window to a post window (paired pre/post), per arm, and
the arm-by-arm difference of those changes in crossover designs; on taxa (CLR), Shannon diversity and guild loads;
responders by the size of their community shift.

Primary test (robust): each subject contributes one number per arm and feature: the mean over its post-window
samples minus the mean over its pre-window samples (several samples per window are averaged, never treated as
independent). The change is tested by the Wilcoxon signed-rank test across subjects (exact for small samples),
Benjamini–Hochberg within each arm and analysis; ``effect`` is the median change. A crossover contrast tests,
within the subjects who did both arms, the difference of their changes. ``q_value`` (and the CLI's summary) is this
test's.

Secondary test (model-based, every sample): a linear mixed model per feature,
``feature ~ post * arm [+ period] + (1 | subject) + (1 | subject:arm:window)``, fitted by REML for all features
at once (the vectorised nested random-intercept machinery of :mod:`gutlink.differential._nested`), t tests on
containment degrees of freedom (subject-windows − subjects − terms); columns ``mixed_effect, mixed_se, mixed_df,
mixed_p, mixed_q`` on the same rows (an arm's row: its post − pre coefficient; ``A - B``: the difference of the two
arms' changes). The second intercept, one per subject-window, carries subjects' differing responses: with the
subject intercept alone the model treats a window's daily samples as independent replicates of the change and
gave 10–12% p < 0.05 under a simulated null with heterogeneous responses (10 data sets of bench_trial.py's second
null; with the nested intercept: calibrated, see benchmarks/results/trial.md). The signed-rank test
makes no distributional assumption, which is why it stays primary.

2 × 2 crossover (``period`` given, two arms): the standard analysis of the per-period responses (each period's
post − pre change, ``Y1``, ``Y2``) between the two sequences (AB: arm A in period 1): carry-over from the sum
``Y1 + Y2`` (two-sample t test between sequences), the period effect from ``(Y1 − Y2)`` in AB against ``−(Y1 − Y2)``
in BA, and the treatment effect A − B from ``(Y1 − Y2)`` in AB against BA (table ``crossover``). Research tool,
never medical advice.

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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..cohort import Cohort
from ..differential._nested import nested_df, nested_lmm
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
    n_down, statistic, p_value, q_value: the signed-rank test, primary; mixed_effect, mixed_se, mixed_df, mixed_p,
    mixed_q: the random-intercept model, secondary), ``responders`` (per arm and subject: Bray–Curtis shift
    between its pre and post mean compositions, responder = above the arm's median, and baseline Shannon),
    ``crossover`` (2 × 2 crossover terms carry-over / period / treatment per analysis and feature; empty without
    a period column), ``notes``."""

    table: pd.DataFrame
    responders: pd.DataFrame
    pre: tuple[float, float]
    post: tuple[float, float]
    arms: tuple[str, ...]
    notes: tuple[str, ...] = ()
    crossover: pd.DataFrame = field(default_factory=pd.DataFrame)
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
          guilds: bool = True, arms: Sequence[str] | None = None, period: str | None = None) -> TrialResult:
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
        Arms to analyse (default all, in order of appearance); the first is the reference of the contrasts.
    period
        Metadata column of each sample's period (crossover: 1, 2); adds a period term to the mixed model and, with
        two arms, the 2 × 2 crossover tests of carry-over, period and treatment (``crossover``).

    Returns
    -------
    TrialResult
    """
    meta = cohort.metadata
    for col in (subject, time, *([arm] if arm else []), *([period] if period else [])):
        if col not in meta.columns:
            raise DesignError(f"column {col!r} is not in the metadata (columns: {list(meta.columns)[:8]}).")
    if not (pre[1] >= pre[0] and post[1] >= post[0] and post[0] > pre[1]):
        raise DesignError(f"windows must be ordered (start ≤ end) and the post window {post} must start after the "
                          f"pre window {pre} ends.")
    t = pd.to_numeric(meta[time], errors="coerce")
    subjects = meta[subject].astype(str)
    in_pre, in_post = set(subjects[(t >= pre[0]) & (t <= pre[1])]), set(subjects[(t >= post[0]) & (t <= post[1])])
    if not in_pre & in_post:
        span = f"from {t.min():g} to {t.max():g}" if t.notna().any() else "not numeric"
        raise DesignError(f"no subject of {subject!r} has samples in both the pre window {pre} and the post window "
                          f"{post} of {time!r} (its values run {span}; {len(in_pre)} subject(s) in the pre window, "
                          f"{len(in_post)} in the post window): nothing can be tested. Check --time, --pre and --post.")
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
    tables += _crossover(changes, names, layers, notes, period is not None)
    table = pd.concat(tables, ignore_index=True)
    mixed = _mixed(layers, meta, labels, names, subject, time, pre, post, period, notes)
    table = table.merge(mixed, on=["analysis", "arm", "feature_id"], how="left") if len(mixed) else \
        table.assign(**{c: np.nan for c in MIXED_COLUMNS})
    seq = _sequence_tests(changes, names, meta, labels, subject, period, layers, notes) if period else \
        pd.DataFrame()
    return TrialResult(table, pd.concat(responders, ignore_index=True), (float(pre[0]), float(pre[1])),
                       (float(post[0]), float(post[1])), tuple(names), tuple(notes), seq)


MIXED_COLUMNS = ["mixed_effect", "mixed_se", "mixed_df", "mixed_p", "mixed_q"]


def _mixed(layers: dict[str, pd.DataFrame], meta: pd.DataFrame, labels: pd.Series, names: list[str], subject: str,
           time: str, pre: tuple[float, float], post: tuple[float, float], period: str | None,
           notes: list[str]) -> pd.DataFrame:
    """``feature ~ post * arm [+ period] + (1 | subject)`` by REML on every sample of the two windows, all features
    of an analysis at once; one row per (analysis, arm or contrast, feature)."""
    t = pd.to_numeric(meta[time], errors="coerce").to_numpy()
    is_pre, is_post = (t >= pre[0]) & (t <= pre[1]), (t >= post[0]) & (t <= post[1])
    use = (is_pre | is_post) & labels.isin(names).to_numpy()
    lab = labels.to_numpy()[use]
    post_col = is_post[use].astype(float)
    cols, colnames = [np.ones(use.sum()), post_col], ["(Intercept)", "post"]
    for a in names[1:]:
        cols += [(lab == a).astype(float), post_col * (lab == a)]
        colnames += [f"arm[{a}]", f"post:arm[{a}]"]
    if period is not None:
        levels = pd.Series(meta[period].to_numpy()[use]).astype(str)
        for lev in sorted(set(levels))[1:]:
            cols.append((levels == lev).to_numpy().astype(float))
            colnames.append(f"period[{lev}]")
    x = np.column_stack(cols)
    blocks = meta[subject].astype(str).to_numpy()[use]
    # the unit of a response is a subject's window in an arm: its samples share a second, nested intercept
    units = pd.Series(blocks).str.cat([pd.Series(lab).astype(str), pd.Series(post_col).astype(str)], sep="|").to_numpy()
    if np.linalg.matrix_rank(x) < x.shape[1] or len(set(blocks)) < MIN_SUBJECTS:
        notes.append("mixed model: the design " + " + ".join(colnames[1:]) + " is not estimable here (collinear "
                     f"terms or fewer than {MIN_SUBJECTS} subjects); only the signed-rank tests are reported.")
        return pd.DataFrame()
    contrasts: list[tuple[str, np.ndarray]] = []
    for k, a in enumerate(names):
        vec = np.zeros(x.shape[1])
        vec[1] = 1.0
        if k:
            vec[colnames.index(f"post:arm[{a}]")] = 1.0
        contrasts.append((a, vec))
    for a in names[1:]:
        vec = np.zeros(x.shape[1])
        vec[colnames.index(f"post:arm[{a}]")] = -1.0
        contrasts.append((f"{names[0]} - {a}", vec))
    frames = []
    for analysis, values in layers.items():                       # one vectorised REML fit per analysis
        y = values.to_numpy(dtype=float)[use]
        w = np.isfinite(y)
        fit = nested_lmm(x, np.where(w, y, 0.0), units, blocks, None if w.all() else w)
        for label, vec in contrasts:
            est = vec @ fit.coef
            se = np.sqrt(np.maximum(np.einsum("p,jpq,q->j", vec, fit.cov, vec), 0.0))
            df = np.broadcast_to(nested_df(x, units, blocks, vec, None if w.all() else w), est.shape)
            with np.errstate(divide="ignore", invalid="ignore"):
                p = 2 * stats.t.sf(np.abs(est / se), df)
            p = np.where(fit.fitted & (se > 0), p, np.nan)
            frames.append(pd.DataFrame({"analysis": analysis, "arm": label, "feature_id": values.columns.astype(str),
                                        "mixed_effect": est, "mixed_se": se, "mixed_df": df, "mixed_p": p,
                                        "mixed_q": bh(p)}))
    return pd.concat(frames, ignore_index=True)


def _two_sample_t(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled two-sample t test per column (NaN ignored): difference of means, t, df."""
    na, nb = np.isfinite(a).sum(axis=0), np.isfinite(b).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.nanmean(a, axis=0) - np.nanmean(b, axis=0)
        ss = np.nansum((a - np.nanmean(a, axis=0)) ** 2, axis=0) + np.nansum((b - np.nanmean(b, axis=0)) ** 2, axis=0)
        df = (na + nb - 2).astype(float)
        se = np.sqrt(ss / df * (1 / na + 1 / nb))
        return diff, diff / se, df


def _sequence_tests(changes: dict[tuple[str, str], pd.DataFrame], names: list[str], meta: pd.DataFrame,
                    labels: pd.Series, subject: str, period: str, layers: dict[str, pd.DataFrame],
                    notes: list[str]) -> pd.DataFrame:
    """2 × 2 crossover: carry-over, period and treatment tests between the sequences AB and BA."""
    if len(names) != 2:
        notes.append(f"crossover tests need exactly two arms ({len(names)} analysed); carry-over and period not "
                     "tested.")
        return pd.DataFrame()
    per = pd.to_numeric(meta[period], errors="coerce")
    order = per.groupby([meta[subject].astype(str), labels]).median().unstack()
    a_name, b_name = names
    if a_name not in order.columns or b_name not in order.columns:
        return pd.DataFrame()
    both = order[[a_name, b_name]].dropna()
    both = both[both[a_name] != both[b_name]]
    ab = both.index[both[a_name] < both[b_name]].astype(str)
    ba = both.index[both[a_name] > both[b_name]].astype(str)
    if min(len(ab), len(ba)) < 2:
        notes.append(f"crossover tests need ≥ 2 subjects in each sequence ({len(ab)} {a_name}→{b_name}, {len(ba)} "
                     f"{b_name}→{a_name}); carry-over and period not tested.")
        return pd.DataFrame()
    frames = []
    for analysis in layers:
        ca, cb = changes[(a_name, analysis)], changes[(b_name, analysis)]
        y1_ab, y2_ab = ca.reindex(ab).to_numpy(float), cb.reindex(ab).to_numpy(float)   # AB: A in period 1
        y1_ba, y2_ba = cb.reindex(ba).to_numpy(float), ca.reindex(ba).to_numpy(float)
        d_ab, d_ba = y1_ab - y2_ab, y1_ba - y2_ba
        tests = {"carry-over": (_two_sample_t(y1_ab + y2_ab, y1_ba + y2_ba), 1.0),
                 "period": (_two_sample_t(d_ab, -d_ba), 0.5),
                 f"treatment {a_name} - {b_name}": (_two_sample_t(d_ab, d_ba), 0.5)}
        for term, ((diff, tt, df), half) in tests.items():
            p = 2 * stats.t.sf(np.abs(tt), np.maximum(df, 1))
            p = np.where(df >= 1, p, np.nan)
            frames.append(pd.DataFrame({"analysis": analysis, "term": term, "feature_id": ca.columns.astype(str),
                                        "effect": half * diff, "statistic": tt, "df": df, "p_value": p,
                                        "q_value": bh(p), "n_sequence_ab": len(ab), "n_sequence_ba": len(ba)}))
    notes.append(f"2 × 2 crossover: {len(ab)} subjects {a_name}→{b_name}, {len(ba)} {b_name}→{a_name}; carry-over "
                 "tested from the sum of both periods' changes, period and treatment from their difference.")
    return pd.concat(frames, ignore_index=True)


def _crossover(changes: dict[tuple[str, str], pd.DataFrame], names: list[str], layers: dict[str, pd.DataFrame],
               notes: list[str], with_period: bool) -> list[pd.DataFrame]:
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
            notes.append(f"crossover {names[0]} - {other}: {len(common)} subjects did both arms" +
                         ("." if with_period else " (no period column: period and carry-over effects are not "
                          "modelled; give period= for the 2 × 2 crossover tests)."))
    return out
