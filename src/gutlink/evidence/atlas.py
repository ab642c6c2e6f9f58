"""Several cohorts and conditions in one run: ``gutlink atlas CONFIG.toml``.

The configuration (TOML, read with :mod:`tomllib`) has an optional ``[atlas]`` table of run-wide settings and one
``[[cohort]]`` table per input::

    [atlas]
    permutations = 199          # of every permutation test and of the random signatures
    seed = 0
    predict = true              # within-cohort prediction (lasso, nested CV) in each cohort
    transfer = true             # leave-one-study-out prediction across the cohorts of one table
    metrics = ["braycurtis"]

    [[cohort]]
    name = "RA shotgun"
    table = "RA_Metagenomics_genus.csv"   # relative to the configuration file
    metadata = "meta.tsv"                 # optional (default: embedded in the table)
    group = "Group"
    case = ["Case"]
    control = "Control"
    condition = "RA"
    study = "pair_rank"                   # optional: each level is one cohort
    rank = "genus"                        # optional
    options = { covariates = ["sex"], guilds = false }

    [[layer]]                             # optional: results of commands run on their own
    kind = "mimicry"                      # a `gutlink mimicry --abundance ... --group ...` folder (burden test)
    results = "mimicry-out"               # or kind = "interventions": a `gutlink trial` folder
    condition = "MS"
    name = "iMSMS burden"

Each cohort (each *study* level) runs :func:`gutlink.link.link` (community, diversity, dysbiosis, taxa and the
literature layer against the cohort's condition; prediction when asked); the cohorts of one table with a
*study* column are also scored leave-one-study-out (:func:`gutlink.predict.loso`); the differential results of
each condition's cohorts are pooled by random effects (:func:`gutlink.meta.combine`); the ``[[layer]]`` results
add mimicry and intervention rows (:mod:`gutlink.evidence.mechanisms`); and :func:`gutlink.evidence.evidence`
grades each condition.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import DesignError, InputFormatError
from ..io import read, read_metadata
from ..link import LinkResult, link
from ..literature import resolve
from ..meta import combine
from ..predict import loso
from ..results import Result
from .mechanisms import KINDS, rows_from_folder
from .rubric import LAYERS
from .synthesis import Evidence, evidence

try:  # Python >= 3.11; on 3.10 the tomli backport when it is installed
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib  # type: ignore[no-redef]
    except ModuleNotFoundError:
        tomllib = None  # type: ignore[assignment]

__all__ = ["AtlasResult", "atlas", "read_config"]

Callback = Callable[[str, int, int], None]
_RUN_KEYS = {"permutations", "seed", "predict", "transfer", "metrics", "guilds", "guild_shuffles"}
_COHORT_KEYS = {"name", "table", "metadata", "group", "case", "control", "condition", "study", "rank", "options",
                "where"}
_LAYER_KEYS = {"kind", "results", "condition", "name"}
_OPTION_KEYS = {"covariates", "strata", "subject", "block", "metrics", "guilds", "guild_shuffles", "predict",
                "differential", "rarefy", "drop_empty", "by", "one_per_subject"}


@dataclass(frozen=True)
class AtlasResult(Result):
    """One atlas run: the evidence per condition, the condition × layer grid, the cohorts and the forest
    plots' numbers (per-cohort effects with intervals and the pooled row)."""

    REPORT_TITLE: ClassVar[str] = "atlas — is there a link, condition by condition and layer by layer?"

    evidence: tuple[Evidence, ...]
    grid: pd.DataFrame
    cohorts: pd.DataFrame
    forest: pd.DataFrame
    config: dict[str, Any]
    seconds: float
    links: dict[str, LinkResult] = field(default_factory=dict, metadata={"json": False}, repr=False)

    @property
    def table(self) -> pd.DataFrame:
        """The condition × layer grid of grades."""
        return self.grid


def _bad(path: Path, message: str, hint: str) -> InputFormatError:
    return InputFormatError(message, path=str(path), hint=hint)


def read_config(path: str | Path) -> dict[str, Any]:
    """Read and validate an atlas configuration; table paths become absolute (relative to the file).

    Raises
    ------
    InputFormatError
        When the file is missing, not TOML, or a cohort lacks a required key or names an unknown one.
    """
    p = Path(path)
    if not p.is_file():
        raise _bad(p, "no such configuration file.", "Pass a TOML file with [[cohort]] tables.")
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise _bad(p, "reading TOML needs Python 3.11 or the tomli package.", "pip install tomli")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise _bad(p, f"not valid TOML: {err}.", "Check the syntax (strings quoted, one [[cohort]] per cohort).") \
            from None
    run = dict(data.get("atlas", {}))
    unknown = set(run) - _RUN_KEYS
    if unknown:
        raise _bad(p, f"[atlas] has unknown key(s) {sorted(unknown)}.", f"Known keys: {sorted(_RUN_KEYS)}.")
    cohorts = data.get("cohort", [])
    if not isinstance(cohorts, list) or not cohorts:
        raise _bad(p, "no [[cohort]] table.", "Add one [[cohort]] table per cohort (table, group, case, control, "
                   "condition).")
    out = []
    for i, c in enumerate(cohorts, start=1):
        where = f"[[cohort]] number {i}"
        _check_keys(p, where, c, _COHORT_KEYS, ("table", "group", "case", "control", "condition"))
        opts = dict(c.get("options", {}))
        bad = set(opts) - _OPTION_KEYS
        if bad:
            raise _bad(p, f"{where}: unknown option(s) {sorted(bad)}.", f"Known options: {sorted(_OPTION_KEYS)}.")
        resolve(str(c["condition"]))  # an unknown condition is an error naming the nearest ones
        entry = {**c, "name": str(c.get("name", Path(str(c["table"])).stem)), "options": opts,
                 "case": [c["case"]] if isinstance(c["case"], str) else list(c["case"]),
                 "control": [c["control"]] if isinstance(c["control"], str) else list(c["control"])}
        for key in ("table", "metadata"):
            if key in c:
                f = Path(str(c[key]))
                entry[key] = str(f if f.is_absolute() else (p.parent / f).resolve())
        out.append(entry)
    names = [e["name"] for e in out]
    if len(set(names)) < len(names):
        raise _bad(p, "two cohorts share a name.", "Give each [[cohort]] a distinct name.")
    return {"atlas": run, "cohort": out, "layer": _layer_entries(p, data.get("layer", [])), "path": str(p)}


def _check_keys(p: Path, where: str, table: Mapping[str, Any], known: set[str], required: tuple[str, ...]) -> None:
    """One configuration table's keys: none unknown, every required one present (an error naming the table)."""
    if not isinstance(table, Mapping):
        raise _bad(p, f"{where} is not a table.", "Write it as a [[...]] table of key = value lines.")
    unknown = set(table) - known
    if unknown:
        raise _bad(p, f"{where} has unknown key(s) {sorted(unknown)}.", f"Known keys: {sorted(known)}.")
    missing = [k for k in required if k not in table]
    if missing:
        raise _bad(p, f"{where} lacks {', '.join(missing)}.", f"Each {where.split(' number')[0]} needs "
                   f"{', '.join(required)}.")


def _layer_entries(p: Path, layers: Any) -> list[dict[str, Any]]:
    """The ``[[layer]]`` tables: results of ``gutlink mimicry`` / ``gutlink trial`` runs, read as layer rows."""
    if not isinstance(layers, list):
        raise _bad(p, "layer must be an array of tables ([[layer]]).", "Write one [[layer]] table per result.")
    out = []
    for i, entry in enumerate(layers, start=1):
        where = f"[[layer]] number {i}"
        _check_keys(p, where, entry, _LAYER_KEYS, ("kind", "results", "condition"))
        if entry["kind"] not in KINDS:
            raise _bad(p, f"{where}: unknown kind {entry['kind']!r}.", f"Known kinds: {sorted(KINDS)}.")
        resolve(str(entry["condition"]))
        f = Path(str(entry["results"]))
        out.append({**entry, "results": str(f if f.is_absolute() else (p.parent / f).resolve()),
                    "name": str(entry.get("name", f.name))})
    return out


def _load(entry: Mapping[str, Any]) -> Cohort:
    meta = read_metadata(entry["metadata"]) if entry.get("metadata") else None
    cohort = read(entry["table"], rank=entry.get("rank"), metadata=meta)
    if entry.get("rank"):
        cohort = cohort.aggregate(entry["rank"])
    if meta is not None:
        cohort = cohort.align(meta, source=str(entry["metadata"]))
    for col, values in dict(entry.get("where", {})).items():
        keep = cohort.metadata[col].astype(str).isin([str(v) for v in np.atleast_1d(values)]).to_numpy()
        cohort = cohort.subset(samples=keep)
    return cohort


def _split(cohort: Cohort, entry: Mapping[str, Any]) -> dict[str, Cohort]:
    study = entry.get("study")
    if not study:
        return {entry["name"]: cohort}
    if study not in cohort.metadata.columns:
        raise DesignError(f"cohort {entry['name']!r}: metadata has no study column {study!r}.")
    levels = sorted(cohort.metadata[study].dropna().astype(str).unique())
    return {f"{entry['name']} {study}={lv}": cohort.subset(samples=(cohort.metadata[study].astype(str) == lv)
                                                           .to_numpy()) for lv in levels}


def _link_kwargs(run: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    opts = {**{k: run[k] for k in ("metrics", "guilds", "guild_shuffles", "predict") if k in run},
            **entry["options"]}
    kw: dict[str, Any] = {"metrics": tuple(opts.pop("metrics", ("braycurtis",))),
                          "guilds": bool(opts.pop("guilds", False)), "predict": bool(opts.pop("predict", False))}
    kw["covariates"] = tuple(opts.pop("covariates", ()))
    kw.update(opts)
    return kw


def _transfer(cohorts: dict[str, Cohort], pooled: Cohort, entry: Mapping[str, Any], seed: int) -> pd.DataFrame:
    study = entry["study"]
    res = loso(pooled, group=entry["group"], case=entry["case"], control=entry["control"], study=study,
               matrix=False, rng=seed)
    t = res.table.copy()
    t["study"] = [f"{entry['name']} {study}={s}" for s in t["study"].astype(str)]
    return t


def atlas(config: Mapping[str, Any] | str | Path, *, callback: Callback | None = None) -> AtlasResult:
    """Run every cohort of an atlas configuration and grade each condition.

    Parameters
    ----------
    config
        A path to the TOML configuration, or the dict :func:`read_config` returns.
    callback
        Called as ``callback(step, i, n)`` before each step (progress display).

    Returns
    -------
    AtlasResult
    """
    cfg = read_config(config) if isinstance(config, (str, Path)) else dict(config)
    run, entries = cfg.get("atlas", {}), cfg["cohort"]
    seed, n_perm = int(run.get("seed", 0)), int(run.get("permutations", 199))
    t0 = time.perf_counter()
    loaded = [(e, _load(e)) for e in entries]
    split = [(e, _split(c, e), c) for e, c in loaded]
    n_steps = sum(len(s) for _, s, _ in split) + sum(bool(e.get("study") and run.get("transfer", True)
                                                          and len(s) > 1) for e, s, _ in split)
    layer_entries = list(cfg.get("layer", []))
    conditions = list(dict.fromkeys(resolve(str(e["condition"])).name for e in [*entries, *layer_entries]))
    total, counter = n_steps + len(conditions), iter(range(10**9))

    def step(text: str) -> None:
        if callback is not None:
            callback(text, next(counter), total)

    links: dict[str, LinkResult] = {}
    rows: list[dict[str, Any]] = []
    transfers: dict[str, list[pd.DataFrame]] = {}
    by_condition: dict[str, list[str]] = {c: [] for c in conditions}
    for entry, parts, pooled in split:
        cond = resolve(str(entry["condition"])).name
        for name, cohort in parts.items():
            step(f"link {name} ({cond}, {cohort.n_samples} samples)")
            s0 = time.perf_counter()
            try:
                res = link(cohort, group=entry["group"], case=entry["case"], control=entry["control"],
                           n_permutations=n_perm, rng=seed, condition=str(entry["condition"]),
                           **_link_kwargs(run, entry))
            except DesignError as err:
                rows.append({"cohort": name, "condition": cond, "table": entry["table"], "n_case": np.nan,
                             "n_control": np.nan, "seconds": time.perf_counter() - s0, "status": f"skipped: {err}"})
                continue
            links[name] = res
            by_condition[cond].append(name)
            rows.append({"cohort": name, "condition": cond, "table": entry["table"], "n_case": res.n_per_group["case"],
                         "n_control": res.n_per_group["control"], "seconds": time.perf_counter() - s0,
                         "status": "analysed"})
        if entry.get("study") and run.get("transfer", True) and len(parts) > 1:
            step(f"leave-one-study-out prediction across {entry['name']}")
            transfers.setdefault(cond, []).append(_transfer(parts, pooled, entry, seed))
    evs = []
    for cond in conditions:
        step(f"evidence synthesis: {cond}")
        names = by_condition[cond]
        diffs = {n: links[n].differential for n in names if links[n].differential is not None}
        meta = combine(diffs) if len(diffs) >= 2 else None
        tr = pd.concat(transfers[cond], ignore_index=True) if cond in transfers else None
        extra = [r for e in layer_entries if resolve(str(e["condition"])).name == cond
                 for r in rows_from_folder(str(e["kind"]), e["results"], str(e["name"]), cond)]
        if not names and tr is None and not extra:
            continue
        evs.append(evidence(cond, links={n: links[n] for n in names}, transfer=tr, meta=meta, layers=extra))
    grid = pd.DataFrame([{"condition": ev.condition, **{k: ev.grid.get(k, "") for k in LAYERS},
                          "overall": ev.overall["grade"]} for ev in evs])
    grid = grid[["condition", *[k for k in LAYERS if (grid[k] != "").any()], "overall"]] if len(grid) else grid
    return AtlasResult(evidence=tuple(evs), grid=grid, cohorts=pd.DataFrame(rows), forest=_forest(evs),
                       config={"atlas": dict(run), "cohort": [dict(e) for e in entries],
                               "layer": [dict(e) for e in layer_entries], "path": cfg.get("path")},
                       seconds=time.perf_counter() - t0, links=links)


#: Layers drawn as forest plots (an effect with a 95 % interval per cohort).
FOREST_LAYERS = ("diversity", "prediction_within", "prediction_across")


def _forest(evs: list[Evidence]) -> pd.DataFrame:
    rows = []
    for ev in evs:
        for layer in FOREST_LAYERS:
            c = ev.cohorts[(ev.cohorts["layer"] == layer) & ev.cohorts["assessable"]]
            if c.empty:
                continue
            rows += [{"condition": ev.condition, "layer": layer, "cohort": r.cohort, "effect": r.effect,
                      "ci_low": r.ci_low, "ci_high": r.ci_high, "pooled": False} for r in c.itertuples()]
            g = ev.layers[ev.layers["layer"] == layer].iloc[0]
            if int(g["n_cohorts"]) > 1:
                rows.append({"condition": ev.condition, "layer": layer, "cohort": "pooled (random effects)",
                             "effect": g["effect"], "ci_low": g["ci_low"], "ci_high": g["ci_high"], "pooled": True})
    return pd.DataFrame(rows, columns=["condition", "layer", "cohort", "effect", "ci_low", "ci_high", "pooled"])
