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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from .errors import DesignError, printable

__all__ = ["RANKS", "SYNONYMS", "TaxonMatch", "genus_of", "gtdb_base", "lineage_table", "match_taxa", "ncbi_taxid",
           "normalise_rank",
           "parse_lineage", "rank_of", "taxon_key"]

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
    if key not in RANKS:  # a DesignError is also a ValueError: ``except ValueError`` callers keep working
        raise DesignError(f"unknown rank {printable(repr(rank))}; use one of {', '.join(RANKS)} "
                          "(or their initials k, p, c, o, f, g, s, t).")
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


_TAXID = re.compile(r"^(?:ncbi(?:taxon)?|taxid|tax)?[\s_:|-]*(\d+)$", re.IGNORECASE)


def ncbi_taxid(text: object) -> int | None:
    """The NCBI taxid a feature ID or taxid field names, or ``None``: ``'ncbi_816'`` (GMrepo), ``'taxid:816'``,
    ``'816'``, or a MetaPhlAn 3/4 clade taxid path (``'2|976|200643|171549|815|816'``: its last, most specific
    taxid).

    Examples
    --------
    >>> ncbi_taxid("ncbi_216851"), ncbi_taxid("2|1239|186801|186802|216572|216851"), ncbi_taxid("Blautia")
    (216851, 216851, None)
    """
    parts = [p.strip() for p in str(text).strip().split("|") if p.strip()]
    if len(parts) > 1 and all(p.isdigit() for p in parts):
        return int(parts[-1])
    m = _TAXID.match(str(text).strip())
    return int(m.group(1)) if m else None


def genus_of(name: object) -> str | None:
    """The genus name of a lineage (its ``g__`` level, else the first word of its species) or of a bare name
    (``'Faecalibacterium_prausnitzii'``, ``'[Ruminococcus] gnavus'``, ``'Blautia'``); ``None`` when the lineage
    stops above genus.

    Examples
    --------
    >>> genus_of("k__Bacteria|p__Firmicutes|g__Blautia|s__Blautia_obeum"), genus_of("[Ruminococcus]_gnavus")
    ('Blautia', 'Ruminococcus')
    >>> genus_of("k__Bacteria;p__Firmicutes;f__Lachnospiraceae") is None
    True
    """
    text = str(name).strip()
    parsed = parse_lineage(text)
    if parsed["genus"]:
        return parsed["genus"]
    parts = _split(text)
    if len(parts) > 1 or _PREFIXED.match(parts[0]) or _SILVA_LEVEL.match(parts[0]):
        species = parsed["species"]
        return _BRACKETS.sub("", species).replace(" ", "_").split("_")[0] or None if species else None
    word = re.split(r"[\s_]+", _BRACKETS.sub("", text).strip())[0]
    return None if word.lower() in _EMPTY else word


# ----------------------------------------------------------------------------- matching names across tables
#: Species renamed since the reference lists the indices and signatures were built on (old → current, LPSN /
#: GTDB). Matching uses them in both directions, so a MetaPhlAn 2 list finds MetaPhlAn 4 names and back.
SYNONYMS: dict[str, str] = {
    "Ruminococcus_gnavus": "Mediterraneibacter_gnavus",
    "Ruminococcus_torques": "Mediterraneibacter_torques",
    "Eubacterium_rectale": "Agathobacter_rectalis",
    "Bacteroides_vulgatus": "Phocaeicola_vulgatus",
    "Bacteroides_dorei": "Phocaeicola_dorei",
    "Bacteroides_plebeius": "Phocaeicola_plebeius",
    "Bacteroides_coprocola": "Phocaeicola_coprocola",
    "Prevotella_copri": "Segatella_copri",
    "Clostridium_bolteae": "Enterocloster_bolteae",
    "Clostridium_clostridioforme": "Enterocloster_clostridioformis",
    "Clostridium_citroniae": "Enterocloster_citroniae",
    "Clostridium_asparagiforme": "Enterocloster_asparagiformis",
    "Clostridium_aldenense": "Enterocloster_aldenensis",
    "Clostridium_hathewayi": "Hungatella_hathewayi",
    "Clostridium_ramosum": "Thomasclavelia_ramosa",
    "Clostridium_innocuum": "Thomasclavelia_innocua",
    "Clostridium_symbiosum": "Hungatella_symbiosa",
    "Lactobacillus_salivarius": "Ligilactobacillus_salivarius",
    "Lactobacillus_ruminis": "Ligilactobacillus_ruminis",
    "Lactobacillus_reuteri": "Limosilactobacillus_reuteri",
    "Lactobacillus_fermentum": "Limosilactobacillus_fermentum",
    "Lactobacillus_rhamnosus": "Lacticaseibacillus_rhamnosus",
    "Lactobacillus_casei": "Lacticaseibacillus_casei",
    "Lactobacillus_paracasei": "Lacticaseibacillus_paracasei",
    "Lactobacillus_plantarum": "Lactiplantibacillus_plantarum",
    "Eubacterium_hallii": "Anaerobutyricum_hallii",
    "Clostridium_difficile": "Clostridioides_difficile",
    "Eubacterium_eligens": "Lachnospira_eligens",
    "Eubacterium_biforme": "Holdemanella_biformis",
    "Ruminococcus_obeum": "Blautia_obeum",
    "Bacteroides_massiliensis": "Phocaeicola_massiliensis",
    "Bacteroides_coprophilus": "Phocaeicola_coprophilus",
    "Propionibacterium_acnes": "Cutibacterium_acnes",
    "Enterobacter_aerogenes": "Klebsiella_aerogenes",
    # phyla and orders renamed by the 2021 ICNP rank rules (old NCBI → current NCBI names)
    "Bacteroidetes": "Bacteroidota",
    "Proteobacteria": "Pseudomonadota",
    "Firmicutes": "Bacillota",
    "Actinobacteria": "Actinomycetota",
    "Fusobacteria": "Fusobacteriota",
    "Verrucomicrobia": "Verrucomicrobiota",
    "Tenericutes": "Mycoplasmatota",
    "Spirochaetes": "Spirochaetota",
    "Synergistetes": "Synergistota",
    "Enterobacteriales": "Enterobacterales",
}
#: GTDB splits polyphyletic taxa with an alphabetic suffix (``Ruminococcus_B``, ``Firmicutes_A``).
_GTDB_SUFFIX = re.compile(r"_[a-z]$")
_BRACKETS = re.compile(r"[\[\]'\"]")
_SEP = re.compile(r"[\s_\-]+")


def taxon_key(name: object) -> str:
    """A comparable form of a taxon name: no rank prefix (``s__``), brackets or *Candidatus*, case and the
    separators (space, underscore, hyphen) ignored.

    Examples
    --------
    >>> taxon_key("s__[Ruminococcus]_gnavus") == taxon_key("Ruminococcus gnavus")
    True
    >>> taxon_key("k__Bacteria|g__Blautia")
    'blautia'
    """
    text = str(name).strip()
    for sep in ("|", ";"):
        if sep in text:
            text = [p for p in text.split(sep) if p.strip()][-1]
    text = _PREFIXED.sub(r"\2", text.strip())
    text = _BRACKETS.sub("", text)
    text = re.sub(r"^(candidatus|ca\.)[\s_]+", "", text, flags=re.I)
    return _SEP.sub("_", text).strip("_").lower()


def gtdb_base(key: str) -> str:
    """*key* (from :func:`taxon_key`) without GTDB's alphabetic suffixes on its genus or higher name.

    Examples
    --------
    >>> gtdb_base(taxon_key("Ruminococcus_B gnavus")), gtdb_base(taxon_key("p__Firmicutes_A"))
    ('ruminococcus_gnavus', 'firmicutes')
    """
    parts = key.split("_")
    out = [p for i, p in enumerate(parts) if not (i > 0 and len(p) == 1 and p.isalpha())]
    return "_".join(out)


def _synonym_keys(synonyms: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for old, new in synonyms.items():
        a, b = taxon_key(old), taxon_key(new)
        if a != b:
            out.setdefault(a, b)
            out.setdefault(b, a)
    return out


@dataclass(frozen=True)
class TaxonMatch:
    """How a list of taxon names (a signature, an index's species) met a table's features.

    ``table`` has one row per query and matched feature: ``query``, ``feature_id`` (empty when unmatched) and
    ``how`` — ``exact``, ``normalised`` (prefix, case, separators), ``synonym`` (:data:`SYNONYMS`), ``gtdb``
    (GTDB suffix such as ``Ruminococcus_B`` removed, :func:`gtdb_base`), ``genus``
    (the query's genus, with *genus_fallback*) or ``missing``.
    """

    table: pd.DataFrame

    @property
    def missing(self) -> tuple[str, ...]:
        """Queries that matched no feature."""
        return tuple(self.table.loc[self.table["how"] == "missing", "query"])

    @property
    def coverage(self) -> float:
        """Fraction of the queries that matched at least one feature."""
        queries = self.table["query"].nunique()
        return 1.0 - len(self.missing) / queries if queries else float("nan")

    def features(self) -> list[str]:
        """Every matched feature, once, in query order."""
        hit = self.table.loc[self.table["how"] != "missing", "feature_id"]
        return list(dict.fromkeys(hit))


def match_taxa(queries: Sequence[str], names: pd.Series, *, synonyms: Mapping[str, str] | None = None,
               genus_fallback: bool = False) -> TaxonMatch:
    """Match taxon *queries* to a table's features; *names* maps feature ID → taxon name (e.g. the lineage
    table's species column).

    Each query is matched by the first rule that finds anything: the exact name, the normalised name
    (:func:`taxon_key`), a synonym (*synonyms*, default :data:`SYNONYMS`), then — with *genus_fallback* — every
    feature of the query's genus (for a genus-level table, or a species absent from it).

    Examples
    --------
    >>> names = pd.Series(["Mediterraneibacter_gnavus", "Blautia"], index=["f1", "f2"])
    >>> m = match_taxa(["Ruminococcus_gnavus", "Blautia_obeum", "Nope_nope"], names, genus_fallback=True)
    >>> m.table["how"].tolist(), round(m.coverage, 2)
    (['synonym', 'genus', 'missing'], 0.67)
    """
    known = names.dropna()
    ids = known.index.astype(str).to_numpy()
    by_name = pd.Series(ids).groupby(known.astype(str).to_numpy()).agg(list).to_dict()
    keys = [taxon_key(v) for v in known]
    by_key = pd.Series(ids).groupby(keys).agg(list).to_dict() if keys else {}
    by_base = pd.Series(ids).groupby([gtdb_base(k) for k in keys]).agg(list).to_dict() if keys else {}
    syn = _synonym_keys(SYNONYMS if synonyms is None else synonyms)
    rows = []
    for q in queries:
        key = taxon_key(q)
        base = gtdb_base(key)
        found = [("exact", by_name.get(q)), ("normalised", by_key.get(key)),
                 ("synonym", by_key.get(syn.get(key, ""))),
                 ("gtdb", by_base.get(base) or by_base.get(syn.get(base, ""))),
                 ("genus", by_key.get(key.split("_")[0]) if genus_fallback else None)]
        how, hits = next(((h, f) for h, f in found if f), ("missing", [""]))
        rows += [{"query": q, "feature_id": f, "how": how} for f in hits]
    return TaxonMatch(pd.DataFrame(rows, columns=["query", "feature_id", "how"]))
