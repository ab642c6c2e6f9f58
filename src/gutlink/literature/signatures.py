"""The bundled BugSigDB signatures (genus level, NCBI taxids; export of 2025-08-05, CC BY 4.0).

Built by ``scripts/build_bugsigdb.py``; see ``data/NOTICE.md`` for the attribution and ``data/provenance.json``
for the input checksums. Each signature is a set of genera reported UP or DOWN in group 1 against group 0 of one
experiment of one study. :func:`orient` decides, from the group names, whether a signature compares the disease
with controls (``case_control``), controls with the disease (``control_case``: its direction is flipped), or
something else (disease vs disease, active vs remission, smokers vs never-smokers: ``other``).

Examples
--------
>>> sigs = signatures()
>>> len(sigs), sigs["study"].nunique()
(6321, 1310)
>>> genus_names().loc[216851]
'Faecalibacterium'
>>> orient("Crohn's-disease", "Healthy-control", ("crohn",)), orient("CD", "UC", ("crohn", "cd", "uc"))
('case_control', 'other')
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = ["CITATION", "LICENCE", "condition_labels", "genus_names", "incidence", "orient", "provenance",
           "signatures"]

LICENCE = "CC BY 4.0"
CITATION = ("BugSigDB (https://bugsigdb.org), export 2025-08-05, CC BY 4.0; Geistlinger L. et al., medRxiv "
            "doi:10.1101/2022.10.24.22281483")


def _read(name: str) -> pd.DataFrame:
    with resources.files(__package__).joinpath("data", name).open("rb") as raw, gzip.open(raw, "rt",
                                                                                          encoding="utf-8") as fh:
        return pd.read_csv(fh, sep="\t", dtype=str, keep_default_na=False)


@lru_cache(maxsize=1)
def provenance() -> dict[str, Any]:
    """Version, export stamp, licence, citation and input checksums of the bundled copy."""
    text = resources.files(__package__).joinpath("data", "provenance.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


@lru_cache(maxsize=1)
def _signatures() -> pd.DataFrame:
    t = _read("signatures.tsv.gz")
    t["n_taxa"] = t["n_taxa"].astype(int)
    return t


def signatures() -> pd.DataFrame:
    """Every bundled signature: ``bsdb_id, study, pmid, condition, group1, group0, direction, n_taxa, taxids``.

    ``condition`` holds BugSigDB's labels comma-joined; ``taxids`` the genus taxids ``;``-joined.
    """
    return _signatures().copy()


@lru_cache(maxsize=1)
def genus_names() -> pd.Series:
    """NCBI genus taxid → genus name (empty string for the 3 taxids the export leaves unnamed)."""
    t = _read("genera.tsv.gz")
    return pd.Series(t["genus_name"].to_numpy(), index=t["ncbi_taxid"].astype(int).to_numpy(), name="genus")


@lru_cache(maxsize=1)
def _entries() -> pd.Series:
    t = _read("genera.tsv.gz")
    return pd.Series(t["n_entries"].astype(int).to_numpy(), index=t["ncbi_taxid"].astype(int).to_numpy())


@lru_cache(maxsize=1)
def condition_labels() -> tuple[str, ...]:
    """Every BugSigDB condition label of the bundled copy (a signature can carry several)."""
    labels = {lb for cond in _signatures()["condition"] for lb in cond.split(",") if lb}
    return tuple(sorted(labels))


@lru_cache(maxsize=1)
def incidence() -> tuple[sparse.csr_array, np.ndarray]:
    """The signatures × taxa 0/1 matrix (rows in :func:`signatures` order) and its column taxids."""
    taxa = [np.asarray(s.split(";"), dtype=np.int64) for s in _signatures()["taxids"]]
    columns = np.unique(np.concatenate(taxa))
    rows = np.repeat(np.arange(len(taxa)), [len(t) for t in taxa])
    cols = np.searchsorted(columns, np.concatenate(taxa))
    m = sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=(len(taxa), len(columns)))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m, columns


_CONTROL = re.compile(r"healthy|control|(?<![a-z])hcs?(?![a-z])|normal|unaffected|non-?ibd|(?<![a-z])nc(?![a-z])")
_NEGATION = r"(?<![a-z])(?:non[-\s]*|(?:no|without|free-of|unrelated-to)[-\s]+)"


def _control_like(group: str, terms: Sequence[str]) -> bool:
    """A group reads as controls when it names no disease term (after cutting a negated one: ``non-RA``,
    ``no-rheumatoid-arthritis``, ``non-inflammatory-bowel-disease``) and is negated or says healthy / control."""
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) or "(?!)"
    negated = re.search(_NEGATION + rf"(?:{alternatives})", group)
    rest = group[:negated.start()] if negated else group
    named = re.search(rf"(?<![a-z])(?:{alternatives})", rest) is not None
    return not named and (negated is not None or bool(_CONTROL.search(rest)))


def orient(group1: str, group0: str, terms: Sequence[str]) -> str:
    """``case_control`` when group 0 reads as controls and group 1 does not, ``control_case`` the other way
    round, else ``other``. *terms* are words naming the disease (``crohn``, ``cd``): a group that names the
    disease is never a control group, unless negated (``non-IBD``, ``no-rheumatoid-arthritis``).
    """
    g1 = group1.lower().replace("’", "'")
    g0 = group0.lower().replace("’", "'")
    c1, c0 = _control_like(g1, terms), _control_like(g0, terms)
    if c0 and not c1:
        return "case_control"
    if c1 and not c0:
        return "control_case"
    return "other"


def label_terms(labels: Sequence[str]) -> tuple[str, ...]:
    """Disease words of BugSigDB labels (``Crohn's-disease`` → ``crohn``), for :func:`orient`."""
    generic = {"disease", "syndrome", "disorder", "mellitus", "type", "with", "infection", "measurement", "chronic",
               "of", "the", "and", "i", "ii", "1", "2", "s"}
    out = []
    for label in labels:
        for word in re.split(r"[-\s,]+", label.lower().replace("’", "'")):
            word = word.removesuffix("'s")
            if len(word) > 2 and word not in generic:
                out.append(word)
    return tuple(dict.fromkeys(out))


def name_entries() -> pd.Series:
    """Taxid → number of signature entries (to break ties between homonymous genus names)."""
    return _entries()
