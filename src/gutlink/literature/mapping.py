"""A cohort's features to BugSigDB's NCBI genus taxids, through the one taxonomy helper (:mod:`gutlink.taxonomy`).

A feature maps by the taxid it names (``ncbi_216851``, a MetaPhlAn clade taxid path or a ``taxid`` column) when
that taxid is one of BugSigDB's genera, else by its genus name (the ``g__`` level of its lineage, or the first
word of a bare species name) matched by :func:`gutlink.taxonomy.match_taxa`: exact, normalised (case, prefixes,
brackets, separators), a renamed taxon (:data:`gutlink.taxonomy.SYNONYMS`), or a GTDB split with its suffix
removed (``Ruminococcus_B`` → *Ruminococcus*). A genus name that BugSigDB spells with two taxids (13 homonyms,
e.g. *Proteus*) takes the taxid with the most entries. Features above genus rank and names BugSigDB does not know
stay unmatched; they are counted, never scored.

Examples
--------
>>> m = map_features(["ncbi_216851", "g__Ruminococcus_B", "Bacteroides_fragilis", "f__Lachnospiraceae", "Zz"])
>>> m["taxid"].tolist(), m["how"].tolist()
([216851, 1263, 816, -1, -1], ['taxid', 'gtdb', 'exact', 'above_genus', 'missing'])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..taxonomy import genus_of, match_taxa, ncbi_taxid, rank_of
from .signatures import genus_names, name_entries

__all__ = ["map_features"]

_ABOVE_GENUS = {"kingdom", "phylum", "class", "order", "family"}


def _rank(feature: str, lineage: str | None) -> str | None:
    text = lineage if lineage else feature
    if "__" not in str(text) and "|" not in str(text) and ";" not in str(text):
        return None  # a bare name: rank unknown (genus or species by its words)
    return rank_of(str(text))


def _by_name(genera: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Genus name → (taxid, how) through :func:`gutlink.taxonomy.match_taxa`; homonyms take the commonest taxid."""
    names = genus_names()
    names = names[names != ""]
    series = pd.Series(names.to_numpy(), index=names.index.astype(str))
    match = match_taxa(list(dict.fromkeys(genera)), series).table
    entries = name_entries()
    out: dict[str, tuple[int, str]] = {}
    for query, rows in match.groupby("query", sort=False):
        how = str(rows["how"].iloc[0])
        if how == "missing":
            continue
        ids = [int(f) for f in rows["feature_id"]]
        best = max(ids, key=lambda t: (int(entries.get(t, 0)), -t))
        out[str(query)] = (best, how if len(ids) == 1 else f"{how}_homonym")
    return out


def map_features(features: Sequence[str], lineages: Sequence[str | None] | None = None,
                 taxids: Sequence[object] | None = None) -> pd.DataFrame:
    """One row per feature: ``feature_id, rank, genus, taxid`` (-1 when unmatched) and ``how`` (``taxid``,
    ``exact``, ``normalised``, ``synonym``, ``gtdb``, ``*_homonym``, ``above_genus``, ``no_genus`` or
    ``missing``).

    Parameters
    ----------
    features
        Feature IDs (names, ``ncbi_<taxid>`` or lineages).
    lineages
        The features' lineage strings, where known (e.g. the ``lineage`` column of ``differential.tsv``).
    taxids
        NCBI taxids of the features, where known (a MetaPhlAn ``NCBI_tax_id`` path or a number).

    Returns
    -------
    DataFrame
    """
    n = len(features)
    lin = [None] * n if lineages is None else [None if pd.isna(x) or x == "" else str(x) for x in lineages]
    tax = [None] * n if taxids is None else list(taxids)
    known = set(genus_names().index.tolist())
    rows = []
    for f, lg, tx in zip(map(str, features), lin, tax):
        rank = _rank(f, lg)
        given = ncbi_taxid(tx) if tx is not None and not (isinstance(tx, float) and np.isnan(tx)) else None
        given = given if given is not None else ncbi_taxid(f)
        genus = None if rank in _ABOVE_GENUS else genus_of(lg if lg else f)
        rows.append({"feature_id": f, "rank": rank or "", "genus": genus or "",
                     "given_taxid": -1 if given is None else given})
    out = pd.DataFrame(rows, columns=["feature_id", "rank", "genus", "given_taxid"])
    by_name = _by_name([g for g in out["genus"] if g])
    taxid, how = [], []
    for r in out.itertuples():
        if r.given_taxid in known:
            taxid.append(int(r.given_taxid))
            how.append("taxid")
        elif r.genus and r.genus in by_name:
            taxid.append(by_name[r.genus][0])
            how.append(by_name[r.genus][1])
        else:
            taxid.append(-1)
            how.append("above_genus" if r.rank in _ABOVE_GENUS else ("missing" if r.genus or r.given_taxid >= 0
                                                                    else "no_genus"))
    out["taxid"] = np.asarray(taxid, dtype=np.int64)
    out["how"] = how
    return out.drop(columns="given_taxid")
