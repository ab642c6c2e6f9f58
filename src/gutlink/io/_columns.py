"""Which columns of a samples-as-rows table are not abundances (sample variables read as taxa would leak).

A column is a taxon when the format says so (taxon-looking names) or the user does (``feature_columns=``).
For a table of bare names, :func:`suspect_columns` flags numeric columns that cannot be, or are very unlikely
to be, abundances, each with its reason:

* negative or non-finite values; a name of a sample variable (``Age``, ``BMI``, ``clin.SpA``, ``batch`` …);
* in a table of relative abundances (most columns non-integer; samples sum to at most 1 or 100): a column
  whose values would push a sample past that total (``Age`` among fractions, a 0/1 indicator), or one that
  holds whole numbers only in five samples or more (real relative abundances are not whole);
* in a table of counts: non-integer columns among integer ones; a 0/1 column present in too many samples
  ever to reach 2 (a taxon of any Poisson mixture that is seen once in a third of the samples is also seen
  twice somewhere); a column with far fewer zeros than any Poisson mixture of its mean allows (codes 1/2/3);
  a column whose removal makes every sample's total equal (a rarefied table plus one variable);
* a column equal to a column of the sample metadata, when that is given (numbers equal, or the same grouping).

The statistical rules (not the name or sign rules) stand down when they would flag more than
``max(5, 10 %)`` of the columns: that is a property of the table (presence/absence, an odd scale), not a
few variables. Thresholds are strict (a chance below 1e-6 under the count model) so that real tables are
not refused; the real tables in ``../shared/data`` are all accepted (``tests/test_io_columns.py``).

Examples
--------
>>> import numpy as np
>>> x = np.array([[0.5, 0.5, 31, 1], [0.2, 0.8, 45, 0], [0.9, 0.1, 52, 1]])
>>> suspect_columns(x, ["Blautia", "Dorea", "years", "flag"])
{'years': 'values push samples past 1 in a table of relative abundances', 'flag': 'values push samples past 1 in a table of relative abundances'}
>>> suspect_columns(x, ["Blautia", "Dorea", "Age", "clin.SpA"])["Age"]
'the name of a sample variable'
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from scipy import special, stats

from ._source import Source

__all__ = ["suspect_columns", "refuse_suspects", "VARIABLE_NAMES"]

#: Whole column names (lower case, letters and digits only) that name sample variables, not taxa.
VARIABLE_NAMES = frozenset("""
age ageyears agemonths agedays ageatcollection ageatsampling hostage sex gender bmi weight height bodyweight
group groups diagnosis disease diseasestatus diseasestage diseasesubtype status case control casecontrol
cohort batch run runid plate lane study studyid subject subjectid patient patientid participant individual
hostid family familyid household householdid visit visitnumber time timepoint day days week weeks month
months year collectiondate date treatment antibiotic antibiotics abx smoking smoker alcohol diet crp esr
calprotectin fecalcalprotectin hla hlab27 score label class outcome response responder phenotype condition
stage severity activity bristol country site center centre location bodysite sampletype depth reads
readcount readcounts librarysize totalreads nreads seqdepth sequencingdepth pairrank replicate sampleid id
""".split())
_PREFIXES = frozenset({"clin", "clinical", "meta", "metadata", "host", "patient", "subject", "demo",
                       "demographic", "lab", "pheno", "phenotype", "covariate", "cov", "sample"})
_UNIT_NAMED = frozenset({"age", "bmi", "sex", "gender", "weight", "height", "crp", "esr", "hla", "time", "day",
                         "visit", "diagnosis", "disease", "group", "batch"})
_TOL = 1.02
_P_MIN = 1e-6
_SCALE = "values push samples past {scale:g} in a table of relative abundances"


def _variable_name(name: str) -> bool:
    tokens = [t for t in re.split(r"[^0-9a-z]+", str(name).lower()) if t]
    if not tokens:
        return False
    if "".join(tokens) in VARIABLE_NAMES:
        return True
    return len(tokens) > 1 and (tokens[0] in _PREFIXES or (tokens[0] in _UNIT_NAMED and len(tokens) <= 4))


def _cap(flags: np.ndarray, nonzero: np.ndarray) -> np.ndarray:
    """No statistical flags when they would cover more than max(5, 10 %) of the non-zero columns."""
    return flags if flags.sum() <= max(5, 0.1 * nonzero.sum()) else np.zeros_like(flags)


def _off_scale(x: np.ndarray, relative: np.ndarray, nonzero: np.ndarray) -> tuple[np.ndarray, float]:
    """Columns that push a sample past 1 (or 100) when the non-integer columns within that range sum to it.

    Non-integer columns that keep samples above the total (a BMI among percentages) are set aside first,
    greedily (the one largest in every sample over the total), at most ten of them.
    """
    top = x.max(axis=0, initial=0.0)
    for scale in (100.0, 1.0):
        inside = relative & (top <= scale * _TOL)
        sums = x[:, inside].sum(axis=1)
        for _ in range(10):
            over = sums > scale * _TOL
            if not over.any() or not inside.any():
                break
            cand = np.flatnonzero(inside)
            j = int(cand[np.argmax(x[np.ix_(over, cand)].min(axis=0))])
            inside[j] = False
            sums = sums - x[:, j]
        if sums.size and sums.max() <= scale * _TOL and np.median(sums) >= 0.5 * scale:
            others = np.flatnonzero(nonzero & ~inside)
            flags = np.zeros(x.shape[1], dtype=bool)
            flags[others] = (sums[:, None] + x[:, others] > scale * _TOL).any(axis=0)
            return flags, scale
    return np.zeros(x.shape[1], dtype=bool), 0.0


def _no_twos(x: np.ndarray, binary: np.ndarray) -> np.ndarray:
    """0/1 columns seen once in so many samples that a Poisson mixture would have given a 2 somewhere.

    Under any mixture of Poissons P(X = 1) ≤ 1/e, and for a given P(X = 1) = f the chance of X ≥ 2 is
    smallest for a single Poisson with λ e^{-λ} = f (λ = −W₀(−f)); a column is flagged when seeing no 2 in
    *n* samples has probability below 1e-6 even then.
    """
    # W₀ is real on [-1/e, 0]; a column with negative values (flagged already) has no Poisson reading: 0
    f1 = np.clip(x.mean(axis=0), 0.0, 1 / np.e - 1e-12)
    lam = -special.lambertw(-f1).real
    p2 = 1 - np.exp(-lam) * (1 + lam)
    with np.errstate(divide="ignore"):
        log_none = x.shape[0] * np.log1p(-p2)
    return binary & (log_none < np.log(_P_MIN))


def _too_few_zeros(x: np.ndarray, integer: np.ndarray) -> np.ndarray:
    """Integer columns with far fewer zeros than any Poisson mixture of their mean allows (E e^{-λ} ≥ e^{-Eλ})."""
    mean = x.mean(axis=0)
    zeros = (x == 0).sum(axis=0)
    expected = np.exp(-mean)
    p = stats.binom.cdf(zeros, x.shape[0], expected)
    return integer & (mean > 0) & (mean <= 10) & (zeros < 0.5 * x.shape[0] * expected) & (p < _P_MIN)


def _sum_breakers(x: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Columns whose removal makes every sample's total over the *keep* columns the same (rarefied tables)."""
    flags = np.zeros(x.shape[1], dtype=bool)
    sums = x[:, keep].sum(axis=1)
    if x.shape[0] < 3 or np.ptp(sums) <= 1e-9 * max(1.0, float(np.median(sums))):
        return flags
    idx = np.flatnonzero(keep)
    for start in range(0, idx.size, 256):  # blocks of columns bound the n × block temporary
        block = idx[start:start + 256]
        rest = sums[:, None] - x[:, block]
        level = np.median(rest, axis=0)
        flags[block] = (np.ptp(rest, axis=0) <= 1e-9 * np.maximum(1.0, level)) & (level > 0)
    return flags


def _equal_to_metadata(x: np.ndarray, samples: Sequence[str], metadata: pd.DataFrame) -> dict[int, str]:
    """Columns equal to a numeric metadata column, or grouping the samples exactly as a categorical one does."""
    common = pd.Index([str(s) for s in samples]).get_indexer(metadata.index.astype(str))
    rows, meta = common[common >= 0], metadata[common >= 0]
    if rows.size < 3:
        return {}
    sub = x[rows]
    varying = np.ptp(sub, axis=0) > 0
    found: dict[int, str] = {}
    for name in meta.columns:
        values = meta[name]
        present = values.notna().to_numpy()
        if present.sum() < 3 or values[present].nunique() < 2:
            continue
        if is_numeric_dtype(values):
            v = values.to_numpy(dtype=float)[present]
            same = np.isclose(sub[present], v[:, None], rtol=1e-6, atol=1e-9).all(axis=0)
        else:
            same = _same_grouping(sub[present], values[present].astype(str).to_numpy())
        for j in np.flatnonzero(same & varying):
            found.setdefault(int(j), f"equal to the metadata column {str(name)!r}")
    return found


def _same_grouping(sub: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Columns constant within each label and different between labels (a coding of the labels)."""
    codes, levels = pd.factorize(labels)
    if not 2 <= len(levels) <= 20:
        return np.zeros(sub.shape[1], dtype=bool)
    grouped = pd.DataFrame(sub).groupby(codes)
    low, high = grouped.min().to_numpy(), grouped.max().to_numpy()
    distinct = np.array([np.unique(low[:, j]).size == len(levels) for j in range(sub.shape[1])])
    return (low == high).all(axis=0) & distinct


def suspect_columns(x: np.ndarray, names: Sequence[str], *, samples: Sequence[str] | None = None,
                    metadata: pd.DataFrame | None = None) -> dict[str, str]:
    """Columns of a samples × columns numeric block that look like sample variables, with the reason.

    Parameters
    ----------
    x
        Samples × candidate columns (the complete numeric columns of a table of bare names).
    names
        The column names.
    samples, metadata
        Sample IDs of the rows and a sample metadata frame (indexed by sample ID): a column equal to one of
        its columns is flagged.

    Returns
    -------
    dict of str to str
        Column name → why it is not read as a taxon, in column order (empty when every column may be one).
    """
    x = np.asarray(x, dtype=float)
    names = [str(n) for n in names]
    reasons: dict[int, str] = {}
    finite = np.isfinite(x)
    for j in map(int, np.flatnonzero(~finite.all(axis=0))):
        reasons[j] = "missing or infinite values"
    x = np.where(finite, x, 0.0)
    for j in map(int, np.flatnonzero((x < 0).any(axis=0))):
        reasons.setdefault(j, "negative values")
    for j, name in enumerate(names):
        if _variable_name(name):
            reasons.setdefault(j, "the name of a sample variable")
    if metadata is not None and samples is not None:
        for j, why in _equal_to_metadata(x, samples, metadata).items():
            reasons.setdefault(j, why)
    for j, why in _statistical(x, np.array([j not in reasons for j in range(x.shape[1])], dtype=bool)).items():
        reasons.setdefault(j, why)
    return {names[j]: reasons[j] for j in sorted(reasons)}


def _statistical(x: np.ndarray, open_: np.ndarray) -> dict[int, str]:
    """The scale and count-model rules, over the columns not flagged already (*open_*)."""
    x = np.where(open_, x, 0.0)  # flagged columns (negative values…) take no part: no overflow in exp(-mean)
    integer = (x == np.round(x)).all(axis=0)
    nonzero = (x != 0).any(axis=0) & open_
    relative = nonzero & ~integer
    found: dict[int, str] = {}
    if relative.sum() >= 0.5 * nonzero.sum():
        flags, scale = _off_scale(x, relative, nonzero)
        found.update({int(j): _SCALE.format(scale=scale) for j in np.flatnonzero(_cap(flags, nonzero))})
        whole = nonzero & integer & ((x != 0).sum(axis=0) >= 5)
        found.update({int(j): "whole numbers only, in a table of relative abundances"
                      for j in np.flatnonzero(_cap(whole, nonzero)) if int(j) not in found})
        return found
    counts = nonzero & integer
    rules = (
        (relative, "non-integer values in a table of counts"),
        (_no_twos(x, counts & ((x == 0) | (x == 1)).all(axis=0)), "a 0/1 indicator, not a count"),
        (_too_few_zeros(x, counts), "fewer zeros than counts with this mean can have (a code, not a count)"),
    )
    for flags, why in rules:
        found.update({int(j): why for j in np.flatnonzero(_cap(flags & open_, nonzero)) if int(j) not in found})
    rest = nonzero & np.array([j not in found for j in range(x.shape[1])])
    breakers = _cap(_sum_breakers(x, rest) & rest, nonzero)
    found.update({int(j): "its removal makes every sample's total equal" for j in np.flatnonzero(breakers)})
    return found


def refuse_suspects(source: Source, frame: pd.DataFrame, text: Sequence[object],
                    metadata: pd.DataFrame | None) -> None:
    """Raise when candidate abundance columns of a samples-as-rows table look like sample variables.

    *frame* holds the candidate columns (samples as rows), *text* the columns already taken as metadata
    (text, or numbers with gaps), *metadata* an optional separate sample metadata frame.
    """
    if frame.shape[1] == 0:
        return
    values = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    found = suspect_columns(values, list(map(str, frame.columns)), samples=list(map(str, frame.index)),
                            metadata=metadata)
    if not found:
        return
    names = list(found)
    shown = "; ".join(f"{n!r} ({why})" for n, why in list(found.items())[:8])
    more = f" and {len(names) - 8} more" if len(names) > 8 else ""
    moved = f" (the text columns {[str(c) for c in text][:5]} are sample metadata already)" if len(text) else ""
    listed = ",".join(names)
    raise source.error(
        f"{len(names)} numeric column(s) of this samples-as-rows table look like sample variables, not taxon "
        f"abundances: {shown}{more}{moved}. A column is read as a taxon only when its name looks like one "
        "(k__/g__ prefixes, ';' or '|' lineages, ncbi_ taxids) or you say so.",
        column=names[0],
        hint=f"Move them to the sample metadata with metadata_columns={names!r} (CLI --metadata-columns "
             f"{listed!r}), or name the abundance columns exactly with feature_columns=[...] "
             "(CLI --feature-columns) to read the others as metadata.",
    )
