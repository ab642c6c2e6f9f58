"""Health and disease indices: the Gut Microbiome Health Index (GMHI), the dysbiosis score, a learned index."""

from __future__ import annotations

from .gmhi import MH_SPECIES, MN_SPECIES, GMHIResult, gmhi, species_names
from .learned import LearnedIndexResult, dysbiosis, learned_index

__all__ = ["GMHIResult", "LearnedIndexResult", "MH_SPECIES", "MN_SPECIES", "dysbiosis", "gmhi", "learned_index",
           "species_names"]
