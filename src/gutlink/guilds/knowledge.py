"""The guild knowledge base shipped with gutlink (built by ``scripts/build_guilds.py``; never hand-edited).

Examples
--------
>>> t = guild_table()
>>> sorted(t.columns[:4])
['consensus', 'guild', 'rank', 'taxon']
>>> bool(t.query("guild == 'lps_producer' and taxon == 'Negativicutes'")["consensus"].iloc[0] == 1.0)
True
>>> knowledge_version()
'2026.12.2'
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd

__all__ = ["BARRIER_ERODING", "BARRIER_PROTECTIVE", "GUILDS", "LIST_GUILDS", "guild_table", "knowledge_provenance",
           "knowledge_version", "seed_review"]

#: Every guild, with what membership means.
GUILDS: dict[str, str] = {
    "lps_producer": "diderm taxa with an LPS outer membrane (lineage rule, not Gram stain)",
    "lps_hexa_acylated": "hexa-acylated lipid A, strong TLR4 agonists (Enterobacterales)",
    "lps_under_acylated": "under-acylated lipid A, weak TLR4 agonists or antagonists (Bacteroidales)",
    "butyrate_producer": "butyrate producers that feed colonocytes (curated species and genera)",
    "mucin_degrader": "mucin-glycan degraders",
    "h2s_producer": "hydrogen sulfide producers (sulfate/sulfite reducers, cysteine/taurine degraders, H2S assays)",
    "flagellated": "flagellated or motile taxa (phenotype databases)",
    "flagellin_tlr5_stimulatory": "flagellated taxa whose flagellins activate TLR5 (Gamma/Betaproteobacteria)",
    "flagellin_tlr5_silent": "flagellated Lachnospiraceae: 'silent' flagellins bind TLR5 but activate weakly",
    "flagellin_tlr5_evasive": "flagellins not recognised by TLR5 (Campylobacterota)",
    "th17_inducer": "taxa shown to induce intestinal Th17 cells",
    "treg_inducer": "taxa shown to induce regulatory T cells",
    "pathobiont": "commensals with a published disease-driving role (often strain-dependent)",
    "bile_acid_transformer": "bile-salt hydrolase or 7α-dehydroxylating taxa",
    "aerotolerant": "aerobes, facultative anaerobes and microaerophiles (the oxygen-leak hypothesis)",
}
#: Guilds given as lists of positive claims: a resolved taxon absent from the list is a non-member.
LIST_GUILDS = frozenset({"lps_hexa_acylated", "lps_under_acylated", "butyrate_producer", "mucin_degrader",
                         "h2s_producer", "th17_inducer", "treg_inducer", "pathobiont", "bile_acid_transformer",
                         "flagellin_tlr5_stimulatory", "flagellin_tlr5_silent", "flagellin_tlr5_evasive"})
#: Numerator and denominator guilds of the barrier balance.
BARRIER_PROTECTIVE: tuple[str, ...] = ("butyrate_producer",)
BARRIER_ERODING: tuple[str, ...] = ("lps_producer", "mucin_degrader", "h2s_producer")


def _read(name: str) -> Any:
    return resources.files(__package__).joinpath("data", name).open("r", encoding="utf-8")


@lru_cache(maxsize=1)
def _guilds() -> pd.DataFrame:
    with _read("guilds.tsv") as fh:
        return pd.read_csv(fh, sep="\t", dtype={"value": str, "note": str}, keep_default_na=False,
                           na_values={"consensus": [""]})


def guild_table() -> pd.DataFrame:
    """The guild table: one row per (guild, taxon, rank) with ``consensus``, ``rule``, ``evidence``, ``source``."""
    return _guilds().copy()


@lru_cache(maxsize=1)
def _lineages() -> pd.DataFrame:
    with _read("lineages.tsv") as fh:
        return pd.read_csv(fh, sep="\t", keep_default_na=False)


@lru_cache(maxsize=1)
def _taxids() -> dict[str, str]:
    with _read("taxids.tsv") as fh:
        t = pd.read_csv(fh, sep="\t", dtype=str, keep_default_na=False)
    return dict(zip(t["taxid"], t["species"]))


def seed_review() -> pd.DataFrame:
    """What was done with each curated seed row (kept, corrected, contested, dropped, unmappable) and why."""
    with _read("seed_review.tsv") as fh:
        return pd.read_csv(fh, sep="\t", keep_default_na=False)


@lru_cache(maxsize=1)
def knowledge_provenance() -> dict[str, Any]:
    """Version, input checksums, sources and licences of the knowledge base."""
    with _read("provenance.json") as fh:
        return dict(json.load(fh))


def knowledge_version() -> str:
    """The knowledge base's version string."""
    return str(knowledge_provenance()["version"])
