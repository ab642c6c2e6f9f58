"""Integration of gLV / cLV models with piecewise-constant perturbations, with blow-up and stiffness checks.

Examples
--------
>>> import numpy as np
>>> path = integrate_glv(np.array([1.0]), np.array([[-1.0]]), np.zeros((1, 0)), np.array([0.1]),
...                      np.array([0.0, 20.0]))
>>> round(float(path.states[-1, 0]), 3)
1.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

from ..errors import DesignError
from .series import TimeSeries, from_frames

__all__ = ["Path", "integrate_glv", "integrate_clv", "simulate_glv"]

#: A log-abundance above this (× the model's scale) is called a blow-up.
BLOWUP_LOG = np.log(1e8)


@dataclass(frozen=True)
class Path:
    """An integrated trajectory: ``states`` (times × taxa; gLV absolute / scale, cLV relative) and its status."""

    times: np.ndarray
    states: np.ndarray
    status: str  # "ok", "blow-up", "solver-failed"
    message: str = ""


def _run(rhs, y0: np.ndarray, times: np.ndarray, u: np.ndarray, method: str) -> tuple[np.ndarray, str, str]:
    """Integrate log-states segment by segment (perturbations constant between observation times)."""
    out = np.full((len(times), len(y0)), np.nan)
    out[0] = y0
    y = y0

    def blowup(t, y, *args):
        return BLOWUP_LOG - np.max(y)
    blowup.terminal = True  # type: ignore[attr-defined]

    for k in range(len(times) - 1):                              # loop over time steps of the solver
        sol = solve_ivp(rhs, (times[k], times[k + 1]), y, args=(u[k],), method=method, events=blowup,
                        rtol=1e-6, atol=1e-9)
        if sol.status == 1:
            return out, "blow-up", (f"the trajectory diverged (an abundance above 1e8 × scale) at t = "
                                    f"{sol.t[-1]:.3g}: the fitted model is unstable for this start")
        if sol.status != 0 or not np.all(np.isfinite(sol.y[:, -1])):
            return out, "solver-failed", (f"the ODE solver ({method}) failed at t = {sol.t[-1]:.3g}: "
                                          f"{sol.message} (the system is probably stiff or unstable)")
        y = sol.y[:, -1]
        out[k + 1] = y
    return out, "ok", ""


def _check(times: np.ndarray, u: np.ndarray | None, n_pert: int) -> np.ndarray:
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or len(times) < 2 or np.any(np.diff(times) <= 0):
        raise DesignError("times must be at least two strictly increasing values.")
    u = np.zeros((len(times), n_pert)) if u is None else np.asarray(u, dtype=float).reshape(len(times), n_pert)
    return u


def integrate_glv(growth: np.ndarray, interactions: np.ndarray, effects: np.ndarray, x0: np.ndarray,
                  times: np.ndarray, u: np.ndarray | None = None, *, floor: float = 1e-12,
                  method: str = "LSODA") -> Path:
    """Integrate ``d log x/dt = r + A x + B u`` from *x0* (perturbation row ``u[k]`` holds on [t_k, t_k+1)).

    LSODA switches to a stiff method by itself; a failure or a divergence is reported in ``status``.
    """
    u = _check(times, u, effects.shape[1])

    def rhs(t, y, uk):
        return growth + interactions @ np.exp(y) + effects @ uk

    logs, status, msg = _run(rhs, np.log(np.maximum(np.asarray(x0, float), floor)), times, u, method)
    return Path(np.asarray(times, float), np.exp(logs), status, msg)


def integrate_clv(growth: np.ndarray, interactions: np.ndarray, effects: np.ndarray, p0: np.ndarray,
                  times: np.ndarray, u: np.ndarray | None = None, *, ref_index: int, floor: float = 1e-12,
                  method: str = "LSODA") -> Path:
    """Integrate cLV log-ratios against the reference taxon *ref_index*; states are relative abundances."""
    u = _check(times, u, effects.shape[1])
    p0 = np.maximum(np.asarray(p0, float), floor)
    p0 = p0 / p0.sum()
    others = np.delete(np.arange(len(p0)), ref_index)

    def closure(z):
        full = np.insert(z, ref_index, 0.0, axis=-1)
        e = np.exp(full - full.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def rhs(t, z, uk):
        return growth + interactions @ closure(z)[others] + effects @ uk

    z, status, msg = _run(rhs, np.log(p0[others] / p0[ref_index]), times, u, method)
    return Path(np.asarray(times, float), closure(z), status, msg)


def simulate_glv(growth: np.ndarray, interactions: np.ndarray, *, n_subjects: int, times: np.ndarray,
                 effects: np.ndarray | None = None, windows: list[tuple[float, float]] | None = None,
                 noise: float = 0.0, rng: int | np.random.Generator | None = None) -> TimeSeries:
    """Simulate a gLV cohort with known parameters (random starts; optional multiplicative log-normal noise).

    *windows* gives, per perturbation, the ``(start, end)`` interval in which it is on (same for all subjects).
    Biomass is the simulated total, so gLV refits see the true absolute abundances.

    Examples
    --------
    >>> ts = simulate_glv(np.array([1.0, 0.5]), -np.eye(2), n_subjects=2, times=np.arange(4.0), rng=0)
    >>> ts.n_subjects, len(ts.times)
    (2, 8)
    """
    gen = np.random.default_rng(rng)
    n = len(growth)
    effects = np.zeros((n, 0)) if effects is None else np.asarray(effects, float)
    windows = windows or []
    times = np.asarray(times, float)
    u = np.stack([(times >= a) & (times < b) for a, b in windows], axis=1).astype(float) if windows else None
    rows, subjects, tt = [], [], []
    for s in range(n_subjects):                                   # loop over simulated subjects
        x0 = gen.uniform(0.05, 0.5, n)
        path = integrate_glv(growth, interactions, effects, x0, times, u)
        if path.status != "ok":
            raise DesignError(f"simulation of subject {s} failed: {path.message}")
        rows.append(path.states * np.exp(noise * gen.standard_normal(path.states.shape)))
        subjects += [f"subject{s}"] * len(times)
        tt.append(times)
    x = np.vstack(rows)
    names = [f"taxon{i}" for i in range(n)]
    frame = pd.DataFrame(x, columns=names, index=[f"s{i}" for i in range(len(x))])
    pert = None if u is None else pd.DataFrame(np.tile(u, (n_subjects, 1)), index=frame.index,
                                               columns=[f"perturbation{i}" for i in range(len(windows))])
    return from_frames(frame, subjects=subjects, times=np.concatenate(tt).tolist(), biomass=x.sum(axis=1),
                       perturbations=pert)
