"""The API rules of DESIGN.md, written down as a test so they hold without anyone remembering them."""

from __future__ import annotations

import ast
import dataclasses
import doctest
import importlib
import inspect
import pkgutil
import typing
from pathlib import Path

import pandas as pd
import pytest
from skbio import DistanceMatrix

import gutlink
from gutlink import link
from gutlink.cohort import Cohort
from gutlink.dynamics import TimeSeries
from gutlink.predict import SavedModel
from gutlink.results import Result

SRC = Path(gutlink.__file__).parent
#: What a public function taking a cohort may return besides a Result: a derived cohort, a per-sample or
#: per-feature table, a distance matrix (primitives other analyses build on), or nothing (writers).
PRIMITIVE_RETURNS = (Cohort, pd.DataFrame, pd.Series, DistanceMatrix, SavedModel, TimeSeries, type(None))


def _library_modules():
    for info in pkgutil.walk_packages([str(SRC)], prefix="gutlink."):
        if ".cli" not in info.name:
            yield importlib.import_module(info.name)


def _public(kind):
    """Objects of the public namespaces (``gutlink.<namespace>.__all__``) for which *kind* holds."""
    seen = {}
    for ns in gutlink.SUBMODULES:
        module = getattr(gutlink, ns)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if kind(obj):
                seen[f"gutlink.{ns}.{name}"] = obj
    return seen


def _takes_cohort(obj):
    return inspect.isfunction(obj) and next(iter(inspect.signature(obj).parameters), None) == "cohort"


COHORT_FUNCTIONS = _public(_takes_cohort)
ANALYSES = {k: f for k, f in COHORT_FUNCTIONS.items()
            if isinstance(typing.get_type_hints(f).get("return"), type)
            and issubclass(typing.get_type_hints(f)["return"], Result)}
RESULTS = _public(lambda o: isinstance(o, type) and issubclass(o, Result) and o is not Result)


def test_the_contract_lists_are_not_empty():
    assert len(ANALYSES) >= 15 and len(RESULTS) >= 18  # the tests below would pass vacuously otherwise


@pytest.mark.parametrize("name", sorted(COHORT_FUNCTIONS))
def test_cohort_functions_return_a_result_or_a_primitive(name):
    ret = typing.get_type_hints(COHORT_FUNCTIONS[name]).get("return")
    assert isinstance(ret, type), f"{name} must annotate a concrete return type, not {ret!r}"
    assert issubclass(ret, (Result, *PRIMITIVE_RETURNS)), f"{name} returns {ret!r}"


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_analysis_signature_shape(name):
    func = ANALYSES[name]
    params = list(inspect.signature(func).parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(positional) <= 2, f"{name}: options are keyword-only (at most one positional besides cohort)"
    assert not any(p.name in {"inplace", "copy", "seed", "random_state", "permutations", "jobs"} for p in params), \
        f"{name}: use rng / n_permutations / n_jobs"
    assert func.__doc__ and len(func.__doc__.strip()) > 40


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_results_are_frozen_dataclasses_with_table(name):
    cls = RESULTS[name]
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert hasattr(cls, "table") or "table" in {f.name for f in dataclasses.fields(cls)}


def test_import_gutlink_reaches_every_analysis_namespace():
    for ns in ("community", "design", "differential", "dynamics", "guilds", "indices", "link", "meta", "mimicry",
               "predict", "report", "run"):
        assert hasattr(gutlink, ns), ns


@pytest.mark.parametrize("module", list(_library_modules()), ids=lambda m: m.__name__)
def test_doctests_pass(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def _py_files():
    return sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", _py_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_house_rules_in_source(path):
    text = path.read_text()
    tree = ast.parse(text)
    assert "from __future__ import annotations" in text, "every module starts with future annotations"
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
            assert not {"pickle", "dill", "cloudpickle"} & set(names), "never unpickle user files"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"eval", "exec"}, "never eval"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            full = ast.unparse(node.func)
            assert full not in {"np.random.seed", "numpy.random.seed", "warnings.simplefilter", "sys.exit"} or \
                path.name == "__main__.py", f"{full} touches global state"
            assert not full.startswith("np.random.") or full in {"np.random.default_rng"}, f"global RNG: {full}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            assert "cli" in path.parts, "the library never prints; only the CLI does"


def test_public_api_exports():
    for name in gutlink.__all__:
        assert hasattr(gutlink, name)
    assert typing.get_type_hints(link.link)
