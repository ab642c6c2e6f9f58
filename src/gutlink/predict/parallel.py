"""Running independent fits (folds, permutations, studies) in parallel: joblib locally, Dask on a cluster.

Examples
--------
>>> run_tasks(abs, [-1, -2, 3], n_jobs=1)
[1, 2, 3]
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import joblib

__all__ = ["run_tasks", "dask_backend"]


@contextlib.contextmanager
def dask_backend(scheduler: Any) -> Iterator[None]:
    """Route joblib through a Dask cluster: *scheduler* is an address (``'tcp://…'``) or a ``Client``.

    Needs the optional ``distributed`` package.
    """
    try:
        from distributed import Client
    except ImportError as err:  # pragma: no cover - depends on the environment
        from ..errors import DesignError

        raise DesignError("a Dask scheduler was given but the 'distributed' package is not installed; "
                          "pip install 'dask[distributed]'.") from err
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        with joblib.parallel_config(backend="dask"):
            yield
    finally:
        if client is not scheduler:
            client.close()


def run_tasks(func: Callable[..., Any], tasks: Iterable[Any], *, n_jobs: int = 1,
              scheduler: Any = None) -> list[Any]:
    """``[func(t) for t in tasks]``, in parallel with *n_jobs* joblib workers or on a Dask *scheduler*.

    Results come back in task order, so the outcome never depends on the number of workers.
    """
    tasks = list(tasks)
    if scheduler is not None:
        with dask_backend(scheduler):
            return list(joblib.Parallel(n_jobs=-1)(joblib.delayed(func)(t) for t in tasks))
    if n_jobs == 1 or len(tasks) <= 1:
        return [func(t) for t in tasks]
    return list(joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(func)(t) for t in tasks))
