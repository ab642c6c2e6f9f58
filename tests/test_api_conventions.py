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

import pytest

import gutlink
from gutlink import community, differential, indices, link, meta, predict
from gutlink.results import Result

ANALYSES = [community.alpha_test, community.permanova, community.permdisp, community.dysbiosis_score,
            link.link, community.alpha_diversity, community.beta_diversity, differential.test, meta.by_study,
            predict.cross_validate, predict.loso, indices.gmhi]
SRC = Path(gutlink.__file__).parent


@pytest.mark.parametrize("func", ANALYSES, ids=lambda f: f.__name__)
def test_analysis_signature_shape(func):
    params = list(inspect.signature(func).parameters.values())
    assert params[0].name == "cohort"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    assert len(positional) <= 2, f"{func.__name__}: at most one positional besides cohort"
    assert not any(p.name in {"inplace", "copy"} for p in params)
    assert func.__doc__ and len(func.__doc__.strip()) > 40


def test_results_are_frozen_dataclasses_with_table():
    for cls in [community.AlphaResult, community.PermanovaResult, community.PermdispResult,
                community.DysbiosisResult, link.LinkResult, community.OrdinationResult]:
        assert issubclass(cls, Result) and dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert hasattr(cls, "table") or "table" in {f.name for f in dataclasses.fields(cls)}


def _modules():
    for info in pkgutil.walk_packages([str(SRC)], prefix="gutlink."):
        if ".cli" not in info.name:
            yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_doctests_pass(name):
    module = importlib.import_module(name)
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
