"""Which guild each feature belongs to: the knowledge base met with a table's names through
:func:`gutlink.taxonomy.match_taxa` (exact, normalised, synonyms, GTDB suffixes), most specific rank first.

Each feature gets, per guild, a state: 1 (member), 0 (non-member), 0.5 (ambiguous: its genus' species disagree,
consensus between ``1 - threshold`` and ``threshold``, or its genus holds listed members but the feature names
no species) or NaN (unassigned: nothing in the knowledge base speaks to it).

Examples
--------
>>> tax = pd.DataFrame({"species": ["Faecalibacterium_prausnitzii", "Escherichia_coli", None],
...                     "genus": ["Faecalibacterium", "Escherichia", "Mystery"]}, index=["a", "b", "c"])
>>> a = assign_features(tax)
>>> a.states.loc[["a", "b", "c"], "lps_producer"].tolist()
[0.0, 1.0, nan]
>>> float(a.states.loc["a", "butyrate_producer"]), float(a.states.loc["b", "lps_hexa_acylated"])
(1.0, 1.0)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DesignError
from ..taxonomy import SYNONYMS, gtdb_base, match_taxa, taxon_key
from .knowledge import GUILDS, LIST_GUILDS, _lineages, _taxids, guild_table

__all__ = ["FeatureGuilds", "assign_features", "feature_names"]

_RANKS = ("species", "genus", "family", "order", "class", "phylum", "kingdom")
_TAXID = r"^(?:ncbi[_:]?|taxid[_:]?)?(\d+)$"
_UNRESOLVED = ("_sp_", "_sp", "_unclassified", "_bacterium", "_noname", "uncultured", "_group")


@dataclass(frozen=True)
class FeatureGuilds:
    """Per-feature guild states and how each was found.

    ``states``: features × guilds (1, 0, 0.5 ambiguous, NaN unassigned); ``how``: one row per feature and guild
    that was decided by a knowledge-base row (``feature_id, guild, taxon, rank, consensus, how``).
    """

    states: pd.DataFrame
    how: pd.DataFrame
    threshold: float


def _resolved(species: pd.Series) -> pd.Series:
    low = species.fillna("").astype(str).str.lower()
    bad = np.zeros(len(low), dtype=bool)
    for token in _UNRESOLVED:
        bad |= low.str.contains(token, regex=False).to_numpy() if not token.endswith("_sp") else \
            low.str.endswith(token).to_numpy()
    return pd.Series(species.notna().to_numpy() & ~bad & low.str.contains("_| ").to_numpy(), index=species.index)


def feature_names(taxonomy: pd.DataFrame) -> pd.DataFrame:
    """Names of each feature at species … kingdom: the lineage where the table has it, the genus taken from the
    species name, and the higher ranks of a genus-only table from the knowledge base's genus lineages."""
    out = pd.DataFrame(index=taxonomy.index.astype(str), columns=list(_RANKS), dtype=object)
    for rank in _RANKS:
        if rank in taxonomy.columns:
            out[rank] = taxonomy[rank].to_numpy(dtype=object)
    out = out.where(out.notna() & (out.astype(str) != ""), None)
    bare = out.isna().all(axis=1)
    if bare.any():  # NCBI taxids (GMrepo 'ncbi_562') → the species of the trait tables
        taxid = pd.Series(out.index[bare], index=out.index[bare]).str.extract(_TAXID, expand=False).dropna()
        out.loc[taxid.index, "species"] = taxid.map(_taxids()).to_numpy()
        bare = out.isna().all(axis=1) & ~pd.Series(out.index.isin(taxid.index), index=out.index)
    if bare.any():  # no lineage at all (a generic table of genus or species names): the ID is the name
        ids = pd.Series(out.index[bare], index=out.index[bare]).map(taxon_key)
        binomial = ids.str.match(r"^[a-z]+_[a-z]+$") & ~ids.str.endswith(("_group", "_sp"))
        out.loc[bare & binomial.reindex(out.index, fill_value=False), "species"] = \
            out.index[bare][binomial.to_numpy()]
        out.loc[bare & ~binomial.reindex(out.index, fill_value=True), "genus"] = \
            out.index[bare][~binomial.to_numpy()]
        out = _rdp_names(out, bare)
    from_species = out["species"].dropna().astype(str).str.replace(" ", "_").str.split("_").str[0]
    out["genus"] = out["genus"].fillna(from_species.reindex(out.index))
    out["renamed_genus"] = _renamed_genus(out["species"]).reindex(out.index)
    lin = _lineages()
    genus = out["genus"].dropna().astype(str)
    if len(genus):
        m = match_taxa(lin["genus"].tolist(), genus).table
        first = genus.str.replace(" ", "_").str.split("_").str[0]  # RDP 'Clostridium XlVa' → Clostridium
        m2 = match_taxa(lin["genus"].tolist(), first).table
        m3 = match_taxa(lin["genus"].tolist(), out["renamed_genus"].dropna()).table  # Phocaeicola → Bacteroides
        hits = pd.concat([t[t["how"] != "missing"] for t in (m, m2, m3)]).drop_duplicates("feature_id")
        lin_by = lin.set_index("genus")
        for rank in ("family", "order", "class", "phylum", "kingdom"):
            vals = hits.set_index("feature_id")["query"].map(lin_by[rank]).replace("", None)
            out[rank] = out[rank].fillna(vals.reindex(out.index))
    return out


def _renamed_genus(species: pd.Series) -> pd.Series:
    """The genus of each species' other name in :data:`gutlink.taxonomy.SYNONYMS` (either direction)."""
    pairs: dict[str, str] = {}
    for a, b in SYNONYMS.items():
        ka, kb = taxon_key(a), taxon_key(b)
        pairs.setdefault(ka, kb)
        pairs.setdefault(kb, ka)
    keys = species.dropna().astype(str).map(lambda n: pairs.get(gtdb_base(taxon_key(n))))
    return keys.dropna().str.split("_").str[0]


def _rdp_names(out: pd.DataFrame, bare: pd.Series) -> pd.DataFrame:
    """RDP-style genus IDs: ``Escherichia/Shigella`` → Escherichia; ``unclassified_Bacteroidales`` and
    ``Erysipelotrichaceae_incertae_sedis`` name a taxon of unknown rank, tried at every rank above genus."""
    ids = pd.Series(out.index, index=out.index)[bare.to_numpy()]
    slash = ids.str.contains("/", regex=False)
    out.loc[slash[slash].index, "genus"] = ids[slash].str.split("/").str[0]
    higher = ids.str.extract(r"^(?:unclassified_)(\w+)$|^(\w+?)_incertae_sedis$", expand=True).bfill(axis=1)[0]
    higher = higher.dropna().map(lambda n: n + "e" if n.endswith("acea") else n)  # RDP 'Lachnospiracea'
    if len(higher):
        out.loc[higher.index, "genus"] = None
        known = _higher_lineages()
        for fid, name in higher.items():
            found = known.get(taxon_key(name), {})
            for rank in ("family", "order", "class", "phylum", "kingdom"):
                out.loc[fid, rank] = found.get(rank) or (name if not found else None)
    return out


def _higher_lineages() -> dict[str, dict[str, str]]:
    """Family / order / class / phylum name → its own rank and the ranks above it (from the genus lineages)."""
    lin = _lineages()
    ranks = ["family", "order", "class", "phylum", "kingdom"]
    out: dict[str, dict[str, str]] = {}
    for i, rank in enumerate(ranks):
        for row in lin.drop_duplicates(rank)[ranks].to_dict(orient="records"):
            if row[rank]:
                out.setdefault(taxon_key(row[rank]), {k: row[k] for k in ranks[i:]})
    return out


def _state(consensus: pd.Series, threshold: float) -> pd.Series:
    c = consensus.astype(float)
    return pd.Series(np.where(c >= threshold, 1.0, np.where(c <= 1 - threshold, 0.0, 0.5)), index=c.index)


def _match_rank(rows: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    """Knowledge rows of one guild and rank matched to the features' names at that rank."""
    if rows.empty or names.dropna().empty:
        return pd.DataFrame(columns=["feature_id", "taxon", "consensus", "how"])
    m = match_taxa(rows["taxon"].tolist(), names.dropna().astype(str)).table
    m = m[m["how"] != "missing"].rename(columns={"query": "taxon"})
    m = m.merge(rows[["taxon", "consensus"]].drop_duplicates("taxon"), on="taxon")
    order = {"exact": 0, "normalised": 1, "synonym": 2, "gtdb": 3}
    m = m.assign(_o=m["how"].map(order)).sort_values(["feature_id", "_o"], kind="mergesort")
    return m.drop_duplicates("feature_id").drop(columns="_o")


def _assign_guild(guild: str, kb: pd.DataFrame, names: pd.DataFrame, resolved: pd.Series, threshold: float,
                  flagellated: pd.Series | None) -> tuple[pd.Series, list[pd.DataFrame]]:
    state = pd.Series(np.nan, index=names.index)
    found = []
    for rank in _RANKS:
        open_ = state.isna()
        m = _match_rank(kb[kb["rank"] == rank], names.loc[open_, rank])
        if m.empty:
            continue
        s = _state(m.set_index("feature_id")["consensus"], threshold)
        if guild.startswith("flagellin_") and rank not in ("species", "genus") and flagellated is not None:
            flag = flagellated.reindex(s.index)
            s = flag.where(flag.notna(), 0.5)  # in the lineage: a member when flagellated
        state.loc[s.index] = s.to_numpy()
        found.append(m.assign(guild=guild, rank=rank))
        if rank == "genus":  # a renamed species' other genus (Agathobacter rectalis → Eubacterium)
            open_ = state.isna()
            m = _match_rank(kb[kb["rank"] == rank], names.loc[open_, "renamed_genus"])
            if not m.empty:
                state.loc[m["feature_id"].to_numpy()] = _state(m.set_index("feature_id")["consensus"],
                                                               threshold).to_numpy()
                found.append(m.assign(guild=guild, rank=rank, how="renamed_genus"))
    if guild in LIST_GUILDS:
        state = _list_rest(guild, kb, names, resolved, state)
    return state, found


def _list_rest(guild: str, kb: pd.DataFrame, names: pd.DataFrame, resolved: pd.Series,
               state: pd.Series) -> pd.Series:
    """Undecided features of a positive-list guild: a named species is a non-member; a genus that holds listed
    species is ambiguous for its unnamed members; any other genus (or a known lineage) is a non-member."""
    open_ = state.isna()
    listed_genera = {taxon_key(t).split("_")[0] for t in kb.loc[kb["rank"] == "species", "taxon"]}
    genus_key = names["genus"].map(lambda g: taxon_key(g).split("_")[0] if isinstance(g, str) else None)
    known = names[["genus", "family", "order", "class"]].notna().any(axis=1)
    rest = pd.Series(np.nan, index=names.index)
    rest[known] = 0.0
    rest[genus_key.isin(listed_genera) & ~resolved] = 0.5
    rest[resolved] = 0.0
    return state.where(~open_, rest)


def assign_features(taxonomy: pd.DataFrame, *, threshold: float = 0.9) -> FeatureGuilds:
    """Guild state of every feature of a lineage table (a cohort's ``taxonomy``).

    Parameters
    ----------
    taxonomy
        Features × ranks (``species``, ``genus``, … ``kingdom``; any subset), indexed by feature ID.
    threshold
        Consensus a genus-level row needs to make its unnamed or unlisted species members (and ``1 - threshold``
        for non-members); in between, the feature is ambiguous.

    Returns
    -------
    FeatureGuilds
        States per feature and guild, and how each state was found.
    """
    if not 0.5 < threshold <= 1.0:
        raise DesignError(f"threshold must be in (0.5, 1]; got {threshold!r}.")
    key = (_digest(taxonomy), threshold)
    if key not in _MEMO:
        if len(_MEMO) >= 8:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = _assign(taxonomy, threshold)
    found = _MEMO[key]
    return FeatureGuilds(states=found.states.copy(), how=found.how.copy(), threshold=threshold)


#: The last few assignments (a pure function of the lineage table and threshold; link's guild and marker layers,
#: and repeated runs on one table, reuse it). Callers get copies.
_MEMO: dict[tuple[str, float], FeatureGuilds] = {}


def _digest(taxonomy: pd.DataFrame) -> str:
    text = taxonomy.astype("string").fillna("\x00")
    h = pd.util.hash_pandas_object(text, index=True).to_numpy()
    cols = "\x01".join(map(str, taxonomy.columns))
    return f"{cols}|{len(taxonomy)}|{hashlib.sha256(h.tobytes()).hexdigest()}"


def _assign(taxonomy: pd.DataFrame, threshold: float) -> FeatureGuilds:
    names = feature_names(taxonomy)
    resolved = _resolved(names["species"])
    kb = guild_table()
    states, found = {}, []
    flagellated = None
    for guild in ["flagellated", *[g for g in GUILDS if g != "flagellated"]]:
        s, f = _assign_guild(guild, kb[kb["guild"] == guild], names, resolved, threshold, flagellated)
        states[guild] = s
        found += f
        if guild == "flagellated":
            flagellated = s
    table = pd.DataFrame(states)[list(GUILDS)]
    how = pd.concat(found, ignore_index=True) if found else pd.DataFrame()
    cols = ["feature_id", "guild", "taxon", "rank", "consensus", "how"]
    return FeatureGuilds(states=table, how=how.reindex(columns=cols), threshold=threshold)
