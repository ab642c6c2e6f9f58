"""Penalised, stability-constrained least squares for the log-difference regressions of gLV / cLV.

The regression of every taxon shares one design, so the problem for a batch of (fold, penalty) pairs is

    minimise  ½‖Y − X W‖² + α (1 − ρ)/2 ‖W_pen‖² + α ρ ‖W_pen‖₁

over ``W`` (regressors × taxa; the intercept row, the growth rates, is never penalised), solved from the Gram
matrices ``XᵀX``, ``XᵀY`` only, by FISTA (accelerated proximal gradient) vectorised over the batch, with
adaptive restart per taxon and, at 20, 40, 80, … iterations, an exact solve of the linear optimality system on
the current sign pattern. It stops when every taxon's KKT residual is ≤ ``TOL`` (1e-8 relative to
``1 + max |XᵀY|``); members still above it after ``MAX_ITER`` are flagged unconverged by :func:`solve_info`.

Stability (``stability``):

- ``"none"``: nothing beyond the penalty (ridge in closed form when ρ = 0).
- ``"diagonal"``: every self-interaction ``A_ii ≤ −margin`` (a box constraint inside the proximal step: bounded
  least squares), so no taxon grows without its own limit.
- ``"negdef"``: the diagonal constraint and then, when the symmetric part of ``A`` still has an eigenvalue above
  ``−margin``, those eigenvalues are shrunk to ``−margin`` (the Frobenius-nearest matrix whose symmetric part is
  negative definite, the skew part kept) and the growth rates and perturbation effects are refitted with ``A``
  held. For gLV this bounds every trajectory: ``d/dt Σ x_i = xᵀ(r + Bu) + xᵀAx ≤ xᵀ(r + Bu) − margin‖x‖²``,
  so a simulation cannot blow up.

Examples
--------
>>> import numpy as np
>>> X = np.c_[np.ones(50), np.linspace(0.1, 2, 50)]
>>> Y = (1.0 - 0.5 * X[:, 1])[:, None]
>>> W = solve(X.T @ X, X.T @ Y, alpha=1e-6, l1_ratio=0.5, n_state=1, stability="negdef")
>>> np.round(W.ravel(), 3).tolist()
[1.0, -0.5]
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = ["Stability", "solve", "solve_info", "stabilise"]

Stability = Literal["none", "diagonal", "negdef"]

#: Self-interactions are held at or below −MARGIN (units of the scaled state, median total abundance 1).
MARGIN = 1e-3
#: FISTA iteration cap and KKT tolerance (see :func:`solve_info`).
MAX_ITER = 3000
TOL = 1e-8


def _prox(W: np.ndarray, step: np.ndarray, alpha: np.ndarray, l1_ratio: np.ndarray, n_state: int,
          diagonal: bool, margin: float) -> np.ndarray:
    """Soft-threshold the penalised rows, then hold the self-interactions at ≤ −margin."""
    thr = step * (alpha * l1_ratio)[:, None, None]               # per member and coordinate (row)
    thr[:, 0] = 0.0                                              # the growth rates are not penalised
    out = np.sign(W) * np.maximum(np.abs(W) - thr, 0.0) if np.any(thr) else W.copy()
    if diagonal:
        i = np.arange(n_state)
        # on w ≤ −margin < 0 the L1 term is −w: its prox is a shift by +thr, then the bound
        out[:, 1 + i, i] = np.minimum(W[:, 1 + i, i] + thr[:, 1 + i, 0], -margin)
    return out


def _kkt(H: np.ndarray, XtY: np.ndarray, W: np.ndarray, step: np.ndarray, alpha: np.ndarray,
         l1_ratio: np.ndarray, n_state: int, diagonal: bool, margin: float) -> np.ndarray:
    """Optimality residual per member and taxon (B × n): the largest entry of the proximal-gradient mapping
    ``(W − prox(W − D⁻¹∇))·D`` (units of the gradient, zero exactly at the optimum: it is the distance of −∇ from
    the subdifferential of the penalty plus the normal cone of the bound), relative to ``1 + max |XᵀY|``."""
    G = H @ W - XtY
    P = _prox(W - step * G, step, alpha, l1_ratio, n_state, diagonal, margin)
    return np.max(np.abs(W - P) / step, axis=1) / (1.0 + np.max(np.abs(XtY), axis=1))


def _polish(H: np.ndarray, XtY: np.ndarray, W: np.ndarray, which: np.ndarray, alpha: np.ndarray,
            l1_ratio: np.ndarray, n_state: int, diagonal: bool, margin: float, chunk: int = 256) -> np.ndarray:
    """Exact solution on the sign pattern of *W* for the (member, taxon) pairs in *which* (B × n mask).

    With the zeros, the signs and the self-interactions held at the bound taken from *W*, the optimality
    conditions are linear: ``H_SS w_S = (XᵀY − λ·sign − H w_fixed)_S`` on the free set S. The result is the
    optimum whenever the pattern is right, which :func:`_kkt` then confirms (the caller keeps it only then)."""
    out = W.copy()
    bi, ki = np.nonzero(which)
    if len(bi) == 0:
        return out
    m = W.shape[1]
    lam = alpha * l1_ratio
    eye = np.eye(m)
    for c in range(0, len(bi), chunk):
        b, k = bi[c:c + chunk], ki[c:c + chunk]
        w = W[b, :, k]                                            # pairs × m
        free = w != 0
        free[:, 0] = True                                         # the growth rate is never zero by the penalty
        sgn = np.sign(w)
        sgn[:, 0] = 0.0
        if diagonal:
            d = 1 + k                                             # the taxon's own self-interaction row
            at = w[np.arange(len(k)), d] >= -margin * (1 + 1e-12)  # held at the bound (the prox sets −margin)
            free[np.arange(len(k)), d] = ~at
        fixed = np.where(free, 0.0, w)
        Hb = H[b]
        rhs = XtY[b, :, k] - lam[b, None] * sgn - np.einsum("pij,pj->pi", Hb, fixed)
        M = np.where(free[:, :, None] & free[:, None, :], Hb, 0.0) + eye * (~free)[:, None, :]
        M = M + 1e-12 * np.trace(Hb, axis1=1, axis2=2)[:, None, None] / m * eye
        x = np.linalg.solve(M, np.where(free, rhs, 0.0)[:, :, None])[:, :, 0]
        out[b, :, k] = np.where(free, x, fixed)
    return out


def _fista(XtX: np.ndarray, XtY: np.ndarray, alpha: np.ndarray, l1_ratio: np.ndarray, n_state: int,
           diagonal: bool, margin: float, max_iter: int, tol: float,
           start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """FISTA with adaptive (gradient) restart per taxon, a Jacobi-scaled step, and support polishing: every few
    iterations the linear optimality system on the current sign pattern is solved exactly and kept for the taxa
    whose KKT residual it brings under *tol*. Converged members leave the batch."""
    ridge = alpha * (1.0 - l1_ratio)
    pen = np.ones(XtX.shape[-1])
    pen[0] = 0.0
    H = XtX + ridge[:, None, None] * np.diag(pen)[None]
    # Jacobi-scaled metric D = λmax(S⁻¹HS⁻¹) S² with S² = diag(H): D − H is positive semi-definite, so one step
    # per coordinate of 1 / D_jj converges, and far faster than a single 1 / λmax(H) when columns differ in scale
    d = np.sqrt(np.maximum(np.diagonal(H, axis1=1, axis2=2), 1e-12))
    lam = np.linalg.eigvalsh(H / d[:, :, None] / d[:, None, :])[:, -1]
    step = (1.0 / (lam[:, None] * d ** 2))[:, :, None]
    W = np.linalg.solve(H + 1e-9 * np.eye(H.shape[-1])[None], XtY) if start is None else np.array(start, float)
    W = _prox(W, np.zeros_like(step), alpha, l1_ratio, n_state, diagonal, margin)
    n = W.shape[-1]
    # the (unconstrained ridge) start, or the warm start, may already be optimal: check, polish, check
    res = _kkt(H, XtY, W, step, alpha, l1_ratio, n_state, diagonal, margin)
    if np.any(res > tol):
        P = _polish(H, XtY, W, res > tol, alpha, l1_ratio, n_state, diagonal, margin)
        res_p = _kkt(H, XtY, P, step, alpha, l1_ratio, n_state, diagonal, margin)
        better = res_p < res
        W = np.where(better[:, None, :], P, W)
        res = np.minimum(res, res_p)
    act = np.flatnonzero(np.any(res > tol, axis=1))
    Wa, Za, t = W[act].copy(), W[act].copy(), np.ones((len(act), 1, n))
    Ha, Ya, sa, aa, ra = H[act], XtY[act], step[act], alpha[act], l1_ratio[act]
    last = np.sign(Wa).astype(np.int8)
    for it in range(1, max_iter + 1):                             # proximal-gradient iterations, batch at once
        if len(act) == 0:
            break
        G = Ha @ Za - Ya
        W_new = _prox(Za - sa * G, sa, aa, ra, n_state, diagonal, margin)
        # adaptive restart (O'Donoghue & Candès 2015): momentum dropped for a taxon whose step turned back
        back = np.sum((Za - W_new) * (W_new - Wa), axis=1, keepdims=True) > 0
        t_new = np.where(back, 1.0, 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t)))
        Za = W_new + np.where(back, 0.0, (t - 1.0) / t_new) * (W_new - Wa)
        Wa, t = W_new, t_new
        if it % 10:
            continue
        res = _kkt(Ha, Ya, Wa, sa, aa, ra, n_state, diagonal, margin)
        moved = np.zeros_like(res, dtype=bool)
        if it >= 20 and (it // 10) & (it // 10 - 1) == 0:  # polish at 20, 40, 80, 160, … iterations
            # polish only the unconverged taxa whose sign pattern moved since their last polish (a solve each)
            pattern = np.sign(Wa).astype(np.int8)
            moved = np.any(pattern != last, axis=1) & (res > tol)
            last = np.where(moved[:, None, :], pattern, last)
        if np.any(moved):
            P = _polish(Ha, Ya, Wa, moved, aa, ra, n_state, diagonal, margin)
            res_p = _kkt(Ha, Ya, P, sa, aa, ra, n_state, diagonal, margin)
            good = (res_p <= tol)[:, None, :]
            Wa = np.where(good, P, Wa)
            Za = np.where(good, P, Za)
            t = np.where(good, 1.0, t)
            res = np.where(res_p <= tol, res_p, res)
        done = np.all(res <= tol, axis=1)
        if done.any():                                            # converged members leave the batch
            W[act[done]] = Wa[done]
            keep = ~done
            act, Wa, Za, t, last = act[keep], Wa[keep], Za[keep], t[keep], last[keep]
            Ha, Ya, sa, aa, ra = Ha[keep], Ya[keep], sa[keep], aa[keep], ra[keep]
    W[act] = Wa
    converged = np.ones(len(W), dtype=bool)
    converged[act] = False                                        # still in the batch after max_iter iterations
    return W, converged


def stabilise(A: np.ndarray, margin: float = MARGIN) -> tuple[np.ndarray, np.ndarray]:
    """Shrink the eigenvalues of the symmetric part of each ``A`` (… × n × n) to ≤ −margin, keep the skew
    part; returns (the new matrices, whether each one changed).

    Examples
    --------
    >>> A = np.array([[-1.0, 3.0], [0.0, -1.0]])
    >>> S, changed = stabilise(A)
    >>> bool(changed), bool(np.linalg.eigvalsh((S + S.T) / 2).max() <= -1e-3 + 1e-12)
    (True, True)
    """
    A = np.asarray(A, float)
    S = 0.5 * (A + np.swapaxes(A, -1, -2))
    lam, V = np.linalg.eigh(S)
    changed = lam.max(axis=-1) > -margin
    S_new = (V * np.minimum(lam, -margin)[..., None, :]) @ np.swapaxes(V, -1, -2)
    out = np.where(changed[..., None, None], S_new + (A - S), A)
    return out, changed


def _refit_free(XtX: np.ndarray, XtY: np.ndarray, W: np.ndarray, alpha: np.ndarray, l1_ratio: np.ndarray,
                n_state: int) -> np.ndarray:
    """Refit the intercept (unpenalised) and the perturbation rows (ridge part of the penalty) with the state
    rows of *W* held."""
    free = np.r_[0, np.arange(1 + n_state, XtX.shape[-1])]
    held = np.arange(1, 1 + n_state)
    rhs = XtY[:, free] - XtX[:, free][:, :, held] @ W[:, held]
    pen = np.ones(len(free))
    pen[0] = 0.0
    H = XtX[:, free][:, :, free] + (alpha * (1 - l1_ratio))[:, None, None] * np.diag(pen)[None]
    out = W.copy()
    out[:, free] = np.linalg.solve(H + 1e-9 * np.eye(len(free))[None], rhs)
    return out


def solve(XtX: np.ndarray, XtY: np.ndarray, *, alpha: float | np.ndarray, l1_ratio: float | np.ndarray = 0.0,
          n_state: int, stability: Stability = "none", margin: float = MARGIN, max_iter: int = MAX_ITER,
          tol: float = TOL, start: np.ndarray | None = None) -> np.ndarray:
    """Coefficients ``W`` (… × regressors × taxa) for one or a batch of Gram matrices and penalties
    (:func:`solve_info` with the same arguments also says which members converged)."""
    return solve_info(XtX, XtY, alpha=alpha, l1_ratio=l1_ratio, n_state=n_state, stability=stability,
                      margin=margin, max_iter=max_iter, tol=tol, start=start)[0]


def solve_info(XtX: np.ndarray, XtY: np.ndarray, *, alpha: float | np.ndarray, l1_ratio: float | np.ndarray = 0.0,
               n_state: int, stability: Stability = "none", margin: float = MARGIN, max_iter: int = MAX_ITER,
               tol: float = TOL, start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``W`` (… × regressors × taxa) for one or a batch of Gram matrices and penalties, and whether
    each member's iterations met the stopping rule (False: stopped at *max_iter*, an ill-conditioned design with
    a weak penalty; the coefficients are then approximate).

    Parameters
    ----------
    XtX, XtY
        ``m × m`` and ``m × n`` (or a batch ``B × m × m``, ``B × m × n``); row 0 of the design is the intercept,
        rows ``1 … n_state`` the state regressors (whose coefficient on taxon ``i``'s own row is ``A_ii``).
    alpha, l1_ratio
        Penalty and its L1 share (scalars or one per batch member).
    n_state
        Number of state regressors (taxa with a row).
    stability
        ``"none"``, ``"diagonal"`` or ``"negdef"`` (see the module notes).
    margin
        Bound on the self-interactions and the eigenvalues.
    max_iter, tol
        FISTA iterations and the stopping rule: every taxon's KKT residual (the largest entry of the
        proximal-gradient mapping, in gradient units, relative to ``1 + max |XᵀY|``) ≤ *tol*.
    start
        Warm start (same shape as the result), e.g. the solution on a neighbouring fold; default the ridge
        solution.

    Returns
    -------
    tuple of numpy.ndarray
        ``W`` and the per-member convergence flags (a scalar-shaped array for one Gram matrix).
    """
    single = XtX.ndim == 2
    XtX, XtY = (XtX[None], XtY[None]) if single else (XtX, XtY)
    B = len(XtX)
    a = np.broadcast_to(np.asarray(alpha, float), (B,)).copy()
    rho = np.broadcast_to(np.asarray(l1_ratio, float), (B,)).copy()
    start = None if start is None else (np.asarray(start, float)[None] if single else np.asarray(start, float))
    if stability == "none" and not np.any(rho > 0):
        pen = np.ones(XtX.shape[-1])
        pen[0] = 0.0
        W = np.linalg.solve(XtX + a[:, None, None] * np.diag(pen)[None], XtY)
        converged = np.ones(B, dtype=bool)
    else:
        # many small (m × m) products: one BLAS thread is several times faster than a contended pool
        with threadpool_limits(limits=1, user_api="blas"):
            W, converged = _fista(XtX, XtY, a, rho, n_state, stability != "none", margin, max_iter, tol, start)
    if stability == "negdef":
        A = np.swapaxes(W[:, 1:1 + n_state], 1, 2)
        A_new, changed = stabilise(A, margin)
        if changed.any():
            W = W.copy()
            W[:, 1:1 + n_state] = np.swapaxes(A_new, 1, 2)
            W = np.where(changed[:, None, None], _refit_free(XtX, XtY, W, a, rho, n_state), W)
    return (W[0], converged[0]) if single else (W, converged)
