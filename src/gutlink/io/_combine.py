"""Combine single-sample cohorts (one Kraken report or MetaPhlAn profile per file) into one.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from gutlink.cohort import Cohort
>>> from gutlink.taxonomy import lineage_table
>>> a = Cohort(np.array([[3.0, 1.0]]), metadata=pd.DataFrame(index=["s1"]), taxonomy=lineage_table(["g__A", "g__B"]))
>>> b = Cohort(np.array([[5.0]]), metadata=pd.DataFrame(index=["s2"]), taxonomy=lineage_table(["g__C"]))
>>> combine([a, b]).to_frame().to_dict("list")
{'g__A': [3.0, 0.0], 'g__B': [1.0, 0.0], 'g__C': [0.0, 5.0]}
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ..cohort import Cohort
from ..errors import InputFormatError

__all__ = ["combine"]


def _check_compatible(cohorts: Sequence[Cohort]) -> None:
    units = {c.units for c in cohorts}
    if len(units) > 1:
        raise InputFormatError(f"the files hold different units {sorted(units)}; cannot combine them.",
                               hint="Read them one by one and convert (e.g. Cohort.closure()) before combining.")
    ids = pd.Index([s for c in cohorts for s in c.sample_ids])
    if ids.has_duplicates:
        dup = ids[ids.duplicated()][0]
        paths = [c.history[0].get("path") for c in cohorts if dup in c.sample_ids and c.history]
        raise InputFormatError(f"sample ID {dup!r} occurs in several files {paths}.",
                               hint="Sample IDs come from file names; rename the files so each is unique.")


def combine(cohorts: Sequence[Cohort]) -> Cohort:
    """Stack cohorts sample-wise; features are the union (absent → 0), lineage from the first file with it.

    Parameters
    ----------
    cohorts
        Cohorts in the same units with distinct sample IDs.

    Returns
    -------
    Cohort
        All samples × all features; history holds each file's ``read`` entry and a ``combine`` entry.
    """
    if len(cohorts) == 1:
        return cohorts[0]
    _check_compatible(cohorts)
    frames = [c.to_frame() for c in cohorts]
    table = pd.concat(frames, axis=0, join="outer", sort=False).fillna(0.0)
    taxonomy = pd.concat([c.taxonomy for c in cohorts], axis=0)
    taxonomy = taxonomy[~taxonomy.index.duplicated()].reindex(table.columns)
    taxonomy = taxonomy.astype(object).where(taxonomy.notna(), None)
    metadata = pd.concat([c.metadata for c in cohorts], axis=0, sort=False)
    history = tuple(h for c in cohorts for h in c.history)
    history += ({"op": "combine", "n_files": len(cohorts), "n_samples": len(table),
                 "n_features": table.shape[1]},)
    return Cohort(table.to_numpy(dtype=float), metadata=metadata, taxonomy=taxonomy, units=cohorts[0].units,
                  history=history)
