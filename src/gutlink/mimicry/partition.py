"""Proteomes in partitions of about equal residues: the unit of parallel work of a scan.

Each partition is scanned in one kernel call (see :func:`~gutlink.mimicry.scan.map_proteomes`), so memory is
bounded by the partition and the queries' budget, not by the number of proteomes.

Examples
--------
>>> p = [Proteome.from_records(str(i), [("a", "M" * 10)]) for i in range(3)]
>>> partitions(p, 15)
[[0], [1], [2]]
"""

from __future__ import annotations

from pathlib import Path

from .proteome import Proteome

__all__ = ["partitions", "source_name"]


def _estimate(item: Proteome | Path) -> int:
    """Residues of a proteome, estimated from its file (compressed files hold about 2.5 residues a byte)."""
    if isinstance(item, Proteome):
        return item.n_residues
    try:
        size = Path(item).stat().st_size
    except OSError:
        return 0
    return int(size * 2.5) if str(item).endswith((".gz", ".bz2", ".xz", ".zip")) else size


def partitions(items: list[Proteome | Path], residues: int, n_parts: int = 1) -> list[list[int]]:
    """Indices of *items* in consecutive groups of about *residues* residues (at least *n_parts* groups).

    Examples
    --------
    >>> p = [Proteome.from_records(str(i), [("a", "M" * 10)]) for i in range(5)]
    >>> partitions(p, 25), partitions(p, 1000, n_parts=2)
    ([[0, 1], [2, 3], [4]], [[0, 1], [2, 3], [4]])
    """
    sizes = [_estimate(i) for i in items]
    target = min(residues, max(1, sum(sizes) // max(n_parts, 1) + 1))
    groups: list[list[int]] = [[]]
    total = 0
    for i, size in enumerate(sizes):
        if groups[-1] and total + size > target:
            groups.append([])
            total = 0
        groups[-1].append(i)
        total += size
    return groups


def source_name(item: Proteome | Path) -> str:
    """The name progress reports give a proteome: its name, or its file's name."""
    return item.name if isinstance(item, Proteome) else Path(item).name
