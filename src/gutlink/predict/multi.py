"""Multi-disease view: the same protocol for several case groups against shared controls.

Which signals are shared across diseases, which are specific? Each disease gets its own cross-validated
classifier (cases of that disease vs the controls); the per-feature importances are then compared: a feature
is *shared* when it ranks among the top features of at least two diseases with the same sign.

Examples
--------
>>> from gutlink.datasets import franzosa2019
>>> res = multi_disease(franzosa2019(), group="Diagnosis", cases=["CD", "UC"], control="Control",
...                     n_repeats=1, rng=0)
>>> res.table["disease"].tolist()
['CD', 'UC']
>>> res.similarity.shape
(2, 2)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import DesignError
from ..results import Result, jsonable
from .checks import worst
from .cv import cross_validate

__all__ = ["MultiDiseaseResult", "multi_disease"]


@dataclass(frozen=True)
class MultiDiseaseResult(Result):
    """Per-disease performance, the feature × disease importance matrix and what is shared.

    ``table``: one row per disease (``disease, auroc, ci_low, ci_high, n_case, n_control, design_status``: the
    worst of that disease's design checks, see :attr:`ClassifierResult.design_checks`). ``importance``:
    mean fold importance, features × diseases. ``similarity``: Spearman correlation of the importance
    vectors between diseases. ``shared``: features in the top ``top_k`` of ≥ 2 diseases with one sign, with
    the diseases listed.
    """

    REPORT_TITLE: ClassVar[str] = "disease prediction across several diseases (shared and specific signals)"

    table: pd.DataFrame
    importance: pd.DataFrame
    similarity: pd.DataFrame
    shared: pd.DataFrame
    top_k: int
    results: dict[str, Any] = field(default_factory=dict, metadata={"json": False})

    def summary(self) -> dict[str, Any]:
        """Headline numbers for ``summary.json``."""
        return jsonable({"diseases": self.table, "similarity": self.similarity.to_dict(orient="index"),
                         "shared_features": self.shared})


def _shared(importance: pd.DataFrame, top_k: int) -> pd.DataFrame:
    rows = []
    ranks = importance.abs().rank(ascending=False, method="first")
    top = (ranks <= top_k) & (importance.abs() > 0)
    for feature, flags in top.iterrows():
        diseases = list(flags.index[flags.to_numpy()])
        signs = np.sign(importance.loc[feature, diseases].to_numpy())
        if len(diseases) >= 2 and (signs.size and (np.all(signs > 0) or np.all(signs < 0))):
            rows.append({"feature_id": feature, "n_diseases": len(diseases), "diseases": ",".join(diseases),
                         "direction": "case" if signs[0] > 0 else "control"})
    frame = pd.DataFrame(rows, columns=["feature_id", "n_diseases", "diseases", "direction"])
    return frame.sort_values("n_diseases", ascending=False, kind="stable").reset_index(drop=True)


def multi_disease(cohort: Cohort, *, group: str, cases: Sequence[str], control: str | Sequence[str],
                  model: str = "lasso", subject: str | None = None, block: str | None = None,
                  n_repeats: int = 5, n_folds: int = 5,
                  top_k: int = 20, options: Mapping[str, Any] | None = None,
                  rng: int | np.random.Generator | None = None, n_jobs: int = 1,
                  scheduler: Any = None) -> MultiDiseaseResult:
    """Cross-validate one classifier per case group against the same controls and compare their signals.

    Parameters
    ----------
    cohort
        Samples of every disease and the shared controls.
    group, cases, control
        Outcome column, the case values (one model each) and the control value(s).
    model, subject, block, n_repeats, n_folds, rng, n_jobs, scheduler
        As in :func:`~gutlink.predict.cross_validate`.
    top_k
        Size of each disease's top-feature set for the shared-signal table.
    options
        Further keyword arguments of :func:`~gutlink.predict.cross_validate` (e.g. ``normalisation``).

    Returns
    -------
    MultiDiseaseResult
    """
    if len(cases) < 2:
        raise DesignError("the multi-disease view needs at least two case values.")
    gen = np.random.default_rng(rng)
    results = {}
    for disease in cases:
        results[str(disease)] = cross_validate(
            cohort, group=group, case=[disease], control=control, model=model, subject=subject, block=block,
            n_repeats=n_repeats, n_folds=n_folds, rng=int(gen.integers(2**31 - 1)), n_jobs=n_jobs,
            scheduler=scheduler, **dict(options or {}))
    table = pd.DataFrame([{"disease": d, "auroc": r.auroc, "ci_low": r.auroc_ci[0], "ci_high": r.auroc_ci[1],
                           "n_case": r.n_case, "n_control": r.n_control, "design_status": worst(r.design_checks)}
                          for d, r in results.items()])
    importance = pd.concat({d: r.importance["mean"] for d, r in results.items()}, axis=1).fillna(0.0)
    similarity = importance.rank().corr()
    return MultiDiseaseResult(table=table, importance=importance, similarity=similarity,
                              shared=_shared(importance, top_k), top_k=top_k, results=results)
