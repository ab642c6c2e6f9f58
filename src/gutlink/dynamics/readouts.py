"""Disease-relevant readouts of a simulated scenario: guild loads and the barrier balance (gutlink.guilds), the
HMP2-style dysbiosis score against reference profiles, the disease probability of a saved ``gutlink predict``
classifier over time, and a guild-driven prebiotic.

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
from ..predict.model_io import SavedModel, _apply_step, _weights
from ..results import Result
from ..taxonomy import genus_of, match_taxa
from .models import DynamicsModel
from .scenarios import Intervention, ScenarioResult, prebiotic

__all__ = ["ClassifierReadoutResult", "ReadoutResult", "classifier_readout", "guild_members", "guild_prebiotic",
           "guild_readout", "dysbiosis_readout"]

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


#: A saved classifier is applied only when at least this share of its features (and, for a linear model, of its
#: |coefficients|) is found among the dynamics model's taxa; below it the readout is "not assessable".
MIN_COVERAGE = 0.5
#: A simulated community whose standardised log-abundance of some classifier feature lies further than this
#: from the training mean (in training SDs) is flagged as outside the classifier's training range.
TRAINING_Z = 4.0


@dataclass(frozen=True)
class ClassifierReadoutResult(Result):
    """Disease probability of a saved ``gutlink predict`` model over the simulated trajectories.

    ``table``: one row per output time: ``scenario`` / ``baseline`` probability (median over the bootstrap
    replicates) with 95% bands (``*_low``, ``*_high``), the per-replicate ``shift`` (scenario − baseline) with
    its band, and ``outside_training``: the share of replicates whose simulated community lies outside the
    classifier's training range at that time (a standardised log-abundance beyond ±``TRAINING_Z`` SDs; only for
    models with log-standardisation, NaN otherwise). Empty when ``assessable`` is False. ``matches``: how each
    classifier feature met the model's taxa (gutlink.taxonomy.match_taxa); ``coverage``: share of the
    classifier's features found, ``weight_coverage``: share of a linear model's |coefficients| on them.
    """

    table: pd.DataFrame
    matches: pd.DataFrame
    coverage: float
    weight_coverage: float
    assessable: bool
    classifier: str = ""
    notes: tuple[str, ...] = ()
    caveat: str = CAVEAT


def _taxon_names(taxa: Sequence[str], taxonomy: pd.DataFrame | None) -> pd.Series:
    """Model taxon → the name it is matched by: its lowest named rank in *taxonomy*, else its own name."""
    names = pd.Series([str(t) for t in taxa], index=[str(t) for t in taxa])
    if taxonomy is None:
        return names
    tax = _taxonomy(taxa, taxonomy)
    for rank in ("genus", "species", "strain"):                   # lowest rank last: it wins where present
        if rank in tax.columns:
            col = tax[rank].astype("string")
            names = names.where(col.isna().to_numpy() | (col == "").fillna(True).to_numpy(), col.to_numpy())
    return names


def _match(features: list[str], taxa: list[str], taxonomy: pd.DataFrame | None, genus_fallback: bool) -> pd.DataFrame:
    """Classifier feature → model taxa: by name (match_taxa), then a genus-level feature → every taxon of it."""
    first = match_taxa(features, _taxon_names(taxa, taxonomy)).table
    missing = list(dict.fromkeys(first.loc[first["how"] == "missing", "query"]))
    if not genus_fallback or not missing:
        return first
    if taxonomy is not None and "genus" in taxonomy.columns:
        genera = _taxonomy(taxa, taxonomy)["genus"].astype("string").set_axis(taxa)
    else:
        genera = pd.Series([genus_of(t) for t in taxa], index=taxa, dtype="string")
    second = match_taxa(missing, genera.dropna()).table
    second["how"] = second["how"].where(second["how"] == "missing", "genus (sum of its taxa)")
    return pd.concat([first[first["how"] != "missing"], second], ignore_index=True)


def _training_z(model: SavedModel, x: np.ndarray) -> np.ndarray | None:
    """Largest |standardised log-abundance| per row after the model's log-standardising step (None without)."""
    for step in model.spec["steps"]:
        if step["type"] == "LogStandardScaler":
            z = _apply_step(step, x)
            return np.max(np.abs(z), axis=1) if z.shape[1] else np.zeros(len(z))
        x = _apply_step(step, x)
    return None


def classifier_readout(result: ScenarioResult, classifier: SavedModel, *, taxonomy: pd.DataFrame | None = None,
                       min_coverage: float = MIN_COVERAGE, genus_fallback: bool = True) -> ClassifierReadoutResult:
    """Predicted disease probability over time of a saved ``gutlink predict`` classifier, applied to every
    bootstrap replicate's simulated community, with and without the interventions.

    Each classifier feature is matched to the model's taxa through :func:`gutlink.taxonomy.match_taxa` (exact,
    normalised, synonym, GTDB suffix; then — with *genus_fallback* — a genus-level feature takes every model
    taxon of that genus, their abundances summed); features not found count as zero, as ``gutlink predict --apply`` does. Below
    *min_coverage* of the classifier's features (or of a linear model's |coefficients|) found, the readout is not
    assessable and no probability is reported. Research tool, never medical advice: the probability is the
    classifier's output on a simulated community, not a person's risk.

    Parameters
    ----------
    result
        A scenario (:func:`gutlink.dynamics.simulate`).
    classifier
        A model saved by ``gutlink predict --save-model`` (:func:`gutlink.predict.load_model`).
    taxonomy
        Model taxa × ranks (``genus``, ``species``); default: the model's taxon names are read as names.
    min_coverage
        Least share of the classifier's features (and of its |coefficients|) that must be found.
    genus_fallback
        Let a genus-level classifier feature take the sum of the model's taxa of that genus.

    Returns
    -------
    ClassifierReadoutResult

    Examples
    --------
    >>> from gutlink.dynamics.scenarios import simulate
    >>> from gutlink.predict import SavedModel
    >>> clf = SavedModel(features=("Escherichia", "Faecalibacterium"), info={"model": "lasso"},
    ...                  spec={"steps": [{"type": "Closure"}], "classifier": {"type": "linear", "coef": [5.0, -5.0],
    ...                                                                     "intercept": 0.0}})
    >>> m = DynamicsModel("glv", ("Escherichia_coli", "Faecalibacterium_prausnitzii"), (), np.array([1.0, 1.0]),
    ...                   -np.eye(2), np.zeros((2, 0)), 0.0, 1.0, 1e-5)
    >>> res = simulate(m, np.array([0.9, 0.1]), times=np.arange(0, 20.0))
    >>> r = classifier_readout(res, clf)
    >>> r.coverage, bool(r.table["scenario"].iloc[0] > 0.9 and r.table["scenario"].iloc[-1] < 0.6)
    (1.0, True)
    """
    if not 0 < min_coverage <= 1:
        raise DesignError(f"min_coverage must be in (0, 1], not {min_coverage}.")
    taxa = [str(t) for t in result.taxa]
    matches = _match(list(classifier.features), taxa, taxonomy, genus_fallback)
    found = matches[matches["how"] != "missing"]
    col = {t: j for j, t in enumerate(taxa)}
    feat = {f: i for i, f in enumerate(classifier.features)}
    M = np.zeros((len(classifier.features), len(taxa)))
    M[found["query"].map(feat).to_numpy(int), found["feature_id"].map(col).to_numpy(int)] = 1.0
    hit: np.ndarray = np.asarray(M.any(axis=1), dtype=bool)
    w = _weights(classifier)
    coverage = float(hit.mean()) if len(hit) else 0.0
    weight_cov = float(w[hit].sum()) if np.isfinite(w).all() and w.sum() > 0 else float("nan")
    notes = [f"{int(hit.sum())} of {len(hit)} classifier features found among the model's {len(taxa)} taxa "
             f"({coverage:.0%}" + (f"; {weight_cov:.0%} of the |coefficients|)" if np.isfinite(weight_cov) else ")")
             + "; the rest count as zero."]
    assessable = coverage >= min_coverage and (not np.isfinite(weight_cov) or weight_cov >= min_coverage)
    times = np.sort(result.table["time"].unique()) if len(result.table) else np.zeros(0)
    empty = pd.DataFrame(columns=["time", "scenario", "scenario_low", "scenario_high", "baseline", "baseline_low",
                                  "baseline_high", "shift", "shift_low", "shift_high", "outside_training",
                                  "n_replicates"])
    name = str(classifier.info.get("model", ""))
    if not assessable:
        notes.append(f"not assessable: fewer than {min_coverage:.0%} of the classifier's features (or of its "
                     "weight) are in the dynamics model; no probability is reported.")
        return ClassifierReadoutResult(empty, matches, coverage, weight_cov, False, name, tuple(notes))
    if len(result.replicates) == 0:
        notes.append("no replicate completed: nothing to score.")
        return ClassifierReadoutResult(empty, matches, coverage, weight_cov, False, name, tuple(notes))

    def score(states: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        rel = states / states.sum(axis=2, keepdims=True)              # replicates × times × taxa
        x = (rel @ M.T).reshape(-1, len(hit))                         # every replicate and time at once
        z = _training_z(classifier, x)
        shape = states.shape[:2]
        return classifier.predict_proba(x).reshape(shape), None if z is None else z.reshape(shape)

    scen, z_s = score(result.replicates)
    base, z_b = score(result.baseline_replicates)
    q = [0.025, 0.975]
    slo, shi = np.quantile(scen, q, axis=0)
    blo, bhi = np.quantile(base, q, axis=0)
    dlo, dhi = np.quantile(scen - base, q, axis=0)
    outside = (np.maximum(z_s, z_b) > TRAINING_Z).mean(axis=0) if z_s is not None and z_b is not None else \
        np.full(len(times), np.nan)
    table = pd.DataFrame({"time": times, "scenario": np.median(scen, axis=0), "scenario_low": slo,
                          "scenario_high": shi, "baseline": np.median(base, axis=0), "baseline_low": blo,
                          "baseline_high": bhi, "shift": np.median(scen - base, axis=0), "shift_low": dlo,
                          "shift_high": dhi, "outside_training": outside, "n_replicates": len(scen)})
    if np.nanmax(outside, initial=0.0) > 0:
        notes.append(f"the simulated community leaves the classifier's training range (a feature beyond "
                     f"±{TRAINING_Z:g} training SDs) at {int((outside > 0).sum())} of {len(times)} times: "
                     "the probability there is an extrapolation.")
    elif z_s is None:
        notes.append("the classifier stores no training scale, so leaving its training range is not checked.")
    return ClassifierReadoutResult(table, matches, coverage, weight_cov, True, name, tuple(notes))
