"""The one parallel helper (gutlink.parallel) and the import layering of the package."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gutlink import Cohort, mimicry, predict
from gutlink.differential._prevalence import firth_logistic
from gutlink.errors import DesignError
from gutlink.parallel import NO_DISTRIBUTED, dask_client, resolve_jobs, run_tasks

SRC = Path(__file__).resolve().parents[1] / "src" / "gutlink"


def _late_square(x: int) -> tuple[int, int]:
    """Square of *x*; early tasks finish last, so completion order is the reverse of task order."""
    time.sleep(0.05 * (4 - x) if x < 4 else 0)
    return x, x * x


def _norms(seed: int, *, size: int) -> np.ndarray:
    m = np.random.default_rng(seed).normal(size=(size, size))
    return np.linalg.svd(m @ m.T, compute_uv=False)


# ----------------------------------------------------------------------------- order and worker count
@pytest.mark.parametrize("backend", ["processes", "threads"])
def test_results_come_back_in_task_order(backend):
    done = []
    out = run_tasks(_late_square, range(6), n_jobs=2, backend=backend, on_done=lambda i, r: done.append(i))
    assert out == [(i, i * i) for i in range(6)]
    assert sorted(done) == list(range(6))


def test_outcome_does_not_depend_on_worker_count():
    work = partial(_norms, size=40)
    one, two = run_tasks(work, range(8), n_jobs=1), run_tasks(work, range(8), n_jobs=2)
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    assert one[0][0] > one[0][-1] > 0  # real singular values, largest first


def test_firth_fit_is_identical_in_one_or_two_threads():
    rng = np.random.default_rng(4)
    x = np.column_stack([np.ones(80), np.repeat([0.0, 1.0], 40), rng.normal(size=80)])
    y = (rng.random((80, 300)) < rng.uniform(0.1, 0.9, 300)).astype(float)  # 3 chunks of 128 features
    one, two = firth_logistic(x, y, n_jobs=1), firth_logistic(x, y, n_jobs=2)
    assert np.array_equal(one.coef, two.coef) and np.array_equal(one.loglik, two.loglik)
    assert one.converged.all() and np.isfinite(one.coef).all()


def test_threads_share_memory():
    out = np.zeros(10)

    def fill(i: int) -> None:  # a closure writing its own slice: only threads can do this
        out[i] = i ** 2

    assert run_tasks(fill, range(10), n_jobs=2, backend="threads") == [None] * 10
    assert out.tolist() == [float(i ** 2) for i in range(10)]


def test_serial_calls_on_done_in_order_and_empty_input():
    seen = []
    assert run_tasks(abs, [-3, 2], on_done=lambda i, r: seen.append((i, r))) == [3, 2]
    assert seen == [(0, 3), (1, 2)] and run_tasks(abs, [], n_jobs=4) == []


# ----------------------------------------------------------------------------- n_jobs and backend
def test_resolve_jobs():
    cores = resolve_jobs(-1)
    assert cores >= 1 and resolve_jobs(3) == 3 and resolve_jobs(-2) == max(1, cores - 1)
    for bad in (0, 1.5, "2"):
        with pytest.raises(DesignError, match="n_jobs"):
            resolve_jobs(bad)  # type: ignore[arg-type]


def test_bad_n_jobs_and_backend_are_design_errors():
    with pytest.raises(DesignError, match="not 0"):
        run_tasks(abs, [1, 2], n_jobs=0)
    with pytest.raises(DesignError, match="not 0"):
        firth_logistic(np.ones((4, 1)), np.eye(4), n_jobs=0)
    with pytest.raises(DesignError, match="'processes' or 'threads'"):
        run_tasks(abs, [1], backend="gpu")  # type: ignore[arg-type]


def test_worker_error_reaches_the_caller():
    with pytest.raises(TypeError):
        run_tasks(abs, [1, "x"], n_jobs=2)


# ----------------------------------------------------------------------------- Dask
def test_dask_cluster_keeps_order_and_reports_progress():
    distributed = pytest.importorskip("distributed")
    done = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        out = run_tasks(_late_square, range(6), scheduler=cluster.scheduler_address,
                        on_done=lambda i, r: done.append(i))
        with distributed.Client(cluster) as client, dask_client(client) as same:
            assert same is client
            assert run_tasks(abs, [-1, -2], scheduler=client) == [1, 2]
            assert client.status == "running"  # a client passed in is left open
    assert out == [(i, i * i) for i in range(6)] and sorted(done) == list(range(6))


def _small_cohort() -> Cohort:
    g = np.random.default_rng(0)
    meta = pd.DataFrame({"group": ["case", "control"] * 10, "study": ["a"] * 10 + ["b"] * 10},
                        index=[f"s{i}" for i in range(20)])
    return Cohort(g.poisson(5, size=(20, 30)).astype(float), metadata=meta, units="counts")


def test_missing_distributed_is_one_design_error_for_every_caller(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    prot = mimicry.Proteome.from_records("bug", [("p1", "MSTVHFFKNIVTKL")])
    cohort = _small_cohort()
    kw = dict(group="group", case="case", control="control", scheduler="tcp://127.0.0.1:8786")
    callers = {
        "run_tasks": lambda: run_tasks(abs, [1, 2], scheduler="tcp://127.0.0.1:8786"),
        "dask_client": lambda: dask_client("tcp://127.0.0.1:8786").__enter__(),
        "mimicry.scan": lambda: mimicry.scan([prot], "builtin:MS", scheduler="tcp://127.0.0.1:8786"),
        "predict.cross_validate": lambda: predict.cross_validate(cohort, n_repeats=1, n_folds=2, rng=0, **kw),
        "predict.loso": lambda: predict.loso(cohort, study="study", matrix=False, n_repeats=1, n_folds=2,
                                             rng=0, **kw),
    }
    for name, call in callers.items():
        with pytest.raises(DesignError) as err:
            call()
        assert str(err.value) == NO_DISTRIBUTED, name


# ----------------------------------------------------------------------------- import layering
#: Function-level relative imports outside gutlink/cli/ (which imports lazily on purpose, for start-up speed)
#: that remain in modules this change does not own; each should move to the top of its module.
KNOWN_FUNCTION_LEVEL_IMPORTS = {
    ("differential/__init__.py", "..multitest"),
    ("differential/__init__.py", "._linmod"),
    ("differential/__init__.py", "._mixed"),
    ("differential/__init__.py", "._table"),
    ("formula.py", ".design"),
}


def _function_level_relative_imports(path: Path) -> set[tuple[str, str]]:
    found = set()
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and node.level > 0:
                    found.add((path.relative_to(SRC).as_posix(), "." * node.level + (node.module or "")))
    return found


def test_no_function_level_relative_imports_outside_cli():
    found = set()
    for path in SRC.rglob("*.py"):
        if "cli" not in path.relative_to(SRC).parts[:1]:
            found |= _function_level_relative_imports(path)
    assert found - KNOWN_FUNCTION_LEVEL_IMPORTS == set(), "move these imports to the top of the module"
    assert KNOWN_FUNCTION_LEVEL_IMPORTS - found == set(), "fixed: drop them from KNOWN_FUNCTION_LEVEL_IMPORTS"


def _module_names() -> list[str]:
    names = []
    for path in sorted(SRC.rglob("*.py")):
        parts = ("gutlink", *path.relative_to(SRC).with_suffix("").parts)
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


_PRELOAD = """
import importlib, json, sys
before = set(sys.modules)
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
print(json.dumps([m for m in sys.modules if m not in before and m.split(".")[0] != "gutlink"]))
"""

_EACH_ALONE = """
import importlib, json, os, sys, traceback
for name in json.loads(sys.argv[2]):  # third-party modules only: they are not what is being tested
    try:
        importlib.import_module(name)
    except Exception:
        pass
assert not [m for m in sys.modules if m.split(".")[0] == "gutlink"]
failed = {}
for name in json.loads(sys.argv[1]):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a child with no gutlink module loaded imports this one module
        os.close(read)
        try:
            importlib.import_module(name)
            msg = ""
        except BaseException:
            msg = traceback.format_exc(limit=-3)
        os.write(write, msg.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        msg = pipe.read().decode()
    os.waitpid(pid, 0)
    if msg:
        failed[name] = msg
print(json.dumps(failed))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks one child per module")
def test_each_module_imports_alone():
    """Every module of gutlink imports on its own, with no other gutlink module loaded first: the layering
    has no cycle that only some import orders survive. Each module is imported in a child forked from an
    interpreter that holds no gutlink module (third-party libraries preloaded there, to keep this fast)."""
    names = _module_names()
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    run = partial(subprocess.run, capture_output=True, text=True, check=True, env=env, timeout=600)
    third = run([sys.executable, "-c", _PRELOAD, json.dumps(names)]).stdout
    failed = json.loads(run([sys.executable, "-c", _EACH_ALONE, json.dumps(names), third]).stdout)
    assert len(names) > 50 and failed == {}
