"""Built-in negative control: the same analysis on label-shuffled copies of the user's own data.

The shuffles follow the design, so that what is kept fixed under the null stays fixed:

* within **strata** (e.g. study) and within **blocks** (household, pair, family): labels move only between
  samples of the same stratum and block, as a stratified / matched permutation test does;
* by **whole subjects**: when the label is constant within subjects (a subject's diagnosis), a subject's samples
  keep one label and labels are permuted between subjects (of the same stratum and block); a label that varies
  within subjects (e.g. before / after treatment) is permuted within each subject;
* a label constant within every block (the block behaves as a subject) is permuted between whole blocks.

Every part of the model is counted on every shuffle: discoveries at q < alpha in the abundance model, in the
presence model and in the joint test, and the fraction of presence p-values below 0.05 (5 % expected), for each
term of the shuffled variable.

Examples
--------
>>> import pandas as pd
>>> labels = pd.Series(["a", "a", "b", "b", "a", "b"])
>>> out = shuffle(labels, strata=np.array([0, 0, 0, 1, 1, 1]), gen=np.random.default_rng(0))
>>> sorted(out[:3]) == sorted(labels[:3]), sorted(out[3:]) == sorted(labels[3:])
(True, True)
>>> subjects = np.array([1, 1, 2, 2, 3, 3])
>>> out = shuffle(pd.Series(list("aabbaa")), subjects=subjects, gen=np.random.default_rng(1))
>>> bool((out.groupby(subjects).nunique() == 1).all())
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DesignError

__all__ = ["PARTS", "describe_control", "negative_control", "plan", "shuffle"]

#: The parts of the model the control counts, in report order.
PARTS = ("abundance", "presence", "joint")
#: The presence p-value threshold whose exceedance fraction the control reports (its expected value under the null).
P_CUT = 0.05


def _constant_within(values: np.ndarray, units: np.ndarray) -> bool:
    frame = pd.DataFrame({"v": values, "u": units})
    return bool((frame.groupby("u")["v"].nunique(dropna=False) <= 1).all())


def _codes(*columns: np.ndarray | None, n: int) -> np.ndarray:
    """One integer code per combination of the given columns (all samples one group when none is given)."""
    used = [pd.Series(np.asarray(c)).astype(str) for c in columns if c is not None]
    if not used:
        return np.zeros(n, dtype=int)
    return pd.MultiIndex.from_arrays(used).factorize()[0] if len(used) > 1 else pd.factorize(used[0])[0]


def plan(values: pd.Series, *, strata: np.ndarray | None = None, blocks: np.ndarray | None = None,
         subjects: np.ndarray | None = None) -> tuple[np.ndarray | None, np.ndarray, dict[str, str]]:
    """How to shuffle *values*: the permutation units (None: samples), the group each unit is permuted within, and
    a description (``permuted_by``, ``permuted_within``)."""
    raw = values.to_numpy()
    n = len(raw)
    units, by = None, "sample"
    within = {"strata": strata, "blocks": blocks}
    if subjects is not None:
        if _constant_within(raw, subjects):
            units, by = np.asarray(subjects), "subject"
        else:
            within["subjects"] = subjects
    if blocks is not None and units is None and _constant_within(raw, blocks):
        units, by, within = np.asarray(blocks), "block", {"strata": strata}
    group = _codes(*within.values(), n=n)
    if units is not None and not _constant_within(group, units):
        raise DesignError(f"a {by} spans several strata or blocks: each {by} must lie in one stratum and one "
                          "block for whole-unit shuffles (check the subject, block and strata columns).")
    words = [w for w, c in within.items() if c is not None]
    return units, group, {"permuted_by": by, "permuted_within": " and ".join(words) or "all samples"}


def _permute_within(values: np.ndarray, group: np.ndarray, keys: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    """*values* permuted within each level of *group* (one sort, no loop over groups). The random draws are
    assigned in the order of *keys* (sample or unit IDs), so the outcome does not depend on the row order."""
    rank = np.empty(len(keys), dtype=np.int64)
    rank[np.argsort(keys, kind="stable")] = np.arange(len(keys))
    draws = gen.random(len(values))[rank]
    slots = np.lexsort((rank, group))
    picks = np.lexsort((draws, group))
    out = values.copy()
    out[slots] = values[picks]
    return out


def shuffle(values: pd.Series, *, strata: np.ndarray | None = None, blocks: np.ndarray | None = None,
            subjects: np.ndarray | None = None, gen: np.random.Generator) -> pd.Series:
    """*values* permuted as the design allows (see the module docstring and :func:`plan`)."""
    units, group, _ = plan(values, strata=strata, blocks=blocks, subjects=subjects)
    return _apply(values, units, group, gen)


def _apply(values: pd.Series, units: np.ndarray | None, group: np.ndarray, gen: np.random.Generator) -> pd.Series:
    raw = values.to_numpy(copy=True)
    if units is None:
        out = _permute_within(raw, group, np.asarray(values.index.astype(str)), gen)
    else:
        codes, names = pd.factorize(pd.Series(units).astype(str))
        first = pd.Series(np.arange(len(raw))).groupby(codes).first().to_numpy()  # one sample per unit
        per_unit = _permute_within(raw[first], group[first], np.asarray(names), gen)
        out = per_unit[codes]
    return pd.Series(out, index=values.index, name=values.name, dtype=values.dtype)


Count = Callable[[pd.Series], dict[str, dict[str, float]]]


def _nanmean(values: list[float]) -> float:
    """Mean of the finite values; NaN (without a warning) when there are none (no presence p-value testable:
    e.g. every tested taxon present in every sample)."""
    arr = np.asarray(values, dtype=float)
    ok = np.isfinite(arr)
    return float(arr[ok].mean()) if ok.any() else float("nan")


def _summary(counts: list[float]) -> dict[str, Any]:
    arr = np.asarray(counts, dtype=float)
    return {"discoveries": [int(c) for c in counts], "median": float(np.median(arr)), "mean": float(arr.mean()),
            "max": int(arr.max()), "fraction_with_any": float((arr > 0).mean())}


def negative_control(count: Count, values: pd.Series, *, n_shuffles: int, strata: np.ndarray | None,
                     blocks: np.ndarray | None = None, subjects: np.ndarray | None = None, rng: Any,
                     alpha: float) -> dict[str, Any]:
    """Run *count* on *n_shuffles* shuffled copies of *values* and summarise the null per part and per term.

    *count* returns, for shuffled values, ``{term: {"abundance": k, "presence": k, "joint": k,
    "presence_p05": fraction}}`` (parts absent when not fitted). The top-level ``discoveries`` (and its mean,
    median, max) are the abundance model's, summed over the terms, as before; ``parts`` holds each part's.
    """
    gen = np.random.default_rng(rng)
    units, group, how = plan(values, strata=strata, blocks=blocks, subjects=subjects)
    runs = [count(_apply(values, units, group, gen)) for _ in range(n_shuffles)]
    terms = list(runs[0]) if runs else []
    per_term: dict[str, dict[str, Any]] = {}
    for t in terms:
        per_term[t] = {part: _summary([r[t][part] for r in runs]) for part in PARTS if part in runs[0][t]}
        if "presence_p05" in runs[0][t]:
            fractions = [float(r[t]["presence_p05"]) for r in runs]
            per_term[t]["presence_p_below_0.05"] = {"fractions": fractions, "mean": _nanmean(fractions)}
    parts = {part: _summary([sum(r[t][part] for t in terms) for r in runs])
             for part in PARTS if runs and all(part in runs[0][t] for t in terms)}
    if runs and all("presence_p05" in runs[0][t] for t in terms):
        fr = [_nanmean([r[t]["presence_p05"] for t in terms]) for r in runs]
        parts["presence"]["fraction_p_below_0.05"] = fr
        parts["presence"]["mean_fraction_p_below_0.05"] = _nanmean(fr)
    abundance = parts.get("abundance", _summary([0] * n_shuffles)) if runs else None
    return {
        "variable": str(values.name), "n_shuffles": n_shuffles, "alpha": alpha, **how,
        "discoveries": abundance["discoveries"] if abundance else [],
        "mean_discoveries": abundance["mean"] if abundance else None,
        "median_discoveries": abundance["median"] if abundance else None,
        "max_discoveries": abundance["max"] if abundance else None,
        "fraction_with_any": abundance["fraction_with_any"] if abundance else None,
        "parts": parts, "terms": per_term, "p_cut": P_CUT,
    }


def _how(control: dict[str, Any]) -> str:
    bits = []
    if control.get("permuted_by") in ("subject", "block"):
        bits.append(f"whole {control['permuted_by']}s")
    within = control.get("permuted_within", "all samples")
    if within != "all samples":
        bits.append(f"within {within}")
    return f" ({', '.join(bits)})" if bits else ""


def describe_control(control: dict[str, Any] | None, name: str | None = None) -> str:
    """Plain sentences about the negative control (or that none was run); *name* replaces the column name.

    Each part of the model that was run is reported: the abundance model, the presence model (with the mean
    fraction of presence p-values below 0.05) and the joint test.

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
    what = f"“{control['variable']}”" if name is None else name
    text = (f"Under {control['n_shuffles']} label shuffles of {what}{_how(control)}, a median of "
            f"{np.median(counts):g} features passed q < {control['alpha']:g} in the abundance model (at most "
            f"{counts.max():g}; {counts.sum():g} in all).")
    parts = control.get("parts") or {}
    extra = []
    if "presence" in parts:
        pres = parts["presence"]
        frac = pres.get("mean_fraction_p_below_0.05")
        share = "" if frac is None or not np.isfinite(frac) else \
            f"; {100 * frac:.1f} % of presence p-values < 0.05, 5 % expected"
        extra.append(f"in the presence model a median of {pres['median']:g} (at most {pres['max']}{share})")
    if "joint" in parts:
        extra.append(f"in the joint test a median of {parts['joint']['median']:g} (at most {parts['joint']['max']})")
    if extra:
        joined = ", and ".join(extra)
        text += f" {joined[0].upper()}{joined[1:]}."
    return text
