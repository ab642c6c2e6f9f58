"""Generalised Lotka–Volterra (gLV, absolute abundance) and compositional LV (cLV, Joseph et al. 2020, relative
abundance) with perturbation terms, fitted by penalised regression on log-differences (ridge / elastic net), optionally with
a stability constraint (:mod:`gutlink.dynamics.estimate`).

gLV: ``d log x_i / dt = r_i + Σ_j A_ij x_j + Σ_p B_ip u_p(t)`` with ``x`` the absolute abundance (relative ×
biomass, divided by the median biomass so that the coefficients are of order one).

cLV: ``d log(π_i / π_ref) / dt = g_i + Σ_{j≠ref} A_ij π_j + Σ_p B_ip u_p(t)`` for every taxon but the reference.

Zeros: a pseudo-count (``pseudo``, default 1e-5) is added to every relative abundance, which is then re-closed,
before any logarithm is taken (gLV: before multiplying by the biomass).

The penalty (α and the L1 share ρ) is chosen by cross-validation over whole subjects (leave one subject out).
With ``select="forecast"`` (default) the score is the held-out subject's *forecast* error: the model fitted on
the other subjects is integrated from the held-out subject's first observation with its known perturbations and
scored by the RMSE of relative abundance over its later time points (a candidate whose forecasts blow up, or
are too stiff for ``CV_MAX_STEPS`` explicit steps, ranks below every one with fewer failures). ``select="one-step"`` scores the held-out one-step log-differences instead (in-sample-like;
it favours weak penalties that forecast badly). The growth rates are never penalised. Every fit works from
per-subject Gram matrices, so folds, penalty candidates and bootstrap replicates (subjects drawn with
replacement) are solved together as one batch, and the forecasts of all candidates of a fold are integrated
together (:mod:`gutlink.dynamics.batch`).

Examples
--------
>>> import numpy as np
>>> from gutlink.dynamics.simulate import simulate_glv
>>> r, A = np.array([1.0, 0.8]), np.array([[-1.0, -0.3], [-0.2, -1.0]])
>>> ts = simulate_glv(r, A, n_subjects=4, times=np.arange(0, 10, 0.5), rng=0)
>>> m = fit(ts, model="glv", alphas=[1e-4], stability="none")
>>> bool(np.allclose(m.interactions, A, atol=0.1))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ..errors import DesignError
from ..results import Result
from .batch import integrate_clv_batch, integrate_glv_batch
from .estimate import Stability, solve, solve_info
from .series import TimeSeries

__all__ = ["DynamicsModel", "choose_candidate", "fit", "design_matrices"]

DEFAULT_ALPHAS = tuple(np.logspace(-4, 2, 13))
DEFAULT_L1_RATIOS = (0.0, 0.5, 0.9)
#: In the forecast CV a candidate whose held-out forecast needs more explicit steps than this (stiff) counts as
#: a failed forecast rather than being re-run by the slow implicit solver.
CV_MAX_STEPS = 4000


@dataclass(frozen=True)
class DynamicsModel(Result):
    """A fitted gLV or cLV model (research tool, never medical advice).

    Attributes
    ----------
    model
        ``"glv"`` or ``"clv"``.
    taxa
        Modelled taxa (cLV: the reference taxon is ``reference`` and has no row).
    growth, interactions, effects
        ``r`` (n,), ``A`` (n × n in units of absolute abundance; cLV n × n over non-reference taxa), ``B``
        (n × n_perturbations).
    alpha, l1_ratio
        The penalty and its L1 share chosen by leave-one-subject-out CV.
    stability, stabilised
        The constraint (``none`` / ``diagonal`` / ``negdef``) and whether the eigenvalue shrinkage changed ``A``.
    selection
        ``"forecast"`` (held-out forecast RMSE) or ``"one-step"`` (held-out log-difference error).
    cv
        Table ``alpha, l1_ratio, cv_error, n_failed, n_unconverged`` (the chosen row: fewest failed forecasts,
        then every fold converged, then the smallest ``cv_error``; ``cv_error``: mean held-out forecast RMSE
        of relative abundance, or mean squared one-step error; ``n_failed``: held-out forecasts that blew up or
        failed; ``n_unconverged``: folds whose solver stopped at its iteration limit).
    converged
        Whether the final fit's solver met its stopping rule (False: it stopped at the iteration limit, so the
        coefficients approximate the penalised optimum; ill-conditioned designs with a weak L1 penalty).
    boot_growth, boot_interactions, boot_effects
        Bootstrap replicates over subjects (first axis), empty when ``n_boot=0``.
    """

    model: str
    taxa: tuple[str, ...]
    perturbations: tuple[str, ...]
    growth: np.ndarray
    interactions: np.ndarray
    effects: np.ndarray
    alpha: float
    scale: float
    pseudo: float
    reference: str | None = None
    cv: pd.DataFrame = field(default_factory=pd.DataFrame)
    boot_growth: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), metadata={"json": False})
    boot_interactions: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)), metadata={"json": False})
    boot_effects: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)), metadata={"json": False})
    n_subjects: int = 0
    n_intervals: int = 0
    l1_ratio: float = 0.0
    stability: str = "none"
    stabilised: bool = False
    selection: str = "one-step"
    converged: bool = True

    @property
    def state_taxa(self) -> tuple[str, ...]:
        """Taxa with a row in the parameters (all taxa for gLV, all but the reference for cLV)."""
        return tuple(t for t in self.taxa if t != self.reference)

    @property
    def table(self) -> pd.DataFrame:
        """One row per parameter: ``target, source, parameter, value, ci_low, ci_high`` (95% bootstrap)."""
        rows = self.state_taxa
        parts = [("growth", np.asarray(self.growth)[:, None], ["1"], self.boot_growth[..., None]
                  if self.boot_growth.size else None),
                 ("interaction", self.interactions, list(rows), self.boot_interactions
                  if self.boot_interactions.size else None),
                 ("perturbation", self.effects, list(self.perturbations), self.boot_effects
                  if self.boot_effects.size else None)]
        frames = []
        for kind, value, cols, boot in parts:
            if value.shape[1] == 0:
                continue
            lo, hi = ((np.full(value.shape, np.nan),) * 2 if boot is None
                      else np.quantile(boot, [0.025, 0.975], axis=0))
            frames.append(pd.DataFrame({
                "target": np.repeat(rows, len(cols)), "source": np.tile(cols, len(rows)), "parameter": kind,
                "value": value.ravel(), "ci_low": np.ravel(lo), "ci_high": np.ravel(hi)}))
        return pd.concat(frames, ignore_index=True)

    def to_json(self) -> dict[str, Any]:
        """Everything needed to rebuild the model (bootstrap replicates included), as plain JSON types."""
        out = self.to_dict()
        out.pop("cv", None)
        out["cv"] = self.cv.to_dict(orient="list")
        for name in ("growth", "interactions", "effects", "boot_growth", "boot_interactions", "boot_effects"):
            out[name] = np.asarray(getattr(self, name)).tolist()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DynamicsModel:
        """Rebuild a model written by :meth:`to_json`."""
        arrays = {k: np.asarray(data[k], dtype=float) for k in
                  ("growth", "interactions", "effects", "boot_growth", "boot_interactions", "boot_effects")}
        n, p = len(arrays["growth"]), len(data["perturbations"])
        arrays["effects"] = arrays["effects"].reshape(n, p)
        if arrays["boot_growth"].size == 0:
            arrays["boot_growth"], arrays["boot_interactions"] = np.zeros((0, 0)), np.zeros((0, 0, 0))
            arrays["boot_effects"] = np.zeros((0, 0, 0))
        else:
            arrays["boot_effects"] = arrays["boot_effects"].reshape(len(arrays["boot_growth"]), n, p)
        return cls(model=data["model"], taxa=tuple(data["taxa"]), perturbations=tuple(data["perturbations"]),
                   alpha=float(data["alpha"]), scale=float(data["scale"]), pseudo=float(data["pseudo"]),
                   reference=data.get("reference"), cv=pd.DataFrame(data.get("cv", {})),
                   n_subjects=int(data.get("n_subjects", 0)), n_intervals=int(data.get("n_intervals", 0)),
                   l1_ratio=float(data.get("l1_ratio", 0.0)), stability=str(data.get("stability", "none")),
                   stabilised=bool(data.get("stabilised", False)), selection=str(data.get("selection", "one-step")),
                   converged=bool(data.get("converged", True)), **arrays)


def _states(ts: TimeSeries, model: str, pseudo: float, reference: str | None) -> tuple[np.ndarray, np.ndarray,
                                                                                      float, str | None]:
    """(log-state, regressors) per sample: gLV log x and x/scale; cLV log(π/π_ref) and π without ref."""
    rel = ts.relative.to_numpy() + pseudo
    rel /= rel.sum(axis=1, keepdims=True)
    if model == "glv":
        absolute = rel * ts.absolute.sum(axis=1, keepdims=True)
        scale = float(np.median(absolute.sum(axis=1)))
        x = absolute / scale
        return np.log(absolute), x, scale, None
    ref = reference if reference is not None else ts.taxa[int(np.argmax(ts.relative.to_numpy().min(axis=0)))]
    if ref not in ts.taxa:
        raise DesignError(f"reference taxon {ref!r} is not in the series.")
    k = ts.taxa.index(ref)
    others = np.delete(np.arange(ts.n_taxa), k)
    return np.log(rel[:, others] / rel[:, [k]]), rel[:, others], 1.0, ref


def design_matrices(ts: TimeSeries, *, model: Literal["glv", "clv"] = "glv", pseudo: float = 1e-5,
                    reference: str | None = None) -> dict[str, Any]:
    """Regression design of consecutive sample pairs within each subject.

    Returns a dict with ``X`` (intervals × (1 + n + p): intercept, state regressors, perturbations), ``Y``
    (intervals × n log-difference rates), ``subject`` (per interval), ``scale`` and ``reference``.

    Examples
    --------
    >>> from gutlink.dynamics.simulate import simulate_glv
    >>> ts = simulate_glv(np.array([1.0]), np.array([[-1.0]]), n_subjects=2, times=np.arange(5), rng=0)
    >>> design_matrices(ts)["X"].shape
    (8, 2)
    """
    logs, reg, scale, ref = _states(ts, model, pseudo, reference)
    same = ts.subjects[1:] == ts.subjects[:-1]
    dt = np.diff(ts.times)[same]
    i = np.flatnonzero(same)
    u = ts.perturbation_matrix()
    # trapezoid rule: the state regressors are the mean of both ends of each interval (less bias than Euler)
    X = np.hstack([np.ones((len(i), 1)), 0.5 * (reg[i] + reg[i + 1]), u[i]])
    Y = (logs[i + 1] - logs[i]) / dt[:, None]
    return {"X": X, "Y": Y, "subject": ts.subjects[i], "scale": scale, "reference": ref}


def _grams(X: np.ndarray, Y: np.ndarray, groups: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    names, codes = np.unique(groups, return_inverse=True)
    onehot = np.eye(len(names))[codes]                           # intervals × subjects
    XtX = np.einsum("ns,ni,nj->sij", onehot, X, X)                 # per-subject Gram matrices
    XtY = np.einsum("ns,ni,nk->sik", onehot, X, Y)
    return list(names), XtX, XtY


def _candidates(alphas: Sequence[float] | None, l1_ratios: Sequence[float] | None) -> pd.DataFrame:
    a = list(DEFAULT_ALPHAS if alphas is None else alphas)
    r = list(DEFAULT_L1_RATIOS if l1_ratios is None else l1_ratios)
    if any(x <= 0 for x in a) or any(not 0 <= x <= 1 for x in r):
        raise DesignError("penalties must be > 0 and L1 ratios in [0, 1].")
    return pd.DataFrame([(x, y) for y in r for x in a], columns=["alpha", "l1_ratio"])



def choose_candidate(cv: pd.DataFrame) -> Any:
    """The index of the chosen penalty in a CV table: fewest failed forecasts, then a candidate whose every fold
    reached the optimum (an unconverged solve is not the estimator it names), then the smallest ``cv_error``.

    Examples
    --------
    >>> cv = pd.DataFrame({"n_failed": [0, 0], "n_unconverged": [2, 0], "cv_error": [0.1, 0.2]})
    >>> int(choose_candidate(cv))
    1
    """
    order = cv.assign(_short=cv["n_unconverged"] > 0)
    return order.sort_values(["n_failed", "_short", "cv_error"], kind="stable").index[0]


def fit(ts: TimeSeries, *, model: Literal["glv", "clv"] = "glv", alphas: Sequence[float] | None = None,
        l1_ratios: Sequence[float] | None = None, stability: Stability = "negdef",
        select: Literal["forecast", "one-step"] = "forecast", pseudo: float = 1e-5, reference: str | None = None,
        n_boot: int = 0, rng: int | np.random.Generator | None = None) -> DynamicsModel:
    """Fit gLV or cLV by penalised regression on log-differences, the penalty chosen over whole subjects.

    Parameters
    ----------
    ts
        The time series (gLV needs biomass).
    model
        ``"glv"`` (absolute abundance) or ``"clv"`` (relative abundance, Joseph et al. 2020).
    alphas
        Candidate penalties (default 13 values from 1e-4 to 1e2).
    l1_ratios
        Candidate L1 shares of the elastic net (default 0, 0.5, 0.9; 0 = ridge). With one (alpha, l1_ratio)
        candidate no CV is run.
    stability
        ``"negdef"`` (default: negative self-interactions and a negative definite symmetric part of ``A``, so
        gLV simulations stay bounded), ``"diagonal"`` (self-interactions only) or ``"none"``.
    select
        ``"forecast"`` (held-out subjects' forecast RMSE) or ``"one-step"`` (held-out log-difference error).
    pseudo
        Pseudo-count added to relative abundances before logarithms.
    reference
        cLV reference taxon (default: the taxon with the highest minimum relative abundance).
    n_boot
        Bootstrap replicates over subjects (drawn with replacement) at the chosen penalty.
    rng
        Seed or generator for the bootstrap.

    Returns
    -------
    DynamicsModel

    Examples
    --------
    >>> from gutlink.dynamics.simulate import simulate_glv
    >>> ts = simulate_glv(np.array([1.0, 0.5]), -np.eye(2), n_subjects=3, times=np.arange(8.0), rng=1)
    >>> fit(ts, model="clv", alphas=[1e-3], l1_ratios=[0.0]).model
    'clv'
    """
    if model not in ("glv", "clv"):
        raise DesignError(f"model must be 'glv' or 'clv', not {model!r}.")
    if stability not in ("none", "diagonal", "negdef") or select not in ("forecast", "one-step"):
        raise DesignError(f"stability must be none / diagonal / negdef and select forecast / one-step, not "
                          f"{stability!r} / {select!r}.")
    grid = _candidates(alphas, l1_ratios)
    d = design_matrices(ts, model=model, pseudo=pseudo, reference=reference)
    if ts.n_subjects < 2 and len(grid) > 1:
        raise DesignError("choosing the penalty by cross-validation over subjects needs ≥ 2 subjects; "
                          "give one alpha and one l1_ratio.")
    names, XtX, XtY = _grams(d["X"], d["Y"], d["subject"])
    n = d["Y"].shape[1]
    # batches of small matrices (candidates × taxa): one BLAS thread beats a contended pool by far
    with threadpool_limits(limits=1, user_api="blas"):
        if len(grid) == 1:
            cv = grid.assign(cv_error=np.nan, n_failed=0, n_unconverged=0)
        elif select == "forecast":
            cv = _forecast_cv(ts, d, names, XtX, XtY, grid, n, stability, model)
        else:
            cv = _one_step_cv(d, names, XtX, XtY, grid, n, stability)
        best = choose_candidate(cv) if len(grid) > 1 else 0
        alpha, rho = float(cv.loc[best, "alpha"]), float(cv.loc[best, "l1_ratio"])
        kw = {"n_state": n, "stability": stability}
        W0 = solve(XtX.sum(axis=0), XtY.sum(axis=0), alpha=alpha, l1_ratio=rho, stability="none" if stability ==
                   "none" else "diagonal", n_state=n)
        W, converged = solve_info(XtX.sum(axis=0), XtY.sum(axis=0), alpha=alpha, l1_ratio=rho,
                                  **kw)  # type: ignore[arg-type]
        boot = _bootstrap(XtX, XtY, alpha, rho, kw, n_boot, rng)
    sc = d["scale"]
    return DynamicsModel(model=model, taxa=tuple(ts.taxa), perturbations=tuple(str(c) for c in ts.perturbations.columns),
                         growth=W[0], interactions=W[1:1 + n].T / sc, effects=W[1 + n:].T, alpha=alpha,
                         scale=sc, pseudo=pseudo, reference=d["reference"], cv=cv,
                         boot_growth=boot[:, 0] if len(boot) else np.zeros((0, 0)),
                         boot_interactions=np.swapaxes(boot[:, 1:1 + n], 1, 2) / sc if len(boot) else np.zeros((0, 0, 0)),
                         boot_effects=np.swapaxes(boot[:, 1 + n:], 1, 2) if len(boot) else np.zeros((0, 0, 0)),
                         n_subjects=len(names), n_intervals=len(d["Y"]), l1_ratio=rho, stability=stability,
                         stabilised=bool(stability == "negdef" and not np.allclose(W0[1:1 + n], W[1:1 + n])),
                         selection=select if len(grid) > 1 else "none", converged=bool(converged))


def _all_data_start(total_xx: np.ndarray, total_xy: np.ndarray, grid: pd.DataFrame, n: int,
                    stability: Stability) -> np.ndarray | None:
    """Every candidate's elastic-net solution on all subjects (before the eigenvalue step): the warm start of
    each fold, whose Gram matrix differs from the total by one subject only."""
    if stability == "none" and not np.any(grid["l1_ratio"].to_numpy() > 0):
        return None                                               # ridge in closed form: nothing to iterate
    G = len(grid)
    return solve(np.broadcast_to(total_xx, (G, *total_xx.shape)), np.broadcast_to(total_xy, (G, *total_xy.shape)),
                 alpha=grid["alpha"].to_numpy(), l1_ratio=grid["l1_ratio"].to_numpy(), n_state=n,
                 stability="none" if stability == "none" else "diagonal")


def _one_step_cv(d: dict[str, Any], names: list[str], XtX: np.ndarray, XtY: np.ndarray, grid: pd.DataFrame,
                 n: int, stability: Stability) -> pd.DataFrame:
    total_xx, total_xy = XtX.sum(axis=0), XtY.sum(axis=0)
    errors = np.zeros(len(grid))
    G = len(grid)
    unconverged = np.zeros(G, dtype=int)
    start = _all_data_start(total_xx, total_xy, grid, n, stability)
    for s, name in enumerate(names):                              # loop over held-out subjects
        rows = d["subject"] == name
        W, ok = solve_info(np.broadcast_to(total_xx - XtX[s], (G, *total_xx.shape)),
                  np.broadcast_to(total_xy - XtY[s], (G, *total_xy.shape)), alpha=grid["alpha"].to_numpy(),
                  l1_ratio=grid["l1_ratio"].to_numpy(), n_state=n, stability=stability, start=start)
        unconverged += ~ok
        errors += np.sum((d["Y"][rows][None] - d["X"][rows][None] @ W) ** 2, axis=(1, 2))
    return grid.assign(cv_error=errors / d["Y"].size, n_failed=0, n_unconverged=unconverged)


def _forecast_cv(ts: TimeSeries, d: dict[str, Any], names: list[str], XtX: np.ndarray, XtY: np.ndarray,
                 grid: pd.DataFrame, n: int, stability: Stability, model: str) -> pd.DataFrame:
    """Mean held-out forecast RMSE (relative abundance) of every candidate; all candidates of a fold at once."""
    total_xx, total_xy = XtX.sum(axis=0), XtY.sum(axis=0)
    G = len(grid)
    sums, failed, unconverged = np.zeros(G), np.zeros(G, dtype=int), np.zeros(G, dtype=int)
    start = _all_data_start(total_xx, total_xy, grid, n, stability)
    for s, name in enumerate(names):                              # loop over held-out subjects
        W, ok = solve_info(np.broadcast_to(total_xx - XtX[s], (G, *total_xx.shape)),
                  np.broadcast_to(total_xy - XtY[s], (G, *total_xy.shape)), alpha=grid["alpha"].to_numpy(),
                  l1_ratio=grid["l1_ratio"].to_numpy(), n_state=n, stability=stability, start=start)
        unconverged += ~ok
        one = ts.subset_subjects([name])
        obs = one.relative.to_numpy()
        r, A, B = W[:, 0], np.swapaxes(W[:, 1:1 + n], 1, 2), np.swapaxes(W[:, 1 + n:], 1, 2)
        if model == "glv":
            path = integrate_glv_batch(r, A, B, one.absolute[0] / d["scale"], one.times, one.perturbation_matrix(),
                                       rtol=1e-5, atol=1e-6, max_steps=CV_MAX_STEPS, fallback=False)
        else:
            path = integrate_clv_batch(r, A, B, obs[0], one.times, one.perturbation_matrix(),
                                       ref_index=ts.taxa.index(d["reference"]), rtol=1e-5, atol=1e-6,
                                       max_steps=CV_MAX_STEPS, fallback=False)
        with np.errstate(invalid="ignore", divide="ignore"):
            pred = path.states / path.states.sum(axis=2, keepdims=True)
        rmse = np.sqrt(np.mean((pred[:, 1:] - obs[None, 1:]) ** 2, axis=(1, 2)))
        bad = ~path.ok | ~np.isfinite(rmse)
        failed += bad
        sums += np.where(bad, 0.0, rmse)
    scored = len(names) - failed
    err = np.where(scored > 0, sums / np.maximum(scored, 1), np.inf)
    return grid.assign(cv_error=err, n_failed=failed, n_unconverged=unconverged)


def _bootstrap(XtX: np.ndarray, XtY: np.ndarray, alpha: float, rho: float, kw: dict[str, Any], n_boot: int,
               rng: int | np.random.Generator | None) -> np.ndarray:
    if n_boot <= 0:
        return np.zeros((0,))
    gen = np.random.default_rng(rng)
    draws = gen.integers(0, len(XtX), size=(n_boot, len(XtX)))
    weights = np.stack([np.bincount(d, minlength=len(XtX)) for d in draws]).astype(float)
    xx = np.einsum("bs,sij->bij", weights, XtX)
    xy = np.einsum("bs,sik->bik", weights, XtY)
    return solve(xx, xy, alpha=alpha, l1_ratio=rho, **kw)
