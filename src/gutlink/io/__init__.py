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
from typing import Literal

from ..cohort import Cohort
from ..errors import InputFormatError
from ._combine import combine
from ._detect import FORMATS, detect
from ._source import Source
from .biom import read_biom
from .kraken import read_bracken, read_kraken
from .metadata import infer_dtypes, read_metadata
from .metaphlan import read_metaphlan
from .qza import read_qza
from .table import read_table
from .writers import write_biom, write_tsv

__all__ = ["FORMATS", "read", "read_metadata", "write_tsv", "write_biom", "combine", "infer_dtypes"]

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


def _read_one(path: Path, fmt: str | None, rank: str | None, units: str | None,
              lineage: PathLike | None) -> Cohort:
    source = Source.load(path)
    if fmt is not None and fmt not in FORMATS:
        raise source.error(f"unknown format {fmt!r}.", hint=f"Use one of {', '.join(FORMATS)}, or None to detect it.")
    fmt = fmt or detect(source)
    if fmt == "table":
        return read_table(source, rank=rank, units=units, lineage=lineage)
    if lineage is not None:
        raise source.error(f"lineage= applies to generic tables, but this file reads as {fmt!r}.",
                           hint="Leave lineage=None; this format carries its own lineage.")
    return _READERS[fmt](source, rank=rank, units=units)


def read(path: PathLike | Sequence[PathLike], *, format: Format | None = None, rank: str | None = None,
         units: Literal["counts", "fraction", "percent"] | None = None,
         lineage: PathLike | None = None) -> Cohort:
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
        ≤ 100 → percent).
    lineage
        A lineage table for a generic table whose features are bare names (first column the feature ID,
        then one column per rank, or a ``Taxon`` column). By default a sibling ``*lineage*.csv`` is used
        when its IDs match.

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
    files, several = _expand(path)
    cohorts = [_read_one(f, format, rank, units, lineage) for f in files]
    return combine(cohorts) if several else cohorts[0]
