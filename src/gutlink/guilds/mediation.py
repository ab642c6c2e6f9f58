"""Does an exposure's association with an outcome run through a mediator (disease → guild → marker, or
guild → marker → disease)?

Product of coefficients for linear models: ``mediator ~ exposure + covariates`` gives the *a* path,
``outcome ~ exposure + mediator + covariates`` the *b* path and the direct effect *c′*; the indirect effect is
``a·b`` and the total effect ``c = a·b + c′`` (exact for least squares). The confidence intervals are percentile
bootstrap intervals; with a *subject* column whole subjects are resampled, so a person's repeated samples are
never counted as independent. Every bootstrap refit is a weighted least-squares solve of all draws at once.

What the numbers can mean rests on assumptions no data set checks (listed in ``assumptions``): no unmeasured
confounding of exposure–mediator, exposure–outcome and mediator–outcome; no exposure × mediator interaction;
the mediator measured before the outcome responds. In a cross-sectional cohort the same numbers fit the reverse
order (marker → guild) as well: an indirect effect is consistent with mediation, not proof of it.

Examples
--------
>>> from gutlink.datasets import franzosa2019
>>> from gutlink.design import case_control
>>> c = case_control(franzosa2019(), group="Diagnosis", case="CD", control="Control")
>>> res = mediation(c, exposure="group_label", mediator="barrier_balance", outcome="Fecal.Calprotectin",
...                 n_boot=200, rng=0)
>>> res.table["effect"].tolist()
['indirect', 'direct', 'total', 'a_path', 'b_path']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..design import require_column
from ..errors import DesignError
from ..results import Result
from .knowledge import GUILDS
from .markers import _adjustment
from .scores import BALANCE, guild_scores
from .values import _values

__all__ = ["ASSUMPTIONS", "MediationResult", "mediation"]

#: What the indirect effect's interpretation needs; none of it is checked by the data.
ASSUMPTIONS = (
    "no unmeasured confounding of exposure and mediator, exposure and outcome, or mediator and outcome "
    "(beyond the covariates given)",
    "no exposure × mediator interaction (the b path is the same at every exposure level)",
    "linear models on the scales used (guild log-ratios, taxon CLR, transformed markers; a 0/1 outcome is a "
    "linear probability model)",
    "temporal order: exposure before mediator before outcome — cross-sectional samples cannot show it, and the "
    "reverse order fits the same numbers",
)
_EPS = 1e-6


@dataclass(frozen=True)
class MediationResult(Result):
    """``table``: one row per effect (``indirect`` = a·b, ``direct`` = c′, ``total`` = c, ``a_path``,
    ``b_path``) with ``estimate, ci_low, ci_high`` (percentile bootstrap), ``p_value`` (bootstrap, two-sided;
    ``(1 + 2·k)/(B + 1)`` with *k* the draws on the far side of zero, so never 0), ``n``, ``n_groups``.
    ``proportion_mediated`` is a·b / c (NaN when c's interval holds 0: a share of nothing is not a share)."""

    table: pd.DataFrame
    exposure: str
    mediator: str
    outcome: str
    covariates: tuple[str, ...]
    resampled: str
    n_boot: int
    proportion_mediated: float
    assumptions: tuple[str, ...] = ASSUMPTIONS
    notes: tuple[str, ...] = field(default=())


def _variable(cohort: Cohort, name: str, role: str, notes: list[str]) -> pd.Series:
    """A role's values: a guild (log-ratio against the rest), the barrier balance, ``taxon:NAME`` (CLR), or a
    metadata column (numeric, a marker with '<LOD' values, or two levels coded 0/1)."""
    if name in GUILDS or name == BALANCE:
        load = guild_scores(cohort).wide("load").reindex(cohort.sample_ids)[name]
        return load if name == BALANCE else np.log((load + _EPS) / (1 - load + _EPS))
    if name.startswith("taxon:"):
        feature = name.removeprefix("taxon:")
        clr = cohort.clr()
        if feature not in clr.columns:
            raise DesignError(f"{role} {name!r}: no feature {feature!r} in the abundance table.")
        return clr[feature]
    require_column(cohort.metadata, name, role)
    col = cohort.metadata[name]
    categorical = isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col)
    levels = (list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype)
              else sorted(col.dropna().astype(str).unique()))
    if categorical and len(levels) == 2:
        notes.append(f"{role} {name!r}: {levels[1]!r} coded 1 against {levels[0]!r}.")
        return pd.Series(np.where(col.isna(), np.nan, (col.astype(str) == str(levels[1])).astype(float)),
                         index=col.index)
    if categorical and pd.to_numeric(col.dropna().astype(str), errors="coerce").isna().mean() > 0.5:
        raise DesignError(f"{role} {name!r} has {len(levels)} levels ({', '.join(map(str, levels[:5]))}); "
                          "mediation needs a numeric column or two levels (keep two groups with case_control).")
    values, _, how = _values(cohort.metadata, name, notes)  # a marker: parsed, censored or log-transformed
    if how != "identity":
        notes.append(f"{role} {name!r}: {how}.")
    return values


def _wls(d: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least squares of *y* on *d* for every row of weights *w* (B × n) at once; NaN rows where the
    weighted design is singular."""
    a = np.einsum("bn,ni,nj->bij", w, d, d, optimize=True)
    rhs = np.einsum("bn,ni,n->bi", w, d, y, optimize=True)
    cond = np.linalg.cond(a)
    ok = np.isfinite(cond) & (cond < 1e12)
    out = np.full(rhs.shape, np.nan)
    if ok.any():
        out[ok] = np.linalg.solve(a[ok], rhs[ok][..., None])[..., 0]
    return out


def _paths(x: np.ndarray, m: np.ndarray, y: np.ndarray, z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(a, b, c′, c) for every weight row."""
    a = _wls(np.c_[x, z], m, w)[:, 0]
    out = _wls(np.c_[x, m, z], y, w)
    total = _wls(np.c_[x, z], y, w)[:, 0]
    return np.c_[a, out[:, 1], out[:, 0], total]


def _weights(groups: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap weights per sample: how often its group (subject, or the sample itself) was drawn."""
    codes = pd.factorize(pd.Series(groups))[0]
    m = int(codes.max()) + 1
    draws = rng.multinomial(m, np.full(m, 1.0 / m), size=n_boot).astype(float)  # whole groups, with replacement
    return draws[:, codes]


def mediation(cohort: Cohort, *, exposure: str, mediator: str, outcome: str, covariates: Sequence[str] = (),
              subject: str | None = None, n_boot: int = 2000,
              rng: int | np.random.Generator | None = None) -> MediationResult:
    """Indirect effect of *exposure* on *outcome* through *mediator* (product of coefficients, bootstrap CI).

    Parameters
    ----------
    cohort
        Abundances and metadata (a :func:`gutlink.design.case_control` cohort gives ``group_label``).
    exposure, mediator, outcome
        Each a guild name (its log-ratio against the rest of the community), ``barrier_balance``,
        ``taxon:NAME`` (CLR), or a metadata column: numeric, a marker (censored / skewed values handled as in
        :func:`marker_association`) or two levels (coded 0/1, said in ``notes``).
    covariates
        Metadata columns adjusted for in every model.
    subject
        Repeated samples per subject: the bootstrap resamples whole subjects.
    n_boot
        Bootstrap draws (at least 200).
    rng
        Seed or generator of the bootstrap.

    Returns
    -------
    MediationResult
        The effects with percentile intervals, the proportion mediated, the assumptions and notes.
    """
    if n_boot < 200:
        raise DesignError(f"n_boot must be at least 200 for a percentile interval; got {n_boot}.")
    if len({exposure, mediator, outcome}) < 3:
        raise DesignError("exposure, mediator and outcome must be three different variables.")
    notes: list[str] = []
    for col in (*covariates, *([subject] if subject else [])):
        require_column(cohort.metadata, col, "covariate" if col in covariates else "subject")
    x, m, y = (_variable(cohort, v, role, notes).to_numpy(dtype=float)
               for v, role in ((exposure, "exposure"), (mediator, "mediator"), (outcome, "outcome")))
    z = _adjustment(cohort.metadata, covariates, None).to_numpy(dtype=float)
    groups = (cohort.metadata[subject].astype(str).to_numpy() if subject else np.asarray(cohort.sample_ids))
    ok = np.isfinite(x) & np.isfinite(m) & np.isfinite(y) & np.isfinite(z).all(axis=1)
    if subject:
        ok &= cohort.metadata[subject].notna().to_numpy()
    x, m, y, z, groups = x[ok], m[ok], y[ok], z[ok], groups[ok]
    n_groups = len(np.unique(groups))
    if n_groups < 10 or min(np.unique(v).size for v in (x, m, y)) < 2:
        raise DesignError(f"mediation needs at least 10 {'subjects' if subject else 'samples'} with exposure, "
                          f"mediator and outcome measured and varying; found {n_groups} ({int(ok.sum())} samples).")
    point = _paths(x, m, y, z, np.ones((1, len(x))))[0]
    boot = _paths(x, m, y, z, _weights(groups, n_boot, np.random.default_rng(rng)))
    good = np.isfinite(boot).all(axis=1)
    if (~good).mean() > 0.05:
        notes.append(f"{int((~good).sum())} of {n_boot} bootstrap draws had a singular design and were left out.")
    boot = boot[good]
    table = _table(point, boot, int(ok.sum()), n_groups)
    total = table.set_index("effect").loc["total"]
    prop = (float(point[0] * point[1] / point[3])
            if np.isfinite(total["ci_low"]) and (total["ci_low"] > 0 or total["ci_high"] < 0) else np.nan)
    return MediationResult(table=table, exposure=exposure, mediator=mediator, outcome=outcome,
                           covariates=tuple(covariates),
                           resampled=f"whole subjects ({subject!r})" if subject else "samples", n_boot=n_boot,
                           proportion_mediated=prop, notes=tuple(notes))


def _table(point: np.ndarray, boot: np.ndarray, n: int, n_groups: int) -> pd.DataFrame:
    a, b, direct, total = point
    est = np.array([a * b, direct, total, a, b])
    draws = np.c_[boot[:, 0] * boot[:, 1], boot[:, 2], boot[:, 3], boot[:, 0], boot[:, 1]]
    lo, hi = np.percentile(draws, [2.5, 97.5], axis=0)
    below, above = (draws <= 0).sum(axis=0), (draws >= 0).sum(axis=0)
    p = np.minimum(1.0, (1 + 2 * np.minimum(below, above)) / (len(draws) + 1))  # never 0 from a finite bootstrap
    return pd.DataFrame({"effect": ["indirect", "direct", "total", "a_path", "b_path"], "estimate": est,
                         "ci_low": lo, "ci_high": hi, "p_value": p, "n": n, "n_groups": n_groups})
