"""Generic TSV/CSV abundance tables, samples as rows or as columns.

Orientation is decided from the labels, then the content:

1. a column named ``taxonomy``/``lineage``/``Taxon`` (besides the first) → features are rows;
2. labels that look like taxa (``k__…``, ``d__…;g__…``, ``g__Blautia``, ``ncbi_1234``, ``Unclassified``):
   more among the column names → features are columns, samples rows, and the other columns are sample
   metadata; at least as many among the row labels → features are rows;
3. a lineage table (``lineage=`` or a sibling ``*lineage*`` file) matches the row labels → rows,
   the column names → columns;
4. some columns hold text (not numbers) → samples are rows; complete numeric columns are the features
   and the others (text, or numbers with missing values) sample metadata;
5. otherwise features are rows (the feature-table convention of BIOM, QIIME and MetaPhlAn).

Lineage comes from a lineage column, from lineage-looking feature IDs (Greengenes ``k__; p__``, SILVA,
GTDB, MetaPhlAn), from a lineage table, or for GMrepo ``ncbi_<taxid>`` columns from the
``species_id_names.csv``/``genus_id_names.csv``/``genus_lineage.csv`` files in the table's folder or its
parent. Bare names with no lineage are put at ``rank`` when given, else left without lineage. A leading R
row-number column (empty header, increasing integers: 1…n, or any when the next column is ``Row.names``/
``Sample``/``ID``) is dropped. Comment lines starting with ``#`` before the
header are skipped (a ``#OTU ID``/``#SampleID`` line is the header); ``# gutlink … units=…`` states the
units (as :func:`gutlink.io.write_tsv` writes).

Examples
--------
>>> from gutlink.io._source import Source
>>> text = b"Sample,g__Blautia,g__Dorea,Group\\nA,0.5,0.5,case\\nB,0.2,0.8,control\\n"
>>> c = read_table(Source.from_bytes(text, "t.csv"))
>>> c.sample_ids.tolist(), c.taxonomy["genus"].tolist(), c.metadata["Group"].tolist(), c.units
(['A', 'B'], ['Blautia', 'Dorea'], ['case', 'control'], 'fraction')
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from ..cohort import Cohort
from ..errors import InputFormatError
from ..taxonomy import RANKS, lineage_table, normalise_rank
from ._columns import refuse_suspects
from ._common import check_unique, finish, numeric_block
from ._detect import unknown_format
from ._lineage_files import LINEAGE_COLUMN, read_lineage_table, sibling_lineage, taxid_taxonomy
from ._shape import check_header_quotes, check_widths, field_widths, split_error
from ._source import Source
from .metadata import ID_HEADERS, infer_dtypes, is_row_numbers, norm_name
from .metaphlan import select_level
from .writers import FORMULA_START

__all__ = ["read_table", "looks_like_taxon"]

_TAXON = re.compile(r"^(?:[kdpcofgst]__|D_\d+__|(?:ncbi|taxid)[_:]?\d+$"
                    r"|(?:unclassified|unassigned|unknown|other|no hit|unmapped)$"
                    r"|(?:bacteria|archaea|eukaryota|eukarya|viruses|root)\s*[;|]\s*\S)", re.IGNORECASE)
#: First header fields that say what the rows are (compared without case, spaces, ``#_.-``).
_ROWS_ARE_SAMPLES = frozenset({"sampleid", "sampleids", "sample", "samples", "samplename", "sampleidentifier"})
_ROWS_ARE_FEATURES = frozenset({"otuid", "otu", "featureid", "feature", "asv", "asvid", "taxon", "taxa", "taxonomy",
                                "clade", "cladename", "lineage", "taxid", "species", "genus"})
_UNITS_COMMENT = re.compile(r"^#\s*gutlink\b.*\bunits=(counts|fraction|percent)\b")


def looks_like_taxon(label: str) -> bool:
    """Whether a label is a lineage or taxon ID (``k__…``, ``D_0__…``, ``g__Blautia``, ``ncbi_816``,
    ``Unclassified``)."""
    return bool(_TAXON.match(str(label).strip()))


def _mostly_taxa(labels: list[str]) -> bool:
    return bool(labels) and sum(map(looks_like_taxon, labels)) >= 0.5 * len(labels)


@dataclass
class _Parsed:
    frame: pd.DataFrame  # index: first-column labels; columns: header names
    delimiter: str
    file_units: str | None = None
    header_line: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    first_name: str = ""
    #: written by write_tsv: its first column is the lineage, every other column a sample (even one called
    #: 'taxonomy' or 'lineage')
    gutlink_lineage: bool = False


@dataclass(frozen=True)
class _Choice:
    """What the user said: variables to move to the metadata, or the exact feature columns (rows)."""

    metadata: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    sample_metadata: pd.DataFrame | None = None

    @property
    def names(self) -> set[str]:
        return set(self.metadata) | set(self.features)


def _header_position(lines: list[str]) -> tuple[int, str | None]:
    """Index of the header line among *lines* and units stated in a ``# gutlink`` comment."""
    units = None
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if line.startswith("#"):
            m = _UNITS_COMMENT.match(line)
            units = m.group(1) if m else units
            first = re.split(r"[\t,]", line, maxsplit=1)[0].strip().lower()
            if first not in ID_HEADERS and not first.startswith("#otu"):
                continue
        return i, units
    return len(lines), units


def _head_lines(text: str, n: int = 200) -> list[str]:
    return text[: 1 << 20].split("\n", n)[:n]


def _split(line: str, delimiter: str, source: Source, number: int) -> list[str]:
    try:
        return next(csv.reader([line.rstrip("\r")], delimiter=delimiter))
    except csv.Error as exc:  # a lone carriage return inside the line
        raise split_error(source, exc, number) from None


def _parse(source: Source) -> _Parsed:
    lines = _head_lines(source.text)
    pos, units = _header_position(lines)
    if pos >= len(lines):
        raise unknown_format(source, "no header line")
    header = lines[pos].rstrip("\r")
    delimiter = "\t" if "\t" in header else "," if "," in header else None
    if delimiter is None:
        raise unknown_format(source, "the header line has no tab or comma")
    check_header_quotes(source, header, pos + 1)
    names = _split(header, delimiter, source, pos + 1)
    names[0] = names[0].lstrip("#").strip() if names[0].startswith("#") else names[0]
    body = source.text[sum(len(line) + 1 for line in lines[: pos + 1]):]
    widths, numbers = field_widths(body, delimiter, source=source, offset=pos + 1)
    if check_widths(source, widths, numbers, header_width=len(names), header_line=pos + 1, offset=pos + 1):
        names = ["", *names]  # R's write.table: the header lacks the row-name column
    frame = _read_body(source, pos + 1, names, delimiter)
    if units is not None:  # written by write_tsv: undo its formula neutralisation of IDs
        frame = frame.set_axis(_unquote(frame.index), axis=0).set_axis(_unquote(frame.columns), axis=1)
    return _Parsed(frame, delimiter, units, pos + 1, first_name=names[1] if names[0] == "" else names[0],
                   gutlink_lineage=units is not None and names[0] == "feature_id" and names[1:2] == ["lineage"])


def _unquote(labels: pd.Index) -> pd.Index:
    """Labels without the ``'`` that :func:`gutlink.io.writers.neutralise` put before a formula character."""
    quoted = [str(v).lstrip("'")[:1] for v in labels]
    return pd.Index([str(v)[1:] if str(v)[:1] == "'" and q != "" and q in FORMULA_START else v
                     for v, q in zip(labels, quoted)], dtype=object)


def _read_body(source: Source, skip: int, names: list[str], delimiter: str) -> pd.DataFrame:
    text_columns = {0: str, 1: str} if names[0] == "" else {0: str}
    options: dict[str, Any] = {"sep": delimiter, "header": None, "skiprows": skip, "names": list(range(len(names))),
                               "low_memory": False, "engine": "c"}
    try:
        frame = pd.read_csv(io.StringIO(source.text), dtype=text_columns, **options)
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise source.error(f"a row has more fields than the header ({len(names)}).",
                           line=int(m.group(1)) if m else None,
                           hint="Every row needs one field per header column.") from None
    except pd.errors.EmptyDataError:
        raise source.error("the table has a header but no rows.", line=skip) from None
    if frame.empty:
        raise source.error("the table has a header but no rows.", line=skip)
    missing_labels = [i for i in text_columns if frame[i].isna().any()]
    if missing_labels:  # row labels are IDs, not missing values: a feature called 'NA', 'None' or 'null' keeps it
        labels = pd.read_csv(io.StringIO(source.text), dtype=str, na_filter=False, **options)
        for i in missing_labels:
            frame[i] = labels[i].to_numpy()
    if names[0] == "" and len(names) > 2 and is_row_numbers(frame[0], names[1]):
        frame, names = frame.iloc[:, 1:], names[1:]
    elif names[0] == "" and len(names) > 1:
        frame[1] = _numeric_if_possible(frame[1])
    labels = pd.Index(frame.iloc[:, 0].fillna("").astype(str).str.strip(), dtype=object)
    return frame.iloc[:, 1:].set_axis(names[1:], axis=1).set_axis(labels, axis=0)


def _numeric_if_possible(column: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(column, errors="coerce")
    return numbers if numbers.notna().sum() == column.notna().sum() else column


def _is_text(column: pd.Series) -> bool:
    """A column that holds text, not numbers with a typo (under half its present cells are numeric)."""
    if is_bool_dtype(column):
        return True
    if is_numeric_dtype(column):
        return False
    present = column.dropna()
    return pd.to_numeric(present, errors="coerce").notna().mean() < 0.5 if len(present) else False


def _lineage_ids(parsed: _Parsed, source: Source, lineage: str | Path | None) -> tuple[pd.DataFrame | None, str | None]:
    labels = [*parsed.frame.index.tolist(), *map(str, parsed.frame.columns)]
    if lineage is not None:
        table = read_lineage_table(lineage)
        return table, str(lineage)
    if _mostly_taxa(parsed.frame.index.tolist()) or _mostly_taxa(list(map(str, parsed.frame.columns))):
        return None, None
    return sibling_lineage(source.path, labels)


def _features_are_rows(parsed: _Parsed, lineages: pd.DataFrame | None, choice: _Choice) -> bool:
    columns = [str(c) for c in parsed.frame.columns]
    named_columns, named_rows = choice.names & set(columns), choice.names & set(parsed.frame.index)
    if named_columns or named_rows:
        return len(named_rows) > len(named_columns)
    if parsed.gutlink_lineage or any(LINEAGE_COLUMN.match(c) for c in columns):
        return True
    taxa_in_columns = sum(map(looks_like_taxon, columns))
    taxa_in_rows = sum(map(looks_like_taxon, parsed.frame.index))
    if taxa_in_columns or taxa_in_rows:
        return taxa_in_rows >= taxa_in_columns
    if lineages is not None:
        known = set(lineages.index)
        return len(known & set(parsed.frame.index)) >= len(known & set(columns))
    first = norm_name(parsed.first_name)
    if first in _ROWS_ARE_SAMPLES or first in _ROWS_ARE_FEATURES:
        return first in _ROWS_ARE_FEATURES
    return not any(_is_text(parsed.frame.iloc[:, i]) for i in range(parsed.frame.shape[1]))


def _check_header_unique(source: Source, parsed: _Parsed, rows: bool) -> None:
    """Refuse a header that names one column twice (sample IDs when samples are columns)."""
    names = pd.Index([str(c) for c in parsed.frame.columns[1 if parsed.gutlink_lineage else 0:]], dtype=object)
    if not names.has_duplicates:
        return
    dup = str(names[names.duplicated()][0])
    what = "sample ID" if rows and not LINEAGE_COLUMN.match(dup) else "column name"
    raise source.error(f"{int(names.duplicated().sum())} duplicate {what}(s) in the header, e.g. {dup!r}.",
                       line=parsed.header_line, column=dup,
                       hint="Every column name must be unique; rename or merge the duplicated columns.")


def _check_named(source: Source, choice: _Choice, labels: list[str], what: str) -> None:
    """Every name in *choice* must be one of *labels* (the header's columns, or the row labels)."""
    missing = [n for n in (*choice.metadata, *choice.features) if n not in set(labels)]
    if choice.metadata and choice.features and set(choice.metadata) & set(choice.features):
        both = sorted(set(choice.metadata) & set(choice.features))[:5]
        raise source.error(f"{both} are named in both metadata_columns and feature_columns.",
                           hint="Name each column in one of them only.")
    if missing:
        close = difflib.get_close_matches(missing[0], labels, n=3)
        raise source.error(f"{len(missing)} name(s) given in metadata_columns/feature_columns are not {what} of "
                           f"this table, e.g. {missing[0]!r}" + (f" (close: {close})." if close else "."),
                           hint="Names are exact and case-sensitive; copy them from the header.")


@dataclass
class _Oriented:
    values: pd.DataFrame  # in the file's orientation
    samples: list[str]
    features: list[str]
    lineage_strings: list[str] | None = None
    metadata: pd.DataFrame | None = None
    samples_are_columns: bool = True


def _rows_layout(parsed: _Parsed, choice: _Choice, source: Source) -> _Oriented:
    frame = parsed.frame
    lineage_cols = [c for c in frame.columns if LINEAGE_COLUMN.match(str(c))]
    strings = None
    if parsed.gutlink_lineage:
        strings = frame.iloc[:, 0].fillna("").astype(str).tolist()
        frame = frame.iloc[:, 1:]
    elif lineage_cols:
        strings = frame[lineage_cols[0]].fillna("").astype(str).tolist()
        frame = frame.drop(columns=lineage_cols)
    _check_named(source, choice, frame.index.tolist(), "row labels")
    features = set(choice.features) or set(frame.index) - set(choice.metadata)
    keep = frame.index.isin(list(features))
    meta = infer_dtypes(frame[~keep].T.astype(str)) if not keep.all() else None
    if strings is not None:
        strings = [s for s, k in zip(strings, keep) if k]
    frame = frame[keep]
    return _Oriented(frame, [str(c) for c in frame.columns], frame.index.tolist(), strings, meta)


def _columns_layout(parsed: _Parsed, choice: _Choice, source: Source) -> _Oriented:
    frame = parsed.frame
    _check_named(source, choice, [str(c) for c in frame.columns], "column names")
    if choice.features:
        features = [c for c in frame.columns if str(c) in set(choice.features)]
    elif any(looks_like_taxon(str(c)) for c in frame.columns):
        features = [c for c in frame.columns if looks_like_taxon(str(c)) and str(c) not in set(choice.metadata)]
    else:
        text = [c for c in frame.columns if _is_text(frame[c]) or not frame[c].notna().all()]
        features = [c for c in frame.columns if c not in set(text) and str(c) not in set(choice.metadata)]
        refuse_suspects(source, frame[features], text, choice.sample_metadata)
    others = [c for c in frame.columns if c not in set(features)]
    meta = infer_dtypes(frame[others].astype(str)) if others else None
    return _Oriented(frame[features], frame.index.tolist(), [str(c) for c in features], None, meta, False)


def _taxonomy(layout: _Oriented, lineages: pd.DataFrame | None, source: Source,
              rank: str | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    ids = layout.features
    if layout.lineage_strings is not None:
        return lineage_table(layout.lineage_strings, index=ids), {"lineage": "column"}
    if _mostly_taxa(ids) and all(re.match(r"^(ncbi|taxid)", i, re.I) for i in ids):
        table, info = taxid_taxonomy(source.path, ids)
        return table, {"lineage": "taxid names", **info}
    if _mostly_taxa(ids):
        return lineage_table(ids), {"lineage": "feature IDs"}
    if lineages is not None:
        table = lineages.reindex(ids)
        table = table.astype(object).where(table.notna(), None)
        return table, {"lineage": "lineage table", "n_features_without_lineage": int(table.isna().all(axis=1).sum())}
    table = pd.DataFrame([[None] * len(RANKS)] * len(ids), index=pd.Index(ids, dtype=object), columns=list(RANKS),
                         dtype=object)
    if rank is not None:
        table[normalise_rank(rank)] = ids
    return table, {"lineage": "none" if rank is None else f"labels as {normalise_rank(rank)}"}


def read_table(source: Source, *, rank: str | None = None, units: str | None = None,
               lineage: str | Path | None = None, metadata_columns: Sequence[str] | None = None,
               feature_columns: Sequence[str] | None = None, metadata: pd.DataFrame | None = None) -> Cohort:
    """Read a generic TSV/CSV abundance table (see the module docstring for the rules).

    Parameters
    ----------
    source
        The loaded file.
    rank
        Keep this level of a MetaPhlAn-style table of nested ``|`` clades; sum a table of leaves up to it;
        for bare names, the rank they are.
    units
        ``None`` detects them (or takes a ``# gutlink … units=…`` comment).
    lineage
        A lineage table for bare feature names (default: a matching sibling ``*lineage*`` file).
    metadata_columns
        Sample variables held in the table (columns when samples are rows, rows when samples are columns):
        moved to the cohort's metadata, never analysed.
    feature_columns
        The abundance columns (or rows), exactly; everything else becomes sample metadata.
    metadata
        Sample metadata read separately: a numeric column of the table equal to one of its columns is
        refused as a leak.

    Returns
    -------
    Cohort
        Samples × features with lineage and any metadata columns.
    """
    choice = _Choice(tuple(map(str, metadata_columns or ())), tuple(map(str, feature_columns or ())), metadata)
    parsed = _parse(source)
    lineages, lineage_path = _lineage_ids(parsed, source, lineage)
    rows = _features_are_rows(parsed, lineages, choice)
    _check_header_unique(source, parsed, rows)
    layout = _rows_layout(parsed, choice, source) if rows else _columns_layout(parsed, choice, source)
    if not layout.features or not layout.samples:
        raise unknown_format(source, "no numeric abundance columns")
    check_unique(layout.samples, "sample", source, in_header=rows)
    check_unique(layout.features, "feature", source, in_header=not rows)
    values = numeric_block(layout.values, source)
    x = values.T if rows else values
    return _assemble(source, x, layout, lineages, rank, units, parsed, lineage_path)


def _assemble(source: Source, x: np.ndarray, layout: _Oriented, lineages: pd.DataFrame | None,
              rank: str | None, units: str | None, parsed: _Parsed, lineage_path: str | None) -> Cohort:
    taxonomy, info = _taxonomy(layout, lineages, source, rank)
    nested = layout.lineage_strings is None and any("|" in f for f in layout.features)
    used, aggregate = rank, False
    if nested:
        try:
            mask, used = select_level(pd.Index(layout.features), rank)
        except InputFormatError as exc:
            raise source.error(exc.message, hint=exc.hint) from None
        x, taxonomy = x[:, mask], taxonomy[mask]
    elif rank is not None and info["lineage"] != f"labels as {normalise_rank(rank)}":
        aggregate = True
    cohort = finish(source, x, fmt="table", samples=layout.samples, taxonomy=taxonomy, metadata=layout.metadata,
                    units=units, file_units=parsed.file_units, samples_are_columns=layout.samples_are_columns,
                    orientation="features as rows" if layout.samples_are_columns else "samples as rows",
                    rank=used if not aggregate else None, lineage_file=lineage_path,
                    metadata_columns=list(map(str, layout.metadata.columns)) if layout.metadata is not None else None,
                    **info)
    return cohort.aggregate(rank) if aggregate and rank is not None else cohort
