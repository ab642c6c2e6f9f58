"""Model formula → design matrix, with the checks a user needs to hear about.

Categorical columns get their reference level first; samples with a missing value in a formula column are
dropped and counted; a rank-deficient design names the collinear columns; contrasts between levels become
rows of a contrast matrix.

Examples
--------
>>> import pandas as pd
>>> meta = pd.DataFrame({"g": list("abcabcab"), "age": [30, 41, 52, 33, None, 60, 25, 47]},
...                     index=[f"s{i}" for i in range(8)])
>>> d = build_design(meta, "~ g + age", reference={"g": "b"})
>>> d.columns
['Intercept', 'g[T.a]', 'g[T.c]', 'age']
>>> d.dropped
{'age': 1}
>>> [t.comparison for t in d.terms]
['g: a vs b', 'g: c vs b', 'age (per unit)']
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg

from ..errors import DesignError
from ..formula import aliases, environment, restore_names, safe_frame
from ..formula import parse as parse_formula

__all__ = ["GROUP_LEVELS", "Design", "Omnibus", "Term", "build_design", "omnibus_terms"]

#: Names a formula may use that are functions or namespaces, not metadata columns.
_FUNCTIONS = {"C", "np", "numpy", "log", "log2", "log10", "log1p", "exp", "sqrt", "center", "scale",
              "standardize", "I", "Q", "poly", "bs", "cr", "cc", "contr", "treatment", "Treatment", "abs"}
_LEVEL = re.compile(r"^(?P<var>.+)\[T\.(?P<level>.+)\]$")
GROUP_LEVELS = "__group_levels__"


@dataclass(frozen=True)
class Term:
    """One tested quantity: a coefficient or a contrast ``L @ beta`` of the design."""

    name: str
    comparison: str
    contrast: np.ndarray
    variable: str | None = None
    level: str | None = None
    reference: str | None = None

    @property
    def categorical(self) -> bool:
        """Whether the term compares two levels (rather than a slope per unit)."""
        return self.level is not None


@dataclass(frozen=True)
class Omnibus:
    """A multi-df test of a categorical variable: are all its levels alike? ``rows`` index the design's terms
    (the coefficients ``var[T.level]`` of every non-reference level) whose contrast rows form ``matrix``."""

    name: str
    comparison: str
    variable: str
    levels: tuple[str, ...]
    rows: tuple[int, ...]
    matrix: np.ndarray


@dataclass(frozen=True)
class Design:
    """A full-rank design matrix with its tested terms and the samples it uses."""

    matrix: np.ndarray
    columns: list[str]
    terms: list[Term]
    keep: np.ndarray
    metadata: pd.DataFrame
    variables: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    group: str | None = None
    rhs: str = ""

    @property
    def n(self) -> int:
        """Number of samples in the design."""
        return int(self.matrix.shape[0])

    @property
    def p(self) -> int:
        """Number of columns (parameters)."""
        return int(self.matrix.shape[1])


# ----------------------------------------------------------------------------- formula parsing
def _rhs(formula: str) -> str:
    text = str(formula).strip()
    if text.count("~") > 1 or (text.count("~") == 1 and text.split("~")[0].strip()):
        raise DesignError(f"formula {formula!r} must have no left-hand side (the features are the responses); "
                          "write it as '~ group + age'.")
    rhs = text.lstrip("~").strip()
    if not rhs:
        raise DesignError("the formula is empty; name at least one metadata column, e.g. '~ group'.")
    return rhs


def formula_names(rhs: str, columns: pd.Index) -> tuple[list[str], list[str]]:
    """Metadata columns a formula uses, and names it uses that are neither columns nor functions."""
    found = re.findall(r"`([^`]+)`", rhs)
    rest = re.sub(r"`[^`]+`", " 0 ", rhs)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(rest).readline))
    except (tokenize.TokenError, SyntaxError) as err:
        raise DesignError(f"cannot parse formula '~ {rhs}': {err}.") from None
    unknown: list[str] = []
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.NAME or tok.string in _FUNCTIONS or tok.string in {"True", "False", "None"}:
            continue
        before = tokens[i - 1].string if i else ""
        after = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if before == "." or after in {"(", "="}:
            continue
        (found if tok.string in columns else unknown).append(tok.string)
    used = [c for c in dict.fromkeys(found) if c in columns]
    unknown += [c for c in found if c not in columns]
    return used, list(dict.fromkeys(unknown))


def _missing_column_error(names: list[str], columns: pd.Index) -> DesignError:
    hints = []
    for name in names:
        close = [c for c in columns if str(c).lower() == name.lower() or name.lower() in str(c).lower()]
        if close:
            hints.append(f"{name!r} → did you mean {close[0]!r}?")
    shown = ", ".join(map(repr, list(columns[:15])))
    return DesignError(
        f"the formula names {len(names)} column(s) not in the metadata: {names}. "
        + (" ".join(hints) + " " if hints else "")
        + f"Columns are: {shown}{', …' if len(columns) > 15 else ''}. Names are case-sensitive; quote names "
        "with dots or spaces in backticks, e.g. `Fecal.Calprotectin`."
    )


# ----------------------------------------------------------------------------- variables
def _looks_numeric(values: pd.Series) -> tuple[bool, list[str]]:
    """An object column that is mostly numbers with a few stray words (a broken continuous covariate)."""
    text = values.dropna().astype(str)
    parsed = pd.to_numeric(text, errors="coerce")
    bad = text[parsed.isna()]
    mostly = len(text) > 0 and parsed.notna().mean() >= 0.8 and text.nunique() > 5
    return bool(mostly and len(bad)), sorted(bad.unique().tolist())[:5]


def _categorical(values: pd.Series, name: str, reference: str | None) -> pd.Series:
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = [str(c) for c in values.cat.categories if (values == c).any()]
        values = values.astype("string")
    else:
        values = values.astype("string")
        cats = sorted(values.dropna().unique().tolist())
    if reference is not None:
        if str(reference) not in cats:
            raise DesignError(f"reference level {reference!r} of column {name!r} has no samples; its levels are "
                              f"{cats[:20]}. Values are case-sensitive.")
        cats = [str(reference)] + [c for c in cats if c != str(reference)]
    if len(cats) < 2:
        raise DesignError(f"column {name!r} has a single level ({cats}) among the samples used; it cannot be "
                          "tested or adjusted for. Remove it from the formula.")
    return pd.Series(pd.Categorical(values, categories=cats), index=values.index, name=name)


def _prepare_variable(values: pd.Series, name: str, reference: str | None) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return _categorical(values.map({True: "True", False: "False"}), name, reference or "False")
    if pd.api.types.is_numeric_dtype(values) and reference is None:
        return values.astype(float)
    if not isinstance(values.dtype, pd.CategoricalDtype) and reference is None:
        broken, bad = _looks_numeric(values)
        if broken:
            raise DesignError(f"column {name!r} looks continuous but holds non-numeric values {bad}. Fix or blank "
                              "them (blank values drop the sample), or pass a reference level to treat the column "
                              "as categorical.")
    return _categorical(values, name, reference)


def _recode_group(meta: pd.DataFrame, group: str, case: Sequence[str], control: str) -> pd.DataFrame:
    values = meta[group].astype("string")
    present = set(values.dropna().unique())
    for v in [*case, control]:
        if v not in present:
            raise DesignError(f"value {v!r} does not occur in column {group!r} (no samples at that level); its "
                              f"values are {sorted(present)[:20]}. Values are case-sensitive.")
    if control in case:
        raise DesignError(f"{control!r} cannot be both case and control.")
    label = "+".join(case)
    keep = values.isin([*case, control]).fillna(False).to_numpy(dtype=bool)
    out = meta.loc[keep].copy()
    recoded = np.where(values[keep].isin(case).to_numpy(dtype=bool), label, control)
    out[group] = pd.Categorical(recoded, categories=[control, label])
    return out


# ----------------------------------------------------------------------------- matrix and checks
def _drop_missing(meta: pd.DataFrame, used: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    na = meta[used].isna()
    dropped = {c: int(n) for c, n in na.sum().items() if n}
    return meta.loc[~na.any(axis=1).to_numpy()], dropped


def _model_matrix(rhs: str, data: pd.DataFrame) -> pd.DataFrame:
    """The model matrix of ``~ rhs``: formulaic builds it from a formula gutlink wrote over aliases of the
    columns (:mod:`gutlink.formula`), so no formula text or column name is ever evaluated."""
    import formulaic
    from formulaic.errors import FormulaicError

    f = parse_formula("~ " + rhs, data.columns)
    alias = aliases(f.variables)
    try:
        frame = formulaic.model_matrix(f.safe(alias), safe_frame(data, alias), na_action="raise",
                                       context=environment())
    except (FormulaicError, ValueError, TypeError, KeyError, NameError) as err:
        message = restore_names([str(err)], alias)[0]
        raise DesignError(f"cannot build the design from formula '~ {rhs}': {message}") from None
    columns = restore_names([str(c) for c in frame.columns], alias)
    return pd.DataFrame(np.asarray(frame, dtype=float), index=data.index, columns=columns)


def collinear_columns(x: np.ndarray, columns: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Columns that are linear combinations of others, each with the columns it depends on."""
    _, r, piv = linalg.qr(x, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    tol = diag.max() * max(x.shape) * np.finfo(float).eps * 1e3 if diag.size else 0
    rank = int((diag > tol).sum())
    basis = list(piv[:rank])
    out = []
    for j in piv[rank:]:
        coef = np.linalg.lstsq(x[:, basis], x[:, j], rcond=None)[0]
        partners = [columns[basis[k]] for k in np.flatnonzero(np.abs(coef) > 1e-8)]
        out.append((columns[j], partners))
    return out


def _check_rank(x: pd.DataFrame) -> None:
    if x.shape[1] == 0:
        raise DesignError("the design has no columns.")
    bad = collinear_columns(x.to_numpy(), list(x.columns))
    if bad:
        shown = [(c, p if len(p) <= 6 else [*p[:6], f"… {len(p) - 6} more"]) for c, p in bad[:3]]
        text = "; ".join(f"{c!r} = a combination of {p}" if p else f"{c!r} is constant zero" for c, p in shown)
        if len(bad) > 3:
            text += f"; and {len(bad) - 3} more such column(s)"
        variables = list(dict.fromkeys(c.split("[", 1)[0] for c, _ in bad))
        raise DesignError(f"the design is collinear in {', '.join(map(repr, variables))}: {text}. Remove one of "
                          "each set (e.g. a covariate that is identical to or determined by the group), or merge "
                          "levels (a column with about one sample per level holds IDs: give it as --subject or "
                          "--block).")


def _check_size(n: int, p: int) -> None:
    if n < p + 2:
        raise DesignError(f"{n} samples for {p} parameters: at least {p + 2} are needed to estimate the effects and "
                          "their variance. Use fewer covariates or more samples.")


# ----------------------------------------------------------------------------- terms and contrasts
def _terms(columns: list[str], data: pd.DataFrame) -> list[Term]:
    terms = []
    for j, col in enumerate(columns):
        if col == "Intercept":
            continue
        unit = np.zeros(len(columns))
        unit[j] = 1.0
        m = _LEVEL.match(col)
        var = m.group("var") if m else None
        if m and var in data.columns and isinstance(data[var].dtype, pd.CategoricalDtype):
            ref = str(data[var].cat.categories[0])
            terms.append(Term(col, f"{var}: {m.group('level')} vs {ref}", unit, var, m.group("level"), ref))
        elif col in data.columns:
            terms.append(Term(col, f"{col} (per unit)", unit, col))
        else:
            terms.append(Term(col, col, unit))
    return terms


def _contrast_terms(contrasts: Sequence[tuple[str, str, str]], columns: list[str],
                    data: pd.DataFrame) -> list[Term]:
    out = []
    for spec in contrasts:
        if len(spec) != 3:
            raise DesignError(f"contrast {spec!r} must be (column, level, other_level).")
        var, a, b = (str(s) for s in spec)
        if var not in data.columns or not isinstance(data[var].dtype, pd.CategoricalDtype):
            raise DesignError(f"contrast {spec!r}: {var!r} is not a categorical column of the formula.")
        cats = [str(c) for c in data[var].cat.categories]
        vec = np.zeros(len(columns))
        for level, sign in ((a, 1.0), (b, -1.0)):
            if level not in cats:
                raise DesignError(f"contrast {spec!r}: level {level!r} of {var!r} has no samples; levels: {cats}.")
            if level != cats[0]:
                name = f"{var}[T.{level}]"
                if name not in columns:
                    raise DesignError(f"contrast {spec!r}: the design has no column {name!r} (is {var!r} a main "
                                      "effect of the formula?).")
                vec[columns.index(name)] = sign
        out.append(Term(f"{var}[{a} vs {b}]", f"{var}: {a} vs {b}", vec, var, a, b))
    return out


def pairwise_contrasts(data: pd.DataFrame, variable: str) -> list[tuple[str, str, str]]:
    """Every pair of non-reference levels of a categorical *variable* (the reference pairs are coefficients)."""
    cats = [str(c) for c in data[variable].cat.categories]
    return [(variable, a, b) for i, b in enumerate(cats[1:], 1) for a in cats[i + 1:]]


# ----------------------------------------------------------------------------- entry point
def _select(meta: pd.DataFrame, rhs: str, group: str | None, case: Sequence[str] | None,
            control: str | None) -> tuple[pd.DataFrame, str, list[str]]:
    used, unknown = formula_names(rhs, meta.columns)
    if group is not None:
        if group not in meta.columns:
            raise _missing_column_error([group], meta.columns)
        if case is None or control is None:
            raise DesignError("give both case and control values with group.")
        meta = _recode_group(meta, group, list(case), str(control))
        if group not in used:
            rhs, used = f"{_quote(group)} + {rhs}", [group, *used]
    if unknown:
        raise _missing_column_error(unknown, meta.columns)
    if not used:
        raise DesignError(f"formula '~ {rhs}' uses no metadata column.")
    return meta, rhs, used


def _quote(name: str) -> str:
    return name if name.isidentifier() else f"`{name}`"


def build_design(metadata: pd.DataFrame, formula: str, *, group: str | None = None,
                 case: Sequence[str] | str | None = None, control: str | None = None,
                 reference: Mapping[str, str] | None = None,
                 contrasts: Sequence[tuple[str, str, str]] | str | None = None) -> Design:
    """Design matrix, tested terms and kept samples for *formula* on *metadata* (see module docstring)."""
    case = [case] if isinstance(case, str) else (None if case is None else [str(c) for c in case])
    meta, rhs, used = _select(metadata, _rhs(formula), group, case, control)
    meta, dropped = _drop_missing(meta, used)
    if meta.empty:
        raise DesignError(f"every sample has a missing value in {used}; nothing is left to test.")
    reference = dict(reference or {})
    data = pd.DataFrame({c: _prepare_variable(meta[c], c, reference.get(c)) for c in used}, index=meta.index)
    x = _model_matrix(rhs, data)
    _check_rank(x)
    _check_size(*x.shape)
    columns = list(x.columns)
    if contrasts == "pairwise":
        cats = [v for v in used if isinstance(data[v].dtype, pd.CategoricalDtype)]
        contrasts = pairwise_contrasts(data, group if group else cats[0]) if cats else []
    chosen: Sequence[tuple[str, str, str]] = [] if not contrasts or isinstance(contrasts, str) else contrasts
    terms = _terms(columns, data) + _contrast_terms(list(chosen), columns, data)
    keep = metadata.index.isin(meta.index)
    return Design(x.to_numpy(), columns, terms, keep, data, used, dropped, group, rhs)


def _categoricals(design: Design) -> list[str]:
    return [v for v in design.variables if isinstance(design.metadata[v].dtype, pd.CategoricalDtype)]


def omnibus_terms(design: Design, which: bool | str | Sequence[str] | None = None) -> list[Omnibus]:
    """The omnibus tests to run: one per categorical variable, over the coefficients of its non-reference levels.

    *which*: ``None`` (default) — the variable of interest (the group, else the first categorical variable of the
    formula) when it has three or more levels; ``True`` — every categorical variable with three or more levels;
    ``False`` — none; a name or list of names — those variables (two levels allowed: then F = t²).
    With an interaction in the formula the test concerns the main-effect coefficients, i.e. the variable's
    levels at the reference of the variables it interacts with (as the coefficients themselves do).

    Examples
    --------
    >>> import pandas as pd
    >>> meta = pd.DataFrame({"dx": list("abcabcabca"), "sex": list("FMFMFMFMFM")}, index=list("qrstuvwxyz"))
    >>> d = build_design(meta, "~ dx + sex")
    >>> [(o.name, o.levels, o.rows) for o in omnibus_terms(d)]
    [('dx', ('a', 'b', 'c'), (0, 1))]
    >>> omnibus_terms(d, False), [o.name for o in omnibus_terms(d, ["sex"])]
    ([], ['sex'])
    """
    cats = _categoricals(design)
    if which is False:
        return []
    if which is None:
        first = design.group if design.group is not None else (cats[0] if cats else None)
        names = [first] if first is not None and design.metadata[first].cat.categories.size >= 3 else []
    elif which is True:
        names = [v for v in cats if design.metadata[v].cat.categories.size >= 3]
    else:
        names = [which] if isinstance(which, str) else [str(v) for v in which]
        bad = [v for v in names if v not in cats]
        if bad:
            raise DesignError(f"omnibus: {bad} {'is' if len(bad) == 1 else 'are'} not among the categorical "
                              f"columns of the formula: {cats}.")
    out = []
    for var in dict.fromkeys(names):
        levels = tuple(str(c) for c in design.metadata[var].cat.categories)
        rows = tuple(i for i, t in enumerate(design.terms)
                     if t.variable == var and t.level is not None and t.name == f"{var}[T.{t.level}]"
                     and t.name in design.columns)
        if len(rows) < len(levels) - 1:
            raise DesignError(f"omnibus: the design has no main-effect column for every non-reference level of "
                              f"{var!r} (is it a main effect of the formula?).")
        matrix = np.vstack([design.terms[i].contrast for i in rows])
        text = f"{var}: any difference among {', '.join(levels)}"
        out.append(Omnibus(var, text, var, levels, rows, matrix))
    return out


def rebuild(design: Design, data: pd.DataFrame) -> np.ndarray:
    """The design matrix of the same formula on changed *data* (e.g. shuffled labels)."""
    return _model_matrix(design.rhs, data).to_numpy()


def group_labels(design: Design) -> pd.Series | None:
    """Per-sample level of the group (or the first categorical term's variable) for per-group summaries."""
    var = design.group
    if var is None:
        var = next((t.variable for t in design.terms if t.categorical), None)
    if var is None:
        return None
    return design.metadata[var].astype(str).rename(var)


def constant_within(values: pd.Series | np.ndarray, blocks: np.ndarray) -> bool:
    """Whether *values* never vary within a block (e.g. a subject's disease status)."""
    frame = pd.DataFrame({"v": np.asarray(values), "b": blocks})
    return bool((frame.groupby("b")["v"].nunique(dropna=False) <= 1).all())


def describe(design: Design) -> dict[str, Any]:
    """JSON-safe description of the design (columns, terms, dropped samples)."""
    return {"columns": design.columns, "terms": [t.name for t in design.terms], "n_samples": design.n,
            "n_dropped_missing": design.dropped, "variables": design.variables}
