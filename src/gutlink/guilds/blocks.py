"""Block-wise view of a marker × taxon grid (the HAllA idea): correlated markers and correlated taxa grouped into
blocks, and each marker block × taxon block tested as one hypothesis.

Blocks come from the markers' own correlations and the taxa's own correlations (Spearman, average-linkage
clustering on ``1 − |rho|``, cut where members correlate |rho| ≥ 0.5 on average), never from the association
being tested, so forming them does not bias the block tests. A block pair's p-value is the Simes combination of
its member pairs' p-values (valid when they are positively dependent, as the pairs of correlated members are);
BH over all block pairs. Sixty cytokines × two hundred taxa become a few dozen readable findings.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> base = rng.normal(size=(80, 1))
>>> frame = pd.DataFrame(np.c_[base + 0.3 * rng.normal(size=(80, 2)), rng.normal(size=(80, 1))],
...                      columns=["a", "b", "c"])
>>> sorted(len(v) for v in clusters(frame).values())
[1, 2]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from ..multitest import bh

__all__ = ["BLOCK_RHO", "clusters", "marker_blocks", "simes"]

#: Average |Spearman rho| within a block.
BLOCK_RHO = 0.5


def clusters(frame: pd.DataFrame, *, rho: float = BLOCK_RHO, prefix: str = "B") -> dict[str, list[str]]:
    """Columns of *frame* grouped by average-linkage clustering on ``1 − |Spearman rho|`` cut at ``1 − rho``;
    block names ``prefix1, prefix2, …`` largest first."""
    cols = [str(c) for c in frame.columns]
    if len(cols) == 1:
        return {f"{prefix}1": cols}
    r = frame.corr(method="spearman", min_periods=3).to_numpy(dtype=float)
    d = 1.0 - np.abs(np.nan_to_num(r, nan=0.0))
    np.fill_diagonal(d, 0.0)
    labels = hierarchy.fcluster(hierarchy.linkage(squareform(d, checks=False), method="average"),
                                t=1.0 - rho, criterion="distance")
    groups: dict[int, list[str]] = {}
    for col, lab in zip(cols, labels, strict=True):
        groups.setdefault(int(lab), []).append(col)
    ordered = sorted(groups.values(), key=lambda g: (-len(g), g[0]))
    return {f"{prefix}{i + 1}": g for i, g in enumerate(ordered)}


def simes(p: np.ndarray) -> float:
    """Simes' combined p-value of *p* (NaN ignored; NaN when none)."""
    v = np.sort(p[np.isfinite(p)])
    if not v.size:
        return float("nan")
    return float(min(1.0, (v * v.size / np.arange(1, v.size + 1)).min()))


def marker_blocks(table: pd.DataFrame, markers: pd.DataFrame, taxa: pd.DataFrame, *,
                  rho: float = BLOCK_RHO) -> pd.DataFrame:
    """One row per marker block × taxon block of the taxon rows of a :class:`MarkerResult` table.

    *markers*: samples × the tested markers (as analysed); *taxa*: samples × taxa (CLR), named as in the table's
    ``predictor`` column. Columns: ``marker_block, markers, taxon_block, taxa, n_pairs, p_simes, q_value``
    (BH over block pairs), ``n_pairs_q_below_0.1``, ``share_positive`` (of the member pairs' effects), and the
    strongest member pair (``top_marker, top_taxon, top_q``).
    """
    t = table[table["kind"] == "taxon"]
    if t.empty:
        return pd.DataFrame()
    mb, tb = clusters(markers, rho=rho, prefix="M"), clusters(taxa, rho=rho, prefix="T")
    m_of = {m: b for b, ms in mb.items() for m in ms}
    t_of = {x: b for b, xs in tb.items() for x in xs}
    t = t.assign(marker_block=t["marker"].map(m_of), taxon_block=t["predictor"].map(t_of)).dropna(
        subset=["marker_block", "taxon_block"])
    key = ["marker_block", "taxon_block"]
    t = t.assign(p=t["p_value"].astype(float), pos=(t["effect"] > 0).astype(float),
                 hit=(t["q_value"] < 0.1).astype(int)).sort_values([*key, "p"], kind="mergesort", na_position="last")
    grp = t.groupby(key, sort=False)
    rank = grp.cumcount() + 1
    tested = grp["p"].transform("count")
    t = t.assign(simes=(t["p"] * tested / rank).where(t["p"].notna()))
    grp = t.groupby(key, sort=False)
    first = grp.head(1).set_index(key)  # the smallest p of each block pair (sorted above)
    out = pd.DataFrame({"n_pairs": grp.size(), "p_simes": grp["simes"].min().clip(upper=1.0),
                        "n_pairs_q_below_0.1": grp["hit"].sum(), "share_positive": grp["pos"].mean()})
    out = out.join(first[["marker", "predictor", "q_value"]].set_axis(["top_marker", "top_taxon", "top_q"], axis=1))
    out = out.reset_index()
    out.insert(1, "markers", out["marker_block"].map(lambda b: ", ".join(mb[b])))
    out.insert(3, "taxa", out["taxon_block"].map(lambda b: ", ".join(tb[b])))
    out.insert(out.columns.get_loc("p_simes") + 1, "q_value", bh(out["p_simes"].to_numpy(dtype=float)))
    return out.sort_values(["p_simes", "marker_block", "taxon_block"], kind="mergesort").reset_index(drop=True)
