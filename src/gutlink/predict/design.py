"""The prediction design: labels, subjects, studies, checked once at the boundary; and the CV splits.

Repeated measures never straddle train and test: when a subject column is given every split is grouped
(:class:`~sklearn.model_selection.StratifiedGroupKFold`), in the outer and the inner loop. A block column
(household, family, twin pair: a block may hold cases and controls, a subject may not) groups the splits the
same way, so all samples of a block sit in one fold; subjects must then be nested in blocks.

Examples
--------
>>> from gutlink.datasets import toy
>>> d = prepare(toy(), group="group", case=["case"], control="control")
>>> int(d.y.sum()), len(d.y), d.grouped
(11, 19, False)
>>> max_folds(d)
8
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from ..cohort import Cohort
from ..design import LABEL, case_control
from ..errors import DesignError

__all__ = ["Design", "prepare", "max_folds", "check_folds", "outer_splits", "inner_splitter"]


@dataclass(frozen=True, eq=False)
class Design:
    """What a classifier sees: raw abundances ``x``, 0/1 labels ``y`` (1 = case) and the optional grouping.

    ``groups`` is what the CV splits keep together: the block of each sample when a block column is given,
    else its subject (``None`` when neither is given). ``subjects`` and ``blocks`` are the columns' values.
    """

    cohort: Cohort
    x: np.ndarray
    y: np.ndarray
    groups: np.ndarray | None
    study: np.ndarray | None
    subject_column: str | None = None
    study_column: str | None = None
    subjects: np.ndarray | None = None
    blocks: np.ndarray | None = None
    block_column: str | None = None

    @property
    def grouped(self) -> bool:
        """Whether samples are grouped (by subject or block) in the CV splits."""
        return self.groups is not None

    @property
    def units(self) -> np.ndarray:
        """The exchangeable unit of one class: the sample's subject when given, else the sample itself."""
        return self.subjects if self.subjects is not None else np.arange(len(self.y)).astype(str)

    @property
    def clusters(self) -> np.ndarray:
        """The unit of resampling (bootstrap): the sample's block, else its subject, else the sample."""
        return self.groups if self.groups is not None else self.units


def _column(meta: pd.DataFrame, column: str, role: str) -> pd.Series:
    if column not in meta.columns:
        close = [c for c in meta.columns if str(c).lower() == column.lower()]
        hint = f" Did you mean {close[0]!r}?" if close else f" Columns: {', '.join(map(str, meta.columns[:20]))}."
        raise DesignError(f"metadata has no {role} column {column!r}.{hint}")
    values = meta[column]
    if values.isna().any():
        bad = list(values.index[values.isna()][:5])
        raise DesignError(
            f"{role} column {column!r} is missing for {int(values.isna().sum())} sample(s), e.g. {bad}. "
            "Remove those samples first (e.g. cohort.subset(...) or --where)."
        )
    return values.astype(str)


def _check_subjects(subjects: np.ndarray, y: np.ndarray, column: str) -> None:
    frame = pd.DataFrame({"subject": subjects, "y": y})
    n_labels = frame.groupby("subject")["y"].nunique()
    shared = n_labels.index[n_labels > 1]
    if len(shared):
        raise DesignError(
            f"{len(shared)} subject(s) of column {column!r} have both case and control samples, e.g. "
            f"{list(shared[:5])}. A subject must belong to one class. If {column!r} holds households, families "
            f"or matched pairs, give it as the block instead (block={column!r}, --block {column}): a block may "
            "hold cases and controls and is kept in one fold. Otherwise check the subject IDs or keep one class "
            "per subject (e.g. the first visit)."
        )


def _check_nested(subjects: np.ndarray, blocks: np.ndarray, subject: str, block: str) -> None:
    per = pd.Series(blocks).groupby(subjects).nunique()
    split = per.index[per > 1]
    if len(split):
        raise DesignError(
            f"{len(split)} subject(s) of {subject!r} appear in more than one block of {block!r}, e.g. "
            f"{list(split[:5])}. Every subject must lie within one block (household, family, pair); check "
            "the two columns."
        )


def _groups(subjects: np.ndarray | None, blocks: np.ndarray | None) -> np.ndarray | None:
    return blocks if blocks is not None else subjects


def prepare(cohort: Cohort, *, group: str, case: str | Sequence[str], control: str | Sequence[str],
            subject: str | None = None, study: str | None = None, block: str | None = None) -> Design:
    """Check the design and build the arrays (errors say what is wrong and what to do).

    NaN in the outcome, subject, block or study column is an error rather than a silent drop.
    """
    _column(cohort.metadata, group, "outcome")
    if subject is not None and subject == block:
        raise DesignError(f"{subject!r} cannot be both the subject and the block column: a subject has one class, "
                          "a block (household, pair) may hold both. Give it once, as the one it is.")
    cases = [case] if isinstance(case, str) else list(case)
    sub = case_control(cohort, group=group, case=cases, control=control)
    y = (sub.metadata[LABEL].astype(str) == "case").to_numpy(dtype=int)
    subjects = None if subject is None else _column(sub.metadata, subject, "subject").to_numpy()
    if subjects is not None:
        _check_subjects(subjects, y, subject)  # type: ignore[arg-type]
    blocks = None if block is None else _column(sub.metadata, block, "block").to_numpy()
    if subjects is not None and blocks is not None:
        _check_nested(subjects, blocks, subject, block)  # type: ignore[arg-type]
    studies = None if study is None else _column(sub.metadata, study, "study").to_numpy()
    x = sub.dense().astype(float)
    if x.shape[1] == 0 or not (x.std(axis=0) > 0).any():
        raise DesignError("every feature is constant across the samples; nothing can be learnt.")
    return Design(cohort=sub, x=x, y=y, groups=_groups(subjects, blocks), study=studies, subject_column=subject,
                  study_column=study, subjects=subjects, blocks=blocks, block_column=block)


def _class_units(y: np.ndarray, groups: np.ndarray | None) -> dict[int, int]:
    if groups is None:
        return {c: int((y == c).sum()) for c in (0, 1)}
    return {c: int(pd.unique(groups[y == c]).size) for c in (0, 1)}


def max_folds(design: Design) -> int:
    """The largest number of folds possible: the size of the smaller class (in subjects when grouped)."""
    return min(_class_units(design.y, design.groups).values())


def check_folds(design: Design, n_folds: int) -> None:
    """Raise :class:`DesignError` when a class has fewer samples (subjects, blocks) than *n_folds*."""
    if n_folds < 2:
        raise DesignError(f"n_folds must be at least 2, got {n_folds}.")
    units = _class_units(design.y, design.groups)
    what = "blocks" if design.blocks is not None else "subjects" if design.grouped else "samples"
    for c, name in ((1, "case"), (0, "control")):
        if units[c] < n_folds:
            largest = max_folds(design)
            raise DesignError(
                f"the {name} class has {units[c]} {what}, fewer than the {n_folds} folds requested; "
                f"the largest number of folds possible is {largest}"
                + (" (use n_folds ≤ that, or --folds)." if largest >= 2 else "; collect more samples.")
            )


def _strata(design: Design, n_folds: int) -> np.ndarray:
    """Stratify by class and study when every stratum can fill the folds, else by class only."""
    y = design.y.astype(str)
    if design.study is None:
        return y
    combined = np.char.add(np.char.add(y, "|"), design.study.astype(str))
    counts = pd.Series(combined).value_counts()
    return combined if counts.min() >= n_folds else y


def outer_splits(design: Design, *, n_folds: int, n_repeats: int,
                 seeds: Sequence[int]) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Yield ``(repeat, fold, train, test)`` of repeated stratified (grouped) k-fold CV."""
    strata = _strata(design, n_folds)
    for r in range(n_repeats):
        if design.groups is None:
            splitter = StratifiedKFold(n_folds, shuffle=True, random_state=int(seeds[r]))
            splits = splitter.split(design.x, strata)
        else:
            splitter = StratifiedGroupKFold(n_folds, shuffle=True, random_state=int(seeds[r]))
            splits = splitter.split(design.x, design.y, design.groups)
        for f, (train, test) in enumerate(splits):
            yield r, f, train, test


def inner_splitter(y: np.ndarray, groups: np.ndarray | None, n_inner: int,
                   seed: int) -> StratifiedKFold | StratifiedGroupKFold:
    """The inner-loop splitter for a training set, with no more folds than its smaller class allows."""
    units = _class_units(y, groups)
    k = min(n_inner, *units.values())
    if k < 2:
        raise DesignError("a training fold holds fewer than 2 samples (subjects) of one class; use fewer folds.")
    if groups is None:
        return StratifiedKFold(k, shuffle=True, random_state=seed)
    return StratifiedGroupKFold(k, shuffle=True, random_state=seed)
