"""Molecular mimicry: an epitope catalogue, an exact proteome scan, and mimicry burden per taxon and sample.

Examples
--------
>>> from gutlink import mimicry
>>> prot = mimicry.Proteome.from_records("bug", [("p1", "MSTVHFFKNIVTKL")])
>>> res = mimicry.scan([prot], "builtin:MS", min_score=45)
>>> res.table[["epitope_id", "start", "score"]].values.tolist()
[['MS_MBP_85-99', 4, 48.0]]
"""

from __future__ import annotations

from .alphabet import AMINO_ACIDS, encode, substitution_matrix
from .burden import (
           BurdenResult,
           burden_test,
           read_manifest,
           sample_burden,
           taxon_burden,
)
from .epitopes import catalogue, load_epitopes
from .proteome import Proteome, proteome_paths, read_proteome
from .queries import Queries, build_queries
from .scan import ScanResult, brute_force, scan, scan_proteome
from .summary import MimicryResult, summarize

__all__ = ["AMINO_ACIDS", "BurdenResult", "MimicryResult", "Proteome", "Queries", "ScanResult", "brute_force", "build_queries",
           "burden_test", "catalogue", "encode", "load_epitopes", "proteome_paths", "read_manifest", "read_proteome",
           "sample_burden", "scan", "scan_proteome", "substitution_matrix", "summarize", "taxon_burden"]
