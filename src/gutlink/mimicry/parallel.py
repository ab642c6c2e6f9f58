"""Scale-out of the scan: proteomes are independent, so they are scanned one per task.

Locally with worker processes (``n_jobs``), or on a Dask ``distributed`` cluster given a scheduler address or
a ``Client``. The queries are sent to each worker once (their score tables only: each worker compiles them in
batches within the queries' memory budget); each task holds one partition of proteomes, so memory is bounded by the
partition and that budget, not by the number of proteomes or of epitopes.

Examples
--------
>>> resolve_jobs(1), resolve_jobs(-1) >= 1
(1, True)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DesignError
from .proteome import Proteome, SequenceKind
from .queries import Queries

__all__ = ["map_proteomes", "partitions", "resolve_jobs"]

Outcome = tuple[pd.DataFrame, dict[str, Any]]
_WORKER: dict[str, Any] = {}  # per worker process: the queries, set once by _init


def resolve_jobs(n_jobs: int) -> int:
    """Number of worker processes for *n_jobs* (-1: every core; 0 is an error)."""
    if n_jobs == 0:
        raise DesignError("n_jobs must be a positive number of processes or -1 (every core).")
    return max(1, (os.cpu_count() or 1) + 1 + n_jobs) if n_jobs < 0 else n_jobs


def _init(queries: Queries, plain: Queries | None, kind: str) -> None:
    _WORKER.update(queries=queries, plain=plain, kind=kind)


def _task(part: list[Proteome | Path]) -> list[Outcome]:
    from .scan import scan_partition

    return scan_partition(part, _WORKER["queries"], plain=_WORKER["plain"], kind=_WORKER["kind"])


def _dask_task(part: list[Proteome | Path], queries: Queries, plain: Queries | None,
               kind: SequenceKind) -> list[Outcome]:
    from .scan import scan_partition

    return scan_partition(part, queries, plain=plain, kind=kind)


def _estimate(item: Proteome | Path) -> int:
    """Residues of a proteome, estimated from its file (compressed files hold about 2.5 residues a byte)."""
    if isinstance(item, Proteome):
        return item.n_residues
    try:
        size = Path(item).stat().st_size
    except OSError:
        return 0
    return int(size * 2.5) if str(item).endswith((".gz", ".bz2", ".xz", ".zip")) else size


def partitions(items: list[Proteome | Path], residues: int, n_parts: int = 1) -> list[list[int]]:
    """Indices of *items* in consecutive groups of about *residues* residues (at least *n_parts* groups).

    Examples
    --------
    >>> p = [Proteome.from_records(str(i), [("a", "M" * 10)]) for i in range(5)]
    >>> partitions(p, 25), partitions(p, 1000, n_parts=2)
    ([[0, 1], [2, 3], [4]], [[0, 1], [2, 3], [4]])
    """
    sizes = [_estimate(i) for i in items]
    target = min(residues, max(1, sum(sizes) // max(n_parts, 1) + 1))
    groups: list[list[int]] = [[]]
    total = 0
    for i, size in enumerate(sizes):
        if groups[-1] and total + size > target:
            groups.append([])
            total = 0
        groups[-1].append(i)
        total += size
    return groups


def _name(item: Proteome | Path) -> str:
    return item.name if isinstance(item, Proteome) else Path(item).name


def _report(callback: Callable[[str, int, int], None] | None, items: list[Proteome | Path], group: list[int],
            done: int, n: int) -> int:
    for i in group:
        if callback:
            callback(_name(items[i]), done, n)
        done += 1
    return done


def _local(items: list[Proteome | Path], groups: list[list[int]], queries: Queries, plain: Queries | None,
           kind: SequenceKind, n_jobs: int, callback: Callable[[str, int, int], None] | None) -> list[Outcome]:
    out: dict[int, Outcome] = {}
    done = 0
    with ProcessPoolExecutor(max_workers=n_jobs, initializer=_init, initargs=(queries, plain, kind)) as pool:
        futures = {pool.submit(_task, [items[i] for i in g]): g for g in groups}
        for fut in as_completed(futures):
            out.update(zip(futures[fut], fut.result()))
            done = _report(callback, items, futures[fut], done, len(items))
    return [out[i] for i in range(len(items))]


def _dask(items: list[Proteome | Path], groups: list[list[int]], queries: Queries, plain: Queries | None,
          kind: SequenceKind, scheduler: Any, callback: Callable[[str, int, int], None] | None) -> list[Outcome]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as err:
        raise ImportError("scanning on a Dask cluster needs dask.distributed: pip install 'dask[distributed]'") \
            from err
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        q, p = client.scatter([queries, plain], broadcast=True)
        futures = [client.submit(_dask_task, [items[i] for i in g], q, p, kind, pure=False) for g in groups]
        group_of = {f.key: g for f, g in zip(futures, groups)}
        done = 0
        for fut in dask_completed(futures):
            done = _report(callback, items, group_of[fut.key], done, len(items))
        out: dict[int, Outcome] = {}
        for g, res in zip(groups, client.gather(futures)):
            out.update(zip(g, res))
        return [out[i] for i in range(len(items))]
    finally:
        if client is not scheduler:
            client.close()


def map_proteomes(items: list[Proteome | Path], queries: Queries, *, plain: Queries | None = None,
                  kind: SequenceKind = "auto", n_jobs: int = 1, scheduler: Any = None,
                  partition_residues: int = 4_000_000,
                  callback: Callable[[str, int, int], None] | None = None) -> list[Outcome]:
    """Scan proteomes in partitions, sequentially, in local processes, or on a Dask cluster (input order kept).

    Returns
    -------
    list
        ``(hits, info)`` per proteome, as :func:`~gutlink.mimicry.scan.scan_proteome` returns them.
    """
    jobs = min(resolve_jobs(n_jobs), len(items))
    groups = partitions(items, partition_residues, n_parts=jobs if scheduler is None else 1)
    if scheduler is not None:
        return _dask(items, groups, queries, plain, kind, scheduler, callback)
    if jobs > 1 and len(groups) > 1:
        return _local(items, groups, queries, plain, kind, jobs, callback)
    from .scan import scan_partition

    out: list[Outcome] = []
    for g in groups:
        out.extend(scan_partition([items[i] for i in g], queries, plain=plain, kind=kind))
        _report(callback, items, g, len(out) - len(g), len(items))
    return out
