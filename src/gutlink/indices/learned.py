"""Disease indices from a design: the HMP2 dysbiosis score and a learned (cross-validated) disease index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..community import DysbiosisResult, dysbiosis_score
from ..design import case_control
from ..predict import cross_validate
from ..results import Result

__all__ = ["LearnedIndexResult", "dysbiosis", "learned_index"]


def dysbiosis(cohort: Cohort, *, group: str, case: str | Sequence[str], control: str | Sequence[str],
              metric: str = "braycurtis", subject: str | None = None) -> DysbiosisResult:
    """The HMP2 dysbiosis score (median distance to the controls) of each sample.

    A convenience wrapper of :func:`gutlink.community.dysbiosis_score` taking the design directly.

    Examples
    --------
    >>> from gutlink.datasets import toy
    >>> res = dysbiosis(toy(), group="group", case="case", control="control")
    >>> res.scores.shape[0]
    19
    """
    cases = [case] if isinstance(case, str) else list(case)
    return dysbiosis_score(case_control(cohort, group=group, case=cases, control=control), metric=metric,
                           subject=subject)


@dataclass(frozen=True)
class LearnedIndexResult(Result):
    """A learned disease index: each sample's out-of-fold log-odds of being a case.

    ``table`` has ``index`` (log-odds; > 0 leans case), ``label`` and ``probability``; ``classifier`` holds the
    full cross-validation result the index came from (its AUROC is the index's honest performance).
    """

    table: pd.DataFrame
    classifier: Any = field(metadata={"json": False})

    def to_dict(self) -> dict[str, Any]:
        """Index values plus the classifier's headline numbers."""
        out = super().to_dict()
        out["classifier"] = self.classifier.summary()
        return out


def learned_index(cohort: Cohort, *, group: str, case: str | Sequence[str], control: str | Sequence[str],
                  model: str = "lasso", subject: str | None = None, n_repeats: int = 10, n_folds: int = 5,
                  rng: int | np.random.Generator | None = None, n_jobs: int = 1) -> LearnedIndexResult:
    """Learned disease index: the classifier's out-of-fold log-odds, so no sample is scored by a model that saw it.

    Parameters are those of :func:`gutlink.predict.cross_validate`.

    Examples
    --------
    >>> from gutlink.datasets import toy
    >>> res = learned_index(toy(), group="group", case="case", control="control", n_repeats=1, n_folds=3, rng=0)
    >>> res.table.columns.tolist()
    ['index', 'label', 'probability']
    """
    res = cross_validate(cohort, group=group, case=case, control=control, model=model, subject=subject,
                         n_repeats=n_repeats, n_folds=n_folds, rng=rng, n_jobs=n_jobs)
    pred = res.predictions
    table = pd.DataFrame({"index": pred["log_odds"], "label": pred["label"], "probability": pred["probability"]})
    return LearnedIndexResult(table=table, classifier=res)
