"""BIOM tables: 1.0 JSON and 2.1 HDF5, through the ``biom-format`` package (never unpickled, never eval'd).

Taxonomy comes from the observation metadata key ``taxonomy`` (or ``Taxonomy``, ``lineage``, ``taxon``),
given either as a list of levels (``["k__Bacteria", "p__Firmicutes", …]``) or as one string
(``"k__Bacteria; p__Firmicutes"``); without it, feature IDs that look like lineages are parsed. Sample
metadata becomes ``Cohort.metadata`` with inferred dtypes. Features are leaves (OTUs, ASVs), so
``rank=`` sums them to that level (:meth:`Cohort.aggregate`).

Examples
--------
>>> import json
>>> from gutlink.io._source import Source
>>> doc = {"id": "t", "format": "Biological Observation Matrix 1.0.0", "format_url": "http://biom-format.org",
...        "type": "OTU table", "generated_by": "hand", "date": "2024-01-01T00:00:00",
...        "matrix_type": "sparse", "matrix_element_type": "int", "shape": [2, 2],
...        "data": [[0, 0, 5], [1, 1, 7]],
...        "rows": [{"id": "otu1", "metadata": {"taxonomy": ["k__Bacteria", "g__Blautia"]}},
...                 {"id": "otu2", "metadata": {"taxonomy": "k__Bacteria; g__Dorea"}}],
...        "columns": [{"id": "s1", "metadata": {"age": "31"}}, {"id": "s2", "metadata": {"age": "nd"}}]}
>>> c = read_biom(Source.from_bytes(json.dumps(doc).encode(), "t.biom"))
>>> c.taxonomy["genus"].tolist(), c.units, c.metadata["age"].tolist()
(['Blautia', 'Dorea'], 'counts', [31.0, nan])
"""

from __future__ import annotations

import faulthandler
import io
import json
import os
import re
import signal
import time
from typing import Any

import biom
import h5py
import numpy as np
import pandas as pd
from biom.exception import BiomException

from ..cohort import Cohort
from ..errors import InputFormatError
from ..taxonomy import lineage_table
from ._common import DENSE_LIMIT, finish
from ._compress import HDF5_MAGIC, too_large
from ._source import Source
from .metadata import infer_dtypes

__all__ = ["read_biom", "load_biom_table", "table_to_cohort", "TAXONOMY_KEYS"]

#: Observation-metadata keys read as lineage, in order of preference.
TAXONOMY_KEYS = ("taxonomy", "Taxonomy", "lineage", "Lineage", "taxon", "Taxon", "Consensus Lineage")
#: What h5py and biom-format raise on a corrupt file (h5py: RuntimeError "Object visitation failed", biom:
#: TableException "Duplicate observation IDs"); numpy's reshape/broadcast errors are ValueErrors.
_BIOM_ERRORS = (OSError, KeyError, ValueError, TypeError, IndexError, AttributeError, RuntimeError, BiomException)
_GUTLINK_UNITS = re.compile(r"^gutlink.*\bunits=(counts|fraction|percent)\b")


def _check_stored_size(handle: h5py.File, source: Source) -> None:
    """Refuse HDF5 datasets that would expand beyond ``source.max_input`` bytes (HDF5 chunks may be compressed)."""
    sizes: list[int] = []
    handle.visititems(lambda _, obj: sizes.append(obj.size * obj.dtype.itemsize)
                      if isinstance(obj, h5py.Dataset) else None)
    if sum(sizes) > source.max_input:
        raise too_large(source.path, "the BIOM datasets expand to", source.max_input)


def _check_matrix(handle: h5py.File, source: Source) -> None:
    """Refuse a ``sample/matrix`` (CSC) whose indptr/indices do not fit the ID lists: biom-format hands them to
    scipy unchecked, and scipy's conversion to CSR reads out of bounds (a segmentation fault, found by fuzzing)."""
    try:
        n_obs, n_samples = len(handle["observation/ids"]), len(handle["sample/ids"])
        group = handle["sample/matrix"]
        indices, indptr, n_data = np.asarray(group["indices"]), np.asarray(group["indptr"]), len(group["data"])
    except _BIOM_ERRORS:
        return  # a missing or odd group: biom-format raises on it, and load_biom_table turns that into an error
    why = None
    if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu" or indices.ndim != 1 or indptr.ndim != 1:
        why = f"indices ({indices.dtype}) and indptr ({indptr.dtype}) must be 1-D integer arrays"
    elif indptr.size != n_samples + 1:
        why = f"indptr has {indptr.size} entries for {n_samples} samples (expected {n_samples + 1})"
    elif indptr[0] != 0 or (np.diff(indptr) < 0).any() or indptr[-1] != indices.size:
        why = f"indptr must rise from 0 to the number of stored values ({indices.size})"
    elif indices.size != n_data:
        why = f"{indices.size} indices but {n_data} values"
    elif indices.size and (int(indices.min()) < 0 or int(indices.max()) >= n_obs):
        why = f"observation indices run from {int(indices.min())} to {int(indices.max())}, but there are {n_obs}"
    if why is not None:
        raise source.error(f"the BIOM table's sparse matrix (sample/matrix) is inconsistent: {why}.",
                           hint="The file is corrupt; re-export it (`biom validate-table -i FILE` checks it).")


def _touch(handle: h5py.File) -> None:
    """Read every attribute and every string dataset of *handle*: the parts libhdf5 takes from its global heap,
    where a corrupt file can make it loop forever (found by fuzzing). Numeric datasets are left unread."""
    def visit(_: str, obj: Any) -> None:
        for key in obj.attrs:
            obj.attrs[key]
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "OSU":
            obj[()]

    for key in handle.attrs:
        handle.attrs[key]
    handle.visititems(visit)


def hdf5_time_limit(n_bytes: int) -> float:
    """Seconds the HDF5 probe may take: 30 s, plus 2 s per MB of input."""
    return 30.0 + 2.0 * n_bytes / 1e6


def _probe_hdf5(source: Source) -> None:
    """Read the file's string parts in a forked child with a time limit before the real parse, so that a corrupt
    file that makes libhdf5 loop forever or crash ends in an error instead of a hung or killed run."""
    if not hasattr(os, "fork"):
        return
    limit = hdf5_time_limit(len(source.data))
    pid = os.fork()
    if pid == 0:  # the child: parse, then leave without running any of the parent's exit handlers
        faulthandler.disable()  # a crash here is the parent's to report, in one line
        code = 0
        try:
            with h5py.File(io.BytesIO(source.data), "r") as handle:
                _touch(handle)
        except BaseException:
            code = 3  # an error the parent's own parse reports with its message
        os._exit(code)
    deadline = time.monotonic() + limit
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise source.error(f"reading its HDF5 structure did not finish within {limit:.0f} s: the file is "
                               "corrupt (libhdf5 loops on some damaged string attributes).",
                               hint="Re-export the table, and check it with `biom validate-table -i FILE`.")
        time.sleep(0.005)
    if os.WIFSIGNALED(status):
        raise source.error(f"the HDF5 library crashed reading it (signal {os.WTERMSIG(status)}): the file is "
                           "corrupt.", hint="Re-export the table, and check it with `biom validate-table -i FILE`.")


def load_biom_table(source: Source) -> biom.Table:
    """Parse a BIOM 2.x HDF5 or 1.0 JSON file from memory into a :class:`biom.Table`.

    An HDF5 file is first probed in a forked child with a time limit (:func:`hdf5_time_limit`)."""
    if source.data.startswith(HDF5_MAGIC):
        _probe_hdf5(source)
        try:
            with h5py.File(io.BytesIO(source.data), "r") as handle:
                _check_stored_size(handle, source)
                _check_matrix(handle, source)
                return biom.Table.from_hdf5(handle)
        except InputFormatError:
            raise
        except _BIOM_ERRORS as exc:
            raise source.error(f"not a valid BIOM 2.x HDF5 file ({type(exc).__name__}: {exc}).",
                               hint="Check the file with `biom validate-table -i FILE`, or re-export it.") from None
    try:
        document = json.loads(source.text)
    except json.JSONDecodeError as exc:
        raise source.error(f"not valid JSON ({exc.msg}).", line=exc.lineno, column=exc.colno,
                           hint="A BIOM 1.0 file is JSON; re-export it or convert it with `biom convert`.") from None
    try:
        return biom.Table.from_json(document)
    except _BIOM_ERRORS as exc:
        raise source.error(f"not a valid BIOM 1.0 table ({type(exc).__name__}: {exc}).",
                           hint="Check the file with `biom validate-table -i FILE`.") from None


def _as_lineage(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        parts = [str(p).strip() for p in value]
        while parts and parts[-1] in ("", "nan", "None"):
            parts.pop()
        return ";".join(parts)
    return str(value)


def _taxonomy(table: biom.Table) -> pd.DataFrame:
    ids = [str(i) for i in table.ids(axis="observation")]
    md = table.metadata(axis="observation")
    keys = set().union(*(m.keys() for m in md if m)) if md is not None else set()
    key = next((k for k in TAXONOMY_KEYS if k in keys), None)
    if key is None:
        lineages = ids if any(re.match(r"^(?:[kd]__|D_0__)", i) for i in ids) else [""] * len(ids)
    else:
        lineages = [_as_lineage(m.get(key) if m else None) for m in md]
    return lineage_table(lineages, index=ids)


def _sample_metadata(table: biom.Table) -> pd.DataFrame | None:
    md = table.metadata(axis="sample")
    if md is None or not any(md):
        return None
    rows = [{k: ("" if v is None else str(v)) for k, v in (m or {}).items()} for m in md]
    frame = pd.DataFrame(rows, index=[str(i) for i in table.ids(axis="sample")]).fillna("")
    return infer_dtypes(frame)


def table_to_cohort(table: biom.Table, source: Source, *, fmt: str, rank: str | None, units: str | None,
                    file_units: str | None = None) -> Cohort:
    """Turn a :class:`biom.Table` into a Cohort (samples × observations), summed to *rank* if given."""
    x = table.matrix_data.T.tocsr()
    matrix = x.toarray() if x.shape[0] * x.shape[1] <= DENSE_LIMIT else x
    match = _GUTLINK_UNITS.match(str(getattr(table, "generated_by", "") or ""))
    cohort = finish(source, matrix, fmt=fmt, samples=[str(s) for s in table.ids(axis="sample")],
                    taxonomy=_taxonomy(table), metadata=_sample_metadata(table), units=units,
                    file_units=file_units or (match.group(1) if match else None), prefer="counts")
    return cohort.aggregate(rank) if rank is not None else cohort


def read_biom(source: Source, *, rank: str | None = None, units: str | None = None) -> Cohort:
    """Read a BIOM file (JSON 1.0 or HDF5 2.1; compressed or not).

    Parameters
    ----------
    source
        The loaded file.
    rank
        Sum the features up to this level (``None`` keeps them as they are).
    units
        ``None`` detects them (integers → counts); files written by :func:`write_biom` state theirs.

    Returns
    -------
    Cohort
        Samples × observations with lineage and sample metadata.
    """
    return table_to_cohort(load_biom_table(source), source, fmt="biom", rank=rank, units=units)
