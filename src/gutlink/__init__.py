"""gutlink: test the link between the gut microbiome and autoimmune disease on real cohort data.

A research tool, never medical advice.
"""

from __future__ import annotations

from .cohort import Alignment, Cohort
from .errors import ConvergenceError, DesignError, GutlinkError, InputFormatError, SampleMismatchError
from .io import read, read_metadata, write_biom, write_tsv
from .taxonomy import RANKS, lineage_table, parse_lineage

__version__ = "0.1.0"

__all__ = [
    "Alignment",
    "Cohort",
    "ConvergenceError",
    "DesignError",
    "GutlinkError",
    "InputFormatError",
    "RANKS",
    "SampleMismatchError",
    "__version__",
    "lineage_table",
    "parse_lineage",
    "read",
    "read_metadata",
    "write_biom",
    "write_tsv",
]
