"""The formula parser: an allow-list grammar, so that no user text is ever evaluated."""

from __future__ import annotations

import pytest

from gutlink.errors import DesignError
from gutlink.formula import aliases, parse, restore_names

HOSTILE = [
    '~ g + __import__("os").system("touch /tmp/gutlink_pwned")',
    "~ g + {__import__('os').system('id')}",
    "~ g + np.log(__import__('os').system('id') + 1)",
    "~ g + exec('x=1')",
    "~ g + (lambda: 0)()",
    "~ g + open('/etc/passwd')",
    "~ g + I(g ** 2)",
    "~ g + 'text'",
    "~ g; import os",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_formulas_are_refused_not_run(text, tmp_path):
    with pytest.raises(DesignError, match="formula"):
        parse(text)


@pytest.mark.parametrize("name", ['__import__("os").system("id")', "a`b", "=cmd|' /C calc'!A0", "x y", "Age.years",
                                  "\x1b[31mred", "ü-β", "1abc", "g[T.x]"])
def test_any_column_name_is_data(name):
    if "`" in name:
        with pytest.raises(DesignError):
            parse(f"~ `{name}`")
        f = parse(f"~ Q({name!r})")
    else:
        f = parse(f"~ g + `{name}`")
    assert name in f.variables
    alias = aliases(f.variables)
    safe = f.safe(alias)
    assert name not in safe and all(a in safe for a in alias.values())


def test_terms_intercept_and_interactions():
    assert parse("~ a + b - 1").intercept is False
    assert parse("~ a*b").terms == (("a",), ("b",), ("a", "b"))
    assert parse("~ (a + b):c").terms == (("a", "c"), ("b", "c"))
    assert parse("~ a + b - b").terms == (("a",),)
    f = parse("~ C(a) + log(b)")
    assert f.safe({"a": "v0", "b": "v1"}) == "C(v0) + np.log(v1)"


@pytest.mark.parametrize("text, message", [("y ~ g", "left-hand side"), ("~ g +", "missing"), ("", "empty"),
                                           ("~ g + 2", "not a term"), ("~ (g", r"'\)' is missing"),
                                           ("~ log(a:b)", "one column")])
def test_malformed_formulas_say_where(text, message):
    with pytest.raises(DesignError, match=message):
        parse(text)


def test_dotted_names_are_columns_not_attributes():
    f = parse("~ g + g.__class__")  # R-style dotted name: a column reference, aliased, never looked up
    assert f.variables == ("g", "g.__class__") and "__class__" not in f.safe(aliases(f.variables))
    with pytest.raises(DesignError, match="not a metadata column"):
        f.check_columns(["g"])


def test_unknown_column_gets_a_hint():
    with pytest.raises(DesignError, match="Did you mean 'Diagnosis'"):
        parse("~ diagnosis", columns=["Diagnosis", "Age"])


def test_builder_labels_are_mapped_back():
    alias = {"Diagnosis": "v0", "Age": "v1", "v1": "v2"}
    assert restore_names(["v0[T.v1]", "np.log(v1)", "v0[T.a:b]:v2"], alias) == [
        "Diagnosis[T.v1]", "log(Age)", "Diagnosis[T.a:b]:v1"]


@pytest.mark.parametrize("text", [
    '~ group + {__import__("os").system("touch TARGET")}',
    '~ group + np.log(__import__("os").system("touch TARGET") + 1)',
])
def test_differential_never_runs_a_formula(tmp_path, text):
    from gutlink import differential
    from gutlink.datasets import toy

    target = tmp_path / "pwned"
    with pytest.raises(DesignError):
        differential.test(toy(), text.replace("TARGET", str(target)), n_shuffles=0)
    assert not target.exists()


def test_differential_takes_a_hostile_column_name_as_data(tmp_path):
    from gutlink import differential
    from gutlink.datasets import toy

    target = tmp_path / "pwned"
    evil = f'__import__("os").system("touch {target}")'
    c = toy()
    c = c.with_metadata(c.metadata.rename(columns={"group": evil}))
    res = differential.test(c, f"~ `{evil}`", n_shuffles=0, prevalence=False)
    assert not target.exists() and all(t.startswith(evil) for t in res.terms if t != "log_depth")
