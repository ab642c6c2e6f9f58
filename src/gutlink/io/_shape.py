"""Field counts per line, so that a ragged row or a header of the wrong width is an error, never a shifted read.

Examples
--------
>>> widths, lines = field_widths("a\\tb\\tc\\n\\nx\\ty\\n", "\\t")
>>> widths.tolist(), lines.tolist()
([3, 2], [1, 3])
>>> field_widths('"a\\tb"\\tc\\n', "\\t")[0].tolist()
[2]
"""

from __future__ import annotations

import csv
import io

import numpy as np

from ..errors import InputFormatError
from ._source import Source

__all__ = ["field_widths", "check_widths", "check_header_quotes", "split_error"]

_WHITESPACE = np.array([9, 10, 13, 32], dtype=np.uint8)


def _fast_widths(text: str, delimiter: str) -> tuple[np.ndarray, np.ndarray]:
    """Delimiters per line + 1, for text without quotes (one pass of numpy over the bytes)."""
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    breaks = np.flatnonzero(data == 10)
    n_lines = breaks.size + (1 if data.size and data[-1] != 10 else 0)
    line_of = np.searchsorted(breaks, np.flatnonzero(data == ord(delimiter)))
    widths = np.bincount(line_of, minlength=n_lines)[:n_lines] + 1
    ends = np.append(breaks, data.size)[:n_lines]
    starts = np.concatenate([[0], breaks + 1])[:n_lines]
    solid = np.concatenate([[0], np.cumsum(~np.isin(data, _WHITESPACE))])
    content = (solid[ends] - solid[starts]) > 0
    keep = content | (widths > 1)
    return widths[keep], np.flatnonzero(keep) + 1


def _csv_widths(text: str, delimiter: str, source: Source | None, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Fields per record with csv's quoting rules (a quoted field may hold a delimiter or a newline)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    widths, lines, start = [], [], 1
    try:
        for row in reader:
            if len(row) > 1 or (row and row[0].strip()):
                widths.append(len(row))
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        if source is None:
            raise
        raise split_error(source, exc, reader.line_num + offset) from None
    return np.asarray(widths, dtype=np.int64), np.asarray(lines, dtype=np.int64)


def field_widths(text: str, delimiter: str, *, source: Source | None = None,
                 offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Number of fields of every non-blank record of *text* and the 1-based line each starts on.

    With *source*, a line that cannot be split (a lone carriage return in an unquoted field) is an
    :class:`~gutlink.errors.InputFormatError` at its line (*offset* lines before *text* in the file).
    """
    if '"' in text:
        return _csv_widths(text, delimiter, source, offset)
    return _fast_widths(text, delimiter)


def split_error(source: Source, exc: Exception, line: int | None) -> InputFormatError:
    """The error for a line that csv cannot split into fields (a lone carriage return in an unquoted field)."""
    return source.error(
        f"the line cannot be split into fields ({exc}).", line=line,
        hint="It holds a carriage return (\\r) in the middle of a line (old Mac line endings mixed with others, "
             "or a stray CR in a cell): convert the file to Unix line endings (e.g. `tr '\\r' '\\n'` or "
             "`dos2unix -c mac FILE`), or quote the cell.")


def check_header_quotes(source: Source, header: str, line: int) -> None:
    """Refuse a header line whose quotes do not close (a column name holding a newline)."""
    if header.count('"') % 2:
        raise source.error("the header line has an unclosed quote: a quoted column name runs onto the next line.",
                           line=line, hint="Remove the line break from the column name (or the stray quote).")


def check_widths(source: Source, widths: np.ndarray, lines: np.ndarray, *, header_width: int, header_line: int,
                 offset: int = 0) -> int:
    """``1`` when every row has exactly one field more than the header (R's ``write.table``: the header lacks
    the row-name column), else ``0``; raise at the first row whose field count differs from the header's.

    *lines* are numbered within the text that was counted; *offset* turns them into the file's line numbers.
    """
    if widths.size and np.all(widths == header_width + 1):
        return 1
    bad = np.flatnonzero(widths != header_width)
    if bad.size == 0:
        return 0
    first = int(bad[0])
    found, line = int(widths[first]), int(lines[first]) + offset
    more = "more" if found > header_width else "fewer"
    raise source.error(
        f"this row has {found} fields but the header (line {header_line}) has {header_width} "
        f"({bad.size} row(s) of {widths.size} differ; {more} fields than the header).",
        line=line,
        hint="Every row needs one field per header column: check for a missing or extra delimiter, a quoted field "
             "broken across lines, or a header with names missing or added.",
    )
