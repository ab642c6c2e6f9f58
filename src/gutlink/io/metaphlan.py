"""MetaPhlAn tables: v2/v3/v4 merged tables, single-sample profiles and the MetAML layout.

A MetaPhlAn table holds every clade level at once (``k__Bacteria`` is the sum of its phyla, and so on),
so the reader keeps the rows of **one** level and never sums rows of different levels: species rows by
default (``s__`` last), ``rank="genus"`` the ``g__`` rows, ``rank="strain"`` the ``t__`` rows (strains in
MetaPhlAn 2/3, SGBs in MetaPhlAn 4). ``UNKNOWN``/``UNCLASSIFIED`` rows are dropped.

Layouts recognised:

* merged tables: optional ``#mpa_v…`` comment lines, a header whose first field is ``clade_name``/``ID``/
  anything, optional ``NCBI_tax_id``/``clade_taxid`` column (kept as the ``taxid`` column of the
  taxonomy), one column per sample;
* single-sample profiles (``#clade_name\\tNCBI_tax_id\\trelative_abundance…`` or the headerless v2
  profile): the sample is named after the file (``S1_profile.txt`` → ``S1``);
* the MetAML layout (Pasolli et al. 2016): sample metadata rows (``dataset_name``, ``sampleID``,
  ``disease``, …) precede the clade rows. They become ``Cohort.metadata`` (dtypes inferred; ``nd`` is
  missing). Samples are named by the ``sampleID`` row; a sampleID that occurs more than once (the same
  MetaHIT sample in several datasets) becomes ``dataset_name:sampleID`` for *every* occurrence, so IDs are
  unique and do not depend on column order. The original ``sampleID`` stays a metadata column.

Feature IDs are the clade strings of the file (``k__…|s__Faecalibacterium_prausnitzii``).

Examples
--------
>>> import pandas as pd
>>> select_level(pd.Index(["k__B", "k__B|p__F", "k__B|p__F|g__X", "k__B|p__F|g__X|s__X_y"]), None)
(array([False, False, False,  True]), 'species')
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import InputFormatError
from ..taxonomy import RANKS, lineage_table, normalise_rank
from ._common import check_unique, finish, numeric_block
from ._source import Source
from .metadata import infer_dtypes

__all__ = ["read_metaphlan", "select_level", "clade_levels", "CLADE"]

#: A first field that starts a clade row.
CLADE = re.compile(r"^(?:[a-z]__|UNKNOWN$|UNCLASSIFIED$|unclassified$|unknown$)")
_LEVEL = {"k": "kingdom", "d": "kingdom", "p": "phylum", "c": "class", "o": "order", "f": "family",
          "g": "genus", "s": "species", "t": "strain"}
_TAXID_COLUMNS = ("NCBI_tax_id", "clade_taxid", "ncbi_tax_id", "taxid")
_PROFILE_EXTRAS = ("additional_species", "coverage", "estimated_number_of_reads_from_the_clade")
_SAMPLE_ROW = ("sampleID", "sampleid", "sample_id", "SampleID")


@dataclass
class _Layout:
    header: list[str] | None = None
    meta_lines: list[tuple[int, str]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    data_offset: int = 0
    data_line: int = 1


def clade_levels(labels: pd.Index) -> np.ndarray:
    """The rank of each clade string, from its last ``x__`` prefix (``''`` for UNKNOWN rows)."""
    last = pd.Series(labels, dtype=object).astype(str).str.rsplit("|", n=1).str[-1]
    letter = last.str.extract(r"^([a-z])__", expand=False)
    return letter.map(_LEVEL).fillna("").to_numpy(dtype=object)


def select_level(labels: pd.Index, rank: str | None) -> tuple[np.ndarray, str | None]:
    """Rows at one taxonomic level: ``(mask, rank)``. Default species, else the lowest level present.

    Raises :class:`InputFormatError` when *rank* is absent from the table (listing the levels present).
    """
    levels = clade_levels(labels)
    present = [r for r in RANKS if (levels == r).any()]
    if not present:
        return np.ones(len(labels), dtype=bool), None
    if rank is None:
        target = "species" if "species" in present else present[-1]
    else:
        target = normalise_rank(rank)
        if target not in present:
            raise InputFormatError(f"the table has no {target} rows; it holds {', '.join(present)}.",
                                   hint=f"Pass rank= one of {present}.")
    return levels == target, target


def _lines(text: str) -> Iterator[tuple[int, int, str]]:
    """``(line number, start offset, line)`` without splitting the whole text."""
    pos, number = 0, 0
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        number += 1
        yield number, pos, text[pos:end].rstrip("\r")
        pos = end + 1


def _scan(source: Source) -> _Layout:
    layout = _Layout()
    pre: list[tuple[int, str]] = []
    for number, start, line in _lines(source.text):
        if not pre and line.startswith("#"):
            layout.comments.append(line)
        elif line.strip():
            if CLADE.match(line.split("\t", 1)[0]):
                layout.data_offset, layout.data_line = start, number
                return _split_pre(layout, pre, source)
            pre.append((number, line))
    raise source.error("no MetaPhlAn clade rows (first field k__…, d__… or UNKNOWN) found.",
                       hint="Pass format= to read it as another format.")


def _split_pre(layout: _Layout, pre: list[tuple[int, str]], source: Source) -> _Layout:
    if any(line.split("\t", 1)[0] in _SAMPLE_ROW for _, line in pre) and len(pre) > 1:
        layout.meta_lines = pre
    elif pre:
        layout.header = pre[0][1].split("\t")
        layout.meta_lines = pre[1:]
    else:
        heads = [c[1:].split("\t") for c in layout.comments if c.startswith("#clade_name")]
        layout.header = heads[-1] if heads else None
    return layout


def _data_block(source: Source, layout: _Layout) -> pd.DataFrame:
    first = source.text[layout.data_offset:source.text.find("\n", layout.data_offset)]
    ncols = len(layout.header) if layout.header else first.count("\t") + 1
    try:
        frame = pd.read_csv(source.bytes_from(layout.data_offset), sep="\t", header=None, names=list(range(ncols)),
                            index_col=0, encoding=source.encoding, quoting=csv.QUOTE_NONE, engine="c",
                            low_memory=False)
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        line = layout.data_line + int(m.group(2)) - 1 if m else None
        what = f"{m.group(3)} fields where the header has {m.group(1)}" if m else "more fields than the header"
        raise source.error(f"a row has {what}.", line=line,
                           hint="Every row needs one value per sample column.") from None
    if frame.index.nlevels > 1 or frame.shape[1] != ncols - 1:  # pandas took the extra leading fields as the index
        line, found = _first_wide_row(source, layout, ncols)
        raise source.error(f"a row has {found} fields where the header has {ncols}.", line=line,
                           hint="Every row needs one value per sample column (check for a trailing tab or a "
                                "header with a column name missing).")
    frame.index = pd.Index(frame.index.astype(str), dtype=object)
    return frame


def _first_wide_row(source: Source, layout: _Layout, ncols: int) -> tuple[int | None, int]:
    """The first data line with more tab-separated fields than *ncols*, and its field count (error path only)."""
    for number, _, line in _lines(source.text[layout.data_offset:]):
        if line.count("\t") + 1 > ncols:
            return layout.data_line + number - 1, line.count("\t") + 1
    return None, ncols + 1


def _columns(source: Source, layout: _Layout, frame: pd.DataFrame) -> tuple[list[str], dict[int, str]]:
    """Sample names for the frame's columns, and the extra (non-sample) columns by position."""
    ncols = frame.shape[1] + 1
    header = layout.header
    if header is None and layout.meta_lines:
        return [str(i) for i in range(1, ncols)], {}  # named from the sampleID row later
    if header is None:
        if ncols != 2:
            raise source.error(f"no header line, and {ncols - 1} value columns.", line=layout.data_line,
                               hint="A merged table needs a header naming the samples.")
        return [source.stem], {}
    extras = {i: h for i, h in enumerate(header) if i > 0 and h in _TAXID_COLUMNS + _PROFILE_EXTRAS}
    if "relative_abundance" in header:
        extras.update({i: h for i, h in enumerate(header) if i > 0 and h != "relative_abundance"})
        sample = _profile_name(layout, source)
        return [sample if h == "relative_abundance" else h for h in header[1:]], extras
    return header[1:], extras


def _profile_name(layout: _Layout, source: Source) -> str:
    for comment in layout.comments:
        parts = comment.split("\t")
        if parts[0] == "#SampleID" and len(parts) > 1 and parts[1].strip() not in ("", "Metaphlan_Analysis"):
            return parts[1].strip()
    return source.stem


def _metadata(source: Source, layout: _Layout, n_columns: int, extras: Collection[int] = ()) -> pd.DataFrame | None:
    """The metadata rows above the clades, one value per column; the *extras* positions (a taxid column) are
    not samples and are dropped."""
    if not layout.meta_lines:
        return None
    rows = [line.split("\t") for _, line in layout.meta_lines]
    for (number, _), row in zip(layout.meta_lines, rows):
        if len(row) != n_columns + 1:
            raise source.error(f"metadata row {row[0]!r} has {len(row) - 1} values for {n_columns} columns.",
                               line=number, hint="Every metadata row needs one value per sample.")
    names = [r[0] for r in rows]
    check_unique(names, "metadata row", source, in_header=False)
    table = pd.DataFrame({name: [v for i, v in enumerate(row) if i > 0 and i not in extras]
                          for name, row in zip(names, rows)})
    return infer_dtypes(table)


def _sample_ids(meta: pd.DataFrame, source: Source) -> tuple[list[str], int]:
    """Sample IDs from the sampleID row; duplicated ones become ``dataset_name:sampleID``."""
    key = next(k for k in _SAMPLE_ROW if k in meta.columns)
    ids = meta[key].astype(str)
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any() and "dataset_name" in meta.columns:
        ids = ids.where(~dup, meta["dataset_name"].astype(str) + ":" + ids)
    check_unique(ids.tolist(), "sample", source, in_header=False)
    return ids.tolist(), int(dup.sum())


def _taxonomy(labels: pd.Index, taxids: pd.Series | None) -> pd.DataFrame:
    table = lineage_table(labels)
    if taxids is not None:
        table["taxid"] = taxids.astype(str).str.rsplit("|", n=1).str[-1].to_numpy(dtype=object)
    return table


def read_metaphlan(source: Source, *, rank: str | None = None, units: str | None = None) -> Cohort:
    """Read a MetaPhlAn table or profile (see the module docstring for layouts and rank selection).

    Parameters
    ----------
    source
        The loaded file.
    rank
        The level to keep (default species; the lowest level present when there are no species rows).
    units
        ``None`` detects them (MetaPhlAn writes percent; some tables hold fractions or, from
        ``kreport2mpa``, read counts).

    Returns
    -------
    Cohort
        Samples × clades of one level, with the MetAML metadata when the file has it.
    """
    layout = _scan(source)
    frame = _data_block(source, layout)
    names, extras = _columns(source, layout, frame)
    taxid_col = next((i for i, h in extras.items() if h in _TAXID_COLUMNS), None)
    taxids = frame[taxid_col] if taxid_col is not None else None
    frame = frame.drop(columns=list(extras))
    frame.columns = [n for i, n in enumerate(names, start=1) if i not in extras]
    meta = _metadata(source, layout, len(names), set(extras))
    n_renamed = 0
    if meta is not None and any(k in meta.columns for k in _SAMPLE_ROW):
        samples, n_renamed = _sample_ids(meta, source)
        frame.columns = samples
    check_unique(frame.columns.tolist(), "sample", source, in_header=True)
    check_unique(frame.index.tolist(), "feature", source, in_header=False)
    values = numeric_block(frame, source)
    try:
        mask, used = select_level(frame.index, rank)
    except InputFormatError as exc:
        raise source.error(exc.message, hint=exc.hint) from None
    taxonomy = _taxonomy(frame.index[mask], None if taxids is None else taxids[mask])
    return finish(source, values[mask].T, fmt="metaphlan", samples=list(frame.columns), taxonomy=taxonomy,
                  metadata=meta, units=units, prefer="percent", rank=used,
                  layout="metaml" if layout.meta_lines else "merged",
                  n_rows_other_levels=int((~mask).sum()), n_samples_renamed=n_renamed or None)
