"""Evidence synthesis: is there a link between the gut microbiome and a condition, layer by layer?

:func:`evidence` gathers every layer that ran for one condition (community, diversity, dysbiosis, taxa, the
literature, prediction within and across cohorts, guilds, host markers, and any further rows such as mimicry or
interventions) into one frozen :class:`Evidence`, each layer with its effect, interval, test and design checks
and a grade from the rubric in :mod:`gutlink.evidence.rubric`; :func:`atlas` runs several cohorts and conditions
from one configuration and returns an :class:`AtlasResult` (the condition × layer grid and the forest plots'
numbers).

Examples
--------
>>> from gutlink.evidence.layers import row
>>> evidence("MS", layers=[row("community", "c", effect=0.01, q_value=0.4, significant=False)]).overall["grade"]
'no evidence'
"""

from __future__ import annotations

from .atlas import AtlasResult, atlas, read_config
from .layers import ROW_COLUMNS, row
from .rubric import GRADES, LAYERS, RUBRIC, rubric_table
from .synthesis import Evidence, evidence

__all__ = ["AtlasResult", "Evidence", "GRADES", "LAYERS", "ROW_COLUMNS", "RUBRIC", "atlas", "evidence",
           "read_config", "row", "rubric_table"]
