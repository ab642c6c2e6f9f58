"""Barrier and immune guilds: which taxa erode or feed the gut barrier and skew immunity, per sample.

A trait and guild knowledge base built from public trait tables and reviewed literature claims
(``scripts/build_guilds.py``), matched to any table's names, scored per sample and tested between groups.
"""

from __future__ import annotations

from .assign import FeatureGuilds, assign_features, feature_names
from .compare import GuildTestResult, guild_test
from .knowledge import (
    BARRIER_ERODING,
    BARRIER_PROTECTIVE,
    GUILDS,
    guild_table,
    knowledge_provenance,
    knowledge_version,
    seed_review,
)
from .markers import MarkerResult, censored_scores, marker_association, parse_marker
from .mediation import MediationResult, mediation
from .scores import GuildScoresResult, guild_scores

__all__ = ["BARRIER_ERODING", "BARRIER_PROTECTIVE", "GUILDS", "FeatureGuilds", "GuildScoresResult", "GuildTestResult",
           "MarkerResult", "MediationResult", "assign_features", "censored_scores", "feature_names", "guild_scores", "guild_table", "guild_test", "knowledge_provenance",
           "knowledge_version", "marker_association", "mediation", "parse_marker", "seed_review"]
