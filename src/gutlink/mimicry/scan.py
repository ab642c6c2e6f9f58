"""Scan proteomes for windows that look like autoantigen epitopes: exact, vectorised, parallel over proteomes.

Every k-window of every protein is scored against every query (an epitope's binding core, or each k-window of
an epitope without one) by summed substitution-matrix scores, optionally weighted per position; windows at or
above the threshold are reported. Mismatch mode (``max_mismatches``) reports windows with at most *m*
substitutions instead, optionally conservative ones only. The hit set is exactly that of an exhaustive
comparison (:func:`brute_force` is the reference the tests hold the kernel to).

Examples
--------
>>> import pandas as pd
>>> from gutlink.mimicry import Proteome
>>> eps = pd.DataFrame({"epitope_id": ["MBP_core"], "sequence": ["VHFFKNIVT"], "disease": ["MS"]})
>>> prot = Proteome.from_records("bug", [("p1", "MSTVHFFQNVITKL"), ("p2", "GGVHWFKNIITG")])
>>> res = scan([prot], eps, min_score=40)
>>> res.table[["protein", "start", "window", "score", "mismatches"]].values.tolist()
[['p1', 4, 'VHFFQNVIT', 42.0, 3], ['p2', 3, 'VHWFKNIIT', 42.0, 2]]
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._progress import Ticker
from ..errors import DesignError, InputFormatError
from ..parallel import resolve_jobs, run_tasks
from ..results import Result
from .alphabet import GAP, decode
from .epitopes import load_epitopes
from .kernel import QUERY_MEMORY, scan_codes
from .partition import _estimate, partitions, source_name
from .proteome import (
    Proteome,
    SequenceKind,
    proteome_name,
    proteome_paths,
    read_proteome,
)
from .queries import Queries, build_queries, mismatch_matrix

__all__ = ["HIT_COLUMNS", "ScanResult", "brute_force", "scan", "scan_proteome"]

#: Columns of the hit table.
HIT_COLUMNS = ["proteome", "protein", "start", "end", "window", "epitope_id", "query", "query_start", "disease",
               "antigen", "score", "self_score", "identity", "mismatches", "mismatch_positions"]


@dataclass(frozen=True)
class ScanResult(Result):
    """Windows of the scanned proteomes that reach the threshold of an epitope query.

    Attributes
    ----------
    hits
        One row per (window, query): :data:`HIT_COLUMNS`.
    proteomes
        One row per proteome: ``proteome``, ``path``, ``n_proteins``, ``n_residues``, ``n_windows`` (scored),
        ``n_windows_skipped`` (holding X/B/Z/J or an internal stop), ``genes_called``, ``n_hits``.
    queries
        One row per query with its ``self_score`` and threshold ``min_score``.
    parameters
        The scan's settings.
    """

    hits: pd.DataFrame = field(metadata={"json": False})
    proteomes: pd.DataFrame
    queries: pd.DataFrame
    parameters: dict[str, Any]

    @property
    def table(self) -> pd.DataFrame:
        """The hit table."""
        return self.hits


def _mismatch_positions(equal: np.ndarray) -> list[str]:
    return [",".join(map(str, np.flatnonzero(~row) + 1)) for row in equal]


def _annotate(prot: Proteome, queries: Queries, starts: np.ndarray, qidx: np.ndarray, score: np.ndarray,
              plain: Queries | None) -> pd.DataFrame:
    k, ref = queries.k, plain or queries
    if plain is not None:  # mismatch mode: report the plain matrix score
        score = _plain_score(prot, plain, starts, qidx)
    windows = prot.codes[starts[:, None] + np.arange(k)]
    equal = windows == queries.codes[qidx]
    pidx, pos = prot.locate(starts)
    q = queries.table.iloc[qidx]
    out = pd.DataFrame({
        "proteome": prot.name, "protein": np.asarray(prot.ids, dtype=object)[pidx], "start": pos + 1,
        "end": pos + k, "window": [decode(w) for w in windows], "epitope_id": q["epitope_id"].to_numpy(),
        "query": q["query"].to_numpy(), "query_start": q["query_start"].to_numpy(),
        "disease": q["disease"].to_numpy() if "disease" in q else "",
        "antigen": q["antigen"].to_numpy() if "antigen" in q else "",
        "score": score / ref.scale, "self_score": ref.table["self_score"].to_numpy()[qidx], "identity": equal.mean(axis=1),
        "mismatches": k - equal.sum(axis=1), "mismatch_positions": _mismatch_positions(equal)})
    return out.sort_values(["protein", "start", "epitope_id", "query_start"], kind="stable")


def _window_counts(prot: Proteome, k: int) -> tuple[int, int]:
    lengths = prot.lengths
    possible = int(np.clip(lengths - k + 1, 0, None).sum())
    gap = np.concatenate([[0], np.cumsum(prot.codes == GAP)])
    n = prot.codes.size - k + 1
    clean = int((gap[k:k + max(n, 0)] - gap[:max(n, 0)] == 0).sum()) if n > 0 else 0
    return clean, possible - clean


def _plain_score(prot: Proteome, plain: Queries, starts: np.ndarray, qidx: np.ndarray) -> np.ndarray:
    windows = prot.codes[starts[:, None] + np.arange(plain.k)]
    return np.take_along_axis(plain.tables[qidx], windows[:, :, None].astype(np.intp), axis=2)[:, :, 0].sum(axis=1)


def _info(prot: Proteome, k: int, n_hits: int) -> dict[str, Any]:
    clean, skipped = _window_counts(prot, k)
    return {"proteome": prot.name, "path": prot.path or "", "n_proteins": prot.n_proteins,
            "n_residues": prot.n_residues, "n_windows": clean, "n_windows_skipped": skipped,
            "genes_called": prot.genes_called, "n_hits": n_hits, "ids": prot.ids}


def scan_partition(items: Sequence[Proteome | str | Path], queries: Queries, *, plain: Queries | None = None,
                   kind: SequenceKind = "auto") -> list[tuple[pd.DataFrame, dict[str, Any]]]:
    """Scan several proteomes in one kernel call (the unit of parallel work); hits and counts per proteome.

    The proteomes' codes are concatenated (each ends in a GAP, so no window spans two), which spreads the
    per-query set-up over more residues; memory is bounded by the partition, not by the whole input.
    """
    if queries.compiled is None:
        raise DesignError("these queries were built with compile=False and cannot drive a scan.")
    prots = [p if isinstance(p, Proteome) else read_proteome(p, kind=kind) for p in items]
    sizes = np.array([p.codes.size for p in prots], dtype=np.int64)
    bases = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    codes = np.concatenate([p.codes for p in prots]) if prots else np.empty(0, dtype=np.uint8)
    starts, qidx, score = scan_codes(codes, queries.compiled)
    owner = np.searchsorted(bases, starts, side="right") - 1
    out = []
    for i, prot in enumerate(prots):
        sel = owner == i
        hits = _annotate(prot, queries, starts[sel] - bases[i], qidx[sel], score[sel], plain)
        out.append((hits, _info(prot, queries.k, len(hits))))
    return out


def scan_proteome(proteome: Proteome | str | Path, queries: Queries, *, plain: Queries | None = None,
                  kind: SequenceKind = "auto") -> tuple[pd.DataFrame, dict[str, Any]]:
    """Scan one proteome; returns its hits and a summary row.

    Parameters
    ----------
    proteome
        A :class:`Proteome` or a FASTA path.
    queries
        From :func:`~gutlink.mimicry.queries.build_queries`.
    plain
        In mismatch mode, queries scored with the plain substitution matrix (reported as ``score``).
    kind
        Passed to :func:`~gutlink.mimicry.proteome.read_proteome`.

    Returns
    -------
    tuple
        The hit table and a dict of counts (with the protein IDs under ``"ids"``).

    Examples
    --------
    >>> import pandas as pd
    >>> q = build_queries(pd.DataFrame({"epitope_id": ["e"], "sequence": ["WWW"]}), k=3, min_score=33)
    >>> hits, info = scan_proteome(Proteome.from_records("x", [("a", "AWWWA")]), q)
    >>> hits["start"].tolist(), info["n_windows"]
    ([2], 3)
    """
    return scan_partition([proteome], queries, plain=plain, kind=kind)[0]


Outcome = tuple[pd.DataFrame, dict[str, Any]]


def _progress(callback: Callable[[str, int, int], None] | None, items: list[Proteome | Path],
              groups: list[list[int]]) -> Callable[[int, Any], None]:
    """``on_done`` for :func:`~gutlink.parallel.run_tasks`: *callback* once per proteome of a finished partition,
    and a progress line with an ETA per finished partition (batch) through :func:`gutlink.community.progress_to`
    (counted in residues, what the scan time follows)."""
    done = itertools.count()
    size = [_estimate(item) for item in items]
    total = sum(size)
    tick, scanned = Ticker("mimicry scan", max(total, 1), unit="residues"), [0]

    def report(g: int, _: Any) -> None:
        for i in groups[g]:
            if callback is not None:
                callback(source_name(items[i]), next(done), len(items))
            scanned[0] += size[i]
        tick(scanned[0])

    return report



def map_proteomes(items: list[Proteome | Path], queries: Queries, *, plain: Queries | None = None,
                  kind: SequenceKind = "auto", n_jobs: int = 1, scheduler: Any = None,
                  partition_residues: int = 4_000_000,
                  callback: Callable[[str, int, int], None] | None = None) -> list[Outcome]:
    """Scan proteomes in partitions (:func:`~gutlink.mimicry.partition.partitions`), one :func:`scan_partition`
    per task, sequentially, in *n_jobs* local processes or on a Dask *scheduler*; input order kept.

    The queries go to each worker once (their score tables only; each worker compiles them in batches within
    the queries' memory budget and keeps them for its later partitions). *callback* is called as
    ``callback(proteome_name, i, n)`` for each proteome as its partition finishes.

    Returns
    -------
    list
        ``(hits, info)`` per proteome, as :func:`scan_proteome` returns them.
    """
    jobs = min(resolve_jobs(n_jobs), max(len(items), 1))
    groups = partitions(items, partition_residues, n_parts=jobs if scheduler is None else 1)
    work = partial(scan_partition, queries=queries, plain=plain, kind=kind)
    parts = run_tasks(work, [[items[i] for i in g] for g in groups], n_jobs=jobs, scheduler=scheduler,
                      on_done=_progress(callback, items, groups))
    return [outcome for part in parts for outcome in part]  # groups are consecutive: input order


def brute_force(proteome: Proteome, queries: Queries) -> pd.DataFrame:
    """The reference: score every window against every query with plain numpy (no seeds, no blocks).

    Returns ``proteome``-relative ``offset``, ``query`` index and integer ``score`` of every window at or above
    its threshold, sorted by query then offset. Memory grows with windows × k; for tests and benchmarks.

    Examples
    --------
    >>> import pandas as pd
    >>> q = build_queries(pd.DataFrame({"epitope_id": ["e"], "sequence": ["WWW"]}), k=3, min_score=33)
    >>> brute_force(Proteome.from_records("x", [("a", "AWWWA")]), q).values.tolist()
    [[1, 0, 33]]
    """
    k = queries.k
    if proteome.codes.size < k:
        return pd.DataFrame({"offset": [], "query": [], "score": []}, dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(proteome.codes, k).astype(np.intp)
    thresholds = queries.table["min_score"].to_numpy() * queries.scale
    rows = []
    for qi in range(len(queries.table)):
        score = queries.tables[qi, np.arange(k), windows].sum(axis=1, dtype=np.int64)
        hit = np.flatnonzero(score >= thresholds[qi])
        rows.append(pd.DataFrame({"offset": hit, "query": qi, "score": score[hit]}))
    return pd.concat(rows, ignore_index=True).astype(np.int64)


def _inputs(proteomes: Any) -> list[Proteome | Path]:
    items = [proteomes] if isinstance(proteomes, (str, Path, Proteome)) else list(proteomes)
    out: list[Proteome | Path] = []
    for item in items:
        out.extend([item] if isinstance(item, Proteome) else proteome_paths(item))
    if not out:
        raise InputFormatError("no proteome given.", hint="Pass FASTA files or a folder of them.")
    names = [p.name if isinstance(p, Proteome) else proteome_name(p) for p in out]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise InputFormatError(f"two proteomes share the name(s) {dups[:5]}.",
                               hint="Proteome names come from file names; rename the files.")
    return out


def _check_ids(infos: list[dict[str, Any]]) -> None:
    owner: dict[str, str] = {}
    for info in infos:
        for pid in info["ids"]:
            if owner.setdefault(pid, info["proteome"]) != info["proteome"]:
                raise InputFormatError(
                    f"record ID {pid!r} occurs in proteome {owner[pid]!r} and in {info['proteome']!r}.",
                    path=info["path"] or None,
                    hint="Record IDs must be unique across proteomes; prefix them with the genome name.")


def _build(epitopes: Any, k: int, matrix: str | np.ndarray, min_score: float | None, min_fraction: float | None,
           max_mismatches: int | None, conservative: bool, weights: Sequence[float] | None,
           memory: int = QUERY_MEMORY) -> tuple[Queries, Queries | None]:
    table = load_epitopes(epitopes)
    if max_mismatches is None:
        return build_queries(table, k=k, matrix=matrix, min_score=min_score, min_fraction=min_fraction,
                             weights=weights, memory=memory), None
    if max_mismatches < 0 or min_score is not None or weights is not None:
        raise DesignError("mismatch mode takes max_mismatches >= 0 and no min_score or weights.")
    mm = mismatch_matrix(max_mismatches, k, conservative=conservative, matrix=matrix)
    return (build_queries(table, k=k, matrix=mm, min_score=-max_mismatches, memory=memory),
            build_queries(table, k=k, matrix=matrix, compile=False))


def scan(proteomes: Any, epitopes: Any = "builtin:all", *, matrix: str | np.ndarray = "BLOSUM62",
         min_score: float | None = None, min_fraction: float | None = None, k: int = 9,
         max_mismatches: int | None = None, conservative: bool = False, weights: Sequence[float] | None = None,
         kind: SequenceKind = "auto", n_jobs: int = 1, scheduler: str | Any | None = None,
         partition_residues: int = 4_000_000, query_memory: int = QUERY_MEMORY,
         callback: Callable[[str, int, int], None] | None = None) -> ScanResult:
    """Scan proteomes for epitope mimics.

    Parameters
    ----------
    proteomes
        :class:`Proteome` objects, FASTA paths, folders of FASTA files, or a mix (one proteome per file).
    epitopes
        An epitope spec for :func:`~gutlink.mimicry.epitopes.load_epitopes` (``"builtin:MS"``, a file) or a
        DataFrame with ``epitope_id`` and ``sequence`` (and optional ``core``, ``disease``, ``antigen``).
    matrix
        Substitution matrix name (any Biopython protein matrix) or 20 × 20 array.
    min_score, min_fraction
        Report windows scoring at least *min_score* and at least *min_fraction* × the query's self-score. When
        both are ``None`` (and not in mismatch mode) *min_fraction* defaults to 0.7.
    k
        Window length (the 9-residue HLA class II binding core by default).
    max_mismatches, conservative
        Mismatch mode: windows with at most this many substitutions (conservative: positive matrix score only).
    weights
        Per-position weights (length k), e.g. higher on T-cell-receptor contact positions.
    kind
        ``"auto"``, ``"protein"`` or ``"nucleotide"`` (genes called with pyrodigal).
    n_jobs
        Local worker processes (proteomes are scanned independently; -1 uses every core).
    scheduler
        A Dask ``distributed`` scheduler address or ``Client``: scan on that cluster instead.
    partition_residues
        Proteomes are scanned in partitions of about this many residues (estimated from file sizes): larger
        partitions spread per-query set-up further, smaller ones bound memory and spread work across workers.
    query_memory
        Memory budget (bytes) of the compiled query tables: a large epitope set is compiled and scanned in
        batches within it (hits do not depend on it).
    callback
        Called as ``callback(proteome_name, i, n)`` after each proteome.

    Returns
    -------
    ScanResult
    """
    if min_score is None and min_fraction is None and max_mismatches is None:
        min_fraction = 0.7
    queries, plain = _build(epitopes, k, matrix, min_score, min_fraction, max_mismatches, conservative, weights,
                            query_memory)
    items = _inputs(proteomes)
    results = map_proteomes(items, queries, plain=plain, kind=kind, n_jobs=n_jobs, scheduler=scheduler,
                            partition_residues=partition_residues, callback=callback)
    _check_ids([info for _, info in results])
    hits = pd.concat([h for h, _ in results], ignore_index=True) if results else pd.DataFrame(columns=HIT_COLUMNS)
    summary = pd.DataFrame([{k_: v for k_, v in info.items() if k_ != "ids"} for _, info in results])
    params = {"matrix": matrix if isinstance(matrix, str) else "custom", "k": k, "min_score": min_score,
              "min_fraction": min_fraction, "max_mismatches": max_mismatches, "conservative": conservative,
              "weights": None if weights is None else list(map(float, weights)), "n_queries": len(queries.table),
              "n_epitopes": int(queries.table["epitope_id"].nunique()), "score_scale": queries.scale,
              "cpu_count": os.cpu_count()}
    return ScanResult(hits[HIT_COLUMNS], summary, queries.table, params)
