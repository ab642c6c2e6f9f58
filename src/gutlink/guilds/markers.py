"""Do guilds and taxa track the host's immune markers (cytokines, calprotectin, CRP, autoantibody titres)?

Each marker is regressed on each predictor — a guild (its log-ratio against the rest of the community), the
barrier balance, or a taxon (CLR) — adjusted for covariates: ``marker ~ predictor + covariates``. With repeated
samples per *subject* (or matched *block*\\ s) the default model holds a **random intercept per subject**
(REML variance components of the marker's null model, :mod:`gutlink.guilds.mixed`), so a person's samples are
not counted as independent; ``repeated="within"`` instead holds a fixed intercept per subject (within-subject
association only: no between-person difference passes for an association). All predictors of one marker are
fitted at once (Frisch–Waugh–Lovell: residualise marker and predictors on the adjustment design, then one
regression per column), and the q-values are Benjamini–Hochberg over the whole marker × predictor grid.

Values below a detection limit (``<0.5``, ``LOD``, ``ND``, ``BDL``) are **censored**, never replaced by a number:
such a marker is analysed on rank-based inverse normal scores in which every censored value ties at the lowest
rank (see :func:`censored_scores`), which uses exactly what a detection limit says (the value is below it).

Examples
--------
>>> from gutlink.datasets import franzosa2019
>>> res = marker_association(franzosa2019(), markers=["Fecal.Calprotectin"], taxa=False)
>>> row = res.table.set_index("predictor").loc["butyrate_producer"]
>>> bool(row["effect"] < 0), res.transforms["Fecal.Calprotectin"]
(True, 'identity')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..cohort import Cohort
from ..design import require_column
from ..errors import DesignError
from ..multitest import bh
from ..results import Result
from .blocks import marker_blocks
from .knowledge import GUILDS
from .mixed import Groups, between_within_df, null_fit
from .reverse import reverse_fit
from .scores import BALANCE, guild_scores
from .values import _values, censored_scores, parse_marker

__all__ = ["MarkerResult", "censored_scores", "marker_association", "parse_marker"]

_EPS = 1e-6


@dataclass(frozen=True)
class MarkerResult(Result):
    """One row per marker and predictor: ``marker, predictor, kind, n, n_groups, effect`` (change of the
    transformed marker per unit of the predictor, adjusted), ``ci_low, ci_high, partial_r, statistic, df,
    p_value, q_value``. ``variance`` holds each marker's random-intercept fit (``marker, model, subject_variance,
    residual_variance, icc, converged, reason``) when subjects repeat; with ``direction="taxon"`` one row per
    outcome (``predictor``) and set of complete samples, the ICC from its REML variance ratio. ``blocks``: the
    block-wise view (correlated markers × correlated taxa, Simes p per block pair, BH over blocks;
    :mod:`gutlink.guilds.blocks`)."""

    table: pd.DataFrame
    transforms: dict[str, str]
    model: str
    notes: tuple[str, ...] = field(default=())
    variance: pd.DataFrame = field(default_factory=pd.DataFrame)
    direction: str = "marker"
    blocks: pd.DataFrame = field(default_factory=pd.DataFrame)


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


def _fit(y: np.ndarray, ex: np.ndarray, q: np.ndarray, df: int | np.ndarray, resid_df: int,
         x_raw: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Coefficient of each column of *ex* (already residualised on the basis *q*) in ``y ~ x_j + z``: residual
    variance on *resid_df* degrees of freedom, t reference on *df*. A column the adjustment removes (less than
    1e-10 of its sum of squares left, *x_raw* before residualising) is not testable: NaN, not a huge effect."""
    x_raw = ex if x_raw is None else x_raw
    ey = y - q @ (q.T @ y)
    sxx = (ex**2).sum(axis=0)
    sxx = np.where(sxx > 1e-10 * np.maximum((x_raw**2).sum(axis=0), 1e-300), sxx, np.nan)  # constant predictor
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = (ex * ey[:, None]).sum(axis=0) / sxx
        resid = ((ey[:, None] - ex * beta) ** 2).sum(axis=0)
        se = np.sqrt(resid / resid_df / sxx)
        r = (ex * ey[:, None]).sum(axis=0) / np.sqrt(sxx * (ey**2).sum())
        tval = beta / se
    dfs = np.broadcast_to(np.asarray(df, dtype=float), beta.shape)
    usable = (dfs > 0) & (resid_df > 0)
    safe = np.where(usable, dfs, 1.0)
    crit = np.where(usable, stats.t.ppf(0.975, safe), np.nan)
    p = np.where(usable, 2 * stats.t.sf(np.abs(tval), safe), np.nan)
    return {"effect": beta, "ci_low": beta - crit * se, "ci_high": beta + crit * se, "partial_r": r,
            "statistic": tval, "p_value": p, "df": dfs.copy()}


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


def _grouping(cohort: Cohort, subject: str | None, block: str | None, notes: list[str]) -> str | None:
    if subject is not None:
        if block is not None:
            notes.append(f"Random intercept per subject {subject!r}; the blocks of {block!r} are not modelled "
                         "beyond it.")
        return subject
    return block


def _one_marker(y: pd.Series, ok: np.ndarray, x: np.ndarray, z: np.ndarray, groups: np.ndarray | None,
                repeated: str, name: str,
                df_cache: dict[bytes, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, object] | None]:
    """The fit of one marker against every predictor column; the variance record with a random intercept."""
    yv, xv, zv = y.to_numpy(dtype=float)[ok], x[ok], z[ok]
    x0 = xv
    record, absorbed = None, 0
    df: int | np.ndarray
    if groups is None:
        q, _, rank = _basis(zv)
        df = len(yv) - rank - 1
        return _fit(yv, xv - q @ (q.T @ xv), q, df, df, x0), record
    grp = Groups.of(groups[ok])
    n_groups = len(grp.counts)
    fit = null_fit(yv, zv, grp.codes) if repeated == "random" else None
    if fit is not None and fit.converged:
        key = ok.tobytes()  # the df depend on the complete samples only: shared by markers measured alike
        if key not in df_cache:
            df_cache[key] = between_within_df(xv, zv, grp)
        df = df_cache[key]
        yv, xv, zv = (grp.demean(a, grp.means(a), fit.ratio) for a in (yv, xv, zv))
        q, _, rank = _basis(zv)
        record = {"marker": name, "model": "random intercept (REML)", "subject_variance": fit.tau2,
                  "residual_variance": fit.sigma2, "icc": fit.tau2 / (fit.tau2 + fit.sigma2), "converged": True,
                  "reason": ""}
    else:  # a fixed intercept per group: subtract every group's mean, then adjust for the covariates
        scale = np.linalg.norm(zv, axis=0)
        yv, xv, zv = (a - grp.means(a)[grp.codes] for a in (yv, xv, zv))
        zv = zv[:, np.linalg.norm(zv, axis=0) > 1e-8 * scale]  # columns constant within groups are absorbed
        q, _, rank = _basis(zv) if zv.shape[1] else (np.zeros((len(yv), 0)), None, 0)
        absorbed = n_groups
        df = len(yv) - n_groups - rank - 1
        if fit is not None:
            record = {"marker": name, "model": "subject fixed intercepts (fallback)", "subject_variance": np.nan,
                      "residual_variance": np.nan, "icc": np.nan, "converged": False, "reason": fit.reason}
    resid_df = len(yv) - absorbed - q.shape[1] - 1
    return _fit(yv, xv - q @ (q.T @ xv), q, df, resid_df, x0), record


def marker_association(cohort: Cohort, *, markers: Sequence[str] | pd.DataFrame, covariates: Sequence[str] = (),
                       subject: str | None = None, block: str | None = None,
                       repeated: Literal["random", "within"] = "random", taxa: bool = True,
                       min_prevalence: float = 0.1, min_samples: int = 10,
                       direction: Literal["marker", "taxon"] = "marker",
                       interaction: str | None = None) -> MarkerResult:
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
        Subject column: repeated samples of one person (the iHMP cytokine data has ~12 per person).
    block
        Matched sets (household, pair): the random intercept's groups when no *subject* is given.
    repeated
        With *subject* / *block*: ``"random"`` (default) a random intercept per group — variance components by
        REML of each marker's null model, every predictor then fitted by generalised least squares, t tests with
        between-within degrees of freedom (a predictor varying within subjects: samples − subjects − within
        covariates − 1; a person-level one: subjects − person-level covariates − 2); where REML cannot separate the groups (every
        group one sample, a single group, a failed optimiser) the marker falls back to fixed intercepts and
        ``variance`` says why. ``"within"``: a fixed intercept per group (within-subject association only).
    taxa
        Also test every taxon present in at least *min_prevalence* of samples (CLR values).
    min_samples
        Markers with fewer complete samples (or a constant value) are skipped and named in ``notes``.
    direction
        ``"marker"`` (default): ``marker ~ predictor + covariates``, the marker as the outcome. ``"taxon"``: the
        MaAsLin direction, ``predictor ~ marker + covariates`` — every taxon CLR (and guild score) as the outcome,
        with its own random-intercept variance ratio (:mod:`gutlink.guilds.reverse`); ``effect`` is then the
        change of the taxon's CLR (guild log-ratio) per unit of the transformed marker.
    interaction
        With ``direction="taxon"``: a numeric or two-level metadata column *k*; the row tested is the
        ``marker × k`` term of ``predictor ~ marker * k + covariates`` (does the taxon's slope on the marker
        differ between the levels?), as in the iHMP cytokine models of Zhou et al.

    Returns
    -------
    MarkerResult
        The grid with BH q-values over all of it; ``transforms`` says how each marker was transformed
        (``log`` / ``log1p`` for right-skewed positive markers, ``rank-normal (censored)`` for markers with
        values below detection), ``variance`` the random-intercept fit of each marker.
    """
    if repeated not in ("random", "within"):
        raise DesignError(f"repeated must be 'random' or 'within'; got {repeated!r}.")
    if direction not in ("marker", "taxon"):
        raise DesignError(f"direction must be 'marker' or 'taxon'; got {direction!r}.")
    if interaction is not None and direction != "taxon":
        raise DesignError("interaction needs direction='taxon' (the marker is then the predictor whose slope "
                          "may differ between the interaction's levels).")
    for col, role in (*((c, "covariate") for c in covariates), (subject, "subject"), (block, "block")):
        if col is not None:
            require_column(cohort.metadata, col, role)
    frame, notes = _marker_frame(cohort, markers)
    group_col = _grouping(cohort, subject, block, notes)
    x, kinds = _predictors(cohort, taxa, min_prevalence)
    z_all = _adjustment(cohort.metadata, covariates, None)
    groups = None if group_col is None else pd.factorize(cohort.metadata[group_col].astype(str))[0]
    group_ok = np.ones(cohort.n_samples, bool) if group_col is None else cohort.metadata[group_col].notna().to_numpy()
    rows: list[pd.DataFrame] = []
    records: list[dict[str, object]] = []
    transforms: dict[str, str] = {}
    xv, zv = x.to_numpy(dtype=float), z_all.to_numpy(dtype=float)
    df_cache: dict[bytes, np.ndarray] = {}
    if direction == "taxon":
        notes.append("Direction taxon ~ marker: each effect is the change of the taxon's CLR (guild log-ratio, "
                     "balance) per unit of the transformed marker.")
        inter = None if interaction is None else _interaction(cohort.metadata, interaction, notes)
        rows, records = _reverse_rows(frame, x, kinds, zv, groups, group_ok, inter, repeated, min_samples, notes,
                                      transforms)
    for name in frame.columns if direction == "marker" else ():
        y, _, transforms[str(name)] = _values(frame, name, notes)
        ok = (y.notna().to_numpy() & z_all.notna().all(axis=1).to_numpy() & np.isfinite(y.to_numpy(dtype=float))
              & group_ok)
        if ok.sum() < min_samples or y[ok].nunique() < 2:
            notes.append(f"{name}: skipped ({int(ok.sum())} complete samples"
                         + (", constant" if y[ok].nunique() < 2 else "") + ").")
            continue
        fit, record = _one_marker(y, ok, xv, zv, groups, repeated, str(name), df_cache)
        if record is not None:
            records.append(record)
            if not record["converged"]:
                notes.append(f"{name}: random intercept not estimable ({record['reason']}); subject fixed "
                             "intercepts instead.")
        rows.append(pd.DataFrame({"marker": str(name), "predictor": x.columns.str.removeprefix("taxon:"),
                                  "kind": kinds, "n": int(ok.sum()),
                                  "n_groups": int(np.count_nonzero(np.bincount(groups[ok]))) if groups is not None
                                  else int(ok.sum()),
                                  **fit}))
    if not rows:
        raise DesignError("no marker could be tested: " + " ".join(notes))
    table = pd.concat(rows, ignore_index=True)
    table["q_value"] = bh(table["p_value"].to_numpy(dtype=float))
    model = _model(covariates, group_col, repeated)
    if direction == "taxon":
        model = model.replace("marker ~ predictor", "predictor ~ marker" + (f" * {interaction} (row: the "
                              f"marker:{interaction} term)" if interaction else ""), 1)
    return MarkerResult(table=table, transforms=transforms, model=model, notes=tuple(notes),
                        variance=pd.DataFrame(records), direction=direction,
                        blocks=_blocks(table, frame, x, kinds))


def _blocks(table: pd.DataFrame, frame: pd.DataFrame, x: pd.DataFrame, kinds: list[str]) -> pd.DataFrame:
    """The block-wise view over the tested markers (as analysed) and the taxa."""
    taxa = x.loc[:, [k == "taxon" for k in kinds]]
    if taxa.empty:
        return pd.DataFrame()
    names = {str(c): c for c in frame.columns}
    tested = [m for m in table["marker"].unique() if m in names]
    values = pd.DataFrame({m: _values(frame, names[m], [])[0] for m in tested})
    return marker_blocks(table, values, taxa.set_axis(taxa.columns.str.removeprefix("taxon:"), axis=1))


def _model(covariates: Sequence[str], group: str | None, repeated: str) -> str:
    text = "marker ~ predictor" + "".join(f" + {c}" for c in covariates)
    if group is None:
        return text
    if repeated == "within":
        return text + f" + subject fixed intercepts ({group!r}, within-subject)"
    return text + f" + (1 | {group}) (random intercept, REML)"


def _interaction(meta: pd.DataFrame, column: str, notes: list[str]) -> np.ndarray:
    """The interaction column as numbers: numeric as it is, two levels as 0/1 (the second sorted level 1)."""
    require_column(meta, column, "interaction")
    col = meta[column]
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.to_numpy(dtype=float)
    levels = sorted(col.dropna().astype(str).unique())
    if len(levels) != 2:
        raise DesignError(f"interaction column {column!r} must be numeric or have two levels; it has "
                          f"{len(levels)} ({', '.join(levels[:5])}).")
    notes.append(f"interaction {column!r}: {levels[1]!r} coded 1 against {levels[0]!r}.")
    return np.where(col.isna(), np.nan, (col.astype(str) == levels[1]).astype(float))


def _reverse_rows(frame: pd.DataFrame, x: pd.DataFrame, kinds: list[str], zv: np.ndarray,
                  groups: np.ndarray | None, group_ok: np.ndarray, inter: np.ndarray | None, repeated: str,
                  min_samples: int, notes: list[str], transforms: dict[str, str]) -> tuple[list[pd.DataFrame],
                                                                                             list[dict[str, object]]]:
    """``predictor_j ~ marker (* interaction) + covariates`` for every predictor column j, marker by marker;
    the null variance ratios are shared by markers with the same complete samples (no interaction)."""
    rows: list[pd.DataFrame] = []
    records: list[dict[str, object]] = []
    xv = x.to_numpy(dtype=float)
    cache: dict[bytes | None, np.ndarray] = {}
    for name in frame.columns:
        y, _, transforms[str(name)] = _values(frame, name, notes)
        m = y.to_numpy(dtype=float)
        ok = np.isfinite(m) & np.isfinite(zv).all(axis=1) & group_ok
        if inter is not None:
            ok &= np.isfinite(inter)
        if ok.sum() < min_samples or y[ok].nunique() < 2:
            notes.append(f"{name}: skipped ({int(ok.sum())} complete samples"
                         + (", constant" if y[ok].nunique() < 2 else "") + ").")
            continue
        z, pred = zv[ok], m[ok]
        if inter is not None:
            z, pred = np.c_[z, pred, inter[ok]], pred * inter[ok]
        g = None if groups is None else groups[ok]
        mode = "none" if g is None else repeated
        if g is not None and mode == "random" and np.bincount(pd.factorize(g)[0]).max() < 2:
            notes.append(f"{name}: every subject has one sample; subject fixed intercepts instead.")
            mode = "within"
        key = ok.tobytes() if inter is None else None
        fit = reverse_fit(xv[ok], pred, z, g, mode, ratio=cache.get(key) if mode == "random" else None)
        ratio = fit.pop("ratio")
        if mode == "random" and (key is None or key not in cache):
            cache[key] = ratio
            records.extend({"marker": str(name), "predictor": p, "model": "random intercept (REML)",
                            "subject_variance": np.nan, "residual_variance": np.nan, "icc": r / (1 + r),
                            "converged": True, "reason": ""}
                           for p, r in zip(x.columns.str.removeprefix("taxon:"), ratio, strict=True))
        rows.append(pd.DataFrame({"marker": str(name), "predictor": x.columns.str.removeprefix("taxon:"),
                                  "kind": kinds, "n": int(ok.sum()),
                                  "n_groups": int(len(np.unique(g))) if g is not None else int(ok.sum()),
                                  **fit}))
    return rows, records
