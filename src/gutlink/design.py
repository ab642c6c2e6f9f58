"""The study design: what the user asked (groups, covariates, subject, block, study, batch, strata, time) and
the checks every analysis relies on before a result may be called evidence.

:class:`Design` holds the user's words, validated against a cohort; :func:`check` measures what the data say
about that design (repeated subjects, matched blocks, confounding with study / batch / any categorical column,
perfectly separating features, rare levels, missing values, power) and returns a :class:`DesignChecks` result
whose red rows forbid the word "evidence" in any verdict.

Examples
--------
>>> from gutlink.datasets import toy
>>> c = case_control(toy(), group="group", case=["case"], control="control")
>>> c.metadata["group_label"].value_counts().to_dict()
{'case': 11, 'control': 8}
>>> d = Design(group="group", case=("case",), control=("control",))
>>> d.validate(toy()).roles()
{'group': 'group'}
>>> check(toy(), d).status in {"green", "amber", "red"}
True
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse, stats

from .cohort import Cohort
from .errors import DesignError
from .results import Result

__all__ = ["CHECK_COLUMNS", "Design", "DesignChecks", "LABEL", "MIN_GROUP_SIZE", "as_values", "case_control",
           "check", "column_hint", "cramers_v", "labels", "require_column"]

#: Smallest group a test is run on.
MIN_GROUP_SIZE = 3
#: The metadata column :func:`case_control` adds ('case' / 'control').
LABEL = "group_label"
#: Columns of :attr:`DesignChecks.table`.
CHECK_COLUMNS = ["check", "status", "column", "message", "fix"]
Status = Literal["green", "amber", "red"]
#: Checks whose red status makes a design unfittable (every command then refuses).
_FATAL = frozenset({"group sizes", "missing values", "constant covariate", "covariate levels", "strata",
                    "subjects in blocks"})
_ROLES = ("group", "subject", "block", "study", "batch", "strata", "time")
#: Column names that usually hold a technical or recruitment variable (confounding is then fatal).
_TECHNICAL = re.compile(r"batch|run|plate|lane|flowcell|study|cohort|center|centre|site|country|extraction|"
                        r"sequenc|platform|kit|lab\b|project|bioproject|dataset", re.I)
_SUBJECTISH = re.compile(r"subject|patient|participant|individual|donor|person|host|\bpid\b|mouse|animal", re.I)
_BLOCKISH = re.compile(r"household|family|famil|pair|twin|sibling|sib\b|match|set_id|litter|cage", re.I)


# ----------------------------------------------------------------------------- words
def column_hint(columns: Iterable[Any], name: str) -> str:
    """A "did you mean" hint for a column *name* not found among *columns* (or a list of them)."""
    cols = [str(c) for c in columns]
    lowered = {c.lower(): c for c in cols}
    close = [lowered[name.lower()]] if name.lower() in lowered else difflib.get_close_matches(name, cols, n=3)
    if close:
        return " Did you mean " + " or ".join(repr(c) for c in close) + "?"
    return f" Columns: {', '.join(cols[:20])}{' …' if len(cols) > 20 else ''}."


def require_column(metadata: pd.DataFrame, column: str, role: str = "column") -> None:
    """Raise a :class:`DesignError` naming *role* and the closest columns when *column* is not in *metadata*."""
    if column not in metadata.columns:
        raise DesignError(f"metadata has no {role} column {column!r}.{column_hint(metadata.columns, column)}")


def as_values(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """One value or several, as a tuple of strings (``None`` gives an empty tuple)."""
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


@dataclass(frozen=True)
class Design:
    """What the user asked: the outcome and the structure of the samples.

    Parameters
    ----------
    group, case, control
        Outcome column, its case value(s) (pooled) and control value(s).
    covariates
        Columns adjusted for.
    subject
        Subject IDs: samples of one subject are repeated measures of one person (one class per subject).
    block
        Matched sets (household, family, twin pair): a block may hold both cases and controls.
    study, batch
        Study (cohort of origin) and technical batch (sequencing run, plate) columns.
    strata
        Column within whose levels permutations are restricted.
    time
        Sampling time (for longitudinal designs).
    """

    group: str
    case: tuple[str, ...]
    control: tuple[str, ...]
    covariates: tuple[str, ...] = ()
    subject: str | None = None
    block: str | None = None
    study: str | None = None
    batch: str | None = None
    strata: str | None = None
    time: str | None = None

    def __post_init__(self) -> None:
        for name in ("case", "control", "covariates"):
            object.__setattr__(self, name, as_values(getattr(self, name)))
        if not self.case or not self.control:
            raise DesignError("a design needs at least one case value and one control value.")
        both = sorted(set(self.case) & set(self.control))
        if both:
            raise DesignError(f"{both} cannot be both case and control.")
        if self.subject is not None and self.subject == self.block:
            raise DesignError(f"{self.subject!r} cannot be both the subject and the block column: a subject has one "
                              "class (repeated samples of one person); a block may hold cases and controls "
                              "(household, pair). Give it once, as the one it is.")
        if self.group in self.covariates:
            raise DesignError(f"the group column {self.group!r} cannot also be a covariate.")

    def roles(self) -> dict[str, str]:
        """Role → column for every role that is set (covariates excluded)."""
        return {r: getattr(self, r) for r in _ROLES if getattr(self, r) is not None}

    def columns(self) -> list[str]:
        """Every metadata column the design uses, each once."""
        return list(dict.fromkeys([*self.roles().values(), *self.covariates]))

    def validate(self, cohort: Cohort) -> Design:
        """Check that every column and value exists in *cohort*'s metadata; returns the design itself."""
        meta = cohort.metadata
        for role, col in self.roles().items():
            require_column(meta, col, role)
        for col in self.covariates:
            require_column(meta, col, "covariate")
        present = set(meta[self.group].dropna().astype(str).unique())
        for v in self.case + self.control:
            if v not in present:
                raise DesignError(f"value {v!r} does not occur in column {self.group!r}; its values are "
                                  f"{sorted(present)[:20]}. Values are case-sensitive.")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"group": self.group, "case": list(self.case), "control": list(self.control),
                "covariates": list(self.covariates), **{r: getattr(self, r) for r in _ROLES[1:]}}


def case_control(cohort: Cohort, *, group: str, case: str | Sequence[str], control: str | Sequence[str]) -> Cohort:
    """Keep the case and control samples of *group*, adding a ``group_label`` column ('case' / 'control').

    *case* may hold several values (e.g. ``["CD", "UC"]``): they are pooled as cases, and the original value
    stays in the *group* column for per-level comparisons; so may *control*. Values are compared as strings.
    """
    design = Design(group=group, case=as_values(case), control=as_values(control)).validate(cohort)
    values = cohort.metadata[group].astype("string")
    is_case = values.isin(design.case).fillna(False).to_numpy(dtype=bool)
    is_control = values.isin(design.control).fillna(False).to_numpy(dtype=bool)
    keep = is_case | is_control
    sub = cohort.subset(samples=keep)
    out_meta = sub.metadata.copy()
    out_meta[LABEL] = pd.Categorical(np.where(is_case[keep], "case", "control"), categories=["control", "case"])
    counts = out_meta[LABEL].value_counts()
    for lab in ("case", "control"):
        if counts.get(lab, 0) < MIN_GROUP_SIZE:
            raise DesignError(
                f"the {lab} group has {counts.get(lab, 0)} sample(s); at least {MIN_GROUP_SIZE} are needed "
                "(after dropping samples without abundances or metadata)."
            )
    return sub.with_metadata(out_meta)


def labels(cohort: Cohort) -> pd.Series:
    """The 'case' / 'control' label of every sample (added by :func:`case_control`)."""
    if LABEL not in cohort.metadata.columns:
        raise DesignError("the cohort has no case/control labels; call gutlink.design.case_control first.")
    return cohort.metadata[LABEL].astype(str)


# ----------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class DesignChecks(Result):
    """What the data say about a design: one row per check with a status (green / amber / red).

    A red check means a result of the design may not be called evidence without saying why it still holds;
    amber is a caution the report states; green is measured and fine.
    """

    design: Design
    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CHECK_COLUMNS))  # type: ignore[assignment]
    n_case: int = 0
    n_control: int = 0

    @property
    def red(self) -> pd.DataFrame:
        """The red checks."""
        return self.table[self.table["status"] == "red"]

    @property
    def amber(self) -> pd.DataFrame:
        """The amber checks."""
        return self.table[self.table["status"] == "amber"]

    @property
    def fatal(self) -> pd.DataFrame:
        """Red checks that make the design unfittable (no model can be estimated; every command refuses)."""
        red = self.red
        used = {*self.design.covariates, self.design.strata, self.design.block} - {None}
        return red[red["check"].isin(_FATAL) | (red["check"].eq("confounding") & red["column"].isin(used))]

    @property
    def status(self) -> Status:
        """The worst status of all checks."""
        s = set(self.table["status"])
        return "red" if "red" in s else "amber" if "amber" in s else "green"

    def headline(self) -> str:
        """One sentence: how many checks are red / amber, naming the red ones."""
        if self.status == "green":
            return f"Design checks: all {len(self.table)} green."
        red = ", ".join(f"{r.check} ({r.column})" if r.column else r.check for r in self.red.itertuples())
        return (f"Design checks: {len(self.red)} red, {len(self.amber)} amber"
                + (f" — red: {red}." if red else "."))


def _row(check: str, status: Status, message: str, *, column: str = "", fix: str = "") -> dict[str, str]:
    return {"check": check, "status": status, "column": column, "message": message, "fix": fix}


def check(cohort: Cohort, design: Design, *, min_level_n: int = 5) -> DesignChecks:
    """Measure what the data say about *design*; never raises on a bad design it can describe.

    Checks: group sizes and power, missing values per column used, constant or all-missing covariates, rare
    levels (fewer than *min_level_n* samples), repeated subjects (declared or detected), matched blocks
    (declared or detected), confounding of the group with every categorical metadata column (bias-corrected
    Cramér's V and complete separation — fatal for study / batch / technical columns), sequencing depth that
    differs between the groups, and features that separate the classes perfectly.
    """
    design.validate(cohort)
    meta = cohort.metadata
    values = meta[design.group].astype("string")
    is_case = values.isin(design.case).fillna(False).to_numpy(dtype=bool)
    keep = is_case | values.isin(design.control).fillna(False).to_numpy(dtype=bool)
    sub, y = meta.loc[keep], is_case[keep]
    subjects = _subject_rows(sub, y, design)
    nuisance = {r["column"] for r in subjects if r["status"] == "red"}
    rows = [*_size_rows(y), *_missing_rows(sub, design, min_level_n), *subjects, *_block_rows(sub, y, design),
            *_nesting_rows(sub, design),
            *_strata_rows(sub, y, design),
            *_confounding_rows(sub.drop(columns=list(nuisance)), y, design), *_depth_rows(cohort, keep, y),
            *_separation_rows(cohort, keep, y)]
    table = pd.DataFrame(rows, columns=CHECK_COLUMNS)
    return DesignChecks(design=design, table=table, n_case=int(y.sum()), n_control=int((~y).sum()))


def _size_rows(y: np.ndarray) -> list[dict[str, str]]:
    n1, n0 = int(y.sum()), int((~y).sum())
    if min(n1, n0) < MIN_GROUP_SIZE:
        return [_row("group sizes", "red", f"{n1} case and {n0} control samples; at least {MIN_GROUP_SIZE} of each "
                     "are needed.", fix="Add samples, or pool more values as case or control.")]
    from statsmodels.stats.power import TTestIndPower

    d = float(TTestIndPower().solve_power(nobs1=n1, ratio=n0 / n1, alpha=0.05, power=0.8))
    status: Status = "amber" if min(n1, n0) < 10 or d > 0.8 else "green"
    return [_row("group sizes", status,
                 f"{n1} case and {n0} control samples: 80 % power (α 0.05, two-sided) for a standardised "
                 f"difference of {d:.2f} or larger in a single test; smaller effects may be missed.",
                 fix="" if status == "green" else "Treat a null result as inconclusive, not as no link.")]


def _missing_rows(sub: pd.DataFrame, design: Design, min_level_n: int) -> list[dict[str, str]]:
    rows = []
    for col in design.columns():
        x = sub[col]
        n_na = int(x.isna().sum())
        if n_na == len(x):
            rows.append(_row("missing values", "red", f"every sample of the design lacks a value of {col!r}.",
                             column=col, fix=f"Fill {col!r} in the metadata or leave it out of the design."))
            continue
        if n_na:
            rows.append(_row("missing values", "amber", f"{n_na} of {len(x)} samples have no value of {col!r} "
                             "and are left out of the analyses that use it.", column=col))
        if col in design.covariates and x.nunique(dropna=True) < 2:
            rows.append(_row("constant covariate", "red", f"covariate {col!r} has a single value "
                             f"({x.dropna().iloc[0]!r}) in the design's samples: its effect cannot be estimated.",
                             column=col, fix=f"Leave {col!r} out of the covariates."))
        elif col in design.covariates and not _numeric(x) and x.nunique(dropna=True) > 0.5 * x.notna().sum():
            rows.append(_row("covariate levels", "red", f"covariate {col!r} has {x.nunique(dropna=True)} levels for "
                             f"{int(x.notna().sum())} samples: adjusting for it leaves almost no residual degrees "
                             "of freedom.", column=col, fix=f"Give {col!r} as --subject or --block if it holds IDs, "
                             "or merge its levels."))
        elif col in (*design.covariates, design.study, design.batch) and not _numeric(x):
            counts = x.astype("string").value_counts()
            rare = counts[counts < min_level_n]
            if len(rare):
                shown = ", ".join(f"{k!r} (n={v})" for k, v in rare.head(5).items())
                rows.append(_row("rare levels", "amber", f"{len(rare)} level(s) of {col!r} have fewer than "
                                 f"{min_level_n} samples: {shown}; their estimates are unstable.", column=col,
                                 fix=f"Merge rare levels of {col!r} in the metadata, or drop those samples."))
    return rows


def _numeric(x: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x))


def _repeats(x: pd.Series) -> tuple[int, int]:
    """(number of distinct values, number of samples whose value occurs more than once)."""
    s = x.dropna().astype("string")
    counts = s.value_counts()
    return len(counts), int(counts[counts > 1].sum())


def _classes_per_value(x: pd.Series, y: np.ndarray) -> pd.Series:
    s = x.astype("string")
    ok = s.notna().to_numpy()
    return pd.Series(y[ok]).groupby(s[ok].to_numpy()).nunique()


def _subject_rows(sub: pd.DataFrame, y: np.ndarray, design: Design) -> list[dict[str, str]]:
    if design.subject is not None:
        k, rep = _repeats(sub[design.subject])
        mixed = int((_classes_per_value(sub[design.subject], y) > 1).sum())
        if mixed:
            return [_row("repeated subjects", "red", f"{mixed} subject(s) in {design.subject!r} have both case "
                         "and control samples; a subject has one class.", column=design.subject,
                         fix=f"If {design.subject!r} holds households or pairs, give it as --block "
                             f"{design.subject}; if the label changes over time, use --strata {design.subject}.")]
        return [_row("repeated subjects", "green", f"{k} subjects in {design.subject!r}; {rep} samples belong to "
                     "subjects sampled more than once and are modelled as such.", column=design.subject)]
    used = set(design.columns())
    for col in sub.columns:
        named = bool(_SUBJECTISH.search(str(col)))
        if col in used or col == LABEL or _numeric(sub[col]) and not (named and _integer_ids(sub[col])):
            continue
        k, rep = _repeats(sub[col])
        if k < 3 or rep < max(4, 0.3 * len(sub)) or k > 0.9 * len(sub) or rep / max(k, 1) < 1:
            continue
        nested = bool((_classes_per_value(sub[col], y) == 1).all())
        if nested and (named or k >= 5):
            return [_row("repeated subjects", "red", f"samples repeat per value of {col!r} ({k} values for "
                         f"{len(sub)} samples; {rep} samples share their value with another): repeated samples of "
                         "one subject are not independent, and treating them so inflates every p-value.",
                         column=str(col), fix=f"Give --subject {col} (subject=) if it holds subject IDs.")]
    return [_row("repeated subjects", "green", "no metadata column looks like repeated samples of one subject.")]


def _integer_ids(x: pd.Series) -> bool:
    return bool(pd.api.types.is_integer_dtype(x))


def _nesting_rows(sub: pd.DataFrame, design: Design) -> list[dict[str, str]]:
    """Subjects must nest in blocks: every sample of a subject in one block (household, family)."""
    if design.subject is None or design.block is None:
        return []
    pairs = sub[[design.subject, design.block]].dropna().astype("string")
    spans = pairs.groupby(design.subject)[design.block].nunique()
    crossed = spans[spans > 1]
    if len(crossed):
        return [_row("subjects in blocks", "red", f"{len(crossed)} subject(s) of {design.subject!r} have samples in "
                     f"several blocks of {design.block!r} (e.g. {crossed.index[0]!r} in {int(crossed.iloc[0])}): "
                     "permutations and nested models move whole subjects within one block.",
                     column=design.subject, fix=f"Check {design.subject!r} and {design.block!r} (a subject belongs to "
                     "one household / family), or give only one of them.")]
    return [_row("subjects in blocks", "green", f"every subject of {design.subject!r} lies in one block of "
                 f"{design.block!r}.", column=design.subject)]


def _block_rows(sub: pd.DataFrame, y: np.ndarray, design: Design) -> list[dict[str, str]]:
    if design.block is not None:
        per = _classes_per_value(sub[design.block], y)
        informative = int((per > 1).sum())
        if informative == 0:
            return [_row("matched blocks", "red", f"no block of {design.block!r} holds both a case and a control; "
                         "a matched analysis has nothing to compare.", column=design.block,
                         fix=f"Check {design.block!r}, or leave --block out.")]
        status: Status = "amber" if informative < len(per) else "green"
        return [_row("matched blocks", status, f"{informative} of {len(per)} blocks of {design.block!r} hold both "
                     "cases and controls" + ("; the others add no within-block contrast." if status == "amber"
                                             else "."), column=design.block)]
    used = set(design.columns())
    for col in sub.columns:
        if col in used or col == LABEL or not _BLOCKISH.search(str(col)):
            continue
        per = _classes_per_value(sub[col], y)
        if len(per) >= 3 and (per > 1).mean() >= 0.5:
            return [_row("matched blocks", "amber", f"{col!r} looks like matched sets ({int((per > 1).sum())} of "
                         f"{len(per)} values hold both cases and controls), but the design ignores it.",
                         column=str(col), fix=f"Give --block {col} for paired / matched statistics.")]
    return []


def _strata_rows(sub: pd.DataFrame, y: np.ndarray, design: Design) -> list[dict[str, str]]:
    if design.strata is None:
        return []
    per = _classes_per_value(sub[design.strata], y)
    mixed = int((per > 1).sum())
    if mixed == 0:
        return [_row("strata", "red", f"no level of {design.strata!r} holds both cases and controls: permutations "
                     "within its levels cannot move a label, so no test can be run.", column=design.strata,
                     fix=f"Leave --strata {design.strata} out, or check the column.")]
    if mixed < len(per):
        return [_row("strata", "amber", f"{len(per) - mixed} of {len(per)} levels of {design.strata!r} hold only "
                     "cases or only controls and add nothing to within-level comparisons.", column=design.strata)]
    return [_row("strata", "green", f"every one of the {len(per)} levels of {design.strata!r} holds cases and "
                 "controls.", column=design.strata)]


def cramers_v(x: Sequence[Any], y: Sequence[Any]) -> float:
    """Bias-corrected Cramér's V of two categorical variables (Bergsma 2013 *J Korean Stat Soc* 42:323).

    Examples
    --------
    >>> round(cramers_v(list("aabb") * 5, list("xxyy") * 5), 3)
    1.0
    """
    table = pd.crosstab(np.asarray(x), np.asarray(y)).to_numpy(dtype=float)
    n = table.sum()
    r, k = table.shape
    if n < 2 or min(r, k) < 2:
        return float("nan")
    chi2 = stats.chi2_contingency(table, correction=False)[0]
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    r_, k_ = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    denom = min(k_ - 1, r_ - 1)
    return float(np.sqrt(phi2 / denom)) if denom > 0 else float("nan")


def _confounding_rows(sub: pd.DataFrame, y: np.ndarray, design: Design) -> list[dict[str, str]]:
    rows = []
    skip = {design.group, design.subject, design.block, design.time, LABEL}
    declared = {design.study, design.batch, design.strata} - {None}
    for col in sub.columns:
        if col in skip:
            continue
        x = sub[col]
        k = x.nunique(dropna=True)
        if k < 2 or k > min(50, len(sub) // 2) or _numeric(x) and k > 10:
            continue
        row = _confounding_row(str(col), x.astype("string"), y, declared=col in declared,
                               covariate=col in {*design.covariates, design.strata, design.block} - {None})
        if row is not None:
            rows.append(row)
    if not rows:
        rows.append(_row("confounding", "green", "no categorical metadata column lines up with the groups "
                         "closely enough to pass for the group effect."))
    return rows


def _confounding_row(col: str, x: pd.Series, y: np.ndarray, *, declared: bool,
                     covariate: bool) -> dict[str, str] | None:
    ok = x.notna().to_numpy()
    if ok.sum() < 4:
        return None
    xs, ys = x[ok].to_numpy(), y[ok]
    v = cramers_v(xs, ys)
    classes = pd.Series(ys).groupby(xs).agg(["min", "max"])
    pure_case = classes.index[(classes["min"] == 1)]
    pure_ctrl = classes.index[(classes["max"] == 0)]
    cases_alone = float(np.isin(xs[ys], pure_case).mean()) if ys.any() else 0.0
    ctrls_alone = float(np.isin(xs[~ys], pure_ctrl).mean()) if (~ys).any() else 0.0
    complete = cases_alone == 1.0 or ctrls_alone == 1.0
    apart = max(cases_alone, ctrls_alone)
    technical = declared or bool(_TECHNICAL.search(col))
    strong = np.isfinite(v) and v >= 0.5
    if not (complete or strong or technical and (apart >= 0.5 or np.isfinite(v) and v >= 0.3)):
        return None
    where = (f"{cases_alone:.0%} of cases sit in levels without controls, {ctrls_alone:.0%} of controls in levels "
             "without cases")
    msg = f"the groups line up with {col!r} (bias-corrected Cramér's V {v:.2f}; {where})"
    if covariate:  # the user adjusts for it: fatal only when no level holds both groups
        mixed = ~(classes["min"] == classes["max"])
        if not mixed.any():
            return _row("confounding", "red", msg + ": no level holds both groups, so adjusting for it leaves "
                        "nothing to compare.", column=col,
                        fix=f"Leave {col!r} out of the covariates / strata; the group effect cannot be separated "
                            "from it in this cohort.")
        if complete or v >= 0.5 or apart >= 0.5:
            n_mixed = int(np.isin(xs, classes.index[mixed]).sum())
            return _row("confounding", "amber", msg + f"; adjusted for, so the group effect rests on the {n_mixed} "
                        "samples in levels that hold both groups.", column=col)
        return None
    if technical and (strong or apart >= 0.5):
        return _row("confounding", "red", msg + ": the group effect cannot be told apart from it.", column=col,
                    fix=f"Within-{col} controls are needed; meanwhile add --covariates {col}, --strata {col}, or "
                        f"--study {col} (leave-one-study-out) and compare.")
    if complete and cases_alone == 1.0 and ctrls_alone == 1.0 and not technical:
        return _row("group alias", "amber", f"{col!r} splits the samples exactly as the groups do (an alias or "
                    "sub-label of the group?); if it is a recruitment or technical variable, the group effect "
                    "cannot be separated from it.", column=col)
    if technical or v >= 0.8:
        return _row("confounding", "amber", msg + (". If it is a technical or recruitment variable, the group "
                    "effect cannot be separated from it." if not technical else "."), column=col,
                    fix=f"If {col!r} is technical, compare with --covariates {col} or --strata {col}.")
    return None


def _library_sizes(cohort: Cohort) -> np.ndarray:
    return np.asarray(cohort.abundance.sum(axis=1), dtype=float).ravel()


def _depth_rows(cohort: Cohort, keep: np.ndarray, y: np.ndarray) -> list[dict[str, str]]:
    if cohort.units != "counts":
        return []
    depth = _library_sizes(cohort)[keep]
    a, b = depth[y], depth[~y]
    if a.size < 3 or b.size < 3:
        return []
    ratio = float(np.median(a) / max(np.median(b), 1.0))
    p = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    if (ratio >= 1.5 or ratio <= 1 / 1.5) and p < 0.01:
        return [_row("sequencing depth", "amber", f"median reads per sample: {np.median(a):.0f} (cases) vs "
                     f"{np.median(b):.0f} (controls), a {ratio:.2f}-fold ratio (Mann–Whitney p {p:.1g}): "
                     "presence/absence and richness differences can come from depth alone.", fix="gutlink's presence model adjusts for log depth; rarefy "
                     "(--rarefy) for richness, or match depth.")]
    return [_row("sequencing depth", "green", f"median reads per sample: {np.median(a):.0f} (cases) vs "
                 f"{np.median(b):.0f} (controls).")]


def _separation_rows(cohort: Cohort, keep: np.ndarray, y: np.ndarray) -> list[dict[str, str]]:
    n1, n0 = int(y.sum()), int((~y).sum())
    if min(n1, n0) < 10:
        return []
    x = cohort.abundance[keep] if sparse.issparse(cohort.abundance) else cohort.abundance[keep]
    x = sparse.csr_array(x) if sparse.issparse(x) else np.asarray(x)
    lo1, hi1 = _col_min(x[y]), _col_max(x[y])
    lo0, hi0 = _col_min(x[~y]), _col_max(x[~y])
    separates = (lo1 > hi0) | (lo0 > hi1)
    if not separates.any():
        return [_row("perfect separation", "green", "no single feature separates cases from controls.")]
    names = list(cohort.feature_ids[separates][:5])
    return [_row("perfect separation", "red", f"{int(separates.sum())} feature(s) separate cases from controls "
                 f"perfectly (e.g. {', '.join(map(repr, names))}): a taxon present only in one study or run, or a "
                 "clinical column read as a taxon, makes any classifier look perfect.", column=", ".join(names),
                 fix="Check these features: move clinical columns to the metadata (--metadata-columns), and "
                     "check that cases and controls come from the same studies and runs.")]


def _col_min(x: Any) -> np.ndarray:
    return np.asarray(x.min(axis=0).todense() if sparse.issparse(x) else x.min(axis=0), dtype=float).ravel()


def _col_max(x: Any) -> np.ndarray:
    return np.asarray(x.max(axis=0).todense() if sparse.issparse(x) else x.max(axis=0), dtype=float).ravel()
