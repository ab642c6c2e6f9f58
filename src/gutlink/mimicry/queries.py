"""Turn epitopes into scan queries: k-long residue strings with position-specific integer score tables.

A query is the epitope's binding core when it has k residues, otherwise every k-window of its sequence. Scores
are sums of substitution-matrix entries, optionally weighted per position (e.g. T-cell-receptor contacts above
MHC anchors). Integer matrices and weights keep integer arithmetic; other values are quantised to 1e-6, and a
score is then defined as the quantised sum (exact, order-independent).

Examples
--------
>>> import pandas as pd
>>> eps = pd.DataFrame({"epitope_id": ["mbp"], "sequence": ["ENPVVHFFKNIVTPR"], "core": ["VHFFKNIVT"]})
>>> qs = build_queries(eps, k=9)
>>> qs.table[["epitope_id", "query", "query_start", "self_score"]].values.tolist()
[['mbp', 'VHFFKNIVT', 5, 48.0]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DesignError, InputFormatError
from .alphabet import GAP, encode, substitution_matrix
from .kernel import QUERY_MEMORY, QueryBatches

__all__ = ["Queries", "build_queries", "mismatch_matrix"]

_QUANTUM = 10 ** 6


@dataclass(frozen=True, eq=False)
class Queries:
    """Scan queries with their score tables.

    Attributes
    ----------
    table
        One row per query: ``epitope_id``, ``query``, ``query_start`` (1-based in the epitope's sequence),
        ``self_score``, ``best_score`` and ``min_score`` (the threshold), plus the epitope's annotation columns.
    codes
        ``(n_queries, k)`` residue codes.
    tables
        ``(n_queries, k, 21)`` integer position-specific scores (GAP column far below any threshold).
    scale
        Scores are ``table sums / scale`` (1 for integer matrices and weights).
    compiled
        The kernel's block tables, compiled in batches on demand within a memory budget (``None`` when built
        with ``compile=False``).
    """

    table: pd.DataFrame
    codes: np.ndarray
    tables: np.ndarray
    scale: int
    compiled: QueryBatches | None

    @property
    def k(self) -> int:
        """Query length."""
        return int(self.codes.shape[1])


def mismatch_matrix(max_mismatches: int, k: int, *, conservative: bool = False,
                    matrix: str | np.ndarray = "BLOSUM62") -> np.ndarray:
    """Scores that count mismatches: 0 for identity, -1 per substitution (score >= -m means <= m mismatches).

    With ``conservative=True`` only substitutions with a positive score in *matrix* are allowed; any other costs
    more than ``k`` so the window can never pass.

    Examples
    --------
    >>> m = mismatch_matrix(1, 9, conservative=True)
    >>> int(m[0, 0]), int(m[7, 9]), int(m[0, 18])  # A/A, I/L (conservative), A/W
    (0, -1, -10)
    """
    out = -np.ones((20, 20))
    if conservative:
        out[substitution_matrix(matrix) <= 0] = -(k + 1)
    np.fill_diagonal(out, 0)
    return out


def _epitope_queries(row: pd.Series, k: int) -> list[tuple[str, int]]:
    seq, core = row["sequence"], row.get("core", "") or ""
    if len(core) == k:
        return [(core, seq.find(core) + 1)]
    if len(seq) < k:
        raise InputFormatError(
            f"epitope {row['epitope_id']!r} has {len(seq)} residues, fewer than k={k}.",
            hint="Lower k (--k), lengthen the epitope, or leave it out.")
    return [(seq[i:i + k], i + 1) for i in range(len(seq) - k + 1)]


def _weights(weights: Sequence[float] | None, k: int) -> np.ndarray:
    if weights is None:
        return np.ones(k)
    w = np.asarray(weights, dtype=float)
    if w.shape != (k,) or not np.isfinite(w).all() or (w < 0).any():
        raise DesignError(f"weights must be {k} finite non-negative numbers (one per query position), got {weights!r}.")
    return w


def _integer_tables(values: np.ndarray) -> tuple[np.ndarray, int]:
    if np.allclose(values, np.round(values), rtol=0, atol=1e-9):
        return np.round(values).astype(np.int64), 1
    return np.round(values * _QUANTUM).astype(np.int64), _QUANTUM


def _thresholds(worst: np.ndarray, self_score: np.ndarray, scale: int, min_score: float | None,
                min_fraction: float | None) -> np.ndarray:
    """Integer thresholds; with neither bound, the worst possible score (every window is reported)."""
    t = worst.astype(float)
    if min_score is not None:
        t = np.maximum(t, math.ceil(min_score * scale - 1e-9))
    if min_fraction is not None:
        t = np.maximum(t, np.ceil(min_fraction * self_score - 1e-9))
    return t.astype(np.int64)


def build_queries(epitopes: pd.DataFrame, *, k: int = 9, matrix: str | np.ndarray = "BLOSUM62",
                  min_score: float | None = None, min_fraction: float | None = None,
                  weights: Sequence[float] | None = None, compile: bool = True, memory: int = QUERY_MEMORY,
                  batch_size: int | None = None) -> Queries:
    """Queries, score tables and thresholds for a table of epitopes.

    Parameters
    ----------
    epitopes
        From :func:`~gutlink.mimicry.epitopes.load_epitopes` (``epitope_id``, ``sequence``, optional ``core``).
    k
        Window length.
    matrix
        Substitution matrix (Biopython name or 20 × 20 array).
    min_score, min_fraction
        A window is reported when its score is at least *min_score* and at least *min_fraction* of the
        query's self-score (either may be ``None``; both ``None`` reports every window).
    weights
        Optional weight of each of the k positions.
    compile
        Build the kernel's block tables (``False`` for queries that are only used to score known windows).
    memory, batch_size
        Memory budget in bytes of the compiled block tables, and queries per compiled batch (default: a quarter
        of *memory*); see :class:`~gutlink.mimicry.kernel.QueryBatches`. Hits do not depend on either.

    Returns
    -------
    Queries
    """
    if k < 1:
        raise DesignError(f"k must be a positive window length, got {k}.")
    m, w = substitution_matrix(matrix), _weights(weights, k)
    rows, strings = [], []
    for _, row in epitopes.iterrows():
        for query, start in _epitope_queries(row, k):
            rows.append({**row.to_dict(), "query": query, "query_start": start})
            strings.append(query)
    codes = np.stack([encode(s, name=r["epitope_id"]) for s, r in zip(strings, rows)]).astype(np.intp)
    if (codes == GAP).any():
        bad = rows[int(np.flatnonzero((codes == GAP).any(axis=1))[0])]
        raise InputFormatError(f"epitope {bad['epitope_id']!r} query {bad['query']!r} holds an ambiguous residue.",
                               hint="Epitope cores must use the 20 standard amino acids.")
    values = m[codes] * w[None, :, None]  # (n, k, 20)
    tables, scale = _integer_tables(values)
    best = tables.max(axis=2).sum(axis=1)
    self_score = np.take_along_axis(tables, codes[:, :, None], axis=2)[:, :, 0].sum(axis=1)
    thresholds = _thresholds(tables.min(axis=2).sum(axis=1), self_score, scale, min_score, min_fraction)
    span = int(np.abs(tables).max()) * k
    gap = -(span + int(np.abs(thresholds).max()) + 1)
    full = np.concatenate([tables, np.full(tables.shape[:2] + (1,), gap)], axis=2)
    dtype = np.int32 if abs(gap) * k * 2 < 2 ** 31 else np.int64
    table = pd.DataFrame(rows)
    table["self_score"], table["best_score"] = self_score / scale, best / scale
    table["min_score"] = thresholds / scale
    compiled = QueryBatches(full.astype(dtype), thresholds, memory=memory, batch_size=batch_size) if compile else None
    return Queries(table, codes.astype(np.uint8), full.astype(dtype), scale, compiled)
