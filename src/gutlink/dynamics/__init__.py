"""Community dynamics: time series, gLV / cLV fits, forecasts, what-if scenarios and intervention trials.

Research tool, never medical advice.
"""

from __future__ import annotations

from .analysis import InvasionResult, KeystoneResult, SteadyStateResult, invasion, keystone, steady_state
from .forecast import ForecastResult, HoldoutResult, forecast, holdout
from .models import DynamicsModel, fit
from .readouts import (
           ClassifierReadoutResult,
           ReadoutResult,
           classifier_readout,
           dysbiosis_readout,
           guild_members,
           guild_prebiotic,
           guild_readout,
)
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
from .trial import TrialResult, trial

__all__ = ["ClassifierReadoutResult", "DynamicsModel", "ForecastResult", "HoldoutResult", "InvasionResult", "KeystoneResult", "ReadoutResult",
           "SamplingChecks", "ScenarioResult", "SteadyStateResult", "TimeSeries", "TrialResult", "antibiotic", "check_sampling", "classifier_readout",
           "consistency_filter", "dysbiosis_readout", "fit", "forecast", "from_cohort", "from_frames",
           "guild_members", "guild_prebiotic", "guild_readout", "holdout", "invasion", "keystone", "prebiotic",
           "probiotic", "read_mdsine", "simulate", "steady_state", "trial"]
