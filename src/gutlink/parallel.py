"""Independent tasks (folds, studies, proteome partitions, feature chunks) on local cores or a Dask cluster.

One helper for every analysis: :func:`run_tasks` runs ``func(task)`` for each task in worker processes (joblib's
loky, which limits each worker's BLAS threads), in threads (for numpy work that releases the GIL and writes into
shared arrays), or on a Dask ``distributed`` cluster, and returns the results in task order, so the outcome never
depends on the number of workers. *func* is sent to each worker once (a :func:`functools.partial` carrying large
data is fine, and whatever it caches stays warm across that worker's tasks); tasks are sent one by one.

Steps whose work splits into independent blocks deep inside an analysis (the sample × sample distance blocks,
the differential model's feature chunks) take their cluster from :func:`on_cluster`, so one ``with
on_cluster("tcp://host:8786"):`` around a whole analysis sends each of them to that cluster (one client for all)
without threading a scheduler argument through every function; :func:`current_scheduler` is what they ask.

Examples
--------
>>> run_tasks(abs, [-1, -2, 3], n_jobs=1)
[1, 2, 3]
>>> run_tasks(abs, [-1, -2, 3], n_jobs=2, backend="threads")
[1, 2, 3]
>>> resolve_jobs(1), resolve_jobs(-1) >= 1
(1, True)
>>> with on_cluster(None):
...     current_scheduler() is None
True
"""

from __future__ import annotations

import contextlib
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, Literal

import joblib

from .errors import DesignError

__all__ = ["Backend", "current_scheduler", "dask_client", "on_cluster", "resolve_jobs", "run_tasks"]

Backend = Literal["processes", "threads"]
OnDone = Callable[[int, Any], None]

#: The one message for a Dask scheduler without the optional ``distributed`` package, whoever asked for it.
NO_DISTRIBUTED = ("a Dask scheduler was given but the optional 'distributed' package is not installed: "
                  "pip install 'gutlink[dask]' (or 'dask[distributed]'), or leave out the scheduler to run on "
                  "local cores.")

_STATE: dict[int, Callable[[Any], Any]] = {}  # token -> func: in each worker process, and in the parent meanwhile
_TOKENS = itertools.count()
_CLUSTER: ContextVar[Any] = ContextVar("gutlink_cluster", default=None)


def resolve_jobs(n_jobs: int) -> int:
    """Number of workers for *n_jobs*: a positive count, or -1 for every core (-2 all but one, ...); 0 is an error.

    Cores are counted as joblib does (CPU affinity and container quotas respected).
    """
    try:
        jobs = operator.index(n_jobs)
    except TypeError:
        raise DesignError(f"n_jobs must be a whole number, not {n_jobs!r}.") from None
    if jobs == 0:
        raise DesignError("n_jobs must be a positive number of workers or -1 (every core), not 0.")
    return max(1, joblib.cpu_count() + 1 + jobs) if jobs < 0 else jobs


@contextlib.contextmanager
def dask_client(scheduler: Any) -> Iterator[Any]:
    """A ``distributed.Client`` for *scheduler* (an address such as ``'tcp://host:8786'``, a cluster, or a
    ``Client``, which is used as is and left open); a client made here is closed on exit.

    Raises
    ------
    DesignError
        When ``distributed`` is not installed (:data:`NO_DISTRIBUTED`), or the scheduler cannot be reached.
    """
    try:
        from distributed import Client  # optional dependency: imported only when a cluster is asked for
    except ImportError as err:
        raise DesignError(NO_DISTRIBUTED) from err
    if isinstance(scheduler, Client):
        yield scheduler
        return
    try:
        client = Client(scheduler)
    except (OSError, TimeoutError) as err:
        raise DesignError(f"cannot reach the Dask scheduler {scheduler!r}: {err}. Check the address and that "
                          "the scheduler is running, or leave out the scheduler to run on local cores.") from err
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def on_cluster(scheduler: Any) -> Iterator[Any]:
    """Run the blocked steps inside the block (distance blocks, differential feature chunks) on a Dask cluster.

    *scheduler* is an address (``'tcp://host:8786'``), a cluster or a ``Client`` (see :func:`dask_client`; one
    client serves every step and is closed on exit when made here); None leaves them on local cores. Yields the
    client (or None).
    """
    if scheduler is None:
        token = _CLUSTER.set(None)
        try:
            yield None
        finally:
            _CLUSTER.reset(token)
        return
    with dask_client(scheduler) as client:
        token = _CLUSTER.set(client)
        try:
            yield client
        finally:
            _CLUSTER.reset(token)


def current_scheduler() -> Any:
    """The ``Client`` of the innermost :func:`on_cluster` block, or None (local cores)."""
    return _CLUSTER.get()


def run_tasks(func: Callable[[Any], Any], tasks: Iterable[Any], *, n_jobs: int = 1,
              backend: Backend = "processes", scheduler: Any = None, on_done: OnDone | None = None,
              keep: bool = True) -> list[Any]:
    """``[func(t) for t in tasks]`` on *n_jobs* local workers or on a Dask *scheduler*, results in task order.

    Parameters
    ----------
    func
        Called once per task; sent to each worker once. With ``backend="processes"`` or a scheduler it must be
        picklable (a module-level function, or a :func:`functools.partial` of one).
    tasks
        The tasks, each sent to one worker.
    n_jobs
        Local workers (see :func:`resolve_jobs`); ignored with a *scheduler*.
    backend
        ``"processes"`` (separate memory; for Python-heavy or scikit-learn work) or ``"threads"`` (shared memory;
        for numpy work that releases the GIL, e.g. writing disjoint slices of one output array).
    scheduler
        A Dask ``distributed`` scheduler address, cluster or ``Client``: run there instead (see
        :func:`dask_client`).
    on_done
        Called in the calling process as ``on_done(index, result)`` as each task finishes (in completion order),
        e.g. for progress.
    keep
        Keep the results (default). ``False``: each result is dropped once *on_done* has had it (e.g. a block
        written into an output array), so the results never need memory all at once; the list holds None.

    Returns
    -------
    list
        One result per task, in task order.
    """
    if backend not in ("processes", "threads"):
        raise DesignError(f"backend must be 'processes' or 'threads', not {backend!r}.")
    tasks = list(tasks)
    jobs = min(resolve_jobs(n_jobs), max(len(tasks), 1))
    if scheduler is not None:
        return _on_dask(func, tasks, scheduler, on_done, keep)
    if jobs == 1 or len(tasks) <= 1:
        return _serial(func, tasks, on_done, keep)
    if backend == "threads":
        parallel = joblib.Parallel(n_jobs=jobs, backend="threading", return_as="generator_unordered")
        return _collect(parallel(joblib.delayed(_indexed)(func, i, t) for i, t in enumerate(tasks)), tasks, on_done,
                        keep)
    return _on_processes(func, tasks, jobs, on_done, keep)


def _serial(func: Callable[[Any], Any], tasks: Sequence[Any], on_done: OnDone | None,
            keep: bool = True) -> list[Any]:
    out = []
    for i, task in enumerate(tasks):
        result = func(task)
        if on_done is not None:
            on_done(i, result)
        out.append(result if keep else None)
        del result
    return out


def _indexed(func: Callable[[Any], Any], i: int, task: Any) -> tuple[int, Any]:
    return i, func(task)


def _collect(pairs: Iterable[tuple[int, Any]], tasks: Sequence[Any], on_done: OnDone | None,
             keep: bool = True) -> list[Any]:
    """Results from ``(index, result)`` pairs arriving in completion order, back in task order."""
    out: dict[int, Any] = {}
    for i, result in pairs:
        if on_done is not None:
            on_done(i, result)
        out[i] = result if keep else None
        del result
    return [out[i] for i in range(len(tasks))]


def _install(token: int, func: Callable[[Any], Any]) -> None:
    """Worker initializer: keep *func* for this worker's tasks."""
    _STATE.clear()
    _STATE[token] = func


def _run_installed(token: int, i: int, task: Any) -> tuple[int, Any]:
    return i, _STATE[token](task)


def _on_processes(func: Callable[[Any], Any], tasks: Sequence[Any], jobs: int, on_done: OnDone | None,
                  keep: bool = True) -> list[Any]:
    token = next(_TOKENS)
    _STATE[token] = func  # also here: joblib runs the tasks in this process when it cannot start workers
    try:
        parallel = joblib.Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered",
                                   initializer=_install, initargs=(token, func))
        return _collect(parallel(joblib.delayed(_run_installed)(token, i, t) for i, t in enumerate(tasks)),
                        tasks, on_done, keep)
    finally:
        _STATE.pop(token, None)


def _on_dask(func: Callable[[Any], Any], tasks: Sequence[Any], scheduler: Any, on_done: OnDone | None,
             keep: bool = True) -> list[Any]:
    with dask_client(scheduler) as client:
        from distributed import as_completed  # present: dask_client checked it

        [shared] = client.scatter([func], broadcast=True, hash=False)  # func to every worker once
        futures = [client.submit(_indexed, shared, i, t, pure=False) for i, t in enumerate(tasks)]
        if on_done is None and keep:
            return _collect(client.gather(futures), tasks, None)

        def arrived() -> Iterator[tuple[int, Any]]:
            for future in as_completed(futures):
                pair = future.result()
                if not keep:
                    future.release()  # the worker's copy of a block already written
                yield pair

        return _collect(arrived(), tasks, on_done, keep)
