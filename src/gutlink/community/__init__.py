"""Is the community different between cases and controls? Alpha and beta diversity, PERMANOVA, PERMDISP, dysbiosis.

Every test reports an effect size, a confidence interval where one is defined, a p-value and a BH q-value.
"""

from __future__ import annotations

from ._progress import progress_to
from ._stats import hodges_lehmann
from .alpha import AlphaResult, alpha_test
from .diversity import ALPHA_METRICS, BETA_METRICS, OrdinationResult, alpha_diversity, beta_diversity, ordination, pcoa
from .dysbiosis import DysbiosisResult, dysbiosis_score
from .permanova import PermanovaResult, permanova, permanova_table, permutation_matrix
from .permdisp import PermdispResult, permdisp, permdisp_table

__all__ = [
    "ALPHA_METRICS", "BETA_METRICS", "AlphaResult", "DysbiosisResult", "OrdinationResult", "PermanovaResult",
    "PermdispResult", "alpha_diversity", "alpha_test", "beta_diversity", "dysbiosis_score", "hodges_lehmann",
    "ordination", "pcoa", "permanova", "permanova_table", "permdisp", "permdisp_table", "permutation_matrix", "progress_to",
]
