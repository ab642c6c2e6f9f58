"""Do guilds and taxa track the host's immune markers (cytokines, calprotectin, CRP, autoantibody titres)?

Each marker is regressed on each predictor — a guild (its log-ratio against the rest of the community), the
barrier balance, or a taxon (CLR) — adjusted for covariates: ``marker ~ predictor + covariates``, and with
*subject* a within-subject model (a fixed intercept per subject, so a person's repeated samples are compared
with each other and no between-person difference passes for an association). All predictors of one marker are
fitted at once (Frisch–Waugh–Lovell: residualise marker and predictors on the adjustment design, then one
regression per column), and the q-values are Benjamini–Hochberg over the whole marker × predictor grid.

Examples
--------
>>> from gutlink.datasets import franzosa2019
>>> res = marker_association(franzosa2019(), markers=["Fecal.Calprotectin"], taxa=False)
>>> row = res.table.set_index("predictor").loc["butyrate_producer"]
>>> bool(row["effect"] < 0), res.transforms["Fecal.Calprotectin"]
(True, 'identity')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..cohort import Cohort
from ..design import require_column
from ..errors import DesignError, InputFormatError
from ..multitest import bh
from ..results import Result
from .knowledge import GUILDS
from .scores import BALANCE, guild_scores

__all__ = ["MarkerResult", "marker_association", "parse_marker"]

_CENSORED = re.compile(r"^\s*<\s*=?\s*([0-9.eE+-]+)\s*$")
_LOD_WORDS = {"lod", "<lod", "bdl", "nd", "<ld", "below detection", "n.d."}
_EPS = 1e-6


@dataclass(frozen=True)
class MarkerResult(Result):
    """One row per marker and predictor: ``marker, predictor, kind, n, effect`` (change of the transformed marker
    per unit of the predictor, adjusted), ``ci_low, ci_high, partial_r, statistic, p_value, q_value``."""

    table: pd.DataFrame
    transforms: dict[str, str]
    model: str
    notes: tuple[str, ...] = field(default=())


def parse_marker(values: pd.Series, *, name: str) -> tuple[pd.Series, int]:
    """Numeric marker values: ``<0.5`` (below a stated limit) becomes half the limit, ``LOD`` / ``ND`` half the
    smallest measured value; anything else non-numeric is an error naming the column and the first bad value.

    Returns the values and how many were below detection.

    Examples
    --------
    >>> v, n = parse_marker(pd.Series(["1.5", "<0.5", "LOD", None]), name="CRP")
    >>> v.tolist(), n
    ([1.5, 0.25, 0.75, nan], 2)
    """
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float), 0
    text = values.astype("string").str.strip()
    num = pd.to_numeric(text, errors="coerce")
    limit = text.str.extract(_CENSORED, expand=False).astype(float)
    lod = text.str.lower().isin(_LOD_WORDS)
    bad = text.notna() & num.isna() & limit.isna() & ~lod & (text != "")
    if bad.any():
        first = bad[bad].index[0]
        raise InputFormatError(f"marker column {name!r} holds a non-numeric value {text[first]!r} (sample {first!r}).",
                               column=name, hint="Give numbers; values below detection as '<0.5' or 'LOD'.")
    out = num.astype(float).where(num.notna(), limit / 2)
    if lod.any():
        measured = num.dropna()
        if measured.empty:
            raise DesignError(f"marker {name!r} has no measured value, only values below detection.")
        out[lod.to_numpy()] = float(measured[measured > 0].min()) / 2 if (measured > 0).any() else 0.0
    return out.astype(float), int(limit.notna().sum() + lod.sum())


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


def _predictors(cohort: Cohort, taxa: bool, min_prevalence: float) -> tuple[pd.DataFrame, list[str]]:
    scores = guild_scores(cohort)
    load = scores.wide("load").reindex(cohort.sample_ids)
    guilds = load[list(GUILDS)]
    out = np.log((guilds + _EPS) / (1 - guilds + _EPS))  # each guild against the rest of the community
    out[BALANCE] = load[BALANCE]
    kinds = ["guild"] * (out.shape[1])
    if taxa:
        prevalent = (cohort.relative() > 0).mean(axis=0) >= min_prevalence
        clr = cohort.clr().loc[:, prevalent]
        out = pd.concat([out, clr.set_axis([f"taxon:{c}" for c in clr.columns], axis=1)], axis=1)
        kinds += ["taxon"] * clr.shape[1]
    return out, kinds


def _adjustment(meta: pd.DataFrame, covariates: Sequence[str], subject: str | None) -> pd.DataFrame:
    parts = [pd.Series(1.0, index=meta.index, name="const")]
    for cov in covariates:
        col = meta[cov]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            parts.append(col.astype(float).rename(cov))
        else:
            parts.extend(c for _, c in pd.get_dummies(col.astype("string"), prefix=cov, drop_first=True,
                                                      dtype=float).items())
    if subject is not None:
        parts.extend(c for _, c in pd.get_dummies(meta[subject].astype("string"), prefix="s", drop_first=True,
                                                  dtype=float).items())
    return pd.concat(parts, axis=1)


def _basis(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Orthonormal basis of the adjustment design's column space and its rank."""
    u, sv, _ = np.linalg.svd(z, full_matrices=False)
    rank = int((sv > sv.max() * max(z.shape) * np.finfo(float).eps).sum())
    return u[:, :rank], sv, rank


def _fit(y: np.ndarray, ex: np.ndarray, q: np.ndarray, rank: int) -> dict[str, np.ndarray]:
    """Coefficient of each column of *ex* (already residualised on the basis *q*) in ``y ~ x_j + z``."""
    ey = y - q @ (q.T @ y)
    sxx = (ex**2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = (ex * ey[:, None]).sum(axis=0) / sxx
        df = len(y) - rank - 1
        resid = ((ey[:, None] - ex * beta) ** 2).sum(axis=0)
        se = np.sqrt(resid / df / sxx)
        r = (ex * ey[:, None]).sum(axis=0) / np.sqrt(sxx * (ey**2).sum())
    tval = beta / se
    crit = stats.t.ppf(0.975, df) if df > 0 else np.nan
    p = 2 * stats.t.sf(np.abs(tval), df) if df > 0 else np.full_like(beta, np.nan)
    return {"effect": beta, "ci_low": beta - crit * se, "ci_high": beta + crit * se, "partial_r": r,
            "statistic": tval, "p_value": p, "df": np.full_like(beta, df)}


def _marker_frame(cohort: Cohort, markers: Sequence[str] | pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    notes = []
    if isinstance(markers, pd.DataFrame):
        ids = markers.index.astype(str)
        absent = int((~ids.isin(cohort.sample_ids.astype(str))).sum())
        if absent:
            notes.append(f"{absent} marker row(s) have no abundance sample and are left out.")
        frame = markers.set_axis(ids).reindex(cohort.sample_ids.astype(str))
        if frame.notna().sum().sum() == 0:
            raise DesignError("no marker row matches an abundance sample ID; matching is exact and case-sensitive.")
        return frame.set_axis(cohort.sample_ids), notes
    for col in markers:
        require_column(cohort.metadata, col, "marker")
    return cohort.metadata[list(markers)], notes


def marker_association(cohort: Cohort, *, markers: Sequence[str] | pd.DataFrame, covariates: Sequence[str] = (),
                       subject: str | None = None, taxa: bool = True, min_prevalence: float = 0.1,
                       min_samples: int = 10) -> MarkerResult:
    """Each marker × each guild (and taxon) with a covariate-adjusted, subject-aware linear model.

    Parameters
    ----------
    cohort
        Abundances and metadata.
    markers
        Metadata columns holding markers, or a table of markers indexed by sample ID.
    covariates
        Metadata columns adjusted for.
    subject
        Subject column: repeated samples of one person; the model then holds a fixed intercept per subject
        (within-subject association) and its degrees of freedom count the subjects.
    taxa
        Also test every taxon present in at least *min_prevalence* of samples (CLR values).
    min_samples
        Markers with fewer complete samples (or a constant value) are skipped and named in ``notes``.

    Returns
    -------
    MarkerResult
        The grid with BH q-values over all of it; ``transforms`` says how each marker was transformed.
    """
    for col in (*covariates, *([subject] if subject else [])):
        require_column(cohort.metadata, col, "covariate" if col != subject else "subject")
    frame, notes = _marker_frame(cohort, markers)
    x, kinds = _predictors(cohort, taxa, min_prevalence)
    z_all = _adjustment(cohort.metadata, covariates, subject)
    rows, transforms = [], {}
    cache: dict[bytes, tuple[np.ndarray, np.ndarray, int]] = {}  # one basis per missing-value pattern
    xv, zv = x.to_numpy(dtype=float), z_all.to_numpy(dtype=float)
    for name in frame.columns:
        values, censored = parse_marker(frame[name], name=str(name))
        if censored:
            notes.append(f"{name}: {censored} value(s) below detection set to half the limit (a substitution, "
                         "not a censored model).")
        y, transforms[str(name)] = _transform(values)
        ok = y.notna().to_numpy() & z_all.notna().all(axis=1).to_numpy() & np.isfinite(y.to_numpy(dtype=float))
        if ok.sum() < min_samples or y[ok].nunique() < 2:
            notes.append(f"{name}: skipped ({int(ok.sum())} complete samples"
                         + (", constant" if y[ok].nunique() < 2 else "") + ").")
            continue
        key = np.packbits(ok).tobytes()
        if key not in cache:
            q, _, rank = _basis(zv[ok])
            cache[key] = (q, xv[ok] - q @ (q.T @ xv[ok]), rank)
        q, ex, rank = cache[key]
        fit = _fit(y.to_numpy(dtype=float)[ok], ex, q, rank)
        rows.append(pd.DataFrame({"marker": str(name), "predictor": x.columns.str.removeprefix("taxon:"),
                                  "kind": kinds, "n": int(ok.sum()), **fit}))
    if not rows:
        raise DesignError("no marker could be tested: " + " ".join(notes))
    table = pd.concat(rows, ignore_index=True)
    table["q_value"] = bh(table["p_value"].to_numpy(dtype=float))
    model = ("marker ~ predictor" + "".join(f" + {c}" for c in covariates)
             + (f" + subject fixed intercepts ({subject!r}, within-subject)" if subject else ""))
    return MarkerResult(table=table, transforms=transforms, model=model, notes=tuple(notes))
