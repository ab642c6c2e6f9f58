"""Result base class: frozen dataclasses with a tidy ``.table`` and a JSON-safe ``.to_dict()``.

Results never render themselves; :mod:`gutlink.report` dispatches on their type.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Result", "jsonable", "TEST_COLUMNS"]

#: Columns every table of statistical tests carries (one row per test).
TEST_COLUMNS = [
    "analysis", "metric", "test", "comparison", "statistic", "p_value", "q_value",
    "effect", "effect_name", "ci_low", "ci_high", "n_case", "n_control",
]


def jsonable(value: Any) -> Any:
    """Convert numpy / pandas values to plain JSON types (NaN and inf become ``None``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, pd.DataFrame):
        frame = value.reset_index() if value.index.name else value
        return [jsonable(r) for r in frame.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if value is None or isinstance(value, (int, str)):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


@dataclasses.dataclass(frozen=True)
class Result:
    """Base class of every analysis result.

    Every child exposes its tidy main table as ``.table`` (a field or a property).
    """

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of every field (tables as lists of records)."""
        out: dict[str, Any] = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            if f.metadata.get("json", True):
                out[f.name] = jsonable(getattr(self, f.name))
        return out
