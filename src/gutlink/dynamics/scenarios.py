"""What-if scenarios on a fitted gLV model: probiotic dosing, a fitted antibiotic / diet perturbation, prebiotic
growth boosts — composable, each run over the bootstrap replicates for uncertainty bands.

Research tool, never medical advice: a scenario is what the fitted model implies, not a prediction of what a
person's microbiome will do.

Examples
--------
>>> import numpy as np
>>> from gutlink.dynamics.models import DynamicsModel
>>> m = DynamicsModel("glv", ("a", "b"), (), np.array([1.0, 0.8]), np.array([[-1.0, -0.2], [-0.3, -1.0]]),
...                   np.zeros((2, 0)), 0.0, 1.0, 1e-5)
>>> res = simulate(m, np.array([0.7, 1e-9]), times=np.arange(0, 20.0, 0.5),
...                interventions=[probiotic("b", dose=0.05, times=[2.0])])
>>> float(res.readouts.set_index("readout").loc["engraftment", "engrafted_fraction"])
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DesignError
from ..results import Result
from .models import DynamicsModel
from .simulate import integrate_glv

__all__ = ["Intervention", "ScenarioResult", "probiotic", "antibiotic", "prebiotic", "simulate"]

CAVEAT = "Research tool, never medical advice."


@dataclass(frozen=True)
class Intervention:
    """One intervention: ``kind`` (probiotic / perturbation / prebiotic), taxa, level and timing."""

    kind: str
    taxa: tuple[str, ...]
    level: float
    times: tuple[float, ...] = ()
    window: tuple[float, float] = (0.0, 0.0)
    name: str = ""


def probiotic(taxon: str, *, dose: float, times: Sequence[float]) -> Intervention:
    """Add *dose* (absolute abundance, the model's units) of *taxon* at each of *times* (repeated dosing).

    Examples
    --------
    >>> probiotic("Bifidobacterium", dose=1e8, times=[1, 2, 3]).times
    (1.0, 2.0, 3.0)
    """
    if dose <= 0 or len(times) == 0:
        raise DesignError("a probiotic needs a positive dose and at least one dosing time.")
    return Intervention("probiotic", (taxon,), float(dose), tuple(float(t) for t in times))


def antibiotic(perturbation: str, *, start: float, end: float, level: float = 1.0) -> Intervention:
    """Switch on a fitted perturbation (antibiotic, diet) over ``[start, end)`` at *level* (1 = as fitted).

    Examples
    --------
    >>> antibiotic("Vancomycin", start=5, end=10).window
    (5.0, 10.0)
    """
    if not end > start:
        raise DesignError(f"antibiotic window end {end} must be after start {start}.")
    return Intervention("perturbation", (), float(level), (), (float(start), float(end)), perturbation)


def prebiotic(taxa: Sequence[str], *, factor: float, start: float, end: float) -> Intervention:
    """Multiply the growth rates of *taxa* by *factor* over ``[start, end)`` (e.g. fibre degraders).

    Examples
    --------
    >>> prebiotic(["Roseburia"], factor=1.5, start=0, end=7).level
    1.5
    """
    if factor <= 0 or not end > start or len(taxa) == 0:
        raise DesignError("a prebiotic needs taxa, a positive factor and a window with end after start.")
    return Intervention("prebiotic", tuple(taxa), float(factor), (), (float(start), float(end)))


@dataclass(frozen=True)
class ScenarioResult(Result):
    """Scenario trajectories with bootstrap bands (``table``: time, taxon, median, low, high, baseline) and
    ``readouts`` (per probiotic taxon: engrafted fraction; time to recovery after the last intervention)."""

    table: pd.DataFrame
    readouts: pd.DataFrame
    n_models: int
    failed: int
    caveat: str = CAVEAT


def _replicates(model: DynamicsModel, n_boot: int | None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    reps = [(model.growth, model.interactions, model.effects)]
    if model.boot_growth.size and n_boot != 0:
        k = len(model.boot_growth) if n_boot is None else min(n_boot, len(model.boot_growth))
        reps = [(model.boot_growth[i], model.boot_interactions[i], model.boot_effects[i]) for i in range(k)]
    return reps


def _schedule(model: DynamicsModel, interventions: Sequence[Intervention], times: np.ndarray,
              growth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extended effects matrix and per-time drive: fitted perturbations, then one column per prebiotic."""
    cols, u = [model.effects], [np.zeros((len(times), len(model.perturbations)))]
    for iv in interventions:
        on = ((times >= iv.window[0]) & (times < iv.window[1])).astype(float)
        if iv.kind == "perturbation":
            u[0][:, model.perturbations.index(iv.name)] = np.maximum(u[0][:, model.perturbations.index(iv.name)],
                                                                    on * iv.level)
        elif iv.kind == "prebiotic":
            mask = np.isin(np.asarray(model.taxa), iv.taxa)
            cols.append((growth * (iv.level - 1.0) * mask)[:, None])
            u.append(on[:, None])
    return np.hstack(cols), np.hstack(u)


def _check(model: DynamicsModel, interventions: Sequence[Intervention]) -> None:
    if model.model != "glv":
        raise DesignError("scenarios run on an absolute-abundance gLV model (doses are absolute); fit model='glv' "
                          "with biomass.")
    for iv in interventions:
        missing = [t for t in iv.taxa if t not in model.taxa]
        if missing:
            raise DesignError(f"{iv.kind} names taxa {missing} that are not in the model (e.g. model taxa "
                              f"{list(model.taxa[:5])}).")
        if iv.kind == "perturbation" and iv.name not in model.perturbations:
            raise DesignError(f"perturbation {iv.name!r} was not fitted (the model has "
                              f"{list(model.perturbations)}).")


def _run_one(model: DynamicsModel, params: tuple[np.ndarray, np.ndarray, np.ndarray], start: np.ndarray,
             times: np.ndarray, interventions: Sequence[Intervention]) -> tuple[np.ndarray, bool]:
    growth, A, _ = params
    effects, u = _schedule(model, interventions, times, growth)
    doses = [(t, model.taxa.index(iv.taxa[0]), iv.level) for iv in interventions if iv.kind == "probiotic"
             for t in iv.times]
    cuts = sorted({float(t) for t, _, _ in doses if times[0] < t < times[-1]})
    out = np.full((len(times), len(start)), np.nan)
    out[0] = start
    x = np.asarray(start, float).copy()
    for t, k, d in doses:
        if t <= times[0]:
            x[k] += d
    edges = [float(times[0]), *cuts, float(times[-1])]
    for a, b in zip(edges[:-1], edges[1:]):                         # one segment per dosing time
        inside = (times > a) & (times <= b)
        grid = np.unique(np.r_[a, times[inside], b])
        drive = u[(np.searchsorted(times, grid, side="right") - 1).clip(0, len(times) - 1)]
        path = integrate_glv(growth, A, effects, x, grid, drive)
        if path.status != "ok":
            return out, False
        out[inside] = path.states[np.isin(grid, times[inside])]
        x = path.states[-1].copy()
        for t, k, d in doses:
            if t == b:
                x[k] += d
    return out, True


def simulate(model: DynamicsModel, start: np.ndarray, *, times: np.ndarray,
             interventions: Sequence[Intervention] = (), n_boot: int | None = None,
             recovery_threshold: float = 0.1, engraft_ratio: float = 10.0) -> ScenarioResult:
    """Simulate *interventions* from *start* over *times*, for every bootstrap replicate of *model*.

    Parameters
    ----------
    model
        A fitted gLV model (bands come from its bootstrap replicates; none → the point fit only).
    start
        Absolute abundances at ``times[0]`` (the model's taxa order).
    times
        Output grid (strictly increasing).
    interventions
        From :func:`probiotic`, :func:`antibiotic`, :func:`prebiotic`; combined and sequenced freely.
    n_boot
        Use at most this many bootstrap replicates (default all; 0 = point fit only).
    recovery_threshold
        Bray–Curtis distance to the no-intervention trajectory under which the community counts as recovered.
    engraft_ratio
        A probiotic taxon engrafts when its final abundance exceeds this many times its no-intervention final.

    Returns
    -------
    ScenarioResult

    Examples
    --------
    >>> m = DynamicsModel("glv", ("a",), (), np.array([1.0]), np.array([[-1.0]]), np.zeros((1, 0)), 0.0, 1.0, 1e-5)
    >>> simulate(m, np.array([0.5]), times=np.arange(5.0)).n_models
    1
    """
    _check(model, interventions)
    times = np.asarray(times, float)
    if len(start) != len(model.taxa):
        raise DesignError(f"start has {len(start)} values but the model has {len(model.taxa)} taxa.")
    runs, bases, failed = [], [], 0
    for params in _replicates(model, n_boot):                        # loop over bootstrap replicates
        traj, ok = _run_one(model, params, start, times, interventions)
        base, ok_b = _run_one(model, params, start, times, ())
        if ok and ok_b:
            runs.append(traj)
            bases.append(base)
        else:
            failed += 1
    if not runs:
        raise DesignError(f"every one of the {failed} model replicates blew up or failed to integrate this "
                          "scenario: the fitted model is unstable here; nothing to report.")
    R, Bs = np.stack(runs), np.stack(bases)
    lo, med, hi = np.quantile(R, [0.025, 0.5, 0.975], axis=0)
    n, k = len(times), len(model.taxa)
    table = pd.DataFrame({"time": np.repeat(times, k), "taxon": np.tile(model.taxa, n), "median": med.ravel(),
                          "low": lo.ravel(), "high": hi.ravel(), "baseline": np.median(Bs, axis=0).ravel()})
    return ScenarioResult(table, _readouts(model, R, Bs, times, interventions, recovery_threshold, engraft_ratio),
                          len(runs), failed)


def _readouts(model: DynamicsModel, R: np.ndarray, Bs: np.ndarray, times: np.ndarray,
              interventions: Sequence[Intervention], threshold: float, ratio: float) -> pd.DataFrame:
    bc = np.abs(R - Bs).sum(axis=2) / (R.sum(axis=2) + Bs.sum(axis=2))       # replicates × times
    ends = [max(iv.times) if iv.kind == "probiotic" else iv.window[1] for iv in interventions]
    last = max(ends) if ends else times[0]
    after = times >= last
    recovered = (bc < threshold) & after
    first = np.where(recovered.any(axis=1), times[np.argmax(recovered, axis=1)] - last, np.nan)
    rows = [{"readout": "time_to_recovery", "taxon": "", "median": float(np.nanmedian(first))
             if np.isfinite(first).any() else np.nan,
             "recovered_fraction": float(np.isfinite(first).mean()), "engrafted_fraction": np.nan}]
    for iv in interventions:
        if iv.kind == "probiotic":
            j = model.taxa.index(iv.taxa[0])
            engrafted = R[:, -1, j] > ratio * np.maximum(Bs[:, -1, j], 1e-300)
            rows.append({"readout": "engraftment", "taxon": iv.taxa[0], "median": float(np.median(R[:, -1, j])),
                         "recovered_fraction": np.nan, "engrafted_fraction": float(engrafted.mean())})
    out = pd.DataFrame(rows)
    return out.sort_values("readout", ascending=False, kind="stable").reset_index(drop=True)
