"""Kraken 2 / KrakenUniq reports, Bracken output and KrakenTools ``combine_kreports`` tables.

A Kraken report has one row per taxon: percent, clade reads, direct reads, (with
``--report-minimizer-data`` two minimizer columns), rank code (``U R D K P C O F G S S1 …``), NCBI taxid
and the name indented by two spaces per depth. The lineage of a row is built from the indentation. Like
MetaPhlAn tables the report holds every level, so one level is kept (species ``S`` rows by default,
``rank="genus"`` → ``G``, ``rank="strain"`` → ``S1``) with its **clade** reads; unclassified reads are
dropped. Bracken's ``*_bracken_species.kreport`` has the same layout.

Bracken's own output (``name taxonomy_id taxonomy_lvl kraken_assigned_reads added_reads new_est_reads
fraction_total_reads``) gives ``new_est_reads`` per taxon of one level; it carries no lineage, so only
the rank of its level is filled (read the matching ``.kreport`` for full lineage). Tables made by
``combine_bracken_outputs.py`` (``<sample>.bracken_num`` columns) are read too.

Feature IDs are NCBI taxids (text); units are read counts. A sample is named after its file
(``S1.kreport`` → ``S1``, ``S1_bracken_species.kreport`` → ``S1``).

Examples
--------
>>> from gutlink.io._source import Source
>>> text = (" 10.00\\t10\\t10\\tU\\t0\\tunclassified\\n 90.00\\t90\\t0\\tR\\t1\\troot\\n"
...         " 90.00\\t90\\t5\\tD\\t2\\t  Bacteria\\n 50.00\\t50\\t10\\tG\\t816\\t    Bacteroides\\n"
...         " 40.00\\t40\\t40\\tS\\t817\\t      Bacteroides fragilis\\n"
...         " 35.00\\t35\\t35\\tS\\t853\\t    Faecalibacterium prausnitzii\\n")
>>> c = read_kraken(Source.from_bytes(text.encode(), "S1.kreport"))
>>> c.to_frame().loc["S1"].to_dict(), c.taxonomy.loc["817", "genus"]
({'817': 40.0, '853': 35.0}, 'Bacteroides')
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..taxonomy import RANKS, normalise_rank
from ._common import check_unique, finish
from ._source import Source

__all__ = ["read_kraken", "read_bracken", "RANK_CODES"]

#: Kraken rank codes of the canonical ranks.
RANK_CODES = {"D": "kingdom", "P": "phylum", "C": "class", "O": "order", "F": "family", "G": "genus",
              "S": "species", "S1": "strain"}
_CODE_OF = {rank: code for code, rank in RANK_CODES.items()}
_RANK_CODE = re.compile(r"^([URDKPCOFGS]\d*|-)$")


def _report_frame(source: Source) -> tuple[pd.DataFrame, list[str], int]:
    """The report's rows (rank code, taxid, name, one read column per sample), sample names, first line."""
    text = source.text
    lines = text.splitlines()
    skip = 0
    while skip < len(lines) and (lines[skip].startswith("#") or not lines[skip].strip()):
        skip += 1
    if skip < len(lines) and lines[skip].startswith("perc\ttot_all"):
        return _combined_frame(source, skip)
    raw = _read(source, skip, header=None)
    if raw.shape[1] not in (6, 8):
        raise source.error(f"a Kraken report has 6 (or 8) tab-separated columns, this one {raw.shape[1]}.",
                           line=skip + 1, hint="Pass the report written by kraken2 --report, not the per-read output.")
    code_col = 3 if raw.shape[1] == 6 else 5
    frame = pd.DataFrame({"code": raw[code_col], "taxid": raw[code_col + 1], "name": raw[code_col + 2],
                          source.stem: raw[1]})
    return frame, [source.stem], skip + 1


def _read(source: Source, skip: int, header: int | None) -> pd.DataFrame:
    try:
        return pd.read_csv(io.StringIO(source.text), sep="\t", header=header, skiprows=skip, dtype=str,
                           keep_default_na=False, na_filter=False, quoting=csv.QUOTE_NONE, comment=None)
    except pd.errors.ParserError as exc:
        raise source.error(f"rows have different numbers of columns ({exc}).",
                           hint="Pass an unmodified Kraken/Bracken report.") from None
    except pd.errors.EmptyDataError:
        raise source.error("no rows after the comment lines.", line=skip + 1,
                           hint="Pass an unmodified Kraken/Bracken report.") from None


def _combined_frame(source: Source, skip: int) -> tuple[pd.DataFrame, list[str], int]:
    raw = _read(source, skip, header=0)
    samples = [c[:-4] for c in raw.columns if c.endswith("_all") and c != "tot_all"]
    missing = [c for c in ("lvl_type", "taxid", "name") if c not in raw.columns]
    if missing or not samples:
        what = f"no column(s) {missing}" if missing else "no <sample>_all columns"
        raise source.error(f"a combine_kreports table, but its header has {what}.", line=skip + 1,
                           hint="Expected: perc, tot_all, tot_lvl, <sample>_all, <sample>_lvl, …, lvl_type, taxid, "
                                "name (as combine_kreports.py writes them).")
    frame = pd.DataFrame({"code": raw["lvl_type"], "taxid": raw["taxid"], "name": raw["name"]})
    for s in samples:
        frame[s] = raw[f"{s}_all"]
    return frame, samples, skip + 2


def _check_rows(frame: pd.DataFrame, samples: list[str], source: Source, first_line: int) -> np.ndarray:
    bad_code = ~frame["code"].str.strip().str.match(_RANK_CODE)
    counts = frame[samples].apply(pd.to_numeric, errors="coerce")
    bad_count = counts.isna().any(axis=1) | (counts < 0).any(axis=1) | ~np.isfinite(counts).all(axis=1)
    bad = (bad_code | bad_count).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        what = "rank code" if bad_code.iloc[row] else "read count"
        raise source.error(f"row {row + 1} has an invalid {what}.", line=first_line + row,
                           hint="Kraken report columns: percent, clade reads, direct reads, rank code, taxid, name.")
    return counts.to_numpy(dtype=np.float64)


def _lineages(codes: pd.Series, names: pd.Series) -> list[dict[str, str | None]]:
    """Lineage of every row from the indentation of its name (two spaces per depth)."""
    stack: list[tuple[int, dict[str, str | None]]] = []
    out = []
    for code, name in zip(codes.str.strip(), names):
        depth = (len(name) - len(name.lstrip(" "))) // 2
        while stack and stack[-1][0] >= depth:
            stack.pop()
        lineage = dict(stack[-1][1]) if stack else dict.fromkeys(RANKS)
        rank = RANK_CODES.get(code)
        if rank is not None:
            lineage[rank] = name.strip()
        stack.append((depth, lineage))
        out.append(lineage)
    return out


def _target_code(codes: pd.Series, rank: str | None, source: Source) -> tuple[str, str]:
    present = [r for r in RANKS if (codes == _CODE_OF[r]).any()]
    if not present:
        raise source.error("the report has no rows at a canonical rank (D, P, C, O, F, G, S).")
    if rank is None:
        target = "species" if "species" in present else present[-1]
    else:
        target = normalise_rank(rank)
        if target not in present:
            raise source.error(f"the report has no {target} ({_CODE_OF[target]}) rows; it holds {', '.join(present)}.",
                               hint=f"Pass rank= one of {present}.")
    return _CODE_OF[target], target


def read_kraken(source: Source, *, rank: str | None = None, units: str | None = None) -> Cohort:
    """Read a Kraken-style report (or a ``combine_kreports`` table): clade reads at one rank.

    Parameters
    ----------
    source
        The loaded report.
    rank
        Level to keep (default species, else the lowest canonical level present).
    units
        Leave ``None`` (read counts).

    Returns
    -------
    Cohort
        One sample per report column; features are taxids with lineage from the report's tree.
    """
    frame, samples, first_line = _report_frame(source)
    counts = _check_rows(frame, samples, source, first_line)
    code, used = _target_code(frame["code"].str.strip(), rank, source)
    lineages = _lineages(frame["code"], frame["name"])
    keep = (frame["code"].str.strip() == code).to_numpy()
    taxids = frame["taxid"].str.strip()[keep].tolist()
    check_unique(taxids, "taxid", source, in_header=False)
    taxonomy = pd.DataFrame([lineages[i] for i in np.flatnonzero(keep)], index=pd.Index(taxids, dtype=object),
                            columns=list(RANKS))
    taxonomy = taxonomy.astype(object).where(taxonomy.notna(), None)
    return finish(source, counts[keep].T, fmt="kraken", samples=samples, taxonomy=taxonomy, units=units,
                  file_units="counts", rank=used, n_unclassified_reads=_unclassified(frame, samples))


def _unclassified(frame: pd.DataFrame, samples: list[str]) -> list[int]:
    rows = frame[frame["code"].str.strip() == "U"]
    return [int(pd.to_numeric(rows[s]).sum()) for s in samples]


_BRACKEN_COLUMNS = ("name", "taxonomy_id", "taxonomy_lvl")


def read_bracken(source: Source, *, rank: str | None = None, units: str | None = None) -> Cohort:
    """Read Bracken output (``new_est_reads``) or a ``combine_bracken_outputs.py`` table.

    Parameters
    ----------
    source
        The loaded file.
    rank
        Must match the file's ``taxonomy_lvl`` when given (Bracken estimates one level per run).
    units
        Leave ``None`` (read counts).

    Returns
    -------
    Cohort
        Samples × taxids; the taxonomy holds the name at the file's level only.
    """
    table = _read(source, 0, header=0)
    missing = [c for c in _BRACKEN_COLUMNS if c not in table.columns]
    if missing:
        raise source.error(f"missing Bracken column(s) {missing}.", line=1,
                           hint="Expected: name, taxonomy_id, taxonomy_lvl, …, new_est_reads, fraction_total_reads.")
    samples, columns = _bracken_samples(table, source)
    level = _bracken_level(table, rank, source)
    taxids = pd.Index(table["taxonomy_id"].str.strip(), dtype=object)
    check_unique(taxids.tolist(), "taxid", source, in_header=False)
    counts = _check_counts(table[list(columns)], source)
    taxonomy = pd.DataFrame({r: [None] * len(taxids) for r in RANKS}, index=taxids, dtype=object)
    taxonomy[level] = table["name"].str.strip().to_numpy(dtype=object)
    return finish(source, counts.T, fmt="bracken", samples=samples, taxonomy=taxonomy, units=units,
                  file_units="counts", rank=level)


def _bracken_samples(table: pd.DataFrame, source: Source) -> tuple[list[str], list[str]]:
    if "new_est_reads" in table.columns:
        return [source.stem], ["new_est_reads"]
    columns = [c for c in table.columns if c.endswith("_num")]
    if not columns:
        raise source.error("no new_est_reads column and no <sample>_num columns.", line=1,
                           hint="Pass Bracken's output file (or combine_bracken_outputs.py's table).")
    names = [re.sub(r"[._]bracken_num$|_num$", "", c) for c in columns]
    return names, columns


def _bracken_level(table: pd.DataFrame, rank: str | None, source: Source) -> str:
    codes = table["taxonomy_lvl"].str.strip().unique().tolist()
    if len(codes) != 1 or codes[0] not in RANK_CODES:
        raise source.error(f"expected one canonical taxonomy_lvl, found {codes[:5]}.", column="taxonomy_lvl")
    level = RANK_CODES[codes[0]]
    if rank is not None and normalise_rank(rank) != level:
        raise source.error(f"this Bracken file holds {level} estimates, not {normalise_rank(rank)}.",
                           hint=f"Re-run Bracken with -l {_CODE_OF[normalise_rank(rank)]}, or leave rank=None.")
    return level


def _check_counts(frame: pd.DataFrame, source: Source) -> np.ndarray:
    counts = frame.apply(pd.to_numeric, errors="coerce")
    bad = (counts.isna() | (counts < 0)).to_numpy()
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise source.error(f"invalid read count {frame.iloc[row, col]!r}.", line=row + 2,
                           column=str(frame.columns[col]), hint="Read counts must be non-negative numbers.")
    return counts.to_numpy(dtype=np.float64)
