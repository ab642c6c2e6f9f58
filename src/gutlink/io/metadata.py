"""Sample metadata: TSV/CSV and QIIME 2 metadata files, with dtypes inferred once, here.

Missing values are the empty cell and the usual spellings (``nd``, ``NA``, ``N/A``, ``NaN``, ``None``,
``null``, ``missing``, ``not applicable``, ``not collected``, ``not provided``); a column whose other
values are all numbers becomes numeric (``int64`` when whole and complete, else ``float64``), a column of
``TRUE``/``FALSE`` becomes ``bool``, everything else stays text.

Examples
--------
>>> import pandas as pd
>>> raw = pd.DataFrame({"age": ["40", "nd", "8"], "sex": ["f", "m", ""], "n": ["1", "2", "3"]})
>>> typed = infer_dtypes(raw)
>>> str(typed["age"].dtype), str(typed["n"].dtype), typed["sex"].isna().tolist()
('float64', 'int64', [False, False, True])
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ._compress import MAX_INPUT
from ._shape import check_header_quotes, check_widths, field_widths
from ._source import Source

__all__ = ["read_metadata", "infer_dtypes", "is_row_numbers", "norm_name", "NA_VALUES", "ID_HEADERS"]

NA_VALUES = frozenset({
    "", "nd", "na", "n/a", "nan", "none", "null", "#n/a", "missing", "not applicable", "not collected",
    "not provided", "restricted access", "-", "--",
})
#: First-column headers QIIME 2 accepts as the ID column (compared case-insensitively).
ID_HEADERS = frozenset({
    "id", "sampleid", "sample id", "sample-id", "featureid", "feature id", "feature-id", "#sampleid",
    "#sample id", "#otuid", "#otu id", "sample_name", "#sample-id", "#featureid", "#feature id",
})
_SAMPLE_LIKE = frozenset({"id", "sampleid", "sample", "samplename", "rownames", "sampleidentifier"})
_TRUE_FALSE = {"true": True, "false": False}


def _missing(s: pd.Series) -> pd.Series:
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    flags = np.array([_is_na_text(u) for u in uniques] + [True], dtype=bool)
    return pd.Series(flags[codes], index=s.index)


def _is_na_text(value: object) -> bool:
    text = str(value).strip().lower()
    return text in NA_VALUES or text.startswith("missing:")


def _infer_column(s: pd.Series) -> pd.Series:
    """Infer one column's dtype, working on its distinct values (fast for long, repetitive columns)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    texts = [str(u).strip() for u in uniques]
    missing_u = np.array([_is_na_text(t) for t in texts] + [True], dtype=bool)
    missing = missing_u[codes]
    present = [t for t, m in zip(texts, missing_u) if not m]
    if not present:
        return pd.Series(np.nan, index=s.index, dtype="float64")
    numbers = pd.to_numeric(pd.Series(present, dtype=object), errors="coerce")
    if numbers.notna().all():
        return _numeric_column(texts, missing_u, codes, missing, s.index)
    lowered = {t.lower() for t in present}
    if not missing.any() and lowered <= set(_TRUE_FALSE):
        values = np.array([_TRUE_FALSE[t.lower()] for t in texts], dtype=bool)
        return pd.Series(values[codes], index=s.index)
    values = np.array([*texts, ""], dtype=object)[codes]
    return pd.Series(values, index=s.index, dtype="str").where(~missing, np.nan)


def _numeric_column(texts: list[str], missing_u: np.ndarray, codes: np.ndarray, missing: np.ndarray,
                    index: pd.Index) -> pd.Series:
    numbers_u = np.array([np.nan if m else float(t) for t, m in zip(texts, missing_u[:-1])] + [np.nan])
    values = numbers_u[codes]
    decimal = any(("." in t or "e" in t.lower()) for t, m in zip(texts, missing_u) if not m)
    if not missing.any() and not decimal and np.abs(values).max() < 2**53:
        return pd.Series(values.astype(np.int64), index=index)
    return pd.Series(values, index=index, dtype="float64")


def infer_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Give each column of a frame of text its natural dtype (numbers numeric, NA spellings missing).

    Parameters
    ----------
    frame
        Metadata read as text (one column per variable).

    Returns
    -------
    pandas.DataFrame
        The same frame with numeric, boolean and text columns.
    """
    # by position: a frame may hold two columns of one name (a metadata row given twice)
    out = pd.DataFrame({i: _infer_column(frame.iloc[:, i]) for i in range(frame.shape[1])}, index=frame.index)
    out.columns = frame.columns
    return out


def norm_name(name: str) -> str:
    """A header name without case, spaces and ``#_.-`` (``'#Sample ID'`` → ``'sampleid'``)."""
    return re.sub(r"[#\s_.\-]", "", str(name)).lower()


_norm = norm_name


def _header_index(lines: list[str]) -> int:
    """Index of the header line: the first line that is neither blank nor a comment (QIIME 2 rules)."""
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        first = re.split(r"[\t,]", line, maxsplit=1)[0].strip().strip('"').lower()
        if not line.startswith("#") or first in ID_HEADERS:
            return i
    return len(lines)


def _body(lines: list[str], start: int) -> tuple[list[str], list[int], list[str] | None]:
    """Data lines after the header, their 1-based line numbers, and a ``#q2:types`` row if present."""
    kept, numbers, types = [], [], None
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.lower().startswith("#q2:types"):
            types = next(csv.reader([line], delimiter="\t" if "\t" in line else ","))
        elif line.strip() and not line.startswith("#"):
            kept.append(line)
            numbers.append(i + 1)
    return kept, numbers, types


def _parse(source: Source, lines: list[str], start: int) -> tuple[pd.DataFrame, list[int], list[str] | None]:
    header = lines[start]
    sep = "\t" if "\t" in header else ","
    body, numbers, types = _body(lines, start)
    check_header_quotes(source, header, start + 1)
    widths, at = field_widths("\n".join(body), sep)
    rows = np.asarray(numbers, dtype=np.int64)[at - 1] if at.size else at
    extra = check_widths(source, widths, rows, header_width=len(next(csv.reader([header], delimiter=sep))),
                         header_line=start + 1)
    text = "\n".join([sep * extra + header, *body])  # R's write.table leaves the ID column unnamed
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                            skipinitialspace=False)
    except pd.errors.ParserError as exc:
        line = _parser_line(str(exc), [start + 1, *numbers])
        raise source.error(f"cannot parse the metadata table ({exc}).", line=line,
                           hint="Every row needs as many fields as the header.") from None
    return frame, numbers, types


def _parser_line(message: str, numbers: list[int]) -> int | None:
    """Map pandas' 'line N' (1-based within the text it saw) to the file's line number."""
    m = re.search(r"line (\d+)", message)
    if not m:
        return None
    k = int(m.group(1)) - 1
    return numbers[k] if 0 <= k < len(numbers) else None


def is_row_numbers(column: pd.Series, next_name: str) -> bool:
    """Whether an unnamed first column holds R's row names as numbers (1…n, or increasing integers when
    the next column names the samples, as ``merge()`` writes ``Row.names``)."""
    values = pd.to_numeric(column, errors="coerce")
    if values.isna().any() or not (values == values.round()).all():
        return False
    if (values.to_numpy() == np.arange(1, len(values) + 1)).all():
        return True
    return bool(values.is_monotonic_increasing and values.is_unique and _norm(next_name) in _SAMPLE_LIKE)


def _pick_id_column(frame: pd.DataFrame, id_column: str | None, source: Source) -> tuple[str, list[str]]:
    """The ID column, and columns to drop (an R row-number column)."""
    columns = [str(c) for c in frame.columns]
    if id_column is not None:
        if id_column not in columns:
            raise source.error(f"no column {id_column!r}; the columns are {columns[:8]}.",
                               hint="Pass id_column= one of the header's names (exact, case-sensitive).")
        return id_column, []
    first = columns[0]
    if first.strip().lower() in ID_HEADERS or _norm(first) in _SAMPLE_LIKE:
        return first, []
    if (first == "" or first.startswith("Unnamed")) and len(columns) > 1:
        if is_row_numbers(frame[first], columns[1]):
            return columns[1], [first]
        return first, []  # R row names
    for col in columns[1:]:
        if _norm(col) in _SAMPLE_LIKE and not frame[col].duplicated().any():
            return col, []
    return first, []


def _apply_q2_types(frame: pd.DataFrame, types: dict[str, str], source: Source,
                    numbers: list[int]) -> pd.DataFrame:
    out = infer_dtypes(frame)
    for col in frame.columns:
        kind = types.get(str(col), "").strip().lower()
        if kind == "categorical":
            text = frame[col].astype(str).str.strip()
            out[col] = text.where(~_missing(frame[col]), np.nan)
        elif kind == "numeric":
            out[col] = _numeric_or_error(frame[col], str(col), source, numbers)
    return out


def _numeric_or_error(s: pd.Series, col: str, source: Source, numbers: list[int]) -> pd.Series:
    values = s.where(~_missing(s), np.nan)
    coerced = pd.to_numeric(values, errors="coerce")
    bad = coerced.isna() & values.notna()
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise source.error(f"column declared numeric in '#q2:types' holds {str(s.iloc[row])!r}.",
                           line=numbers[row], column=col, hint="Fix the value or declare the column categorical.")
    return coerced.astype("float64")


def read_metadata(path: str | Path, *, id_column: str | None = None,
                  duplicate_ids: Literal["error", "collapse"] = "error", max_input: int = MAX_INPUT) -> pd.DataFrame:
    """Read a sample metadata table (TSV, CSV or QIIME 2 metadata), indexed by sample ID.

    Parameters
    ----------
    path
        The file (may be gzip/bz2/xz/zip compressed; detected by content). Blank lines and lines starting
        with ``#`` are skipped, except a ``#SampleID``/``#OTU ID`` header and a ``#q2:types`` row, whose
        ``categorical``/``numeric`` declarations override the inferred dtypes.
    id_column
        The column holding sample IDs. Default: the first column, unless it holds R's row numbers
        (then the next one), or a later column is named like a sample ID (``Sample``, ``SampleID``,
        ``Row.names``) while the first is not. An ID column whose IDs repeat is never replaced by another column
        silently: the error names the columns where the repeated rows differ and the columns that would be
        unique IDs.
    duplicate_ids
        ``"error"`` (default): a repeated ID is an error. ``"collapse"``: rows sharing an ID are one sample
        described twice (e.g. two sequencing runs of one stool sample under one 16S ID): they become one row when
        they agree in every column except per-row identifier columns (every value distinct in the file, such as
        a run accession: a text column), whose values are joined with ``;``; any other disagreement is still an
        error.
    max_input
        The most bytes the file may hold, before and after decompression (default 20 GiB).

    Returns
    -------
    pandas.DataFrame
        Indexed by sample ID (text), one column per variable, dtypes inferred (see module docstring).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "m.tsv"
    ...     _ = p.write_text("sample-id\\tage\\tgroup\\n#q2:types\\tnumeric\\tcategorical\\ns1\\t31\\t1\\n")
    ...     m = read_metadata(p)
    >>> m.loc["s1", "age"], m.loc["s1", "group"]
    (np.float64(31.0), '1')
    """
    source = Source.load(path, max_input=max_input)
    lines = source.text.splitlines()
    start = _header_index(lines)
    if start >= len(lines):
        raise source.error("no header line (every line is blank or a comment).",
                           hint="The first non-comment line must name the columns, starting with the ID column.")
    frame, numbers, types = _parse(source, lines, start)
    if duplicate_ids not in ("error", "collapse"):
        raise ValueError(f"duplicate_ids must be 'error' or 'collapse'; got {duplicate_ids!r}.")
    key, drop = _pick_id_column(frame, id_column, source)
    frame = frame.drop(columns=drop)
    if duplicate_ids == "collapse":
        frame, numbers = _collapse(frame, key, source, numbers)
    return _index_by(frame, key, types, source, numbers)


def _identifier_columns(frame: pd.DataFrame, key: str) -> list[str]:
    """Text columns other than *key* whose every value is present and distinct (per-row identifiers such as run
    accessions; a numeric column is a measurement, never an identifier)."""
    out = []
    for col in frame.columns:
        if str(col) == key:
            continue
        values = frame[col].astype(str).str.strip()
        numeric = pd.to_numeric(values, errors="coerce").notna().all()
        if not numeric and not (values == "").any() and not values.duplicated().any():
            out.append(str(col))
    return out


def _differing(frame: pd.DataFrame, key: str, ids: pd.Series) -> list[str]:
    """Columns in which rows sharing an ID disagree."""
    dup = frame[ids.duplicated(keep=False).to_numpy()]
    keys = ids[ids.duplicated(keep=False)]
    grouped = dup.drop(columns=[key]).astype(str).groupby(keys.to_numpy(), sort=False).nunique()
    return [str(c) for c in grouped.columns[(grouped > 1).any(axis=0).to_numpy()]]


def _collapse(frame: pd.DataFrame, key: str, source: Source, numbers: list[int]) -> tuple[pd.DataFrame, list[int]]:
    """One row per ID: repeated rows must agree except in per-row identifier columns (joined with ';')."""
    ids = frame[key].astype(str).str.strip()
    if not ids.duplicated().any():
        return frame, numbers
    idents = set(_identifier_columns(frame, key))
    conflict = [c for c in _differing(frame, key, ids) if c not in idents]
    if conflict:
        row = int(np.argmax(ids.duplicated().to_numpy()))
        raise source.error(f"duplicate_ids='collapse': rows sharing a sample ID in {key!r} disagree in "
                           f"{conflict[:5]} (e.g. ID {ids.iloc[row]!r}), so they are not one sample described "
                           "twice.", line=numbers[row], column=key,
                           hint="Resolve the repeated rows, or choose another ID column (id_column=, "
                                "--sample-id-column).")
    first = ~ids.duplicated().to_numpy()
    out = frame[first].copy()
    for col in idents:
        joined = frame[col].astype(str).groupby(ids.to_numpy(), sort=False).agg(";".join)
        out[col] = ids[first].map(joined).to_numpy()
    return out.reset_index(drop=True), [n for n, keep in zip(numbers, first) if keep]


def _duplicate_error(frame: pd.DataFrame, key: str, ids: pd.Series, source: Source,
                     numbers: list[int]) -> Exception:
    """Say which IDs repeat, where the repeated rows differ, and which columns would be unique IDs."""
    row = int(np.argmax(ids.duplicated().to_numpy()))
    repeated = ids[ids.duplicated()].unique().tolist()
    idents = _identifier_columns(frame, key)
    differ = _differing(frame, key, ids)
    message = (f"{len(repeated)} sample ID(s) repeat in the ID column {key!r} (e.g. {repeated[:3]}; first repeat "
               f"on line {numbers[row]}); the repeated rows differ in "
               f"{differ[:5] if differ else 'no column (exact copies)'}.")
    hints = []
    if idents:
        hints.append(f"If the samples are identified by another column, pass it: id_column= / --sample-id-column "
                     f"(columns with unique values: {idents[:5]}).")
    if set(differ) <= set(idents):
        hints.append("If each repeated ID is one sample described twice (e.g. two sequencing runs of one 16S "
                     "sample), pass duplicate_ids='collapse' / --duplicate-ids collapse to keep one row per ID "
                     "(those per-row identifiers joined with ';').")
    hints.append("gutlink never picks another ID column by itself.")
    return source.error(message, line=numbers[row], column=key, hint=" ".join(hints))


def _index_by(frame: pd.DataFrame, key: str, types: list[str] | None, source: Source,
              numbers: list[int]) -> pd.DataFrame:
    ids = frame[key].astype(str).str.strip()
    if (ids == "").any():
        row = int(np.argmax((ids == "").to_numpy()))
        raise source.error("empty sample ID.", line=numbers[row], column=key,
                           hint="Every row needs an ID in the ID column.")
    if ids.duplicated().any():
        raise _duplicate_error(frame, key, ids, source, numbers)
    rest = frame.drop(columns=[key])
    if types is not None:
        out = _apply_q2_types(rest, dict(zip(map(str, frame.columns), types)), source, numbers)
    else:
        out = infer_dtypes(rest)
    out.index = pd.Index(ids.tolist(), dtype=object, name="sample_id")
    return out
