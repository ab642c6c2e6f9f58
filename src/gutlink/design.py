"""The study design: which samples are cases and controls, and the checks every analysis relies on.

Examples
--------
>>> from gutlink.datasets import toy
>>> c = case_control(toy(), group="group", case=["case"], control="control")
>>> c.metadata["group_label"].value_counts().to_dict()
{'case': 11, 'control': 8}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .cohort import Cohort
from .errors import DesignError

__all__ = ["LABEL", "MIN_GROUP_SIZE", "case_control", "labels"]

#: Smallest group a test is run on.
MIN_GROUP_SIZE = 3
#: The metadata column :func:`case_control` adds ('case' / 'control').
LABEL = "group_label"


def case_control(cohort: Cohort, *, group: str, case: Sequence[str], control: str | Sequence[str]) -> Cohort:
    """Keep the case and control samples of *group*, adding a ``group_label`` column ('case' / 'control').

    *case* may hold several values (e.g. ``["CD", "UC"]``): they are pooled as cases, and the original value
    stays in the *group* column for per-level comparisons. Values are compared as strings.
    """
    meta = cohort.metadata
    if group not in meta.columns:
        close = [c for c in meta.columns if c.lower() == group.lower()]
        hint = f" Did you mean {close[0]!r}?" if close else f" Columns: {', '.join(map(str, meta.columns[:20]))}."
        raise DesignError(f"metadata has no column {group!r}.{hint}")
    values = meta[group].astype("string")
    cases = [str(c) for c in ([case] if isinstance(case, str) else case)]
    controls = [str(c) for c in ([control] if isinstance(control, str) else control)]
    present = set(values.dropna().unique())
    for v in cases + controls:
        if v not in present:
            raise DesignError(
                f"value {v!r} does not occur in column {group!r}; its values are "
                f"{sorted(present)[:20]}. Values are case-sensitive."
            )
    if set(cases) & set(controls):
        raise DesignError(f"{sorted(set(cases) & set(controls))} cannot be both case and control.")
    label = pd.Series(np.where(values.isin(cases), "case", np.where(values.isin(controls), "control", "")),
                      index=meta.index)
    label = label.where(values.notna(), "")
    keep = (label != "").to_numpy()
    sub = cohort.subset(samples=keep)
    out_meta = sub.metadata.copy()
    out_meta[LABEL] = pd.Categorical(label[keep], categories=["control", "case"])
    counts = out_meta[LABEL].value_counts()
    for lab in ("case", "control"):
        if counts.get(lab, 0) < MIN_GROUP_SIZE:
            raise DesignError(
                f"the {lab} group has {counts.get(lab, 0)} sample(s); at least {MIN_GROUP_SIZE} are needed "
                "(after dropping samples without abundances or metadata)."
            )
    return sub.with_metadata(out_meta)


def labels(cohort: Cohort) -> pd.Series:
    if LABEL not in cohort.metadata.columns:
        raise DesignError("the cohort has no case/control labels; call gutlink.design.case_control first.")
    return cohort.metadata[LABEL].astype(str)
