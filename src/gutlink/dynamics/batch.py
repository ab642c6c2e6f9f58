"""Vectorised integration of many gLV / cLV parameter sets at once (bootstrap replicates, penalty candidates).

One explicit Dormand–Prince 5(4) integrator runs every member of the batch together, each with its own
adaptive step (numpy arrays over the batch, no Python loop over members). A member whose log-state passes
``log(1e8)`` is stopped and flagged ``"blow-up"``; a member that needs more than *max_steps* steps (stiff) or
gives non-finite values is re-run alone by LSODA (:mod:`gutlink.dynamics.simulate`), which switches to a stiff
method by itself, and flagged ``"solver-failed"`` only when that fails too.

States are integrated in log space (gLV: log absolute / scale; cLV: log-ratios to the reference taxon).

Examples
--------
>>> import numpy as np
>>> r = np.array([[1.0], [2.0]])                      # two replicates of a one-taxon model
>>> A = np.array([[[-1.0]], [[-1.0]]])
>>> p = integrate_glv_batch(r, A, np.zeros((2, 1, 0)), np.array([0.1]), np.array([0.0, 30.0]))
>>> np.round(p.states[:, -1, 0], 3).tolist(), p.status.tolist()
([1.0, 2.0], ['ok', 'ok'])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import DesignError
from .simulate import BLOWUP_LOG, integrate_clv, integrate_glv

__all__ = ["BatchPath", "integrate_glv_batch", "integrate_clv_batch"]

_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_A = [np.array([]), np.array([1 / 5]), np.array([3 / 40, 9 / 40]), np.array([44 / 45, -56 / 15, 32 / 9]),
      np.array([19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729]),
      np.array([9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656]),
      np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])]
_B5 = np.array([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0])
_B4 = np.array([5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40])
_E = _B5 - _B4


@dataclass(frozen=True)
class BatchPath:
    """Trajectories of a batch: ``states`` (members × times × taxa; gLV absolute / scale, cLV relative),
    ``status`` per member (``ok``, ``blow-up``, ``solver-failed``) and how many members fell back to LSODA."""

    times: np.ndarray
    states: np.ndarray
    status: np.ndarray
    n_fallback: int = 0

    @property
    def ok(self) -> np.ndarray:
        """Members whose integration completed."""
        return self.status == "ok"


Rhs = Callable[[np.ndarray, np.ndarray], np.ndarray]
Kick = Callable[[np.ndarray, int, np.ndarray], np.ndarray]


def _step(rhs: Rhs, y: np.ndarray, h: np.ndarray, drive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Dormand–Prince step of every member: (5th-order state, error estimate)."""
    k = np.empty((7, *y.shape))
    hh = h[:, None]
    for i in range(7):                                             # the seven stages of the tableau
        yi = y if i == 0 else y + hh * (k[:i].T @ _A[i]).T
        k[i] = rhs(yi, drive)
    kt = k.T
    return y + hh * (kt @ _B5).T, hh * (kt @ _E).T


def _integrate(rhs: Rhs, y0: np.ndarray, times: np.ndarray, drives: np.ndarray, kick: Kick | None, *,
               rtol: float, atol: float, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-states (K × T × n) and per-member codes (0 ok, 1 blow-up, 2 needs the LSODA fallback)."""
    K, n = y0.shape
    out = np.full((K, len(times), n), np.nan)
    everyone = np.ones(K, dtype=bool)
    y = kick(y0.copy(), 0, everyone) if kick is not None else y0.copy()
    out[:, 0] = y
    code = np.zeros(K, dtype=int)
    h = np.full(K, min(0.05, float(times[1] - times[0])))
    steps = np.zeros(K, dtype=int)
    for k in range(len(times) - 1):                                # segments between output times
        t = np.full(K, float(times[k]))
        end = float(times[k + 1])
        going = (code == 0) & (t < end)
        while going.any():                                         # steps; every member advances at once
            hh = np.where(going, np.minimum(h, end - t), 0.0)
            y_new, err = _step(rhs, y, hh, drives[k])
            scale = atol + rtol * np.maximum(np.abs(y), np.abs(y_new))
            e = np.sqrt(np.mean((err / scale) ** 2, axis=1))
            bad = going & ~np.isfinite(e)
            accept = going & np.isfinite(e) & (e <= 1.0)
            y[accept] = y_new[accept]
            t[accept] = np.where(end - t[accept] <= hh[accept] * (1 + 1e-12), end, t[accept] + hh[accept])
            fac = np.where(np.isfinite(e), 0.9 * np.maximum(e, 1e-10) ** -0.2, 0.1)
            h = np.where(going, hh * np.clip(fac, 0.1, 5.0), h)
            h = np.where(going & (h <= 0), 1e-6, h)
            steps += going
            code[going & (y.max(axis=1) > BLOWUP_LOG)] = 1
            code[bad | (going & (steps > max_steps))] = np.maximum(code[bad | (going & (steps > max_steps))], 2)
            going = (code == 0) & (t < end)
        alive = code == 0
        if kick is not None:
            y[alive] = kick(y[alive], k + 1, alive)
        out[alive, k + 1] = y[alive]
    return out, code


def _as_batch(growth: np.ndarray, interactions: np.ndarray, effects: np.ndarray, start: np.ndarray,
              times: np.ndarray, u: np.ndarray | None) -> tuple[np.ndarray, ...]:
    growth = np.atleast_2d(np.asarray(growth, float))
    K, n = growth.shape
    interactions = np.asarray(interactions, float).reshape(K, n, n)
    effects = np.asarray(effects, float).reshape(K, n, -1)
    times = np.asarray(times, float)
    if times.ndim != 1 or len(times) < 2 or np.any(np.diff(times) <= 0):
        raise DesignError("times must be at least two strictly increasing values.")
    p = effects.shape[2]
    u = np.zeros((len(times), p)) if u is None else np.asarray(u, float)
    u = u.reshape(len(times), p) if u.ndim < 3 else u
    start = np.broadcast_to(np.asarray(start, float), (K, n)).copy()
    # per segment and member: growth + effects @ u (u may be shared, times × p, or per member, K × times × p)
    drive = (np.einsum("knp,tp->tkn", effects, u) if u.ndim == 2 else np.einsum("knp,ktp->tkn", effects, u))
    return growth, interactions, effects, start, times, u, growth[None] + drive


def integrate_glv_batch(growth: np.ndarray, interactions: np.ndarray, effects: np.ndarray, x0: np.ndarray,
                        times: np.ndarray, u: np.ndarray | None = None, *, doses: np.ndarray | None = None,
                        floor: float = 1e-12, rtol: float = 1e-6, atol: float = 1e-8,
                        max_steps: int = 20000, fallback: bool = True) -> BatchPath:
    """Integrate ``d log x/dt = r + A x + B u`` for K parameter sets at once.

    Parameters
    ----------
    growth, interactions, effects
        K × n, K × n × n and K × n × p (one row per member; a single set may be given without the K axis).
    x0
        Start (n,) shared by every member, or K × n.
    times
        Output times (strictly increasing); perturbation row ``u[k]`` holds on ``[t_k, t_k+1)``.
    u
        Times × p shared, or K × times × p per member.
    doses
        Times × n (or K × times × n) amounts added to the abundances at each output time before integrating
        on (probiotic dosing).
    floor
        Abundances below it start at it (log of zero).
    rtol, atol, max_steps
        Error control of the log-states; a member past *max_steps* steps is re-run alone by LSODA.
    fallback
        False: a member past *max_steps* is flagged ``"solver-failed"`` (stiff) instead of re-run.

    Returns
    -------
    BatchPath
    """
    r, A, B, x0, times, u, drive = _as_batch(growth, interactions, effects, x0, times, u)

    def rhs(y: np.ndarray, d: np.ndarray) -> np.ndarray:
        return d + np.einsum("kij,kj->ki", A, np.exp(y))

    kick = None
    if doses is not None:
        dz = np.broadcast_to(np.asarray(doses, float), (len(r), len(times), r.shape[1]))

        def kick(y: np.ndarray, k: int, members: np.ndarray) -> np.ndarray:
            return np.log(np.exp(y) + dz[members, k]) if np.any(dz[members, k]) else y

    with np.errstate(over="ignore", invalid="ignore"):             # overflow in a rejected trial step
        logs, code = _integrate(rhs, np.log(np.maximum(x0, floor)), times, drive, kick, rtol=rtol, atol=atol,
                                max_steps=max_steps)
    with np.errstate(over="ignore"):
        states = np.exp(logs)
    status = np.where(code == 1, "blow-up", "ok").astype(object)
    for k in np.flatnonzero(code == 2):                            # rare: stiff or non-finite members only
        uk = u if u.ndim == 2 else u[k]
        if doses is not None or not fallback:
            status[k], states[k] = "solver-failed", np.nan
            continue
        path = integrate_glv(r[k], A[k], B[k], x0[k], times, uk, floor=floor)
        status[k], states[k] = path.status, path.states
    return BatchPath(times, states, status.astype(str), int((code == 2).sum()))


def integrate_clv_batch(growth: np.ndarray, interactions: np.ndarray, effects: np.ndarray, p0: np.ndarray,
                        times: np.ndarray, u: np.ndarray | None = None, *, ref_index: int,
                        doses: np.ndarray | None = None, floor: float = 1e-12, rtol: float = 1e-6, atol: float = 1e-8,
                        max_steps: int = 20000, fallback: bool = True) -> BatchPath:
    """Integrate cLV log-ratios for K parameter sets at once; states are relative abundances (all taxa).

    Shapes as in :func:`integrate_glv_batch`, over the n - 1 non-reference taxa for the parameters and all n
    taxa for *p0* and *doses* (here fractions of the community: ``p ← (p + d) / (1 + Σ d)``).

    Examples
    --------
    >>> p = integrate_clv_batch(np.full((3, 1), 0.5), -np.ones((3, 1, 1)), np.zeros((3, 1, 0)),
    ...                         np.array([.8, .2]), np.array([0.0, 50.0]), ref_index=0)
    >>> np.round(p.states[0, -1], 3).tolist()
    [0.5, 0.5]
    """
    p0 = np.maximum(np.asarray(p0, float), floor)
    p0 = p0 / p0.sum(axis=-1, keepdims=True)
    others = np.delete(np.arange(p0.shape[-1]), ref_index)
    z0 = np.log(p0[..., others] / p0[..., [ref_index]])
    g, A, B, z0, times, u, drive = _as_batch(growth, interactions, effects, z0, times, u)

    def closure(z: np.ndarray) -> np.ndarray:
        full = np.insert(z, ref_index, 0.0, axis=-1)
        e = np.exp(full - full.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def rhs(z: np.ndarray, d: np.ndarray) -> np.ndarray:
        top = np.maximum(z.max(axis=1, keepdims=True), 0.0)      # the reference's log-ratio is 0
        e = np.exp(z - top)
        pi = e / (e.sum(axis=1, keepdims=True) + np.exp(-top))
        return d + np.einsum("kij,kj->ki", A, pi)

    kick = None
    if doses is not None:
        dz = np.broadcast_to(np.asarray(doses, float), (len(g), len(times), p0.shape[-1]))

        def kick(z: np.ndarray, k: int, members: np.ndarray) -> np.ndarray:
            if not np.any(dz[members, k]):
                return z
            p = closure(z) + dz[members, k]
            return np.log(p[:, others] / p[:, [ref_index]])

    with np.errstate(over="ignore", invalid="ignore"):
        logs, code = _integrate(rhs, z0, times, drive, kick, rtol=rtol, atol=atol, max_steps=max_steps)
    states = closure(logs)
    status = np.where(code == 1, "blow-up", "ok").astype(object)
    for k in np.flatnonzero(code == 2):
        uk = u if u.ndim == 2 else u[k]
        if doses is not None or not fallback:
            status[k], states[k] = "solver-failed", np.nan
            continue
        path = integrate_clv(g[k], A[k], B[k], closure(z0[k]), times, uk, ref_index=ref_index, floor=floor)
        status[k], states[k] = path.status, path.states
    return BatchPath(times, states, status.astype(str), int((code == 2).sum()))
