"""Steady states, local stability, keystone analysis and colonisation resistance of a fitted gLV model (research tool, never medical
advice).

The steady state is the saturated one found by repeated elimination: solve ``r + B u + A x = 0`` over the present
taxa, drop those with a non-positive abundance, repeat. It is reported only when it is locally stable (every
eigenvalue of the Jacobian ``diag(x*) A`` has a negative real part) and no absent taxon can invade
(``r_i + (B u)_i + (A x*)_i < 0``); otherwise the result says why and gives no abundances.

Examples
--------
>>> import numpy as np
>>> from gutlink.dynamics.models import DynamicsModel
>>> m = DynamicsModel("glv", ("a", "b"), (), np.array([1.0, 1.0]), np.array([[-1.0, -0.5], [-0.5, -1.0]]),
...                   np.zeros((2, 0)), 0.0, 1.0, 1e-5)
>>> res = steady_state(m)
>>> res.stable, np.round(res.table["abundance"].to_numpy(), 3).tolist()
(True, [0.667, 0.667])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DesignError
from ..results import Result
from .batch import integrate_glv_batch
from .models import DynamicsModel

__all__ = ["SteadyStateResult", "KeystoneResult", "InvasionResult", "steady_state", "keystone", "invasion"]

CAVEAT = "Research tool, never medical advice."
#: Days a resident community is simulated when elimination finds no valid steady state (invasion analysis).
RESIDENT_DAYS = 2000.0
#: An invasion rate above this (per day) counts as establishing; |rate| below it is neutral.
ESTABLISH_RATE = 1e-6


@dataclass(frozen=True)
class SteadyStateResult(Result):
    """The steady state (``table``: taxon, abundance, present), its stability and why it may not exist."""

    table: pd.DataFrame
    stable: bool
    uninvadable: bool
    max_real_eigenvalue: float
    message: str
    caveat: str = CAVEAT


def _glv(model: DynamicsModel) -> None:
    if model.model != "glv":
        raise DesignError("steady states and keystone analysis need an absolute-abundance gLV model; a cLV model "
                          "describes relative abundance only (simulate it to long times instead).")


def _drive(model: DynamicsModel, perturbation: Mapping[str, float] | None) -> np.ndarray:
    u = np.zeros(len(model.perturbations))
    for name, value in (perturbation or {}).items():
        if name not in model.perturbations:
            raise DesignError(f"perturbation {name!r} is not in the model (it has {list(model.perturbations)}).")
        u[model.perturbations.index(name)] = value
    return model.growth + model.effects @ u


def _saturated(r: np.ndarray, A: np.ndarray, present: np.ndarray) -> np.ndarray:
    present = present.copy()
    x = np.zeros(len(r))
    for _ in range(len(r) + 1):                                    # at most one elimination per taxon
        idx = np.flatnonzero(present)
        x[:] = 0.0
        if len(idx) == 0:
            return x
        try:
            x[idx] = np.linalg.solve(A[np.ix_(idx, idx)], -r[idx])
        except np.linalg.LinAlgError:
            x[idx] = np.linalg.lstsq(A[np.ix_(idx, idx)], -r[idx], rcond=None)[0]
        bad = idx[x[idx] <= 0]
        if len(bad) == 0:
            return x
        present[bad[np.argmin(x[bad])]] = False                     # drop the most negative, then re-solve
    return x


def steady_state(model: DynamicsModel, *, perturbation: Mapping[str, float] | None = None,
                 absent: tuple[str, ...] = ()) -> SteadyStateResult:
    """Saturated steady state of a gLV model, with local stability and invadability.

    Parameters
    ----------
    model
        A fitted gLV model.
    perturbation
        Perturbations held on (name → level, usually 1).
    absent
        Taxa kept at zero (e.g. removed for a keystone analysis).

    Returns
    -------
    SteadyStateResult
        ``table`` abundances are NaN when the state is unstable or invadable.

    Examples
    --------
    >>> m = DynamicsModel("glv", ("a",), (), np.array([1.0]), np.array([[0.5]]), np.zeros((1, 0)), 0.0, 1.0, 1e-5)
    >>> steady_state(m).stable
    False
    """
    _glv(model)
    unknown = [t for t in absent if t not in model.taxa]
    if unknown:
        raise DesignError(f"taxa {unknown} are not in the model.")
    r, A = _drive(model, perturbation), np.asarray(model.interactions)
    present = ~np.isin(np.asarray(model.taxa), np.asarray(absent, dtype=str))
    x = _saturated(r, A, present)
    alive = x > 0
    J = x[alive][:, None] * A[np.ix_(alive, alive)]
    lam = float(np.max(np.linalg.eigvals(J).real)) if alive.any() else -np.inf
    invasion = r + A @ x
    can_invade = (~alive) & present & (invasion > 1e-9)
    closed = not can_invade.any()
    stable = bool(lam < 0) if alive.any() else closed  # the empty state is stable when nothing can grow from 0
    if not alive.any() and not closed:
        msg = ("no positive steady state, and taxa can grow from zero: the model may grow without bound "
               "(check the self-interactions); not reported")
    elif not alive.any():
        msg = "no taxon persists: extinction of every present taxon is the steady state"
    elif not stable:
        msg = f"the steady state is unstable (largest Jacobian eigenvalue real part {lam:.3g} ≥ 0): not reported"
    elif not closed:
        msg = (f"taxa {list(np.asarray(model.taxa)[can_invade])} could invade the candidate state: not a "
               "saturated steady state, not reported")
    else:
        msg = f"locally stable (largest eigenvalue real part {lam:.3g}); {int(alive.sum())} taxa persist"
    shown = x if (stable and closed) else np.full(len(x), np.nan)
    table = pd.DataFrame({"taxon": model.taxa, "abundance": shown, "present": alive})
    return SteadyStateResult(table, bool(stable), bool(closed), lam, msg)


@dataclass(frozen=True)
class KeystoneResult(Result):
    """Effect of removing each taxon on the steady state: ``table`` (taxon, bray_curtis, n_lost, total_change,
    stable_after)."""

    table: pd.DataFrame
    baseline_stable: bool
    caveat: str = CAVEAT


def keystone(model: DynamicsModel, *, perturbation: Mapping[str, float] | None = None) -> KeystoneResult:
    """Remove each taxon in turn and compare the new steady state with the full one.

    ``bray_curtis`` compares the remaining taxa (the removed one excluded from both), ``n_lost`` counts
    other taxa that go extinct, ``total_change`` is the relative change of the total abundance.

    Examples
    --------
    >>> m = DynamicsModel("glv", ("a", "b"), (), np.array([1.0, -0.1]), np.array([[-1.0, 0.0], [0.5, -1.0]]),
    ...                   np.zeros((2, 0)), 0.0, 1.0, 1e-5)
    >>> int(keystone(m).table.set_index("taxon").loc["a", "n_lost"])
    1
    """
    base = steady_state(model, perturbation=perturbation)
    if not base.stable or not base.uninvadable:
        raise DesignError(f"keystone analysis needs a stable baseline steady state; {base.message}.")
    x0 = base.table["abundance"].to_numpy()
    rows = []
    for k, taxon in enumerate(model.taxa):                         # one steady state per removed taxon
        res = steady_state(model, perturbation=perturbation, absent=(taxon,))
        x1 = res.table["abundance"].to_numpy()
        keep = np.arange(len(x0)) != k
        a, b = x0[keep], x1[keep]
        bc = float(np.abs(a - b).sum() / (a.sum() + b.sum())) if np.all(np.isfinite(b)) else np.nan
        lost = int(((a > 0) & (b <= 0)).sum()) if np.all(np.isfinite(b)) else -1
        total = float(b.sum() / a.sum() - 1) if np.all(np.isfinite(b)) else np.nan
        rows.append({"taxon": taxon, "bray_curtis": bc, "n_lost": lost, "total_change": total,
                     "stable_after": res.stable and res.uninvadable})
    table = pd.DataFrame(rows).sort_values("bray_curtis", ascending=False, na_position="last")
    return KeystoneResult(table.reset_index(drop=True), True)


@dataclass(frozen=True)
class InvasionResult(Result):
    """Colonisation resistance: can each invader grow from rare in the resident community it is absent from?

    ``table``: invader, invasion_rate (per day, point fit: ``r_i + (B u)_i + Σ_j A_ij x*_j`` at the resident
    steady state without it), ci_low / ci_high (95% over bootstrap replicates), fraction_invades (replicates with a
    positive rate among those with a stable resident state), n_replicates, establishes (point fit: rate above ESTABLISH_RATE),
    resistance (= −invasion_rate: how strongly the community keeps the invader out).
    """

    table: pd.DataFrame
    perturbation: tuple[str, ...] = ()
    caveat: str = CAVEAT


def _resident(r: np.ndarray, A: np.ndarray, present: np.ndarray) -> np.ndarray | None:
    """The saturated resident state over *present*, or None when it is unstable or invadable by a resident."""
    x = _saturated(r, A, present)
    alive = x > 0
    if alive.any() and np.max(np.linalg.eigvals(x[alive][:, None] * A[np.ix_(alive, alive)]).real) >= 0:
        return None
    if np.any(present & ~alive & (r + A @ x > 1e-9)):
        return None
    return x


def _simulated_residents(model: DynamicsModel, sets: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                         u: np.ndarray, invaders: tuple[str, ...], rates: np.ndarray) -> None:
    """Where elimination finds no valid resident state, run the resident community (invader absent) from an even
    start for RESIDENT_DAYS (all such cases as one batch) and use its end state when it has settled (every
    present taxon's per-capita rate below 1e-4 per day); the rest stay NaN."""
    todo = np.argwhere(np.isnan(rates))
    if len(todo) == 0:
        return
    n, sc = len(model.taxa), model.scale
    r = np.stack([sets[b][0] + sets[b][2] @ u for b, _ in todo])
    A = np.stack([sets[b][1] for b, _ in todo]) * sc
    x0 = np.full((len(todo), n), 1.0 / n)
    r_sim = r.copy()
    for k, (_, j) in enumerate(todo):                               # the invader is absent and kept absent
        x0[k, model.taxa.index(invaders[j])] = 0.0
        r_sim[k, model.taxa.index(invaders[j])] = -10.0
    path = integrate_glv_batch(r_sim, A, np.zeros((len(todo), n, 0)), x0, np.array([0.0, RESIDENT_DAYS]))
    for k, (b, j) in enumerate(todo):                               # read out each settled resident state
        if not path.ok[k]:
            continue
        x = path.states[k, -1]
        rate = r[k] + A[k] @ x
        alive = x > 1e-8
        i = model.taxa.index(invaders[j])
        alive[i] = False
        if np.all(np.abs(rate[alive]) < 1e-4):
            rates[b, j] = rate[i]


def invasion(model: DynamicsModel, invaders: tuple[str, ...] | None = None, *,
             perturbation: Mapping[str, float] | None = None) -> InvasionResult:
    """Invasion growth rate of each *invader* (default every taxon) into the community of the others.

    An invader whose rate is positive establishes from a small dose (a probiotic that engrafts); a negative rate
    is colonisation resistance. Computed for the point fit and every bootstrap replicate. The resident state is
    the saturated steady state without the invader; where that is unstable or invadable by a resident, the
    resident community is simulated from an even start instead and its end state used if it has settled
    (otherwise the rate is NaN: no steady resident community to invade).

    Parameters
    ----------
    model
        A fitted gLV model.
    invaders
        Taxa to test (default all).
    perturbation
        Perturbations held on (name → level), e.g. an antibiotic that lowers resistance.

    Returns
    -------
    InvasionResult

    Examples
    --------
    >>> m = DynamicsModel("glv", ("a", "b"), (), np.array([1.0, 0.3]), np.array([[-1.0, 0.0], [-0.5, -1.0]]),
    ...                   np.zeros((2, 0)), 0.0, 1.0, 1e-5)
    >>> res = invasion(m, ("b",))
    >>> round(float(res.table["invasion_rate"].iloc[0]), 3), bool(res.table["establishes"].iloc[0])
    (-0.2, False)
    """
    _glv(model)
    invaders = tuple(model.taxa) if invaders is None else tuple(invaders)
    unknown = [t for t in invaders if t not in model.taxa]
    if unknown:
        raise DesignError(f"invaders {unknown} are not in the model (it has {list(model.taxa[:5])}, …).")
    u = np.zeros(len(model.perturbations))
    for name, value in (perturbation or {}).items():
        _drive(model, {name: value})                                # checks the name
        u[model.perturbations.index(name)] = value
    sets = [(model.growth, np.asarray(model.interactions), np.asarray(model.effects))]
    sets += list(zip(model.boot_growth, model.boot_interactions, model.boot_effects)) if model.boot_growth.size else []
    rates = np.full((len(sets), len(invaders)), np.nan)
    for b, (g, A, B) in enumerate(sets):                           # point fit, then each bootstrap replicate
        r = g + B @ u
        for j, taxon in enumerate(invaders):
            i = model.taxa.index(taxon)
            present = np.arange(len(r)) != i
            x = _resident(r, A, present)
            if x is not None:
                rates[b, j] = r[i] + A[i] @ x
    _simulated_residents(model, sets, u, invaders, rates)
    point, boot = rates[0], rates[1:]
    scored = np.isfinite(boot).sum(axis=0)
    with np.errstate(invalid="ignore"):
        lo, hi = (np.nanquantile(boot, [0.025, 0.975], axis=0) if len(boot) and scored.all()
                  else (np.full(len(invaders), np.nan),) * 2)
        frac = np.where(scored > 0, (boot > ESTABLISH_RATE).sum(axis=0) / np.maximum(scored, 1), np.nan)
    table = pd.DataFrame({"invader": invaders, "invasion_rate": point, "ci_low": lo, "ci_high": hi,
                          "fraction_invades": frac, "n_replicates": scored, "establishes": point > ESTABLISH_RATE,
                          "resistance": -point})
    return InvasionResult(table, tuple(k for k, v in (perturbation or {}).items() if v))
