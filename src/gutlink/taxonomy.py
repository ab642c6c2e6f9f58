"""Lineage parsing: MetaPhlAn, Greengenes, SILVA and GTDB strings to the same ranks.

Examples
--------
>>> parse_lineage("k__Bacteria|p__Firmicutes|c__Clostridia|s__Faecalibacterium_prausnitzii")["species"]
'Faecalibacterium_prausnitzii'
>>> parse_lineage("d__Bacteria;p__Bacillota;g__Blautia")["kingdom"]
'Bacteria'
>>> parse_lineage("D_0__Bacteria;D_1__Firmicutes")["phylum"]
'Firmicutes'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

__all__ = ["RANKS", "parse_lineage", "lineage_table", "rank_of", "normalise_rank"]

#: The ranks every lineage is parsed onto, from the top down.
RANKS: tuple[str, ...] = ("kingdom", "phylum", "class", "order", "family", "genus", "species", "strain")

_PREFIX = {
    "k": "kingdom",
    "d": "kingdom",  # GTDB / SILVA 138 "domain"
    "p": "phylum",
    "c": "class",
    "o": "order",
    "f": "family",
    "g": "genus",
    "s": "species",
    "t": "strain",  # MetaPhlAn strain / SGB level
}
_SILVA_LEVEL = re.compile(r"^D_(\d)__(.*)$")
_PREFIXED = re.compile(r"^([kdpcofgst])__(.*)$")
_ALIASES = {
    "domain": "kingdom",
    "superkingdom": "kingdom",
    "k": "kingdom",
    "d": "kingdom",
    "p": "phylum",
    "c": "class",
    "o": "order",
    "f": "family",
    "g": "genus",
    "s": "species",
    "t": "strain",
    "sgb": "strain",
    "otu": "strain",
}
_EMPTY = {"", "unclassified", "unknown", "na", "nan", "none", "uncultured", "__"}


def normalise_rank(rank: str) -> str:
    """Return the canonical rank name for *rank* (``'Genus'``, ``'g'`` → ``'genus'``).

    Examples
    --------
    >>> normalise_rank("Genus"), normalise_rank("d")
    ('genus', 'kingdom')
    """
    key = str(rank).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in RANKS:
        raise ValueError(f"unknown rank {rank!r}; use one of {', '.join(RANKS)}")
    return key


def _split(lineage: str) -> list[str]:
    if "|" in lineage:
        parts = lineage.split("|")
    elif ";" in lineage:
        parts = lineage.split(";")
    else:
        parts = [lineage]
    return [p.strip().strip('"') for p in parts]


def parse_lineage(lineage: str) -> dict[str, str | None]:
    """Parse one lineage string into ``{rank: name}`` over :data:`RANKS`.

    Prefixed levels (``k__``, ``d__``, ``p__`` … ``s__``, ``t__``; SILVA 132 ``D_0__`` … ``D_6__``) go to their
    rank wherever they stand; unprefixed levels are taken positionally from kingdom down. Empty levels
    (``g__``, ``unclassified``) become ``None``. MetaPhlAn 4 ``t__SGB123`` rows land in ``strain``.
    """
    out: dict[str, str | None] = dict.fromkeys(RANKS)
    for position, part in enumerate(_split(str(lineage))):
        m = _PREFIXED.match(part)
        if m:
            rank, name = _PREFIX[m.group(1)], m.group(2).strip()
        else:
            s = _SILVA_LEVEL.match(part)
            if s:
                level = int(s.group(1))
                if level >= len(RANKS):
                    continue
                rank, name = RANKS[level], s.group(2).strip()
            else:
                if position >= len(RANKS):
                    continue
                rank, name = RANKS[position], part
        out[rank] = None if name.lower() in _EMPTY else name
    return out


def lineage_table(lineages: Iterable[str], index: Iterable[str] | None = None) -> pd.DataFrame:
    """Parse many lineage strings into a DataFrame with one column per rank.

    Examples
    --------
    >>> lineage_table(["k__Bacteria; p__Firmicutes; g__", "k__Bacteria|p__Bacteroidetes"]).phylum.tolist()
    ['Firmicutes', 'Bacteroidetes']
    """
    lineages = list(lineages)
    rows = [parse_lineage(x) for x in lineages]
    idx = pd.Index(lineages if index is None else list(index), dtype=object, name="feature_id")
    table = pd.DataFrame(rows, index=idx, columns=list(RANKS))
    return table.astype(object).where(table.notna(), None)


def rank_of(lineage: str) -> str | None:
    """The lowest named rank of one lineage string (``None`` when nothing parses).

    Examples
    --------
    >>> rank_of("k__Bacteria|p__Firmicutes|c__Clostridia")
    'class'
    """
    parsed = parse_lineage(lineage)
    named = [r for r in RANKS if parsed[r] is not None]
    return named[-1] if named else None
