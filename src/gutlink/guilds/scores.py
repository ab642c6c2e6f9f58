"""How much barrier-eroding and immune-skewing community does each sample carry?

Examples
--------
>>> from gutlink.datasets import franzosa2019
>>> res = guild_scores(franzosa2019())
>>> sorted(res.table.columns)[:4]
['ambiguous', 'assigned', 'guild', 'high']
>>> lps = res.wide("load")["lps_producer"]
>>> bool(((lps >= 0) & (lps <= 1)).all())
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import DesignError
from ..results import Result
from .assign import assign_features
from .knowledge import BARRIER_ERODING, BARRIER_PROTECTIVE, GUILDS, knowledge_version

__all__ = ["BALANCE", "GuildScoresResult", "guild_scores"]

#: Name of the barrier balance rows.
BALANCE = "barrier_balance"
_PSEUDO = 1e-6  # fraction added to both sides of the amalgamation log-ratio


@dataclass(frozen=True)
class GuildScoresResult(Result):
    """Per-sample guild loads and the barrier balance, with their coverage.

    ``table`` is long: one row per sample and guild with ``load`` (fraction of the sample's abundance in member
    features), ``low`` / ``high`` (bounds: ambiguous and unassigned abundance counted as non-members / members),
    ``assigned``, ``ambiguous`` and ``unassigned`` (fractions of the sample's abundance). The ``barrier_balance``
    rows hold the CLR balance (``load``: mean CLR of protective minus eroding features, scaled as an
    isometric log-ratio) and the bounds of the amalgamation log-ratio ``log(protective / eroding)`` in
    ``low`` / ``high`` around ``log_ratio``. ``features`` says which guilds each feature joined and how.
    """

    table: pd.DataFrame
    threshold: float
    protective: tuple[str, ...]
    eroding: tuple[str, ...]
    knowledge_version: str
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    features: pd.DataFrame = field(default_factory=pd.DataFrame, metadata={"json": False})

    def wide(self, column: str = "load") -> pd.DataFrame:
        """Samples × guilds of one column of :attr:`table` (e.g. ``'load'``, ``'unassigned'``)."""
        return self.table.pivot(index="sample_id", columns="guild", values=column)


def _fractions(rel: np.ndarray, states: pd.DataFrame) -> dict[str, np.ndarray]:
    s = states.to_numpy(dtype=float)
    return {"load": rel @ (s == 1.0), "non": rel @ (s == 0.0), "ambiguous": rel @ (s == 0.5),
            "unassigned": rel @ np.isnan(s)}


def _balance(cohort: Cohort, rel: np.ndarray, states: pd.DataFrame, protective: Sequence[str],
             eroding: Sequence[str], f: dict[str, np.ndarray]) -> pd.DataFrame:
    s = states
    num = (s[list(protective)] == 1.0).any(axis=1).to_numpy()
    den = (s[list(eroding)] == 1.0).any(axis=1).to_numpy()
    both = num & den  # a taxon on both sides (F. nucleatum) cancels: left out of both
    num, den = num & ~both, den & ~both
    if not num.any() or not den.any():
        raise DesignError("the barrier balance needs at least one protective and one eroding feature in the table; "
                          f"found {int(num.sum())} and {int(den.sum())}. Is the table at genus or species level?")
    clr = cohort.clr().to_numpy()
    r, k = int(num.sum()), int(den.sum())
    ilr = np.sqrt(r * k / (r + k)) * (clr[:, num].mean(axis=1) - clr[:, den].mean(axis=1))
    a, b = rel[:, num].sum(axis=1), rel[:, den].sum(axis=1)
    cols = [GUILDS_INDEX[g] for g in (*protective, *eroding)]
    unsure = (f["ambiguous"] + f["unassigned"])[:, cols].max(axis=1)
    log_ratio = np.log((a + _PSEUDO) / (b + _PSEUDO))
    return pd.DataFrame({"sample_id": cohort.sample_ids, "guild": BALANCE, "load": ilr, "log_ratio": log_ratio,
                         "low": np.log((a + _PSEUDO) / (b + unsure + _PSEUDO)),
                         "high": np.log((a + unsure + _PSEUDO) / (b + _PSEUDO)),
                         "assigned": 1.0 - unsure, "ambiguous": np.nan, "unassigned": np.nan,
                         "n_protective": r, "n_eroding": k})


GUILDS_INDEX = {g: i for i, g in enumerate(GUILDS)}


def guild_scores(cohort: Cohort, *, threshold: float = 0.9, protective: Sequence[str] = BARRIER_PROTECTIVE,
                 eroding: Sequence[str] = BARRIER_ERODING) -> GuildScoresResult:
    """Guild loads and the barrier balance of every sample.

    Every feature is placed in each guild by :func:`gutlink.guilds.assign_features` (species, genus with the
    consensus *threshold*, then lineage rules). A sample's load of a guild is the fraction of its abundance in
    member features; ambiguous and unassigned abundance bound it (``low`` counts them out, ``high`` in), so a
    table the knowledge base barely covers shows wide bounds rather than a confident zero.

    The barrier balance contrasts *protective* (butyrate producers) with *eroding* guilds (LPS producers, mucin
    degraders, H2S producers): the isometric log-ratio ``sqrt(r k / (r + k)) (mean CLR protective − mean CLR
    eroding)`` over member features (zeros replaced by half the smallest non-zero value), and the amalgamation
    log-ratio ``log(protective load / eroding load)`` with bounds from the ambiguous and unassigned fractions.
    Taxa on both sides are left out of both.

    Parameters
    ----------
    cohort
        Any abundance table (counts, fractions or percent) at species or genus level.
    threshold
        Genus consensus that makes an unlisted species of the genus a member (see ``assign_features``).
    protective, eroding
        Guilds of the balance's numerator and denominator.

    Returns
    -------
    GuildScoresResult
        Long table of per-sample loads with bounds and coverage; ``coverage`` summarises each guild.

    Examples
    --------
    >>> from gutlink.datasets import franzosa2019
    >>> res = guild_scores(franzosa2019())
    >>> float(res.coverage.set_index("guild").loc["lps_producer", "median_assigned"]) > 0.9
    True
    """
    for g in (*protective, *eroding):
        if g not in GUILDS:
            raise DesignError(f"unknown guild {g!r}; guilds are {', '.join(GUILDS)}.")
    if cohort.n_samples == 0 or cohort.n_features == 0:
        raise DesignError("the cohort has no samples or no features.")
    fg = assign_features(cohort.taxonomy, threshold=threshold)
    states = fg.states.reindex(cohort.feature_ids.astype(str))
    rel = cohort.relative()
    f = _fractions(rel, states)
    n, n_guilds = rel.shape[0], len(GUILDS)
    long = pd.DataFrame({"sample_id": np.repeat(cohort.sample_ids.to_numpy(), n_guilds),
                         "guild": np.tile(list(GUILDS), n),
                         "load": f["load"].ravel(), "low": f["load"].ravel(),
                         "high": (f["load"] + f["ambiguous"] + f["unassigned"]).ravel(),
                         "assigned": (f["load"] + f["non"]).ravel(), "ambiguous": f["ambiguous"].ravel(),
                         "unassigned": f["unassigned"].ravel()})
    table = pd.concat([long, _balance(cohort, rel, states, protective, eroding, f)], ignore_index=True)
    return GuildScoresResult(table=table, threshold=threshold, protective=tuple(protective), eroding=tuple(eroding),
                             knowledge_version=knowledge_version(), coverage=_coverage(table, states),
                             features=_features(states, fg.how))


def _coverage(table: pd.DataFrame, states: pd.DataFrame) -> pd.DataFrame:
    t = table[table["guild"] != BALANCE]
    cov = t.groupby("guild", sort=False).agg(median_assigned=("assigned", "median"),
                                             min_assigned=("assigned", "min"),
                                             median_ambiguous=("ambiguous", "median"),
                                             median_unassigned=("unassigned", "median"),
                                             mean_load=("load", "mean"))
    cov["n_member_features"] = [int((states[g] == 1.0).sum()) for g in cov.index]
    return cov.reset_index()


def _features(states: pd.DataFrame, how: pd.DataFrame) -> pd.DataFrame:
    long = states.rename_axis("feature_id").reset_index().melt(id_vars="feature_id", var_name="guild",
                                                               value_name="state")
    long["state"] = long["state"].map({1.0: "member", 0.0: "non-member", 0.5: "ambiguous"}).fillna("unassigned")
    return long.merge(how, on=["feature_id", "guild"], how="left")
