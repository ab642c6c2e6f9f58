"""Community dynamics: time series, gLV / cLV fits, forecasts and what-if scenarios.

Research tool, never medical advice.
"""

from __future__ import annotations

from .series import (
           SamplingChecks,
           TimeSeries,
           check_sampling,
           consistency_filter,
           from_cohort,
           from_frames,
           read_mdsine,
)

__all__ = ["TimeSeries", "SamplingChecks", "check_sampling", "consistency_filter", "from_cohort", "from_frames",
           "read_mdsine"]
