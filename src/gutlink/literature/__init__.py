"""Does a cohort's differential abundance agree with the published literature? Concordance with BugSigDB.

BugSigDB (https://bugsigdb.org; CC BY 4.0) is bundled at genus level (NCBI taxids, export of 2025-08-05; see
``data/NOTICE.md``). :func:`concordance` tests a differential result against the published signatures of one
condition (:func:`resolve` maps "RA", "CD", "T1D", … to BugSigDB's labels).

Examples
--------
>>> resolve("T1D").labels
('Autoimmune-type-1-diabetes', 'Type-I-diabetes-mellitus')
>>> provenance()["export"], provenance()["licence"].split(" (")[0]
('2025-08-05', 'CC BY 4.0')
"""

from __future__ import annotations

from .concordance import ConcordanceResult, cohort_statistic, concordance, read_differential
from .conditions import Condition, resolve
from .mapping import map_features
from .signatures import CITATION, condition_labels, genus_names, orient, provenance, signatures

__all__ = ["CITATION", "Condition", "ConcordanceResult", "cohort_statistic", "concordance", "condition_labels",
           "genus_names", "map_features", "orient", "provenance", "read_differential", "resolve", "signatures"]
