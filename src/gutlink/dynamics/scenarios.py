"""What-if scenarios on a fitted gLV or cLV model: probiotic dosing, a fitted antibiotic / diet perturbation,
prebiotic growth boosts (of named taxa or of a guild's members) — composable, each run over the bootstrap
replicates at once (vectorised) for uncertainty bands.

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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DesignError
from ..results import Result
from .batch import BatchPath, integrate_clv_batch, integrate_glv_batch
from .models import DynamicsModel

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
    ``readouts`` (per probiotic taxon: engrafted fraction; time to recovery after the last intervention);
    ``replicates`` / ``baseline_replicates`` hold every completed replicate (replicates × times × taxa)."""

    table: pd.DataFrame
    readouts: pd.DataFrame
    n_models: int
    failed: int
    model: str = "glv"
    taxa: tuple[str, ...] = ()
    replicates: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)), metadata={"json": False})
    baseline_replicates: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)), metadata={"json": False})
    caveat: str = CAVEAT

    def final(self, *, relative: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Final states of every completed replicate (replicates × taxa), with and without the interventions."""
        a, b = self.replicates[:, -1], self.baseline_replicates[:, -1]
        if relative:
            a, b = a / a.sum(axis=1, keepdims=True), b / b.sum(axis=1, keepdims=True)
        return a, b


def _replicates(model: DynamicsModel, n_boot: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stacked parameters (K × n, K × n × n, K × n × p): the bootstrap replicates, or the point fit."""
    if model.boot_growth.size and n_boot != 0:
        k = len(model.boot_growth) if n_boot is None else min(n_boot, len(model.boot_growth))
        return model.boot_growth[:k], model.boot_interactions[:k], model.boot_effects[:k]
    return model.growth[None], np.asarray(model.interactions)[None], np.asarray(model.effects)[None]


def _schedule(model: DynamicsModel, interventions: Sequence[Intervention], times: np.ndarray,
              growth: np.ndarray, effects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extended effects (K × n × (p + q)) and drive (times × (p + q)): fitted perturbations, then one column per
    prebiotic (gLV: the growth rate times factor − 1; cLV: |relative growth| times factor − 1)."""
    cols, u = [effects], [np.zeros((len(times), len(model.perturbations)))]
    rows = np.asarray(model.state_taxa)
    for iv in interventions:
        on = ((times >= iv.window[0]) & (times < iv.window[1])).astype(float)
        if iv.kind == "perturbation":
            j = model.perturbations.index(iv.name)
            u[0][:, j] = np.maximum(u[0][:, j], on * iv.level)
        elif iv.kind == "prebiotic":
            mask = np.isin(rows, iv.taxa)
            base = growth if model.model == "glv" else np.abs(growth)
            cols.append((base * (iv.level - 1.0) * mask)[:, :, None])
            u.append(on[:, None])
    return np.concatenate(cols, axis=2), np.hstack(u)


def _check(model: DynamicsModel, interventions: Sequence[Intervention]) -> None:
    for iv in interventions:
        missing = [t for t in iv.taxa if t not in model.taxa]
        if missing:
            raise DesignError(f"{iv.kind} names taxa {missing} that are not in the model (e.g. model taxa "
                              f"{list(model.taxa[:5])}).")
        if iv.kind == "perturbation" and iv.name not in model.perturbations:
            raise DesignError(f"perturbation {iv.name!r} was not fitted (the model has "
                              f"{list(model.perturbations)}).")
        if iv.kind == "probiotic" and model.model == "clv" and iv.level >= 1:
            raise DesignError(f"a cLV model works on relative abundance: a probiotic dose is a fraction of the "
                              f"community (< 1), not {iv.level:g}.")
        if iv.kind == "prebiotic" and model.model == "clv" and iv.taxa == (model.reference,):
            raise DesignError(f"{model.reference!r} is the cLV reference taxon: its growth is not identified; "
                              "boost other taxa.")


def _grid(times: np.ndarray, interventions: Sequence[Intervention], n: int,
          taxa: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integration grid (output times plus dosing times), which grid rows are outputs, and doses per row."""
    doses = [(max(t, times[0]), taxa.index(iv.taxa[0]), iv.level) for iv in interventions
             if iv.kind == "probiotic" for t in iv.times if t <= times[-1]]
    grid = np.unique(np.r_[times, [t for t, _, _ in doses]])
    d = np.zeros((len(grid), n))
    for t, k, amount in doses:
        d[np.searchsorted(grid, t), k] += amount
    return grid, np.isin(grid, times), d


def _integrate(model: DynamicsModel, r: np.ndarray, A: np.ndarray, B: np.ndarray, start: np.ndarray,
               grid: np.ndarray, u: np.ndarray, doses: np.ndarray) -> BatchPath:
    if model.model == "glv":  # integrated in the fit's scaled units (blow-up is judged there), returned absolute
        sc = model.scale
        p = integrate_glv_batch(r, A * sc, B, np.asarray(start, float) / sc, grid, u, doses=doses / sc)
        return BatchPath(p.times, p.states * sc, p.status, p.n_fallback)
    return integrate_clv_batch(r, A, B, start, grid, u, doses=doses, ref_index=model.taxa.index(model.reference))


def simulate(model: DynamicsModel, start: np.ndarray, *, times: np.ndarray,
             interventions: Sequence[Intervention] = (), n_boot: int | None = None,
             recovery_threshold: float = 0.1, engraft_ratio: float = 10.0) -> ScenarioResult:
    """Simulate *interventions* from *start* over *times*, for every bootstrap replicate of *model* at once.

    All replicates, with and without the interventions, are integrated together as one batch
    (:mod:`gutlink.dynamics.batch`), not one solver call per replicate.

    Parameters
    ----------
    model
        A fitted gLV or cLV model (bands come from its bootstrap replicates; none → the point fit only).
    start
        Abundances at ``times[0]`` (the model's taxa order): absolute for gLV, relative for cLV.
    times
        Output grid (strictly increasing).
    interventions
        From :func:`probiotic`, :func:`antibiotic`, :func:`prebiotic`; combined and sequenced freely (cLV:
        probiotic doses are fractions of the community).
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
    if times.ndim != 1 or len(times) < 2 or np.any(np.diff(times) <= 0):
        raise DesignError("times must be at least two strictly increasing values.")
    if len(start) != len(model.taxa):
        raise DesignError(f"start has {len(start)} values but the model has {len(model.taxa)} taxa.")
    r, A, B = _replicates(model, n_boot)
    K = len(r)
    grid, out, doses = _grid(times, interventions, len(model.taxa), model.taxa)
    effects, u = _schedule(model, interventions, grid, r, B)
    # one batch: the K replicates with the interventions, then the same K without (drive and doses zero)
    u2 = np.concatenate([np.broadcast_to(u, (K, *u.shape)), np.zeros((K, *u.shape))])
    d2 = np.concatenate([np.broadcast_to(doses, (K, *doses.shape)), np.zeros((K, *doses.shape))])
    path = _integrate(model, np.r_[r, r], np.r_[A, A], np.r_[effects, effects], start, grid, u2, d2)
    ok = path.ok[:K] & path.ok[K:]
    if not ok.any():
        raise DesignError(f"every one of the {K} model replicates blew up or failed to integrate this "
                          "scenario: the fitted model is unstable here; nothing to report.")
    R, Bs = path.states[:K][ok][:, out], path.states[K:][ok][:, out]
    lo, med, hi = np.quantile(R, [0.025, 0.5, 0.975], axis=0)
    n, k = len(times), len(model.taxa)
    table = pd.DataFrame({"time": np.repeat(times, k), "taxon": np.tile(model.taxa, n), "median": med.ravel(),
                          "low": lo.ravel(), "high": hi.ravel(), "baseline": np.median(Bs, axis=0).ravel()})
    return ScenarioResult(table, _readouts(model, R, Bs, times, interventions, recovery_threshold, engraft_ratio),
                          int(ok.sum()), int(K - ok.sum()), model=model.model, taxa=model.taxa,
                          replicates=R, baseline_replicates=Bs)


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
