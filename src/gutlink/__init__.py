"""gutlink: test the link between the gut microbiome and autoimmune disease on real cohort data.

A research tool, never medical advice.
"""

from __future__ import annotations

from .cohort import Alignment, Cohort
from .errors import (
    ConvergenceError,
    DesignError,
    GutlinkError,
    InputFormatError,
    OutputError,
    OutputExistsError,
    SampleMismatchError,
)
from .io import read, read_metadata, write_biom, write_tsv
from .taxonomy import RANKS, lineage_table, parse_lineage

__version__ = "0.1.0"

#: The analysis namespaces, imported on first use (SPEC 1 lazy loading: ``import gutlink`` stays fast).
SUBMODULES = ("community", "datasets", "design", "differential", "dynamics", "evidence", "guilds", "indices", "io",
              "link", "literature", "meta", "mimicry", "predict", "report", "run")


def __getattr__(name: str) -> object:
    if name in SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *SUBMODULES])

__all__ = [
    "Alignment",
    "Cohort",
    "ConvergenceError",
    "DesignError",
    "GutlinkError",
    "InputFormatError",
    "OutputError",
    "OutputExistsError",
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
