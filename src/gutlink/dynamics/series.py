"""Community time series: read MDSINE-style inputs, check sampling, filter taxa the way the field does.

A :class:`TimeSeries` holds, for every sample, its subject, its time, its relative abundances (samples ×
taxa), optionally its total biomass (qPCR, the mean of the replicates) and the perturbations active at that
time (samples × perturbations, 0/1). Samples are sorted by subject then time.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rel = pd.DataFrame([[.5, .5], [.6, .4], [.7, .3]] * 2, columns=["a", "b"],
...                    index=[f"s{i}" for i in range(6)])
>>> ts = from_frames(rel, subjects=[1, 1, 1, 2, 2, 2], times=[0, 1, 2, 0, 1, 2])
>>> ts.n_subjects, ts.n_taxa
(2, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import DesignError, InputFormatError, printable
from ..io import read, read_metadata
from ..results import Result

__all__ = ["TimeSeries", "SamplingChecks", "from_frames", "from_cohort", "read_mdsine", "consistency_filter",
           "check_sampling"]

OTHER = "other"


@dataclass(frozen=True)
class TimeSeries:
    """Relative abundances over time for several subjects, with optional biomass and perturbations.

    Attributes
    ----------
    relative
        Samples × taxa relative abundances (rows sum to 1), sorted by subject then time.
    subjects, times
        Per-sample subject ID (str) and time (float).
    biomass
        Per-sample total biomass (None when not measured; gLV needs it, cLV does not).
    perturbations
        Samples × perturbations indicator (0/1) of the perturbations active at each sample's time.
    """

    relative: pd.DataFrame
    subjects: np.ndarray
    times: np.ndarray
    biomass: np.ndarray | None = None
    perturbations: pd.DataFrame = field(default_factory=pd.DataFrame)
    history: tuple[str, ...] = ()

    @property
    def taxa(self) -> list[str]:
        """Taxon names."""
        return [str(c) for c in self.relative.columns]

    @property
    def n_taxa(self) -> int:
        """Number of taxa."""
        return self.relative.shape[1]

    @property
    def subject_ids(self) -> list[str]:
        """Subjects in order of appearance."""
        return list(dict.fromkeys(self.subjects.tolist()))

    @property
    def n_subjects(self) -> int:
        """Number of subjects."""
        return len(self.subject_ids)

    @property
    def absolute(self) -> np.ndarray:
        """Samples × taxa absolute abundance (relative × biomass); raises when no biomass was given."""
        if self.biomass is None:
            raise DesignError("no biomass (qPCR) was given, so absolute abundances are unknown: gLV needs them; "
                              "fit the compositional model (cLV) instead, which works on relative abundance alone.")
        return self.relative.to_numpy() * self.biomass[:, None]

    def perturbation_matrix(self) -> np.ndarray:
        """Samples × perturbations indicator as a float array (zero columns when there are none)."""
        if self.perturbations.shape[1] == 0:
            return np.zeros((len(self.times), 0))
        return self.perturbations.to_numpy(dtype=float)

    def subset_subjects(self, subjects: Sequence[str]) -> TimeSeries:
        """The samples of *subjects* only."""
        keep = np.isin(self.subjects, np.asarray(subjects, dtype=str))
        return replace(self, relative=self.relative.loc[keep], subjects=self.subjects[keep],
                       times=self.times[keep], biomass=None if self.biomass is None else self.biomass[keep],
                       perturbations=self.perturbations.loc[keep])


def from_frames(relative: pd.DataFrame, *, subjects: Sequence[Any], times: Sequence[float],
                biomass: Sequence[float] | None = None, perturbations: pd.DataFrame | None = None,
                min_points: int = 3) -> TimeSeries:
    """Build a :class:`TimeSeries` from per-sample tables, checking the sampling.

    Parameters
    ----------
    relative
        Samples × taxa abundances (counts or fractions; each row is closed to sum to 1).
    subjects, times
        Per-sample subject and time.
    biomass
        Per-sample total biomass (optional).
    perturbations
        Samples × perturbations 0/1 indicator, same index as *relative* (optional).
    min_points
        A subject with fewer time points is an error (a dynamics model needs at least two intervals).

    Returns
    -------
    TimeSeries
        Sorted by subject, then time.

    Examples
    --------
    >>> rel = pd.DataFrame([[1, 1], [2, 1], [3, 1]], columns=["a", "b"])
    >>> float(from_frames(rel, subjects=["m", "m", "m"], times=[0, 1, 2]).relative.iloc[2, 0])
    0.75
    """
    x = relative.to_numpy(dtype=float)
    if not np.all(np.isfinite(x)) or (x < 0).any():
        raise InputFormatError("abundances must be finite and non-negative.")
    totals = x.sum(axis=1)
    if (totals <= 0).any():
        bad = relative.index[totals <= 0][:3].tolist()
        raise InputFormatError(f"{int((totals <= 0).sum())} sample(s) have zero total abundance "
                               f"(e.g. {printable(bad)}); drop them first.")
    subj = np.asarray([str(s) for s in subjects])
    t = np.asarray(times, dtype=float)
    if len(subj) != len(x) or len(t) != len(x):
        raise DesignError(f"{len(x)} samples but {len(subj)} subjects and {len(t)} times were given.")
    if not np.all(np.isfinite(t)):
        raise DesignError(f"{int((~np.isfinite(t)).sum())} sample(s) have a missing or non-numeric time.")
    order = np.lexsort((t, subj))
    rel = pd.DataFrame(x / totals[:, None], index=relative.index.astype(str), columns=relative.columns.astype(str))
    pert = pd.DataFrame(index=rel.index) if perturbations is None else perturbations.set_axis(rel.index)
    bio = None if biomass is None else np.asarray(biomass, dtype=float)
    if bio is not None and (len(bio) != len(x) or not np.all(np.isfinite(bio)) or (bio <= 0).any()):
        raise InputFormatError("biomass must be one positive, finite value per sample (mean of the qPCR "
                               "replicates); samples without biomass must be dropped for gLV (cLV needs none).")
    ts = TimeSeries(rel.iloc[order], subj[order], t[order], None if bio is None else bio[order],
                    pert.iloc[order].astype(float))
    _raise_on_sampling(ts, min_points)
    return ts


def _raise_on_sampling(ts: TimeSeries, min_points: int) -> None:
    frame = pd.DataFrame({"subject": ts.subjects, "time": ts.times})
    dup = frame.duplicated(keep=False)
    if dup.any():
        ex = frame[dup].head(2).to_dict(orient="records")
        raise DesignError(f"{int(dup.sum())} samples share a (subject, time) with another sample (e.g. "
                          f"{printable(ex)}): average the replicates or give them distinct times.")
    counts = frame.groupby("subject").size()
    short = counts[counts < min_points]
    if len(short):
        raise DesignError(f"{len(short)} subject(s) have fewer than {min_points} time points (e.g. "
                          f"{printable(short.index[:3].tolist())} with {short.iloc[:3].tolist()}): a dynamics "
                          "model needs at least two intervals per subject; drop them.")


def from_cohort(cohort: Cohort, *, subject: str, time: str, biomass: Sequence[float] | None = None,
                perturbations: pd.DataFrame | None = None, min_points: int = 3) -> TimeSeries:
    """A :class:`TimeSeries` from a :class:`~gutlink.cohort.Cohort` with subject and time metadata columns.

    *perturbations* is a table with columns ``name, start, end, subject`` (MDSINE2's perturbations file;
    an empty ``subject`` applies the window to every subject); a sample is perturbed when
    ``start <= time <= end``.

    Parameters
    ----------
    cohort
        Samples × taxa abundances with the subject and time columns in its metadata.
    subject, time
        Metadata columns of the subject IDs and the sampling times.
    biomass
        Per-sample total biomass, in the cohort's sample order (optional; gLV needs it).
    perturbations
        Windows table (optional).
    min_points
        Fewest time points a subject may have.

    Returns
    -------
    TimeSeries

    Examples
    --------
    >>> meta = pd.DataFrame({"mouse": ["m"] * 3, "day": [2, 0, 1]}, index=["s1", "s2", "s3"])
    >>> ts = from_cohort(Cohort(np.ones((3, 2)), meta), subject="mouse", time="day",
    ...                  perturbations=pd.DataFrame({"name": ["abx"], "start": [1], "end": [2]}))
    >>> ts.times.tolist(), ts.perturbations["abx"].tolist()
    ([0.0, 1.0, 2.0], [0.0, 1.0, 1.0])
    """
    for col in (subject, time):
        if col not in cohort.metadata.columns:
            raise DesignError(f"column {printable(col)!r} is not in the metadata (columns: "
                              f"{printable(list(cohort.metadata.columns)[:8])}).")
    subj = cohort.metadata[subject].astype(str).to_numpy()
    t = pd.to_numeric(cohort.metadata[time], errors="coerce").to_numpy(dtype=float)
    rel = cohort.to_frame()
    pert = None if perturbations is None else windows_to_indicator(perturbations, subj, t, index=rel.index)
    return from_frames(rel, subjects=subj, times=t, biomass=biomass, perturbations=pert, min_points=min_points)


def windows_to_indicator(windows: pd.DataFrame, subjects: np.ndarray, times: np.ndarray, *,
                         index: pd.Index) -> pd.DataFrame:
    """Samples × perturbation 0/1 table from windows ``name, start, end[, subject]``, checking them."""
    cols = {c.lower(): c for c in windows.columns}
    missing = [c for c in ("name", "start", "end") if c not in cols]
    if missing:
        raise InputFormatError(f"perturbation windows need columns name, start, end (and optionally subject); "
                               f"missing {missing}.")
    w = windows.rename(columns={v: k for k, v in cols.items()})
    out = pd.DataFrame(0.0, index=index, columns=list(dict.fromkeys(w["name"].astype(str))))
    for row in w.itertuples(index=False):  # one loop per window, not per sample
        start, end = float(row.start), float(row.end)
        if not end > start:
            raise DesignError(f"perturbation {printable(row.name)!r}: end {end} is not after start {start}.")
        subj = str(getattr(row, "subject", "")) if "subject" in w.columns else ""
        mine = (subjects == subj) if subj not in ("", "nan") else np.ones(len(subjects), bool)
        if subj not in ("", "nan") and not mine.any():
            raise DesignError(f"perturbation {printable(row.name)!r} names subject {printable(subj)!r}, "
                              "which has no samples.")
        span = times[mine]
        if end < span.min() or start > span.max():
            raise DesignError(f"perturbation {printable(row.name)!r} window [{start}, {end}] lies outside the "
                              f"series of subject {printable(subj or 'all')!r} ({span.min()}–{span.max()}).")
        hit = mine & (times >= start) & (times <= end)
        if (out.loc[hit, str(row.name)] > 0).any():
            raise DesignError(f"perturbation {printable(row.name)!r} has overlapping windows for subject "
                              f"{printable(subj or 'all')!r}.")
        out.loc[hit, str(row.name)] = 1.0
    return out


def _col(frame: pd.DataFrame, *names: str) -> str:
    low = {str(c).lower(): c for c in frame.columns}
    for n in names:
        if n.lower() in low:
            return low[n.lower()]
    raise InputFormatError(f"metadata needs one of the columns {list(names)}; it has "
                           f"{printable(list(frame.columns)[:8])}.")


def read_mdsine(counts: str | Path, metadata: str | Path, *, qpcr: str | Path | None = None,
                perturbations: str | Path | None = None, min_points: int = 3,
                missing_biomass: str = "raise") -> TimeSeries:
    """Read an MDSINE / MDSINE2 style time series.

    Parameters
    ----------
    counts
        Taxa × samples table (any format :func:`gutlink.io.read` reads).
    metadata
        Sample metadata with a subject column (``subject`` / ``subjectID``) and a time column (``time`` /
        ``measurementID``); a ``perturbID`` column (MDSINE1, cLV) gives perturbations as integer codes.
    qpcr
        Biomass: a table indexed by sample ID with one column per replicate (``measurement1…``; their mean is
        used), or without sample IDs one row per metadata row (cLV's ``biomass.txt``).
    perturbations
        MDSINE2 windows ``name, start, end, subject``.
    min_points
        Fewest time points a subject may have.
    missing_biomass
        ``"raise"`` (default) or ``"drop"``: drop samples without a qPCR value (and say so in the history).

    Returns
    -------
    TimeSeries

    Examples
    --------
    >>> ts = read_mdsine("counts.tsv", "metadata.tsv", qpcr="qpcr.tsv")  # doctest: +SKIP
    """

    cohort = read(counts, units="counts")
    meta = read_metadata(metadata)
    subj_col, time_col = _col(meta, "subject", "subjectID"), _col(meta, "time", "measurementID", "day")
    if "isincluded" in {str(c).lower() for c in meta.columns}:
        meta = meta[meta[_col(meta, "isIncluded")].astype(float) > 0]
    bio = None if qpcr is None else _read_biomass(Path(qpcr), meta)
    missing = meta.index.difference(cohort.sample_ids)
    if len(missing):
        raise InputFormatError(f"{len(missing)} metadata sample(s) are not in the counts table (e.g. "
                               f"{printable(missing[:3].tolist())}).", path=str(metadata))
    meta = meta[meta.index.isin(cohort.sample_ids)]
    cohort = cohort.subset(samples=meta.index.tolist())
    rel = cohort.to_frame()
    subj = meta[subj_col].astype(str).to_numpy()
    t = pd.to_numeric(meta[time_col], errors="coerce").to_numpy(dtype=float)
    pert = None
    if perturbations is not None:
        pert = windows_to_indicator(pd.read_csv(perturbations, sep=None, engine="python"), subj, t,
                                    index=rel.index)
    elif "perturbid" in {str(c).lower() for c in meta.columns}:
        codes = meta[_col(meta, "perturbID")].astype(int)
        pert = pd.get_dummies(codes[codes > 0].astype(str), prefix="perturbation", dtype=float)
        pert = pert.reindex(rel.index, fill_value=0.0)
    if bio is not None:
        bio = bio.reindex(rel.index)
        if missing_biomass == "drop" and bio.isna().any():
            keep = bio.notna().to_numpy()
            rel, subj, t, bio = rel.loc[keep], subj[keep], t[keep], bio[keep]
            pert = None if pert is None else pert.loc[keep]
        if bio.isna().any():
            raise InputFormatError(f"{int(bio.isna().sum())} sample(s) have no qPCR biomass (e.g. "
                                   f"{printable(bio.index[bio.isna()][:3].tolist())}); gLV needs biomass for "
                                   "every sample (cLV works without).", path=str(qpcr))
        bio = bio.to_numpy()
    return from_frames(rel, subjects=subj, times=t, biomass=bio, perturbations=pert, min_points=min_points)


def _read_biomass(path: Path, meta: pd.DataFrame) -> pd.Series:
    raw = pd.read_csv(path, sep=None, engine="python", header=0)
    first = raw.columns[0]
    numeric = raw.apply(pd.to_numeric, errors="coerce")
    if numeric[first].isna().any():  # first column holds sample IDs
        values = raw.set_index(first).apply(pd.to_numeric, errors="coerce")
        values.index = values.index.astype(str)
    else:
        if len(raw) != len(meta):
            raise InputFormatError(f"biomass has {len(raw)} rows without sample IDs but the metadata has "
                                   f"{len(meta)}; give a sample ID column.", path=str(path))
        values = numeric.set_axis(meta.index)
    if (values <= 0).any().any():
        raise InputFormatError("biomass values must be positive.", path=str(path))
    return values.mean(axis=1)


def consistency_filter(ts: TimeSeries, *, threshold: float = 1e-4, consecutive: int = 2,
                       subjects: int = 1) -> TimeSeries:
    """Keep taxa with relative abundance ≥ *threshold* in ≥ *consecutive* consecutive time points in
    ≥ *subjects* subjects; the rest are summed into one ``"other"`` taxon.

    Examples
    --------
    >>> rel = pd.DataFrame({"a": [.9, .9, .9], "b": [.1, .1, .0999], "c": [0, 0, 1e-4]})
    >>> ts = from_frames(rel, subjects=["m"] * 3, times=[0, 1, 2])
    >>> consistency_filter(ts, threshold=1e-3, consecutive=2).taxa
    ['a', 'b', 'other']
    """
    if threshold < 0 or consecutive < 1 or subjects < 1:
        raise DesignError("threshold must be ≥ 0, consecutive and subjects ≥ 1.")
    if subjects > ts.n_subjects:
        raise DesignError(f"subjects={subjects} but the series has only {ts.n_subjects} subjects.")
    above = (ts.relative.to_numpy() >= threshold).astype(np.int64)
    # run length of consecutive hits, computed per subject with a cumulative-sum trick (vectorised over taxa)
    new_subject = np.r_[True, ts.subjects[1:] != ts.subjects[:-1]]
    run = np.zeros_like(above)
    for i in range(len(above)):  # loop over time steps only; taxa are vectorised
        run[i] = above[i] * (1 + (0 if new_subject[i] else run[i - 1]))
    hit = pd.DataFrame(run >= consecutive).groupby(ts.subjects).any()
    keep = hit.sum(axis=0).to_numpy() >= subjects
    rel = ts.relative.loc[:, keep].copy()
    if (~keep).any():
        rel[OTHER] = ts.relative.loc[:, ~keep].sum(axis=1)
    note = (f"consistency_filter(threshold={threshold}, consecutive={consecutive}, subjects={subjects}): "
            f"kept {int(keep.sum())} of {len(keep)} taxa")
    return replace(ts, relative=rel, history=(*ts.history, note))


@dataclass(frozen=True)
class SamplingChecks(Result):
    """Sampling diagnostics per subject: points, span, spacing irregularity."""

    table: pd.DataFrame
    warnings: tuple[str, ...] = ()


def check_sampling(ts: TimeSeries, *, max_gap_ratio: float = 5.0) -> SamplingChecks:
    """Per-subject number of points, span and irregularity of spacing, with plain-language warnings.

    Examples
    --------
    >>> rel = pd.DataFrame({"a": [.5] * 4, "b": [.5] * 4})
    >>> chk = check_sampling(from_frames(rel, subjects=["m"] * 4, times=[0, 1, 2, 30]))
    >>> len(chk.warnings)
    1
    """
    frame = pd.DataFrame({"subject": ts.subjects, "time": ts.times})
    frame["dt"] = frame.groupby("subject")["time"].diff()
    g = frame.groupby("subject", sort=False)
    table = pd.DataFrame({"n_points": g.size(), "start": g["time"].min(), "end": g["time"].max(),
                          "min_dt": g["dt"].min(), "median_dt": g["dt"].median(), "max_dt": g["dt"].max()})
    table["irregular"] = table["max_dt"] > max_gap_ratio * table["median_dt"]
    warn = tuple(f"subject {printable(s)!r}: gaps up to {r.max_dt:g} against a median of {r.median_dt:g}; "
                 "log-difference estimates over long gaps are biased towards zero"
                 for s, r in table[table["irregular"]].iterrows())
    return SamplingChecks(table.reset_index(names="subject"), warn)
