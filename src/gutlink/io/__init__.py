"""Read abundance tables and metadata into a :class:`~gutlink.cohort.Cohort`; write them back.

``read`` recognises the format from the content (:data:`FORMATS`), decompresses gzip/bz2/xz/zip by magic
bytes, selects one taxonomic level where the table holds several, detects the units and records the
file (path, format, sha256, units) in the cohort's history.

Examples
--------
>>> import os, tempfile
>>> from gutlink.datasets import toy
>>> with tempfile.TemporaryDirectory() as d:
...     write_tsv(toy(), os.path.join(d, "toy.tsv"))
...     back = read(os.path.join(d, "toy.tsv"))
>>> back.n_samples, back.n_features, back.units
(19, 30, 'counts')
>>> back.history[0]["format"]
'table'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..cohort import Cohort
from ..errors import InputFormatError
from ..taxonomy import normalise_rank
from ._combine import combine
from ._compress import MAX_INPUT
from ._detect import FORMATS, detect
from ._source import Source
from .biom import read_biom
from .kraken import read_bracken, read_kraken
from .metadata import infer_dtypes, read_metadata
from .metaphlan import read_metaphlan
from .qza import read_qza
from .table import read_table
from .writers import write_biom, write_tsv

__all__ = ["FORMATS", "MAX_INPUT", "read", "read_metadata", "write_tsv", "write_biom", "combine", "infer_dtypes"]

Format = Literal["metaphlan", "biom", "qza", "kraken", "bracken", "table"]
PathLike = str | Path

_READERS = {"metaphlan": read_metaphlan, "biom": read_biom, "qza": read_qza, "kraken": read_kraken,
            "bracken": read_bracken}


def _expand(path: PathLike | Sequence[PathLike]) -> tuple[list[Path], bool]:
    """Files to read and whether the caller asked for several (a list or a directory)."""
    if isinstance(path, (str, Path)):
        p = Path(path)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
            if not files:
                raise InputFormatError("the directory holds no files.", path=str(p))
            return files, True
        return [p], False
    files = [Path(p) for p in path]
    if not files:
        raise InputFormatError("an empty list of files was given.")
    return files, True


def _checked_rank(rank: object) -> str | None:
    """*rank* as given, once known to be a rank (an unknown one is an InputFormatError before any file is read)."""
    if rank is None:
        return None
    try:
        normalise_rank(str(rank))
    except ValueError as exc:
        message = exc.message if isinstance(exc, InputFormatError) else str(exc)
        raise InputFormatError(message, hint="Pass rank= one of those (CLI --rank), or leave it out.") from None
    return str(rank)


def _read_one(path: Path, fmt: str | None, rank: str | None, units: str | None, lineage: PathLike | None,
              options: dict[str, Any], max_input: int) -> Cohort:
    source = Source.load(path, max_input=max_input)
    if fmt is not None and fmt not in FORMATS:
        raise source.error(f"unknown format {fmt!r}.", hint=f"Use one of {', '.join(FORMATS)}, or None to detect it.")
    fmt = fmt or detect(source)
    if fmt == "table":
        return read_table(source, rank=rank, units=units, lineage=lineage, **options)
    if lineage is not None:
        raise source.error(f"lineage= applies to generic tables, but this file reads as {fmt!r}.",
                           hint="Leave lineage=None; this format carries its own lineage.")
    given = [k for k in ("metadata_columns", "feature_columns") if options.get(k)]
    if given:
        raise source.error(f"{given[0]}= applies to generic tables, but this file reads as {fmt!r}, whose format "
                           "says which rows are taxa.", hint=f"Leave {given[0]}=None for this file.")
    return _READERS[fmt](source, rank=rank, units=units)


def read(path: PathLike | Sequence[PathLike], *, format: Format | None = None, rank: str | None = None,
         units: Literal["counts", "fraction", "percent"] | None = None,
         lineage: PathLike | None = None, metadata_columns: Sequence[str] | None = None,
         feature_columns: Sequence[str] | None = None, metadata: pd.DataFrame | None = None,
         max_input: int = MAX_INPUT) -> Cohort:
    """Read an abundance table (or several single-sample reports) into a :class:`Cohort`.

    Parameters
    ----------
    path
        A file; a list of files or a directory of single-sample files (Kraken/Bracken reports, MetaPhlAn
        profiles), combined into one cohort with samples named after the files.
    format
        One of :data:`FORMATS`; ``None`` recognises it from the content.
    rank
        Taxonomic level. Tables holding every level (MetaPhlAn, Kraken reports) keep the rows of this level
        (default species); tables of leaves (BIOM, OTU tables) are summed up to it with
        :meth:`Cohort.aggregate`; for a table of bare names it says what the names are.
    units
        ``'counts'``, ``'fraction'`` or ``'percent'``; ``None`` takes them from the file (Kraken reads, a
        ``.qza`` type) or detects them from the values (integers → counts, sums ≤ 1 → fraction,
        ≤ 100 → percent). Non-integer values summing to more than 100 are refused, never rounded; declaring
        ``'counts'`` keeps such values as they are (their number is recorded in the history).
    lineage
        A lineage table for a generic table whose features are bare names (first column the feature ID,
        then one column per rank, or a ``Taxon`` column). By default a sibling ``*lineage*.csv`` is used
        when its IDs match.
    metadata_columns
        Sample variables held in a generic table (clinical columns such as ``Age`` or ``clin.SpA``; rows when
        samples are columns): moved to ``Cohort.metadata`` and never analysed. In a table of bare names,
        numeric columns that look like sample variables are refused until named here or in
        *feature_columns* (CLI ``--metadata-columns``).
    feature_columns
        The abundance columns (or rows) of a generic table, exactly; all others become sample metadata
        (CLI ``--feature-columns``).
    metadata
        Sample metadata read separately (e.g. with :func:`read_metadata`): a numeric column of a table of
        bare names that equals one of its columns is refused as a leak.
    max_input
        The most bytes a file may hold, before and after decompression (default :data:`MAX_INPUT`, 20 GiB),
        so a decompression bomb stops with an error (CLI ``--max-input``).

    Returns
    -------
    Cohort
        Samples × features, with embedded sample metadata when the file has some.

    Raises
    ------
    InputFormatError
        With ``path``, and ``line``/``column`` where known, for empty, corrupt, unrecognised or
        inconsistent input.

    Notes
    -----
    Feature IDs are the file's own row keys: MetaPhlAn clade strings, Greengenes/SILVA/GTDB lineage strings,
    OTU/ASV IDs, NCBI taxids for Kraken/Bracken, ``ncbi_<taxid>`` for GMrepo tables; names and ranks are in
    ``Cohort.taxonomy``. In the MetAML table a ``sampleID`` that occurs in several datasets becomes
    ``dataset_name:sampleID`` for each of its occurrences (IDs that are already unique stay as they
    are); the original stays in the ``sampleID`` metadata column. A directory is read file by file (every non-hidden
    file), samples named after the files.
    """
    rank = _checked_rank(rank)
    files, several = _expand(path)
    options = {"metadata_columns": metadata_columns, "feature_columns": feature_columns, "metadata": metadata}
    cohorts = [_read_one(f, format, rank, units, lineage, options, max_input) for f in files]
    return combine(cohorts) if several else cohorts[0]
