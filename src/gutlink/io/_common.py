"""Shared steps of the readers: numeric checks with line/column, units detection, building the Cohort.

Examples
--------
>>> import numpy as np
>>> detect_units(np.array([[3, 5], [0, 12]]))
'counts'
>>> detect_units(np.array([[0.25, 0.5], [0.1, 0.9]]))
'fraction'
>>> detect_units(np.array([[25.5, 60.0], [10.0, 89.5]]))
'percent'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from scipy import sparse

from ..cohort import Cohort
from ..errors import InputFormatError
from ._source import Source

__all__ = ["UNITS", "DENSE_LIMIT", "MAX_VALUE", "detect_units", "resolve_units", "check_sums", "check_counts",
           "check_magnitude", "check_unique", "numeric_block", "as_matrix", "build_cohort", "finish"]

UNITS = ("counts", "fraction", "percent")
_TOTAL = {"fraction": 1.0, "percent": 100.0}
_TOLERANCE = 1.02  # the same 2 % slack that Cohort allows for rounded tables
#: Abundance values must stay below 2**53 (the largest range where float64 holds every integer).
MAX_VALUE = float(2**53)
_TOO_BIG = "abundance value {value:.17g} is too large to be a count (2**53 or more)."
_TOO_BIG_HINT = "Check the cell: it is likely corrupt or overflowed (counts of 2**63 and more do not fit any integer type)."
#: Tables with more cells than this stay sparse (``scipy.sparse.csr_array``); smaller ones are dense.
DENSE_LIMIT = 50_000_000


def _row_sums(x: Any) -> np.ndarray:
    return np.asarray(x.sum(axis=1)).ravel()


def _is_integer(x: Any) -> bool:
    data = x.data if sparse.issparse(x) else np.asarray(x)
    return bool(np.all(data == np.round(data)))


def detect_units(x: Any, prefer: str | None = None) -> str | None:
    """Guess the units of a samples × features matrix from its values.

    Integer values are ``'counts'``; otherwise samples summing to at most 1 (2 % slack) are ``'fraction'``,
    to at most 100 ``'percent'``. *prefer* breaks ties for the format (MetaPhlAn prefers percent,
    BIOM counts). Non-integer values that sum to more than 100 fit no units: ``None`` (they are never taken
    for counts, which would round them).
    """
    top = float(_row_sums(x).max()) if x.shape[0] else 0.0
    integer = _is_integer(x)
    if integer and prefer == "counts":
        return "counts"
    if top <= _TOLERANCE:
        return "fraction"
    if top <= 100 * _TOLERANCE and (not integer or prefer == "percent"):
        return "percent"
    return "counts" if integer else None


def resolve_units(x: Any, declared: str | None, prefer: str | None) -> tuple[str | None, str]:
    """``(units, how)``: the declared units (checked to be known) or the detected ones (``None``: none fit)."""
    if declared is None:
        return detect_units(x, prefer), "detected"
    if declared not in UNITS:
        raise InputFormatError(f"unknown units {declared!r}.", hint="Use 'counts', 'fraction' or 'percent'.")
    return declared, "declared"


def _cell(source: Source, samples: Sequence[str], features: Sequence[str], i: int, j: int,
          samples_are_columns: bool) -> dict[str, Any]:
    """``line``/``column`` of cell (sample *i*, feature *j*) in the file's own orientation."""
    if samples_are_columns:
        return {"line": source.line_of(str(features[j])), "column": str(samples[i])}
    return {"line": source.line_of(str(samples[i])), "column": str(features[j])}


def check_counts(x: Any, unit: str | None, samples: Sequence[str], features: Sequence[str], source: Source, *,
                 samples_are_columns: bool) -> tuple[str, int]:
    """``(units, n_non_integer)``; an error when no units fit: values that are not all whole numbers but sum to
    more than 100 per sample (gutlink never rounds them into counts).

    Counts declared by the caller or stated by the file are kept as they are, with the number of non-integer
    cells returned (it goes into the cohort's history, so analyses that need integers can refuse them).
    """
    if unit is not None and unit != "counts":
        return unit, 0
    data = x.data if sparse.issparse(x) else np.asarray(x)
    fractional = int(np.count_nonzero(data != np.round(data)))
    if unit is not None:
        return unit, fractional
    dense = x.toarray() if sparse.issparse(x) else np.asarray(x)
    i, j = (int(k) for k in np.argwhere(dense != np.round(dense))[0])
    top = float(_row_sums(x).max())
    raise source.error(
        f"{fractional} of {dense.size} values are not whole numbers (e.g. {dense[i, j]:g} for sample "
        f"{samples[i]!r}), so they are not counts, and samples sum to up to {top:g}, more than 100, so they are "
        "not fractions or percent either.",
        hint="gutlink never rounds values into counts. If these are counts with a few non-integer cells (averaged "
             "replicates, estimated reads), pass units='counts' (CLI --units counts) to keep them as they are "
             "(analyses that need integers, such as Chao1 and rarefaction, can then refuse them); if they are "
             "normalised values (CPM, TPM, coverage), divide each sample by its total first.",
        **_cell(source, samples, features, i, j, samples_are_columns))


def check_sums(x: Any, units: str, samples: Sequence[str], source: Source, *, samples_are_columns: bool) -> None:
    """Raise when a sample's total exceeds what *units* allows (100 % or 1), naming the sample."""
    if units not in _TOTAL:
        return
    totals = _row_sums(x)
    over = np.flatnonzero(totals > _TOTAL[units] * _TOLERANCE)
    if over.size == 0:
        return
    i = int(over[0])
    where = {"column": samples[i]} if samples_are_columns else {"line": source.line_of(samples[i])}
    other = "percent" if units == "fraction" else "counts"
    raise source.error(
        f"sample {samples[i]!r} sums to {totals[i]:g}, more than the {_TOTAL[units]:g} that units={units!r} "
        f"allows ({over.size} sample(s) do).",
        hint=f"Declare the right units (e.g. units={other!r}) or leave units=None to detect them; check that the "
             "table holds one taxonomic rank only.",
        **where,
    )


def check_unique(labels: Sequence[str], what: str, source: Source, *, in_header: bool) -> None:
    """Raise on duplicated sample or feature IDs, with the line (row labels) or column (header labels)."""
    index = pd.Index(labels)
    if not index.has_duplicates:
        return
    dup = str(index[index.duplicated()][0])
    count = int(index.duplicated().sum())
    where = {"column": dup} if in_header else {"line": _second_line_of(source, dup)}
    raise source.error(
        f"{count} duplicate {what} ID(s), e.g. {dup!r}.",
        hint=f"Every {what} ID must be unique; rename or merge the duplicates.",
        **where,
    )


def _second_line_of(source: Source, label: str) -> int | None:
    """The line where *label* occurs as a row label for the second time."""
    seen = 0
    for number, line in enumerate(source.text.splitlines(), start=1):
        sep = "\t" if "\t" in line else ","
        if line.split(sep, 1)[0].strip().strip('"') == label:
            seen += 1
            if seen == 2:
                return number
    return None


def _first_non_numeric(frame: pd.DataFrame, columns: list[Any]) -> tuple[int, Any, Any] | None:
    best: tuple[int, Any, Any] | None = None
    for col in columns:
        s = frame[col]
        if is_bool_dtype(s):
            bad = s.notna().to_numpy()
        else:
            bad = (pd.to_numeric(s, errors="coerce").isna() & s.notna()).to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            if best is None or row < best[0]:
                best = (row, col, s.iloc[row])
    return best


def numeric_block(frame: pd.DataFrame, source: Source, *, what: str = "abundance") -> np.ndarray:
    """The frame's values as float64, or an error at the first non-numeric, missing or negative cell.

    *frame* is in the file's own orientation: its index holds the row labels (the first field of each
    line), its columns the header labels, so a bad cell is reported at ``line`` / ``column``.
    """
    suspects = [c for c, d in frame.dtypes.items() if is_bool_dtype(d) or not is_numeric_dtype(d)]
    if suspects:
        found = _first_non_numeric(frame, suspects)
        if found is not None:
            row, col, value = found
            raise source.error(
                f"non-numeric value {str(value)!r} in an {what} cell.",
                line=source.line_of(str(frame.index[row])), column=str(col),
                hint="Abundance cells must be numbers; fix the cell, or move sample metadata to a separate file "
                     "and read it with read_metadata().",
            )
    values = frame.to_numpy(dtype=np.float64)
    _check_finite_positive(values, frame, source, what)
    return values


def _check_finite_positive(values: np.ndarray, frame: pd.DataFrame, source: Source, what: str) -> None:
    bad = ~np.isfinite(values)
    message, hint = "missing (empty, NA or NaN) or infinite {what} value ({value:g}).", \
        "Write 0 for a taxon that was not detected."
    if not bad.any():
        bad = values < 0
        message, hint = "negative {what} value ({value:g}).", \
            "Abundances must be counts or relative abundances ≥ 0, not log or CLR values."
    if not bad.any():
        bad = values >= MAX_VALUE
        message, hint = _TOO_BIG.replace("abundance", "{what}"), _TOO_BIG_HINT
    if not bad.any():
        return
    row, col = (int(i) for i in np.argwhere(bad)[0])
    raise source.error(
        message.format(what=what, value=values[row, col]),
        line=source.line_of(str(frame.index[row])), column=str(frame.columns[col]), hint=hint,
    )


def check_magnitude(x: Any, samples: Sequence[str], features: Sequence[str], source: Source, *,
                    samples_are_columns: bool) -> None:
    """Raise at a value of 2**53 or more: beyond it float64 cannot hold every integer (a corrupt or overflowed
    count; 2**63 does not fit an int64 either)."""
    data = x.data if sparse.issparse(x) else np.asarray(x)
    if data.size == 0 or float(np.max(data)) < MAX_VALUE:
        return
    dense = x.toarray() if sparse.issparse(x) else np.asarray(x)
    i, j = (int(k) for k in np.argwhere(dense >= MAX_VALUE)[0])
    raise source.error(_TOO_BIG.format(value=dense[i, j]), hint=_TOO_BIG_HINT,
                       **_cell(source, samples, features, i, j, samples_are_columns))


def as_matrix(x: np.ndarray) -> np.ndarray | sparse.csr_array:
    """Dense below :data:`DENSE_LIMIT` cells, sparse above."""
    return sparse.csr_array(x) if x.size > DENSE_LIMIT else x


def build_cohort(source: Source, x: Any, *, samples: Sequence[str], taxonomy: pd.DataFrame,
                 metadata: pd.DataFrame | None, units: str, history: tuple[dict[str, Any], ...]) -> Cohort:
    """Construct the :class:`Cohort`, re-raising its validation errors with the file's path."""
    meta = metadata if metadata is not None else pd.DataFrame(index=pd.Index(list(samples), dtype=object))
    meta = meta.copy()
    meta.index = pd.Index([str(s) for s in samples], dtype=object)
    try:
        return Cohort(x, metadata=meta, taxonomy=taxonomy, units=units, history=history)  # type: ignore[arg-type]
    except InputFormatError as exc:
        raise InputFormatError(exc.message, path=source.path, line=exc.line, column=exc.column,
                               hint=exc.hint) from None



def finish(source: Source, x: Any, *, fmt: str, samples: Sequence[str], taxonomy: pd.DataFrame,
           metadata: pd.DataFrame | None = None, units: str | None = None, file_units: str | None = None,
           prefer: str | None = None, samples_are_columns: bool = True, **extra: Any) -> Cohort:
    """Resolve and check units, record provenance and build the cohort (the last step of every reader).

    *units* are the caller's (they win), *file_units* those the file or format states (Kraken reads, a
    ``.qza`` type, a gutlink TSV header); otherwise units are detected. *extra* goes into the ``read``
    history entry (e.g. ``rank=``, ``layout=``).
    """
    unit: str | None
    if units is None and file_units is not None:
        unit, how = file_units, "file"
    else:
        unit, how = resolve_units(x, units, prefer)
    samples = [str(s) for s in samples]
    features = [str(f) for f in taxonomy.index]
    check_magnitude(x, samples, features, source, samples_are_columns=samples_are_columns)
    unit, fractional = check_counts(x, unit, samples, features, source, samples_are_columns=samples_are_columns)
    check_sums(x, unit, samples, source, samples_are_columns=samples_are_columns)
    history = (source.provenance(fmt, unit, how, non_integer_values=fractional or None, **extra),)
    return build_cohort(source, as_matrix(x), samples=samples, taxonomy=taxonomy, metadata=metadata,
                        units=unit, history=history)
