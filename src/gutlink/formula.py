"""Model formulas without evaluating user text.

A formula such as ``~ Diagnosis + Age + log(`Fecal.Calprotectin`)`` is parsed here by an allow-list grammar;
column names are data, never code. Only names (bare, backquoted or ``Q('…')``), ``+``, ``-`` (of the intercept
or a term), ``:`` and ``*`` (interactions), parentheses, ``1`` / ``0`` and a few transforms are accepted.
The model-matrix builders (patsy, formulaic) then only ever see a formula that gutlink wrote, over safe aliases
(``v0``, ``v1``, …) of the columns, and their column names are mapped back to the user's names.

Grammar (R / Wilkinson notation)::

    formula := "~" expr
    expr    := term (("+" | "-") term)*
    term    := factor ((":" | "*") factor)*
    factor  := NAME | "`" text "`" | "Q(" quoted ")" | FUNC "(" factor ")" | "C(" factor ")"
               | "(" expr ")" | "1" | "0"

Examples
--------
>>> f = parse("~ Diagnosis + Age + log(`Fecal.Calprotectin`)")
>>> f.variables
('Diagnosis', 'Age', 'Fecal.Calprotectin')
>>> f.safe({"Diagnosis": "v0", "Age": "v1", "Fecal.Calprotectin": "v2"})
'v0 + v1 + np.log(v2)'
>>> parse("~ g * h").terms
(('g',), ('h',), ('g', 'h'))
>>> parse('~ g + __import__("os").system("ls")')
Traceback (most recent call last):
...
gutlink.errors.DesignError: formula '~ g + __import__("os").system("ls")', character 7: '__import__(' is not an allowed function; a formula may use column names, + - : * ( ), 1 and 0, and log, log2, log10, log1p, sqrt, exp, C. Quote a column name that is not a plain name with backquotes: `my column`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DesignError

__all__ = ["FUNCTIONS", "MAX_DEPTH", "MAX_TERMS", "Formula", "aliases", "parse", "quote", "restore_names"]

#: Transforms a formula may apply to one numeric column (written as numpy functions for the builders).
FUNCTIONS = {"log": "np.log", "log2": "np.log2", "log10": "np.log10", "log1p": "np.log1p", "sqrt": "np.sqrt",
             "exp": "np.exp"}
_PREFIXES = ("np.", "numpy.")
_TOKEN = re.compile(r"""\s*(?:
    (?P<name>[A-Za-z_][A-Za-z0-9_.]*)\s*(?P<call>\()? |
    `(?P<bq>[^`]*)` |
    (?P<num>\d+) |
    (?P<op>[~+\-:*()])
)""", re.X)
#: The most terms a formula may expand to (``a*b*c*…`` doubles them with every factor) and the deepest nesting of
#: parentheses and transforms: beyond these a formula is refused, not expanded (no exponential time or memory, no
#: RecursionError from the parser).
MAX_TERMS = 1024
_BLANK = re.compile(r"\s*")
MAX_DEPTH = 32
_QUOTED = re.compile(r"""\s*(?:'(?P<s>[^'\\]*)'|"(?P<d>[^"\\]*)")\s*\)""")


@dataclass(frozen=True)
class _Factor:
    """One factor of a term: a column, optionally transformed (``log``) or forced categorical (``C``)."""

    name: str
    func: str = ""

    def render(self, alias: Mapping[str, str]) -> str:
        inner = alias[self.name]
        if self.func == "C":
            return f"C({inner})"
        return f"{FUNCTIONS[self.func]}({inner})" if self.func else inner

    def label(self) -> str:
        return f"{self.func}({self.name})" if self.func else self.name


@dataclass(frozen=True)
class Formula:
    """A parsed formula: its terms (tuples of factors, interactions longer than one) and intercept."""

    text: str
    factors: tuple[tuple[_Factor, ...], ...]
    intercept: bool = True

    @property
    def terms(self) -> tuple[tuple[str, ...], ...]:
        """Each term as the column names it combines."""
        return tuple(tuple(f.name for f in term) for term in self.factors)

    @property
    def variables(self) -> tuple[str, ...]:
        """Every column the formula uses, in order of first use."""
        return tuple(dict.fromkeys(f.name for term in self.factors for f in term))

    def safe(self, alias: Mapping[str, str]) -> str:
        """The right-hand side over *alias* (column → safe name), for patsy / formulaic."""
        parts = [":".join(f.render(alias) for f in term) for term in self.factors]
        if not self.intercept:
            parts.append("0")
        return " + ".join(parts) if parts else "1"

    def check_columns(self, columns: Iterable[object]) -> None:
        """Raise a :class:`DesignError` naming a variable that is not a column."""
        from .design import column_hint

        cols = [str(c) for c in columns]
        for v in self.variables:
            if v not in cols:
                raise DesignError(f"formula {self.text!r} uses {v!r}, which is not a metadata column."
                                  + column_hint(cols, v))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos, self.depth = text, 0, 0

    def bounded(self, terms: list[tuple[_Factor, ...]], at: int) -> list[tuple[_Factor, ...]]:
        if len(terms) > MAX_TERMS:
            raise self.error(f"the formula expands to more than {MAX_TERMS} terms (a '*' of n factors makes 2^n − 1); "
                             "write the interactions you mean with ':' instead.", at)
        return terms

    def enter(self, at: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"parentheses and transforms are nested more than {MAX_DEPTH} deep.", at)

    def error(self, what: str, at: int | None = None) -> DesignError:
        where = self.pos if at is None else at
        shown = self.text if len(self.text) <= 200 else self.text[:200] + "…"
        return DesignError(f"formula {shown!r}, character {where + 1}: {what}")

    def peek(self) -> re.Match[str] | None:
        if self.pos >= len(self.text) or _BLANK.fullmatch(self.text, self.pos):  # only spaces left (O(1) test)
            return None
        m = _TOKEN.match(self.text, self.pos)
        if m is None:
            raise self.error(f"{self.text[self.pos:].strip()[:12]!r} is not allowed in a formula. " + _ALLOWED)
        return m

    def take_op(self, op: str) -> bool:
        m = self.peek()
        if m is not None and m.group("op") == op:
            self.pos = m.end()
            return True
        return False

    def formula(self) -> Formula:
        if not self.take_op("~"):
            lhs = self.text.split("~")[0].strip()
            raise self.error("a formula starts with '~' (no left-hand side: the abundances are the response)"
                             if not lhs else f"formula has a left-hand side ({lhs!r}); give only '~ terms'.", 0)
        terms, intercept = self.expr()
        if self.peek() is not None:
            raise self.error(f"unexpected {self.text[self.pos:].strip()[:12]!r}.")
        return Formula(self.text, tuple(terms), intercept)

    def expr(self) -> tuple[list[tuple[_Factor, ...]], bool]:
        terms: list[tuple[_Factor, ...]] = []
        intercept, sign = True, "+"
        while True:
            flag = self.intercept_flag()
            if flag is not None:
                intercept = flag if sign == "+" else not flag
            else:
                at = self.pos
                for term in self.term():
                    if sign == "+" and term not in terms:
                        terms.append(term)
                    elif sign == "-" and term in terms:
                        terms.remove(term)
                self.bounded(terms, at)
            if self.take_op("+"):
                sign = "+"
            elif self.take_op("-"):
                sign = "-"
            else:
                break
            if self.peek() is None or self.peek_op() in {"+", ":", "*", ")"}:
                raise self.error("a term is missing after '+' or '-'.")
        return terms, intercept

    def peek_op(self) -> str | None:
        m = self.peek()
        return m.group("op") if m is not None else None

    def intercept_flag(self) -> bool | None:
        m = self.peek()
        if m is not None and m.group("num") is not None:
            if m.group("num") not in {"0", "1"}:
                raise self.error(f"the number {m.group('num')} is not a term (only 1 and 0, the intercept).")
            self.pos = m.end()
            return m.group("num") == "1"
        return None

    def term(self) -> list[tuple[_Factor, ...]]:
        out = self.factor()
        while True:
            at = self.pos
            if self.take_op(":"):
                right = self.factor()
                self.bounded([*out, *right], at)
                out = self.bounded(list(dict.fromkeys(_join(a, b) for a in out for b in right)), at)
            elif self.take_op("*"):
                right = self.factor()
                self.bounded([*out, *right], at)
                out = self.bounded(list(dict.fromkeys([*out, *right, *(_join(a, b) for a in out for b in right)])),
                                   at)
            else:
                return list(dict.fromkeys(out))

    def factor(self) -> list[tuple[_Factor, ...]]:
        m = self.peek()
        if m is None:
            raise self.error("a term is missing at the end.")
        if m.group("op") == "(":
            self.enter(m.start("op"))
            self.pos = m.end()
            terms, intercept = self.expr()
            if not self.take_op(")"):
                raise self.error("a ')' is missing.")
            if not intercept:
                raise self.error("'- 1' / '+ 0' belongs at the top level of the formula.")
            self.depth -= 1
            return terms
        if m.group("bq") is not None:
            self.pos = m.end()
            return [(_Factor(m.group("bq")),)]
        if m.group("name") is not None:
            return [(self.named(m),)]
        raise self.error(f"{self.text[m.start():].strip()[:12]!r} cannot start a term.")

    def named(self, m: re.Match[str]) -> _Factor:
        name, at = m.group("name"), m.start("name")
        self.pos = m.end()
        if not m.group("call"):
            return _Factor(name)
        func = name.removeprefix("np.").removeprefix("numpy.") if name.startswith(_PREFIXES) else name
        if func == "Q":
            q = _QUOTED.match(self.text, self.pos)
            if q is None:
                raise self.error("Q() takes one quoted column name, e.g. Q('Age.years').", at)
            self.pos = q.end()
            return _Factor(q.group("s") if q.group("s") is not None else q.group("d"))
        if func not in FUNCTIONS and func != "C":
            raise self.error(f"{name + '('!r} is not an allowed function; " + _ALLOWED, at)
        self.enter(at)
        inner = self.factor()
        self.depth -= 1
        if not self.take_op(")"):
            raise self.error(f"{name}(…) takes one column and a ')'.")
        if len(inner) != 1 or len(inner[0]) != 1 or inner[0][0].func:
            raise self.error(f"{name}(…) takes one plain column.", at)
        return _Factor(inner[0][0].name, func)


_ALLOWED = ("a formula may use column names, + - : * ( ), 1 and 0, and " + ", ".join([*FUNCTIONS, "C"])
            + ". Quote a column name that is not a plain name with backquotes: `my column`.")


def _join(a: tuple[_Factor, ...], b: tuple[_Factor, ...]) -> tuple[_Factor, ...]:
    return tuple(dict.fromkeys((*a, *b)))


def parse(text: str, columns: Iterable[object] | None = None) -> Formula:
    """Parse *text* by the allow-list grammar; with *columns*, every variable must be one of them."""
    if not isinstance(text, str) or not text.strip():
        raise DesignError("the formula is empty; write e.g. '~ group + age'.")
    f = _Parser(text).formula()
    if columns is not None:
        f.check_columns(columns)
    return f


def quote(name: str) -> str:
    """*name* written so that :func:`parse` reads it back as that one column.

    Examples
    --------
    >>> quote("Age"), quote("Age (years)"), quote("a`b")
    ('Age', '`Age (years)`', "Q('a`b')")
    """
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name) and name not in FUNCTIONS and name not in {"C", "Q"}:
        return name
    if "`" not in name:
        return f"`{name}`"
    if "'" not in name and "\\" not in name:
        return f"Q('{name}')"
    if '"' not in name and "\\" not in name:
        return f'Q("{name}")'
    raise DesignError(f"column name {name!r} holds both quote characters and a backquote; rename it.")


def aliases(variables: Sequence[str]) -> dict[str, str]:
    """Column → safe alias (``v0``, ``v1``, …) for the builders."""
    return {v: f"v{i}" for i, v in enumerate(variables)}


_ALIAS = re.compile(r"(?<![A-Za-z0-9_.])v(\d+)(?![A-Za-z0-9_])")


def restore_names(labels: Iterable[str], alias: Mapping[str, str]) -> list[str]:
    """Builder column labels with the aliases replaced by the user's column names (levels untouched).

    Examples
    --------
    >>> restore_names(["Intercept", "v0[T.CD]", "v0[T.UC]:np.log(v1)"], {"Diagnosis": "v0", "Age": "v1"})
    ['Intercept', 'Diagnosis[T.CD]', 'Diagnosis[T.UC]:log(Age)']
    """
    back = {a.removeprefix("v"): name for name, a in alias.items()}
    numpy_name = {v: k for k, v in FUNCTIONS.items()}
    out = []
    for label in labels:
        parts = []
        for part in _split_interaction(str(label)):
            head, bracket, rest = part.partition("[")
            for np_name, short in numpy_name.items():
                head = head.replace(np_name + "(", short + "(")
            parts.append(_ALIAS.sub(lambda m: back.get(m.group(1), m.group(0)), head) + bracket + rest)
        out.append(":".join(parts))
    return out


def _split_interaction(label: str) -> list[str]:
    """Split ``a[T.x]:b`` on the colons outside brackets (levels may hold colons)."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in label:
        depth += ch == "["
        depth -= ch == "]"
        if ch == ":" and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def safe_frame(data: pd.DataFrame, alias: Mapping[str, str]) -> pd.DataFrame:
    """The columns the formula uses, renamed to their aliases (numeric transforms need finite numbers)."""
    return data[list(alias)].rename(columns=dict(alias))


def environment() -> dict[str, object]:
    """The only names a builder may resolve besides the aliased columns."""
    return {"np": np}
