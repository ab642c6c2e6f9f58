"""Exact sample × sample distances for large cohorts, computed block by block (bounded temporaries).

* Bray–Curtis, ``sum|x - y| / sum(x + y) = 1 - 2 sum min(x, y) / (sum x + sum y)`` for non-negative rows: each
  row is compared with the rows after it only on the features it holds (``min`` is zero elsewhere), so the work
  is ``n × nnz / 2`` instead of ``n² p / 2`` — microbiome tables are mostly zeros. Rows are spread over threads.
* Jaccard on presence/absence: intersections by a float32 matrix product (exact: counts below 2**24),
  ``1 - |a ∩ b| / |a ∪ b|``.
* Euclidean (Aitchison on CLR coordinates): ``|a|² + |b|² - 2 a·b`` on column-centred coordinates by a float64
  matrix product; pairs closer than the cancellation error of that identity are recomputed directly.

All three equal scipy's ``pdist`` to rounding (about 1e-15; tests/test_scale.py checks 1e-10) and return a full
float64 n × n array with a zero diagonal. Only the upper triangle is computed; the lower is mirrored in blocks.

Inside :func:`gutlink.parallel.on_cluster` (or with *scheduler*) the row blocks are computed on a Dask cluster
(the table is sent to each worker once, each block comes back and is written into the matrix as it arrives) by
the same block functions, so the matrix is the same one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ..parallel import current_scheduler, resolve_jobs, run_tasks
from ._progress import Ticker

__all__ = ["GEMM_ROWS", "braycurtis", "euclidean", "jaccard"]

GEMM_ROWS = 1024  # rows of one matrix-product block (the block is rows x n float64)
_BC_TASKS = 64  # Bray–Curtis row sets (interleaved rows, so every set has the same work)


def _mirror(d: np.ndarray) -> np.ndarray:
    """Copy the upper triangle into the lower one, a block of rows at a time; zero the diagonal."""
    n = d.shape[0]
    for start in range(0, n, GEMM_ROWS):
        stop = min(start + GEMM_ROWS, n)
        d[start:stop, :start] = d[:start, start:stop].T
        block = d[start:stop, start:stop]
        lower = np.tril_indices(stop - start, -1)
        block[lower] = block.T[lower]
    np.fill_diagonal(d, 0.0)
    return d


def _bc_rows(x: np.ndarray, xt: np.ndarray, totals: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Upper-triangle rows ``d[i, i:]`` of the Bray–Curtis matrix for the rows *rows*, end to end."""
    out = []
    for i in rows:
        held = np.flatnonzero(x[i])
        shared = np.minimum(xt[held, i:], x[i, held][:, None]).sum(axis=0)
        out.append(1.0 - 2.0 * shared / (totals[i] + totals[i:]))
    return np.concatenate(out) if out else np.empty(0)


def _bc_place(d: np.ndarray, rows: np.ndarray, flat: np.ndarray) -> None:
    n, pos = d.shape[0], 0
    for i in rows:
        d[i, i:] = flat[pos:pos + n - i]
        pos += n - i


def braycurtis(x: np.ndarray, *, label: str = "Bray–Curtis distances", scheduler: Any = None) -> np.ndarray:
    """Bray–Curtis dissimilarity of the rows of a non-negative matrix (n × n float64).

    Parameters
    ----------
    x
        Non-negative (n, p) array (relative abundances or counts); no row may be all zero.
    label
        What progress lines call the step.
    scheduler
        A Dask ``Client`` or address to compute the row sets on (default: the one of
        :func:`gutlink.parallel.on_cluster`, else local threads).

    Returns
    -------
    numpy.ndarray
        The full symmetric matrix.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    totals = x.sum(axis=1)
    xt = np.ascontiguousarray(x.T)  # feature-major: one row of xt is one feature over all samples
    d = np.empty((n, n))
    sets = [np.arange(s, n, _BC_TASKS) for s in range(min(_BC_TASKS, n))]
    tick = Ticker(label, len(sets), unit="row blocks")
    done = [0]
    scheduler = current_scheduler() if scheduler is None else scheduler

    def one_set(rows: np.ndarray) -> None:
        _bc_place(d, rows, _bc_rows(x, xt, totals, rows))

    def finished(i: int, flat: object) -> None:
        if scheduler is not None:
            _bc_place(d, sets[i], flat)  # type: ignore[arg-type]
        done[0] += 1
        tick(done[0])

    if scheduler is None:
        run_tasks(one_set, sets, n_jobs=resolve_jobs(-1), backend="threads", on_done=finished)
    else:
        run_tasks(partial(_bc_rows, x, xt, totals), sets, scheduler=scheduler, on_done=finished, keep=False)
    return _mirror(d)


def _blocks(n: int) -> list[int]:
    return list(range(0, n, GEMM_ROWS))


def _fill(d: np.ndarray, block: Callable[[int], np.ndarray], label: str, scheduler: Any) -> np.ndarray:
    """The upper triangle of *d* from ``block(start)`` (rows ``start:start + GEMM_ROWS``, columns ``start:``),
    in this process or on *scheduler*; then mirrored."""
    n = d.shape[0]
    starts = _blocks(n)
    tick = Ticker(label, len(starts), unit="row blocks")
    if scheduler is None:
        for k, start in enumerate(starts):
            d[start:min(start + GEMM_ROWS, n), start:] = block(start)
            tick(k + 1)
        return _mirror(d)
    done = [0]

    def finished(i: int, part: object) -> None:
        start = starts[i]
        d[start:min(start + GEMM_ROWS, n), start:] = part
        done[0] += 1
        tick(done[0])

    run_tasks(block, starts, scheduler=scheduler, on_done=finished, keep=False)
    return _mirror(d)


def _jaccard_block(b: np.ndarray, size: np.ndarray, start: int) -> np.ndarray:
    stop = min(start + GEMM_ROWS, b.shape[0])
    inter = (b[start:stop] @ b[start:].T).astype(np.float64)
    union = size[start:stop, None] + size[None, start:] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, 1.0 - inter / union, 0.0)


def jaccard(presence: np.ndarray, *, label: str = "Jaccard distances", scheduler: Any = None) -> np.ndarray:
    """Jaccard distance of the rows of a presence/absence matrix (n × n float64; 0 between two empty rows);
    *scheduler* as :func:`braycurtis`."""
    b = np.asarray(presence, dtype=np.float32)
    n = b.shape[0]
    size = b.sum(axis=1, dtype=np.float64)
    scheduler = current_scheduler() if scheduler is None else scheduler
    return _fill(np.empty((n, n)), partial(_jaccard_block, b, size), label, scheduler)


def _euclidean_block(z: np.ndarray, sq: np.ndarray, start: int) -> np.ndarray:
    stop = min(start + GEMM_ROWS, z.shape[0])
    scale = sq[start:stop, None] + sq[None, start:]
    d2 = scale - 2.0 * (z[start:stop] @ z[start:].T)
    close = np.argwhere(d2 <= 1e-8 * scale)  # cancellation: recompute these pairs directly
    if close.size:
        i, j = close[:, 0] + start, close[:, 1] + start
        d2[close[:, 0], close[:, 1]] = np.square(z[i] - z[j]).sum(axis=1)
    return np.sqrt(np.clip(d2, 0.0, None))


def euclidean(z: np.ndarray, *, label: str = "Aitchison distances", scheduler: Any = None) -> np.ndarray:
    """Euclidean distance of the rows of *z* (n × n float64), e.g. Aitchison distance on CLR coordinates;
    *scheduler* as :func:`braycurtis`."""
    z = np.asarray(z, dtype=float)
    z = z - z.mean(axis=0)
    n = z.shape[0]
    sq = np.einsum("ij,ij->i", z, z)
    scheduler = current_scheduler() if scheduler is None else scheduler
    return _fill(np.empty((n, n)), partial(_euclidean_block, z, sq), label, scheduler)
