"""Community dynamics: time series, gLV / cLV fits, forecasts and what-if scenarios.

Research tool, never medical advice.
"""

from __future__ import annotations

from .analysis import KeystoneResult, SteadyStateResult, keystone, steady_state
from .forecast import ForecastResult, HoldoutResult, forecast, holdout
from .models import DynamicsModel, fit
from .scenarios import ScenarioResult, antibiotic, prebiotic, probiotic, simulate
from .series import (
           SamplingChecks,
           TimeSeries,
           check_sampling,
           consistency_filter,
           from_cohort,
           from_frames,
           read_mdsine,
)

__all__ = ["DynamicsModel", "ForecastResult", "HoldoutResult", "KeystoneResult", "SamplingChecks",
           "ScenarioResult", "SteadyStateResult", "TimeSeries", "antibiotic", "check_sampling",
           "consistency_filter", "fit", "forecast", "from_cohort", "from_frames", "holdout", "keystone",
           "prebiotic", "probiotic", "read_mdsine", "simulate", "steady_state"]
