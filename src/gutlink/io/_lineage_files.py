"""Lineage that lives beside a table: a lineage CSV (IDs × ranks, or an ID + ``Taxon`` string) and the
GMrepo taxid name files (``species_id_names.csv``, ``genus_id_names.csv``, ``genus_lineage.csv``).

Examples
--------
>>> genus_of("Segatella copri"), genus_of("Lachnospiraceae bacterium 3_1_46FAA"), genus_of("[Ruminococcus] gnavus")
('Segatella', None, '[Ruminococcus]')
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from ..taxonomy import RANKS, lineage_table, normalise_rank
from ._common import check_unique
from ._source import Source

__all__ = ["read_lineage_table", "sibling_lineage", "taxid_taxonomy", "genus_of", "LINEAGE_COLUMN"]

#: Column names that hold a whole lineage string.
LINEAGE_COLUMN = re.compile(r"^(taxonomy|lineage|consensus ?lineage|taxon|taxa)$", re.IGNORECASE)
_DOMAINS = {"2": "Bacteria", "2157": "Archaea", "2759": "Eukaryota", "10239": "Viruses"}
_GENUS_WORD = re.compile(r"^\[?[A-Z][a-z]+\]?$")
_NOT_GENUS = re.compile(r"(aceae|ales|ineae|idae|ia_bacterium)$")


def genus_of(species: str) -> str | None:
    """The genus of an NCBI species name: its first word, unless that is not a genus (``Lachnospiraceae
    bacterium``, ``uncultured …``)."""
    words = str(species).split()
    if len(words) < 2 or not _GENUS_WORD.match(words[0]) or _NOT_GENUS.search(words[0]):
        return None
    return None if words[1] in ("bacterium", "sp.", "archaeon") else words[0]


def _rank_columns(columns: list[str]) -> dict[str, str]:
    out = {}
    for col in columns:
        try:
            out[col] = normalise_rank(col)
        except ValueError:
            continue
    return out


def read_lineage_table(path: str | Path) -> pd.DataFrame:
    """A lineage table indexed by feature ID with one column per rank (:data:`RANKS`).

    The first column is the feature ID; then either rank columns (``Kingdom``, ``Phylum`` … ``Species``,
    any case) or one lineage-string column (``Taxon``, ``taxonomy``, ``lineage``).
    """
    source = Source.load(path)
    header = source.text.split("\n", 1)[0]
    sep = "\t" if "\t" in header else ","
    frame = _csv(source, sep=sep)
    ids = frame.iloc[:, 0].astype(str).str.strip()
    check_unique(ids.tolist(), "feature", source, in_header=False)
    strings = [c for c in frame.columns[1:] if LINEAGE_COLUMN.match(str(c))]
    if strings:
        return lineage_table(frame[strings[0]].tolist(), index=ids.tolist())
    ranks = _rank_columns([str(c) for c in frame.columns[1:]])
    if not ranks:
        raise source.error("a lineage table needs rank columns (Kingdom … Species) or a Taxon column.", line=1)
    table = pd.DataFrame({rank: frame[col].str.strip().to_numpy() for col, rank in ranks.items()},
                         index=pd.Index(ids.tolist(), dtype=object)).reindex(columns=list(RANKS))
    table = table.astype(object)
    return table.where(table.notna() & (table != ""), None)


def _csv(source: Source, **options: object) -> pd.DataFrame:
    """*source* parsed as text cells (no missing-value spellings), or an error naming the file and line."""
    try:
        return pd.read_csv(io.StringIO(source.text), dtype=str, keep_default_na=False, **options)  # type: ignore[call-overload]
    except pd.errors.EmptyDataError:
        raise source.error("the file holds no table.", hint="Check that it was written completely.") from None
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise source.error(f"cannot parse the table ({exc}).", line=int(m.group(1)) if m else None,
                           hint="Every row needs as many fields as the header; check for an unclosed quote.") from None


def sibling_lineage(path: str, labels: list[str]) -> tuple[pd.DataFrame | None, str | None]:
    """The ``*lineage*`` file beside *path* whose IDs match most of *labels* (or ``(None, None)``)."""
    here = Path(path)
    best: tuple[int, pd.DataFrame | None, str | None] = (0, None, None)
    for candidate in sorted(here.parent.glob("*lineage*")):
        if candidate.resolve() == here.resolve() or not candidate.is_file():
            continue
        try:
            table = read_lineage_table(candidate)
        except (ValueError, OSError):
            continue
        overlap = len(set(table.index) & set(labels))
        if overlap > best[0]:
            best = (overlap, table, str(candidate))
    return best[1], best[2]


def _name_file(folders: list[Path], name: str) -> dict[str, str]:
    """taxid → name from a GMrepo ``*_id_names.csv`` (``taxid,taxname``) in one of *folders*."""
    for folder in folders:
        f = folder / name
        if f.is_file():
            source = Source.load(f)
            frame = _csv(source)
            if not {"taxid", "taxname"} <= set(frame.columns):
                raise source.error(f"a GMrepo name file needs the columns taxid and taxname, not "
                                   f"{[str(c) for c in frame.columns][:5]}.", line=1,
                                   hint=f"Restore {name} from GMrepo, or move it out of the table's folder.")
            return dict(zip(frame["taxid"], frame["taxname"]))
    return {}


def _domains(folders: list[Path]) -> dict[str, str]:
    """Genus taxid → domain name, from ``genus_lineage.csv`` (``taxid,|,name,|,path of taxids…``)."""
    for folder in folders:
        f = folder / "genus_lineage.csv"
        if f.is_file():
            source = Source.load(f)
            text = source.text.split("\n", 1)[1] if "\n" in source.text else ""
            rows = _csv(Source.from_bytes(text.encode("utf-8"), source.path) if text.strip() else source,
                        header=None)
            if rows.shape[1] < 5:
                raise source.error(f"genus_lineage.csv rows have {rows.shape[1]} fields, expected "
                                   "taxid,|,taxname,|,lineage taxids….", line=2,
                                   hint="Restore it from GMrepo, or move it out of the table's folder.")
            path = rows.iloc[:, 4:].astype(str).agg(" ".join, axis=1).str.split()
            return {t: next((_DOMAINS[x] for x in p if x in _DOMAINS), "") for t, p in zip(rows[0], path)}
    return {}


def taxid_taxonomy(path: str, ids: list[str]) -> tuple[pd.DataFrame, dict[str, object]]:
    """Lineage of ``ncbi_<taxid>`` features from the GMrepo name files in the table's folder or its parent."""
    folder = Path(path).resolve().parent
    folders = [folder, folder.parent]
    sp = _name_file(folders, "species_id_names.csv")
    ge = _name_file(folders, "genus_id_names.csv")
    domains = _domains(folders)
    genus_taxid = {name: t for t, name in reversed(list(ge.items()))}
    rows = [_taxid_row(i.split("_", 1)[-1], sp, ge, genus_taxid, domains) for i in ids]
    table = pd.DataFrame(rows, index=pd.Index(ids, dtype=object)).reindex(columns=[*RANKS, "taxid"])
    table = table.astype(object).where(table.notna() & (table != ""), None)
    unmapped = int(table[list(RANKS)].isna().all(axis=1).sum())
    return table, {"taxid_names": bool(sp or ge), "n_taxids_unnamed": unmapped}


def _taxid_row(taxid: str, sp: dict[str, str], ge: dict[str, str], genus_taxid: dict[str, str],
               domains: dict[str, str]) -> dict[str, str | None]:
    if taxid in sp:
        g = genus_of(sp[taxid])
        return {"species": sp[taxid], "genus": g, "kingdom": domains.get(genus_taxid.get(g or "", "")),
                "taxid": taxid}
    if taxid in ge:
        return {"genus": ge[taxid], "kingdom": domains.get(taxid), "taxid": taxid}
    return {"taxid": taxid}
