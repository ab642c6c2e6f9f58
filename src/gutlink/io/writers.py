"""Write a Cohort as a TSV feature table or a BIOM 2.1 file — atomically (temp file + ``os.replace``).

Every TSV gutlink writes goes through :func:`neutralise` first: text cells and labels that a spreadsheet
would run as a formula (starting ``=``, ``+``, ``-``, ``@``, tab or carriage return; OWASP's rule) get a
leading ``'``; numbers, and text that is a plain number such as ``-1.5``, are left as they are.
:func:`gutlink.io.read` removes that quote again from files written by :func:`write_tsv`.

Examples
--------
>>> lineage_string({"kingdom": "Bacteria", "phylum": None, "genus": "Blautia"})
'k__Bacteria|p__|c__|o__|f__|g__Blautia'
>>> frame = pd.DataFrame({"id": ["=1+2", "-1.5", "@SUM(A1)"], "effect": [-0.5, 1.0, 2.0]})
>>> neutralise(frame)["id"].tolist(), neutralise(frame)["effect"].tolist()
(["'=1+2", '-1.5', "'@SUM(A1)"], [-0.5, 1.0, 2.0])
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import biom
import h5py
import numpy as np
import pandas as pd
from scipy import sparse

from ..cohort import Cohort
from ..taxonomy import RANKS

__all__ = ["write_tsv", "write_biom", "lineage_string", "neutralise", "FORMULA_START"]

_PREFIX = dict(zip(RANKS, "kpcofgst"))
#: First characters that make a spreadsheet evaluate a cell (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_RISKY = re.compile(r"^'*[=+\-@\t\r]")  # also "'=x", so that reading back (one "'" off) gives it unchanged
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?(?:inf|infinity|nan)$", re.IGNORECASE)


def _safe_text(values: pd.Series) -> pd.Series:
    text = values.map(lambda v: v if isinstance(v, str) else None)
    risky = text.str.contains(_RISKY, na=False) & ~text.str.contains(_NUMBER, na=False)
    return values.where(~risky, "'" + text.where(risky, ""))


def _safe_labels(index: pd.Index) -> pd.Index:
    if isinstance(index, pd.MultiIndex):
        return index.set_levels([_safe_labels(level) for level in index.levels]).set_names(
            [_safe_name(n) for n in index.names])
    if index.dtype.kind not in "OSUT" and str(index.dtype) not in ("string", "str", "category"):
        return index.set_names(_safe_name(index.name))
    return pd.Index(_safe_text(pd.Series(index, dtype=object)).tolist(), dtype=object, name=_safe_name(index.name))


def _safe_name(name: Any) -> Any:
    return _safe_text(pd.Series([name], dtype=object)).iloc[0] if isinstance(name, str) else name


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """*frame* with every text cell, column name and index label that a spreadsheet would evaluate as a formula
    prefixed with ``'``; numeric columns, and text that is a plain number (``-1.5``), are unchanged.

    Parameters
    ----------
    frame
        A table about to be written as TSV.

    Returns
    -------
    pandas.DataFrame
        A copy that is safe to open in a spreadsheet.
    """
    out = frame.copy()
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if column.dtype == object or str(column.dtype) in ("string", "str"):
            out.isetitem(position, _safe_text(column.astype(object)))
        elif isinstance(column.dtype, pd.CategoricalDtype):
            out.isetitem(position, _safe_text(column.astype(object)))
    out.columns = _safe_labels(out.columns)
    out.index = _safe_labels(out.index)
    return out


def _named(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and str(value) != ""


def _levels(row: Any) -> list[str]:
    """``x__name`` for every rank down to the lowest named one (empty names for gaps)."""
    values = [row.get(r) if hasattr(row, "get") else None for r in RANKS]
    named = [i for i, v in enumerate(values) if _named(v)]
    if not named:
        return []
    return [f"{_PREFIX[r]}__{v if _named(v) else ''}" for r, v in zip(RANKS[: named[-1] + 1], values)]


def lineage_string(row: Any, sep: str = "|") -> str:
    """A taxonomy row as a MetaPhlAn-style lineage (``k__…|p__…``), down to its lowest named rank."""
    return sep.join(_levels(row))


@contextmanager
def _atomic(path: str | Path) -> Iterator[str]:
    """Yield a temp path beside *path*; move it onto *path* only if the block succeeds.

    The file gets the mode any new file would (0666 less the umask), not ``mkstemp``'s private 0600.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _frame(cohort: Cohort) -> pd.DataFrame:
    x = cohort.dense()
    if cohort.units == "counts" and np.all(x == np.round(x)) and np.abs(x).max(initial=0) < 2**53:
        x = x.astype(np.int64)
    return pd.DataFrame(x.T, index=cohort.feature_ids, columns=cohort.sample_ids)


def write_tsv(cohort: Cohort, path: str | Path) -> None:
    """Write features as rows, a ``lineage`` column, then one column per sample (atomic).

    The first line is ``# gutlink feature table: units=<units>``, so :func:`gutlink.io.read` reads the same
    abundances, IDs, lineage and units back. Sample metadata is not part of this file (write it with
    ``cohort.metadata.to_csv``, or use :func:`write_biom`, which keeps it). IDs a spreadsheet would run as a
    formula get a leading ``'`` (:func:`neutralise`), which :func:`gutlink.io.read` removes again.

    Parameters
    ----------
    cohort
        The cohort to write.
    path
        Destination file (plain text; overwritten only once the whole file is written).
    """
    table = _frame(cohort)
    table.insert(0, "lineage", [lineage_string(row) for _, row in cohort.taxonomy.iterrows()], allow_duplicates=True)
    table.index.name = "feature_id"
    table = neutralise(table)

    def body(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(f"# gutlink feature table: units={cohort.units}; rows are features, columns samples\n")
            table.to_csv(handle, sep="\t", float_format=None, lineterminator="\n")

    _write(path, body)


def _write(path: str | Path, body: Callable[[str], None]) -> None:
    with _atomic(path) as tmp:
        body(tmp)


def _sample_metadata(cohort: Cohort) -> list[dict[str, str]] | None:
    meta = cohort.metadata
    if meta.shape[1] == 0:
        return None
    text = meta.astype(object).where(meta.notna(), "")
    return [{str(k): str(v) for k, v in row.items()} for _, row in text.iterrows()]


def write_biom(cohort: Cohort, path: str | Path) -> None:
    """Write a BIOM 2.1 HDF5 file with lineage as observation metadata and the sample metadata (atomic).

    Taxonomy is stored as a list of ``k__ … s__`` levels (plus ``t__`` when strains are named); sample
    metadata values are stored as text and get their dtypes back when read (HDF5 BIOM stores metadata
    categories sorted by name, so the column order is not kept). The units are recorded in
    ``generated-by`` so :func:`gutlink.io.read` restores them.

    Parameters
    ----------
    cohort
        The cohort to write.
    path
        Destination file.
    """
    depth = 8 if cohort.taxonomy["strain"].notna().any() else 7
    observation = [{"taxonomy": [f"{_PREFIX[r]}__{row[r] if _named(row[r]) else ''}" for r in RANKS[:depth]]}
                   for _, row in cohort.taxonomy.iterrows()]
    data = cohort.abundance.T
    data = sparse.csr_matrix(data) if sparse.issparse(data) else np.asarray(data)
    table = biom.Table(data, [str(i) for i in cohort.feature_ids], [str(s) for s in cohort.sample_ids],
                       observation_metadata=observation, sample_metadata=_sample_metadata(cohort))

    def body(tmp: str) -> None:
        with h5py.File(tmp, "w") as handle:
            table.to_hdf5(handle, f"gutlink (units={cohort.units})")

    _write(path, body)
