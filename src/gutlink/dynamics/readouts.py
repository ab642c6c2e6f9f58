"""Disease-relevant readouts of a simulated scenario: guild loads and the barrier balance (gutlink.guilds), the
HMP2-style dysbiosis score against reference profiles, and a guild-driven prebiotic.

Every readout is computed on each completed bootstrap replicate's final community, with and without the
interventions, so its shift comes with a 95% band. Research tool, never medical advice: a readout is what the
fitted model implies, not what a person's microbiome will do.

Examples
--------
>>> import numpy as np
>>> from gutlink.dynamics.models import DynamicsModel
>>> from gutlink.dynamics.scenarios import simulate
>>> taxa = ("Faecalibacterium_prausnitzii", "Escherichia_coli")
>>> m = DynamicsModel("glv", taxa, (), np.array([1.0, 1.0]), np.array([[-1.0, -0.2], [-0.2, -1.0]]),
...                   np.zeros((2, 0)), 0.0, 1.0, 1e-5)
>>> iv = guild_prebiotic(m, "butyrate_producer", factor=2.0, start=0, end=50)
>>> res = simulate(m, np.array([0.5, 0.5]), times=np.arange(0, 50.0), interventions=[iv])
>>> r = guild_readout(res).table.set_index("readout")
>>> bool(r.loc["butyrate_producer", "shift"] > 0)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import DesignError
from ..guilds import GUILDS, assign_features, guild_scores
from ..results import Result
from .models import DynamicsModel
from .scenarios import Intervention, ScenarioResult, prebiotic

__all__ = ["ReadoutResult", "guild_members", "guild_prebiotic", "guild_readout", "dysbiosis_readout"]

CAVEAT = "Research tool, never medical advice."


@dataclass(frozen=True)
class ReadoutResult(Result):
    """Readout shifts: ``table`` (readout, baseline, scenario, shift, shift_low, shift_high, n_replicates), medians
    over the replicates and the 95% band of the per-replicate shift; ``notes`` say what limits them."""

    table: pd.DataFrame
    kind: str
    notes: tuple[str, ...] = ()
    caveat: str = CAVEAT


def _taxonomy(taxa: Sequence[str], taxonomy: pd.DataFrame | None) -> pd.DataFrame:
    if taxonomy is None:
        return pd.DataFrame(index=pd.Index([str(t) for t in taxa]))   # names are read as taxon names
    missing = [t for t in taxa if t not in taxonomy.index]
    if missing:
        raise DesignError(f"the taxonomy has no row for {len(missing)} model taxa (e.g. {missing[:3]}).")
    return taxonomy.loc[list(taxa)]


def guild_members(taxa: Sequence[str], guild: str, *, taxonomy: pd.DataFrame | None = None) -> list[str]:
    """The *taxa* that belong to *guild* (state 1 in :func:`gutlink.guilds.assign_features`; ambiguous and
    unassigned taxa are not members).

    Examples
    --------
    >>> guild_members(["Roseburia_intestinalis", "Escherichia_coli"], "butyrate_producer")
    ['Roseburia_intestinalis']
    """
    if guild not in GUILDS:
        raise DesignError(f"unknown guild {guild!r}; guilds are {', '.join(GUILDS)}.")
    states = assign_features(_taxonomy(taxa, taxonomy)).states
    return [str(t) for t in taxa if states.loc[str(t), guild] == 1]


def guild_prebiotic(model: DynamicsModel, guild: str, *, factor: float, start: float, end: float,
                    taxonomy: pd.DataFrame | None = None) -> Intervention:
    """A prebiotic that raises the growth of every model taxon in *guild* (e.g. ``butyrate_producer`` for a
    fibre) by *factor* over ``[start, end)``.

    Examples
    --------
    >>> m = DynamicsModel("glv", ("Roseburia_intestinalis", "Escherichia_coli"), (), np.ones(2), -np.eye(2),
    ...                   np.zeros((2, 0)), 0.0, 1.0, 1e-5)
    >>> guild_prebiotic(m, "butyrate_producer", factor=1.5, start=0, end=7).taxa
    ('Roseburia_intestinalis',)
    """
    rows = model.state_taxa
    members = guild_members(rows, guild, taxonomy=None if taxonomy is None else taxonomy.reindex(rows))
    if not members:
        raise DesignError(f"no model taxon is a member of guild {guild!r} (of {len(rows)} taxa with a growth "
                          "rate); give a taxonomy table or name the taxa with prebiotic().")
    iv = prebiotic(members, factor=factor, start=start, end=end)
    return Intervention(iv.kind, iv.taxa, iv.level, iv.times, iv.window, f"prebiotic:{guild}")


def _shift_rows(names: Sequence[str], scen: np.ndarray, base: np.ndarray) -> pd.DataFrame:
    """scen, base: replicates × readouts."""
    diff = scen - base
    lo, hi = (np.nanquantile(diff, [0.025, 0.975], axis=0) if len(diff) else (np.full(len(names), np.nan),) * 2)
    return pd.DataFrame({"readout": list(names), "baseline": np.nanmedian(base, axis=0),
                         "scenario": np.nanmedian(scen, axis=0), "shift": np.nanmedian(diff, axis=0),
                         "shift_low": lo, "shift_high": hi, "n_replicates": len(diff)})


def guild_readout(result: ScenarioResult, *, taxonomy: pd.DataFrame | None = None,
                  guilds: Sequence[str] | None = None) -> ReadoutResult:
    """Guild loads and the barrier balance of the final simulated community, with and without the interventions.

    Parameters
    ----------
    result
        A scenario (its replicates' final states are scored).
    taxonomy
        Model taxa × ranks (``species``, ``genus``, …); default: the taxon names are read as names.
    guilds
        Guilds to report (default all, plus ``barrier_balance``).

    Returns
    -------
    ReadoutResult
    """
    scen, base = result.final(relative=True)
    tax = _taxonomy(result.taxa, taxonomy)
    k = len(scen)
    ids = [f"scenario{i}" for i in range(k)] + [f"baseline{i}" for i in range(k)]
    cohort = Cohort(np.vstack([scen, base]), pd.DataFrame(index=ids), tax.reset_index(drop=True).set_axis(
        list(result.taxa)), units="fraction")
    scores = guild_scores(cohort)
    wide = scores.wide("load").reindex(ids)
    keep = [g for g in (guilds or list(wide.columns)) if g in wide.columns]
    values = wide[keep].to_numpy(float)
    unassigned = scores.wide("unassigned").reindex(ids)
    notes = (f"median unassigned abundance {float(np.nanmedian(unassigned.to_numpy())):.0%}: loads are bounds where "
             "the knowledge base does not cover the model's taxa",)
    return ReadoutResult(_shift_rows(keep, values[:k], values[k:]), "guilds", notes)


def dysbiosis_readout(result: ScenarioResult, reference: np.ndarray | pd.DataFrame) -> ReadoutResult:
    """Dysbiosis score (median Bray–Curtis distance to the *reference* profiles, the HMP2 definition) of the final
    simulated community, with and without the interventions.

    *reference* is references × taxa (healthy or control profiles in the model's taxa order, any scale; each row
    is closed). A score that rises means the scenario moves the community away from the reference.

    Examples
    --------
    >>> from gutlink.dynamics.scenarios import simulate
    >>> m = DynamicsModel("glv", ("a", "b"), (), np.array([1.0, 1.0]), -np.eye(2), np.zeros((2, 0)), 0.0, 1.0,
    ...                   1e-5)
    >>> res = simulate(m, np.array([0.9, 0.01]), times=np.arange(0, 30.0))
    >>> float(dysbiosis_readout(res, np.array([[1.0, 1.0]])).table["scenario"].iloc[0]) < 0.01
    True
    """
    ref = np.asarray(reference, float)
    if ref.ndim != 2 or ref.shape[1] != len(result.taxa) or (ref < 0).any() or (ref.sum(axis=1) <= 0).any():
        raise DesignError(f"reference must be references × {len(result.taxa)} non-negative profiles in the model's "
                          "taxa order.")
    ref = ref / ref.sum(axis=1, keepdims=True)
    scen, base = result.final(relative=True)

    def score(p: np.ndarray) -> np.ndarray:
        bc = np.abs(p[:, None, :] - ref[None]).sum(axis=2) / 2.0       # both sides sum to 1
        return np.median(bc, axis=1)[:, None]

    return ReadoutResult(_shift_rows(["dysbiosis_score"], score(scen), score(base)), "dysbiosis",
                         (f"{len(ref)} reference profiles",))
