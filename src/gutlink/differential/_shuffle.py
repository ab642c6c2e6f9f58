"""Built-in negative control: the same analysis on label-shuffled copies of the user's own data.

Labels are permuted within strata (e.g. study); when a subject column is given and the label is constant within
subjects, whole subjects are permuted, so that repeated measures stay together as they would under the null.

Examples
--------
>>> import pandas as pd
>>> labels = pd.Series(["a", "a", "b", "b", "a", "b"])
>>> out = shuffle(labels, strata=np.array([0, 0, 0, 1, 1, 1]), blocks=None, gen=np.random.default_rng(0))
>>> sorted(out[:3]) == sorted(labels[:3]), sorted(out[3:]) == sorted(labels[3:])
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["describe_control", "negative_control", "shuffle"]


def _within(values: np.ndarray, strata: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    out = values.copy()
    for level in pd.unique(strata):
        idx = np.flatnonzero(strata == level)
        out[idx] = values[gen.permutation(idx)]
    return out


def shuffle(values: pd.Series, *, strata: np.ndarray | None, blocks: np.ndarray | None,
            gen: np.random.Generator) -> pd.Series:
    """*values* permuted within *strata*, by whole *blocks* when the values are constant within blocks."""
    raw = values.to_numpy(copy=True)
    strata = np.zeros(len(raw), dtype=int) if strata is None else np.asarray(strata)
    if blocks is not None:
        frame = pd.DataFrame({"v": raw, "b": blocks, "s": strata})
        per_block = frame.groupby("b", sort=False).agg(v=("v", "first"), s=("s", "first"), k=("v", "nunique"))
        if (per_block["k"] <= 1).all():
            permuted = _within(per_block["v"].to_numpy(), per_block["s"].to_numpy(), gen)
            mapping = dict(zip(per_block.index, permuted))
            return pd.Series([mapping[b] for b in blocks], index=values.index, name=values.name,
                             dtype=values.dtype)
    return pd.Series(_within(raw, strata, gen), index=values.index, name=values.name, dtype=values.dtype)


def negative_control(count: Callable[[pd.Series], int], values: pd.Series, *, n_shuffles: int,
                     strata: np.ndarray | None, blocks: np.ndarray | None, rng: Any, alpha: float) -> dict[str, Any]:
    """Run *count* (discoveries at q < *alpha* for shuffled labels) on *n_shuffles* copies and summarise."""
    gen = np.random.default_rng(rng)
    counts = [int(count(shuffle(values, strata=strata, blocks=blocks, gen=gen))) for _ in range(n_shuffles)]
    arr = np.asarray(counts, dtype=float)
    return {
        "variable": str(values.name), "n_shuffles": n_shuffles, "alpha": alpha,
        "discoveries": counts, "mean_discoveries": float(arr.mean()) if counts else None,
        "max_discoveries": int(arr.max()) if counts else None,
        "fraction_with_any": float((arr > 0).mean()) if counts else None,
        "permuted_within": "strata" if strata is not None else "all samples",
        "permuted_by": "subject" if blocks is not None else "sample",
        "median_discoveries": float(np.median(arr)) if counts else None,
    }


def describe_control(control: dict[str, Any] | None, name: str | None = None) -> str:
    """One plain sentence about the negative control (or that none was run); *name* replaces the column name.

    Examples
    --------
    >>> describe_control({"n_shuffles": 10, "alpha": 0.05, "discoveries": [0, 0, 1, 0, 2, 0, 0, 0, 0, 0],
    ...                   "variable": "group", "permuted_within": "all samples"})
    'Under 10 label shuffles of “group”, a median of 0 features passed q < 0.05 in the abundance model (at most 2; 3 in all).'
    """
    if not control or not control.get("n_shuffles"):
        return ("No label-shuffle negative control was run; rerun with shuffles (e.g. n_shuffles=10) to see how "
                "many discoveries this pipeline makes on these data when there is nothing to find.")
    counts = np.asarray(control["discoveries"], dtype=float)
    where = "" if control.get("permuted_within") == "all samples" else " within strata"
    what = f"“{control['variable']}”" if name is None else name
    return (f"Under {control['n_shuffles']} label shuffles of {what}{where}, a median of "
            f"{np.median(counts):g} features passed q < {control['alpha']:g} in the abundance model (at most "
            f"{counts.max():g}; "
            f"{counts.sum():g} in all).")
