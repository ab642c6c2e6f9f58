"""The exact scan kernel: every k-window of a proteome scored against every query by position-specific tables.

A query of length k is split into ``q = ceil(k / 3)`` blocks of at most 3 positions. For each block the score
of every possible block content (``21 ** size`` codes) is precomputed, so a window's score is the sum of ``q``
table look-ups. The *deficit* of a block is its best possible score minus its actual score; a window reaches
the threshold ``t`` only when its deficits sum to at most ``D = self_max - t``. With allowances ``a_b`` such that
``sum(a_b + 1) > D`` at least one block must have deficit ``<= a_b`` (pigeonhole), so the windows whose block
``b`` has deficit ``<= a_b`` for some ``b`` — found through an inverted index of block codes — contain every hit.
Each candidate is then scored in full. The allowances are chosen per proteome to minimise the number of
candidates; when that number approaches the number of windows, every window is scored directly. Both paths
return exactly the windows at or above the threshold (tests compare with a brute force).

The compiled tables take about 0.17 MB per 9-residue query, so a large catalogue is compiled in batches
(:class:`QueryBatches`): the scan walks the queries one batch at a time, keeps compiled batches only up to a memory
budget and compiles the others again when a later partition needs them. Each query is scanned on its own, so the
hits are the same whatever the batch size.

Examples
--------
>>> from gutlink.mimicry.alphabet import encode
>>> codes = encode("MKVHFFKNIVT*")  # the trailing '*' acts as the end-of-protein separator
>>> tables = np.zeros((1, 9, 21), dtype=np.int32); tables[0, :, 20] = -999
>>> tables[0, np.arange(9), encode("VHFFKNIVT")] = 5
>>> compiled = compile_queries(tables, np.array([40]))
>>> starts, query, score = scan_codes(codes, compiled)
>>> starts.tolist(), query.tolist(), score.tolist()
([2], [0], [45])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .alphabet import N_CODES

__all__ = ["DENSE_FRACTION", "QUERY_MEMORY", "CompiledQueries", "QueryBatches", "block_layout", "compile_queries",
           "scan_codes"]

#: Score every window directly when the seeds would yield more candidates than this fraction of windows.
DENSE_FRACTION = 0.5
#: Scan at most this many windows at once on the dense path (bounds memory).
_CHUNK = 1 << 22
#: Allowance levels kept per block when choosing allowances (coarser choices stay exact, just less selective).
_MAX_LEVELS = 48
#: Default memory budget (bytes) of compiled query tables: half holds the batches kept between partitions, a
#: quarter bounds the batch being compiled (with its temporaries).
QUERY_MEMORY = 256 * 2 ** 20


def block_layout(k: int) -> tuple[tuple[int, int], ...]:
    """``(offset, size)`` of each block of a k-long query: ``ceil(k / 3)`` blocks, sizes as even as possible.

    Examples
    --------
    >>> block_layout(9), block_layout(10)
    (((0, 3), (3, 3), (6, 3)), ((0, 3), (3, 3), (6, 2), (8, 2)))
    """
    q = -(-k // 3)
    sizes = [k // q + (i < k % q) for i in range(q)]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return tuple((int(o), int(s)) for o, s in zip(offsets, sizes))


@dataclass(frozen=True, eq=False)
class CompiledQueries:
    """Block tables of a set of queries, built once and reused for every proteome.

    Attributes
    ----------
    k
        Query length.
    layout
        ``(offset, size)`` of each block.
    blocks
        One array per block, shape ``(n_queries, 21 ** size)``: the block's score for each block code.
    best
        ``(n_queries, n_blocks)``: the best score of each block.
    thresholds
        Minimum total score of a reported window, per query.
    order, levels
        Per block: block codes sorted by deficit, and the deficit of each in that order.
    """

    k: int
    layout: tuple[tuple[int, int], ...]
    blocks: tuple[np.ndarray, ...]
    best: np.ndarray
    thresholds: np.ndarray
    order: tuple[np.ndarray, ...]
    levels: tuple[np.ndarray, ...]

    @property
    def n_queries(self) -> int:
        """Number of queries."""
        return int(self.thresholds.size)


def _block_table(tables: np.ndarray, offset: int, size: int) -> np.ndarray:
    n = tables.shape[0]
    out = np.zeros((n,) + (N_CODES,) * size, dtype=tables.dtype)
    for t in range(size):
        shape = (n,) + (1,) * t + (N_CODES,) + (1,) * (size - t - 1)
        out = out + tables[:, offset + t, :].reshape(shape)
    return out.reshape(n, N_CODES ** size)


def _narrow(tables: np.ndarray) -> np.ndarray:
    """*tables* as ``int16`` when every block sum and block deficit fits (BLOSUM-like integer matrices), so the
    compiled arrays take half the memory and time; otherwise unchanged."""
    span = 2 * 3 * int(np.abs(tables).max(initial=0))  # a deficit is at most twice a 3-position block sum
    return tables.astype(np.int16) if span < np.iinfo(np.int16).max else tables


def _deficit_order(blk: np.ndarray, best: np.ndarray, cap: np.ndarray, small: bool) -> tuple[np.ndarray, np.ndarray]:
    """Block codes of each query sorted by deficit (capped at *cap*), and the sorted deficits."""
    if small:
        deficit = np.minimum(best[:, None].astype(np.int16) - blk.astype(np.int16), cap.astype(np.int16)[:, None])
    else:
        deficit = np.minimum(best[:, None] - blk, cap[:, None])
    o = np.argsort(deficit, axis=1, kind="stable")  # int16 deficits: radix sort
    return o.astype(np.int16), np.sort(deficit, axis=1, kind="stable")  # the deficits in that order


def compile_queries(tables: np.ndarray, thresholds: np.ndarray) -> CompiledQueries:
    """Precompute block tables, best block scores and deficit orderings of position-specific score tables.

    Parameters
    ----------
    tables
        Integer array ``(n_queries, k, 21)``: the score of each code at each query position; the last column
        (GAP) must be low enough that no window holding a GAP reaches any threshold.
    thresholds
        Integer minimum score per query.

    Returns
    -------
    CompiledQueries

    Examples
    --------
    >>> t = np.zeros((2, 4, 21), dtype=np.int32)
    >>> compile_queries(t, np.array([0, 0])).layout
    ((0, 2), (2, 2))
    """
    tables = _narrow(np.asarray(tables))
    k = tables.shape[1]
    layout = block_layout(k)
    blocks = tuple(_block_table(tables, o, s) for o, s in layout)
    best = np.stack([b.max(axis=1) for b in blocks], axis=1)
    order, levels = [], []
    cap = np.maximum(best.sum(axis=1, dtype=np.int64) - np.asarray(thresholds), -1) + 1  # larger deficits never seed
    small = cap.max(initial=0) < np.iinfo(np.int16).max and blocks[0].dtype == np.int16
    for b, blk in enumerate(blocks):
        o, lv = _deficit_order(blk, best[:, b], cap, small)
        order.append(o)
        levels.append(lv)
    return CompiledQueries(k, layout, blocks, best, np.asarray(thresholds, dtype=np.int64), tuple(order),
                           tuple(levels))


class QueryBatches:
    """Queries compiled on demand in batches, so memory is bounded by a budget rather than the number of queries.

    Batches are compiled when a scan first needs them; while the kept batches stay within half of *memory* they
    are kept for later partitions, otherwise they are dropped after use and compiled again when needed. Pickling
    (to worker processes or a Dask cluster) sends the score tables only, never compiled batches.

    Parameters
    ----------
    tables
        Integer array ``(n_queries, k, 21)``, as for :func:`compile_queries`.
    thresholds
        Integer minimum score per query.
    memory
        Budget in bytes (default :data:`QUERY_MEMORY`).
    batch_size
        Queries per batch; default: what fits in a quarter of *memory*.

    Examples
    --------
    >>> t = np.zeros((5, 9, 21), dtype=np.int16)
    >>> qb = QueryBatches(t, np.zeros(5, dtype=np.int64), batch_size=2)
    >>> qb.n_queries, qb.bounds, qb.batch(2).n_queries
    (5, [(0, 2), (2, 4), (4, 5)], 1)
    """

    def __init__(self, tables: np.ndarray, thresholds: np.ndarray, *, memory: int = QUERY_MEMORY,
                 batch_size: int | None = None) -> None:
        self.tables = _narrow(np.asarray(tables))
        self.thresholds = np.asarray(thresholds, dtype=np.int64)
        self.k = int(self.tables.shape[1])
        self.layout = block_layout(self.k)
        self.memory = int(memory)
        per_query = self.bytes_per_query()
        size = batch_size if batch_size is not None else self.memory // 4 // per_query
        self.batch_size = int(max(1, min(size, max(self.n_queries, 1))))
        self._cache: dict[int, CompiledQueries] = {}

    @property
    def n_queries(self) -> int:
        """Number of queries."""
        return int(self.thresholds.size)

    def bytes_per_query(self) -> int:
        """Peak bytes per query while a batch is compiled: kept tables plus the sort's temporaries."""
        item = self.tables.dtype.itemsize
        return int(sum(N_CODES ** size * (item + 2 + item + 8 + 2 * item) for _, size in self.layout))

    @property
    def bounds(self) -> list[tuple[int, int]]:
        """``(first, end)`` query index of each batch."""
        return [(lo, min(lo + self.batch_size, self.n_queries)) for lo in range(0, self.n_queries, self.batch_size)]

    def batch(self, i: int) -> CompiledQueries:
        """The compiled queries of batch *i* (from the cache or compiled now)."""
        cached = self._cache.get(i)
        if cached is not None:
            return cached
        lo, hi = self.bounds[i]
        compiled = compile_queries(self.tables[lo:hi], self.thresholds[lo:hi])
        kept = sum(_nbytes(c) for c in self._cache.values())
        if kept + _nbytes(compiled) <= self.memory // 2:
            self._cache[i] = compiled
        return compiled

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_cache": {}}


def _nbytes(cq: CompiledQueries) -> int:
    return int(sum(a.nbytes for a in (*cq.blocks, *cq.order, *cq.levels)) + cq.best.nbytes)


@dataclass
class _Index:
    """Block codes of every position of one proteome, and their inverted index (built on first use)."""

    codes: np.ndarray
    n_windows: int
    size: int
    _order: np.ndarray | None = None
    _bounds: np.ndarray | None = None
    _hist: np.ndarray | None = None

    @classmethod
    def build(cls, codes: np.ndarray, size: int, n_windows: int) -> _Index:
        n = codes.size - size + 1
        block = np.zeros(max(n, 0), dtype=np.int32)
        for t in range(size):
            block = block * N_CODES + codes[t:t + n]
        return cls(block.astype(np.int16) if size <= 3 else block, n_windows, size)

    @property
    def hist(self) -> np.ndarray:
        if self._hist is None:
            self._hist = np.bincount(self.codes, minlength=N_CODES ** self.size)
        return self._hist

    def positions(self, wanted: np.ndarray) -> np.ndarray:
        """Every position whose block code is in *wanted*."""
        if self._order is None:
            self._order = np.argsort(self.codes, kind="stable").astype(np.int64)
            self._bounds = np.concatenate([[0], np.cumsum(self.hist)])
        lo, hi = self._bounds[wanted], self._bounds[wanted + 1]  # type: ignore[index]
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            return np.empty(0, dtype=np.int64)
        shift = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        return self._order[shift + np.arange(total)]


def _options(levels: np.ndarray, cum: np.ndarray, slack: int) -> tuple[np.ndarray, np.ndarray]:
    """Options ``(allowance, cost)`` of one block: -1 (no seed) and, per deficit level, the largest allowance
    that admits exactly the codes up to that level, with the number of positions those codes cover."""
    lv = levels[: np.searchsorted(levels, slack, side="right")]
    ends = np.flatnonzero(np.diff(lv, append=slack + 1) != 0)  # last code of each distinct level
    if ends.size > _MAX_LEVELS:
        ends = ends[np.unique(np.linspace(0, ends.size - 1, _MAX_LEVELS).round().astype(int))]
    nxt = np.append(lv, slack + 1)[ends + 1]
    allowance = np.concatenate([[-1], np.minimum(nxt - 1, slack)])
    cost = np.concatenate([[0], cum[ends]])
    return allowance.astype(np.int64), cost.astype(np.int64)


def _allocate(options: list[tuple[np.ndarray, np.ndarray]], need: int) -> tuple[np.ndarray, int]:
    """Allowances with ``sum(a) >= need`` (so ``sum(a + 1) > D``) at the least total cost.

    Combines the blocks' options one at a time, keeping the Pareto front (more allowance only for more cost).
    Returns the allowances and their cost, or cost -1 when none is feasible.
    """
    allow = np.zeros(1, dtype=np.int64)
    cost = np.zeros(1, dtype=np.int64)
    paths = np.zeros((1, 0), dtype=np.int64)
    for a, c in options:
        allow = (allow[:, None] + a[None, :]).ravel()
        cost = (cost[:, None] + c[None, :]).ravel()
        paths = np.concatenate([np.repeat(paths, a.size, axis=0), np.tile(a, paths.shape[0])[:, None]], axis=1)
        order = np.lexsort((-allow, cost))
        allow, cost, paths = allow[order], cost[order], paths[order]
        keep = allow > np.concatenate([[np.iinfo(np.int64).min], np.maximum.accumulate(allow)[:-1]])
        allow, cost, paths = allow[keep], cost[keep], paths[keep]
    feasible = np.flatnonzero(allow >= need)
    if feasible.size == 0:
        return np.empty(0, dtype=np.int64), -1
    best = feasible[np.argmin(cost[feasible])]
    return paths[best], int(cost[best])


def _seed_candidates(index: list[_Index], cq: CompiledQueries, qi: int, slack: int) -> np.ndarray | None:
    """Window starts that may reach the threshold, or ``None`` when scoring every window is cheaper."""
    options = []
    for b, idx in enumerate(index):
        cum = np.cumsum(idx.hist[cq.order[b][qi]])
        options.append(_options(cq.levels[b][qi], cum, slack))
    q = len(cq.layout)
    allowance, cost = _allocate(options, slack - q + 1)
    if cost < 0 or cost > DENSE_FRACTION * index[0].n_windows:
        return None
    starts = []
    for b, ((offset, _), idx) in enumerate(zip(cq.layout, index)):
        if allowance[b] < 0:
            continue
        n_codes = np.searchsorted(cq.levels[b][qi], allowance[b], side="right")
        pos = idx.positions(cq.order[b][qi][:n_codes]) - offset
        starts.append(pos[(pos >= 0) & (pos < idx.n_windows)])
    return np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)


def _score(index: list[_Index], cq: CompiledQueries, qi: int, starts: np.ndarray) -> np.ndarray:
    total = np.zeros(starts.size, dtype=np.int64)
    for b, ((offset, _), idx) in enumerate(zip(cq.layout, index)):
        total += cq.blocks[b][qi][idx.codes[starts + offset]]
    return total


def _dense(index: list[_Index], cq: CompiledQueries, qi: int) -> tuple[np.ndarray, np.ndarray]:
    found, scores = [], []
    n = index[0].n_windows
    for lo in range(0, n, _CHUNK):
        hi = min(lo + _CHUNK, n)
        total = np.zeros(hi - lo, dtype=np.int64)
        for b, ((offset, _), idx) in enumerate(zip(cq.layout, index)):
            total += cq.blocks[b][qi][idx.codes[lo + offset:hi + offset]]
        hit = np.flatnonzero(total >= cq.thresholds[qi])
        found.append(hit + lo)
        scores.append(total[hit])
    return np.concatenate(found), np.concatenate(scores)


def _scan_query(index: list[_Index], cq: CompiledQueries, qi: int) -> tuple[np.ndarray, np.ndarray]:
    slack = int(cq.best[qi].sum() - cq.thresholds[qi])
    if slack < 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    starts = _seed_candidates(index, cq, qi, slack)
    if starts is None:
        return _dense(index, cq, qi)
    score = _score(index, cq, qi, starts)
    keep = score >= cq.thresholds[qi]
    starts, first = np.unique(starts[keep], return_index=True)
    return starts, score[keep][first]


def scan_codes(codes: np.ndarray, compiled: CompiledQueries | QueryBatches
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every window of *codes* at or above its query's threshold.

    Parameters
    ----------
    codes
        ``uint8`` residue codes (proteins separated by GAP).
    compiled
        The queries, from :func:`compile_queries`, or :class:`QueryBatches` (scanned one batch at a time).

    Returns
    -------
    tuple of numpy.ndarray
        Window start offsets, query indices and scores (sorted by query, then start).
    """
    n_windows = codes.size - compiled.k + 1
    if n_windows <= 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    wide = codes.astype(np.int32)
    cache: dict[int, _Index] = {}
    for _, size in compiled.layout:
        if size not in cache:
            cache[size] = _Index.build(wide, size, n_windows)
    index = [cache[size] for _, size in compiled.layout]
    starts, queries, scores = [], [], []
    batches = [(0, compiled)] if isinstance(compiled, CompiledQueries) else \
        ((lo, compiled.batch(i)) for i, (lo, _) in enumerate(compiled.bounds))
    for lo, cq in batches:
        for qi in range(cq.n_queries):
            s, sc = _scan_query(index, cq, qi)
            starts.append(s)
            queries.append(np.full(s.size, lo + qi, dtype=np.int64))
            scores.append(sc)
    if not starts:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    return np.concatenate(starts), np.concatenate(queries), np.concatenate(scores)
