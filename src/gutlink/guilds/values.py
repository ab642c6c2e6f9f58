"""A host marker's values as analysed: numbers, values below a detection limit (censored, never replaced by a
guess), the log transform of skewed positive markers by rule, and the flag for units mixed within a column.

Examples
--------
>>> v, cens = parse_marker(pd.Series(["2.5", "<1", "7"]), name="IL6")
>>> cens.tolist()
[False, True, False]
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputFormatError

__all__ = ["censored_scores", "parse_marker"]

_CENSORED = re.compile(r"^\s*<\s*=?\s*([0-9.eE+-]+)\s*$")
_LOD_WORDS = {"lod", "<lod", "bdl", "nd", "<ld", "below detection", "n.d.", "<dl", "bql", "<lloq"}


def parse_marker(values: pd.Series, *, name: str) -> tuple[pd.Series, pd.Series]:
    """Numeric marker values and which are censored (below a detection limit).

    ``<0.5`` is censored at the stated limit 0.5 (the value returned is the limit); ``LOD`` / ``ND`` / ``BDL``
    are censored at an unstated limit (value NaN). Anything else non-numeric is an error naming the column and
    the first bad value. No censored value is ever replaced by a guess such as half the limit.

    Returns
    -------
    tuple of pandas.Series
        The values (float) and a boolean mask of the censored ones.

    Examples
    --------
    >>> v, cens = parse_marker(pd.Series(["1.5", "<0.5", "LOD", None]), name="CRP")
    >>> v.tolist(), cens.tolist()
    ([1.5, 0.5, nan, nan], [False, True, True, False])
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype(float), pd.Series(False, index=values.index)
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float), pd.Series(False, index=values.index)
    text = values.astype("string").str.strip()
    num = pd.to_numeric(text, errors="coerce")
    limit = text.str.extract(_CENSORED, expand=False).astype(float)
    lod = text.str.lower().isin(_LOD_WORDS).fillna(False)
    bad = text.notna() & num.isna() & limit.isna() & ~lod & (text != "")
    if bad.any():
        first = bad[bad].index[0]
        raise InputFormatError(f"marker column {name!r} holds a non-numeric value {text[first]!r} (sample {first!r}).",
                               column=name, hint="Give numbers; values below detection as '<0.5' or 'LOD'.")
    out = num.astype(float).where(num.notna(), limit)
    censored = (limit.notna() | lod).astype(bool)
    return out.astype(float), pd.Series(censored.to_numpy(dtype=bool), index=values.index)


def censored_scores(values: pd.Series, censored: pd.Series) -> tuple[pd.Series, str]:
    """Rank-based inverse normal scores of a left-censored marker, every censored value tied at the lowest rank.

    Why ranks and not a Tobit model: a detection limit says only that a value lies below it, and the ranks with
    ties at the limit use exactly that, with no assumption about the distribution below the limit (a Tobit model
    assumes the transformed marker is normal there, and needs one iterative fit per marker × predictor pair). With
    several stated limits the largest is the common limit: a measured value below it cannot be ordered against a
    censored one, so it is censored too (said in the description). An unstated limit (``LOD``) is taken to lie
    below every measured value.

    Returns
    -------
    tuple
        Scores (Blom: ``Φ⁻¹((r − 3/8)/(n + 1/4))`` of the mid-ranks; NaN where the value is missing) and a
        sentence saying what was done.

    Examples
    --------
    >>> s, how = censored_scores(pd.Series([0.5, 2.0, 1.0, 3.0]), pd.Series([True, False, False, False]))
    >>> bool(s.iloc[0] < s.iloc[2] < s.iloc[1] < s.iloc[3]), how.startswith("1 value(s) below")
    (True, True)
    """
    v = values.astype(float)
    cens = censored.reindex(v.index).fillna(False).astype(bool)
    present = v.notna() | cens
    stated = v[cens].dropna()
    limit = float(stated.max()) if len(stated) else -np.inf
    below = ~cens & v.notna() & (v < limit)
    cens = cens | below
    key = v.where(~cens, -np.inf)  # every censored value ties at the bottom
    ranks = key[present].rank(method="average")
    n = int(present.sum())
    scores = pd.Series(np.nan, index=v.index)
    scores[present] = stats.norm.ppf((ranks.to_numpy() - 0.375) / (n + 0.25))
    where = f"the stated limit {limit:g}" if np.isfinite(limit) else "an unstated detection limit"
    how = (f"{int(cens.sum())} value(s) below {where} treated as censored (tied at the lowest rank; rank-based "
           "inverse normal scores, no value substituted)")
    if below.any():
        how += f"; {int(below.sum())} measured value(s) under that limit censored with them"
    return scores, how


def _transform(y: pd.Series) -> tuple[pd.Series, str]:
    """log when a marker is positive and right-skewed (skewness > 1), else as it is (z-scores stay linear)."""
    v = y.dropna()
    if v.nunique() < 3:  # constant or binary: nothing to transform (and no skewness to measure)
        return y, "identity"
    if len(v) > 2 and (v > 0).all() and float(stats.skew(v)) > 1:
        return np.log(y), "log"
    if len(v) > 2 and (v >= 0).all() and float(stats.skew(v)) > 1:
        return np.log1p(y), "log1p"
    return y, "identity"


def _values(frame: pd.DataFrame, name: object, notes: list[str]) -> tuple[pd.Series, pd.Series, str]:
    """A marker's analysed values: censored scores when any value is below detection, else log-transformed by
    rule (skewed positive markers) or as it is."""
    values, censored = parse_marker(frame[name], name=str(name))
    jump = _scale_jump(values[~censored])
    if jump:
        notes.append(f"{name}: {jump}")
    if not censored.any():
        y, how = _transform(values)
        if set(values.dropna().unique()) == {0.0, 1.0}:
            notes.append(f"{name}: a 0/1 status, fitted as a linear probability model (effect: change in the "
                         "probability per unit of the predictor).")
        return y, censored, how
    if not values[~censored].notna().any():
        return pd.Series(np.nan, index=values.index), censored, "censored"
    scores, how = censored_scores(values, censored)
    notes.append(f"{name}: {how}.")
    return scores, censored, "rank-normal (censored)"


def _scale_jump(values: pd.Series) -> str:
    """A sentence when a marker's positive values fall in two groups with no value over a 100-fold range between
    them (at least 3 values and 5 % on each side) — the sign of units mixed within a column (mg/L and µg/L)."""
    v = np.sort(values[values > 0].dropna().to_numpy(dtype=float))
    if len(v) < 20:
        return ""
    gaps = np.diff(np.log10(v))
    side = max(3, int(np.ceil(0.05 * len(v))))
    gaps[: side - 1], gaps[len(gaps) - side + 1:] = 0, 0
    i = int(gaps.argmax())
    if gaps[i] < 2:
        return ""
    return (f"values jump {10 ** gaps[i]:.0f}-fold between {v[i]:g} and {v[i + 1]:g} ({i + 1} value(s) below, "
            f"{len(v) - i - 1} above, none between): units mixed within the column (e.g. mg/L and µg/L)? "
            "Check and convert before trusting this marker.")
