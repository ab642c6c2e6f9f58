"""The central object: a cohort of samples with abundances, lineage and metadata.

Examples
--------
>>> import numpy as np, pandas as pd
>>> c = Cohort(np.array([[10, 0, 5], [3, 3, 3]]),
...            metadata=pd.DataFrame({"group": ["CD", "control"]}, index=["s1", "s2"]),
...            taxonomy=lineage_table(["g__A|s__A_x", "g__A|s__A_y", "g__B|s__B_z"]),
...            units="counts")
>>> c.n_samples, c.n_features
(2, 3)
>>> c.aggregate("genus").to_frame().loc["s1"].tolist()
[10.0, 5.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import sparse

from .errors import DesignError, InputFormatError, SampleMismatchError
from .taxonomy import RANKS, lineage_table, normalise_rank

__all__ = ["Cohort", "Alignment", "Units"]

Units = Literal["counts", "fraction", "percent"]
_TOTAL = {"fraction": 1.0, "percent": 100.0}
_SUM_TOLERANCE = 0.02  # relative: tables rounded by their producer may exceed 100 % slightly


@dataclass(frozen=True)
class Alignment:
    """How the sample IDs of an abundance table and a metadata table matched."""

    matched: tuple[str, ...]
    abundance_only: tuple[str, ...]
    metadata_only: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (counts and up to five examples of each unmatched side)."""
        return {
            "n_matched": len(self.matched),
            "n_abundance_only": len(self.abundance_only),
            "n_metadata_only": len(self.metadata_only),
            "abundance_only_examples": list(self.abundance_only[:5]),
            "metadata_only_examples": list(self.metadata_only[:5]),
        }


def _as_matrix(abundance: Any) -> np.ndarray | sparse.csr_array:
    if sparse.issparse(abundance):
        return sparse.csr_array(abundance, dtype=np.float64)
    return np.asarray(abundance, dtype=np.float64)


def _check_ids(index: pd.Index, what: str) -> pd.Index:
    index = pd.Index([str(x) for x in index], dtype=object)
    if index.has_duplicates:
        dups = index[index.duplicated()].unique()[:5].tolist()
        raise InputFormatError(
            f"{index.duplicated().sum()} duplicate {what} ID(s), e.g. {dups}.",
            hint=f"Every {what} ID must be unique; rename or merge the duplicates.",
        )
    return index


@dataclass(frozen=True, eq=False)
class Cohort:
    """Samples × features abundances with lineage, sample metadata and units.

    Parameters
    ----------
    abundance
        Samples × features matrix (ndarray or scipy sparse), finite and non-negative.
    metadata
        Sample metadata indexed by sample ID (one row per abundance row, same order). ``None`` gives an empty
        frame indexed ``sample_0 …``.
    taxonomy
        Feature lineage indexed by feature ID, one column per rank of :data:`gutlink.taxonomy.RANKS`.
    units
        ``"counts"``, ``"fraction"`` (rows sum to ≤ 1) or ``"percent"`` (rows sum to ≤ 100).
    history
        Operations applied so far (goes into ``summary.json``).

    Cohorts are immutable in spirit: every operation returns a new one.
    """

    abundance: np.ndarray | sparse.csr_array
    metadata: pd.DataFrame = field(default=None)  # type: ignore[assignment]
    taxonomy: pd.DataFrame = field(default=None)  # type: ignore[assignment]
    units: Units = "counts"
    history: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        x = _as_matrix(self.abundance)
        if x.ndim != 2:
            raise InputFormatError(f"abundance must be 2-D (samples × features), got {x.ndim}-D.")
        n, p = x.shape
        meta = self.metadata
        if meta is None:
            meta = pd.DataFrame(index=pd.Index([f"sample_{i}" for i in range(n)], dtype=object))
        tax = self.taxonomy
        if tax is None:
            tax = lineage_table([f"feature_{j}" for j in range(p)])
        if len(meta) != n:
            raise SampleMismatchError(f"metadata has {len(meta)} rows but abundance has {n} samples.")
        if len(tax) != p:
            raise InputFormatError(f"taxonomy has {len(tax)} rows but abundance has {p} features.")
        meta = meta.copy()
        meta.index = _check_ids(meta.index, "sample")
        meta.index.name = "sample_id"
        tax = tax.copy()
        tax.index = _check_ids(tax.index, "feature")
        tax.index.name = "feature_id"
        for rank in RANKS:
            if rank not in tax.columns:
                tax[rank] = None
        if self.units not in ("counts", "fraction", "percent"):
            raise InputFormatError(f"unknown units {self.units!r}.", hint="Use 'counts', 'fraction' or 'percent'.")
        _validate_values(x, meta.index, tax.index, self.units)
        object.__setattr__(self, "abundance", x)
        object.__setattr__(self, "metadata", meta)
        object.__setattr__(self, "taxonomy", tax)
        object.__setattr__(self, "history", tuple(self.history))

    # ------------------------------------------------------------------ basics
    @property
    def n_samples(self) -> int:
        """Number of samples."""
        return int(self.abundance.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features (taxa)."""
        return int(self.abundance.shape[1])

    @property
    def sample_ids(self) -> pd.Index:
        """Sample IDs, in row order."""
        return self.metadata.index

    @property
    def feature_ids(self) -> pd.Index:
        """Feature IDs, in column order."""
        return self.taxonomy.index

    def dense(self) -> np.ndarray:
        """The abundance matrix as a dense float array (a copy when sparse)."""
        x = self.abundance
        return x.toarray() if sparse.issparse(x) else x  # type: ignore[union-attr]

    def to_frame(self) -> pd.DataFrame:
        """Abundances as a samples × features DataFrame."""
        return pd.DataFrame(self.dense(), index=self.sample_ids, columns=self.feature_ids)

    def _derive(self, op: dict[str, Any], **changes: Any) -> Cohort:
        return replace(self, history=self.history + (op,), **changes)

    def __repr__(self) -> str:
        cols = ", ".join(map(str, self.metadata.columns[:6]))
        return (
            f"Cohort({self.n_samples} samples × {self.n_features} features, units={self.units!r}, "
            f"metadata=[{cols}{', …' if self.metadata.shape[1] > 6 else ''}])"
        )

    # ------------------------------------------------------------- alignment
    def alignment(self, metadata: pd.DataFrame) -> Alignment:
        """Compare this cohort's sample IDs with *metadata*'s index (exact, case-sensitive)."""
        ours = pd.Index(self.sample_ids)
        theirs = pd.Index([str(x) for x in metadata.index])
        return Alignment(
            matched=tuple(ours[ours.isin(theirs)]),
            abundance_only=tuple(ours[~ours.isin(theirs)]),
            metadata_only=tuple(theirs[~theirs.isin(ours)]),
        )

    def align(self, metadata: pd.DataFrame, *, source: str = "metadata") -> Cohort:
        """Attach *metadata* (indexed by sample ID), keeping the samples present in both.

        Samples of either side without a partner are dropped and counted in :attr:`history`. Raises
        :class:`~gutlink.errors.SampleMismatchError` when no sample matches.
        """
        al = self.alignment(metadata)
        if not al.matched:
            raise SampleMismatchError(
                f"{source}: none of its {len(metadata)} sample IDs match the {self.n_samples} abundance samples "
                f"(e.g. metadata {list(al.metadata_only[:3])} vs abundance {list(al.abundance_only[:3])}). "
                "Matching is exact and case-sensitive; check which metadata column holds the sample IDs."
            )
        meta = metadata.copy()
        meta.index = pd.Index([str(x) for x in meta.index], dtype=object)
        keep = self.sample_ids.get_indexer(list(al.matched))
        sub = self._take_samples(keep)
        merged = meta.loc[list(al.matched)]
        op = {"op": "align", "source": source, **al.to_dict()}
        return replace(sub, metadata=merged, history=self.history + (op,))

    # ---------------------------------------------------------------- subset
    def _take_samples(self, rows: np.ndarray) -> Cohort:
        x = self.abundance[rows] if not sparse.issparse(self.abundance) else self.abundance[rows, :]
        return replace(self, abundance=x, metadata=self.metadata.iloc[rows])

    def _take_features(self, cols: np.ndarray) -> Cohort:
        return replace(self, abundance=self.abundance[:, cols], taxonomy=self.taxonomy.iloc[cols])

    def _positions(self, selector: Any, index: pd.Index, what: str) -> np.ndarray:
        if selector is None:
            return np.arange(len(index))
        arr = np.asarray(selector)
        if arr.dtype == bool:
            if arr.shape != (len(index),):
                raise DesignError(f"{what} mask has length {arr.size}, expected {len(index)}.")
            return np.flatnonzero(arr)
        if np.issubdtype(arr.dtype, np.integer):  # positions
            if arr.size and (arr.min() < -len(index) or arr.max() >= len(index)):
                raise DesignError(f"{what} position out of range (there are {len(index)}).")
            return arr.ravel()
        labels = [str(s) for s in (arr.tolist() if arr.ndim else [arr.item()])]
        pos = index.get_indexer(labels)
        if (pos < 0).any():
            missing = [lab for lab, p in zip(labels, pos) if p < 0][:5]
            raise SampleMismatchError(f"{(pos < 0).sum()} {what} ID(s) not in the cohort, e.g. {missing}.")
        return pos

    def subset(self, samples: Any = None, features: Any = None) -> Cohort:
        """Keep the given samples and/or features (boolean masks, integer positions or ID lists), in that order."""
        rows = self._positions(samples, self.sample_ids, "sample")
        cols = self._positions(features, self.feature_ids, "feature")
        x = self.abundance
        if sparse.issparse(x):
            x = x[rows, :] if samples is not None else x
            x = x[:, cols] if features is not None else x.copy() if samples is None else x
        elif samples is not None and features is not None:
            x = x[np.ix_(rows, cols)]  # one copy of the kept block, no whole-table temporary
        elif samples is not None:
            x = x[rows]
        elif features is not None:
            x = x[:, cols]
        else:
            x = x.copy()  # never share a mutable table between two cohorts
        op = {"op": "subset", "n_samples": len(rows), "n_features": len(cols)}
        return replace(self, abundance=x, metadata=self.metadata.iloc[rows], taxonomy=self.taxonomy.iloc[cols],
                       history=self.history + (op,))

    # ------------------------------------------------------------- aggregate
    def aggregate(self, rank: str) -> Cohort:
        """Sum features to *rank* (e.g. ``"genus"``); unnamed levels become ``'<parent>_unclassified'``."""
        rank = normalise_rank(rank)
        depth = RANKS.index(rank) + 1
        tax = self.taxonomy[list(RANKS[:depth])]
        labels, lineages = [], []
        for row in tax.itertuples(index=False):  # loops over features only, never samples × features
            names = list(row)
            filled, parent = [], "unknown"
            for name in names:
                if name is None or (isinstance(name, float) and np.isnan(name)):
                    name = f"{parent}_unclassified" if not str(parent).endswith("_unclassified") else parent
                filled.append(name)
                parent = name
            labels.append(filled[-1])
            lineages.append(tuple(filled))
        codes, uniques = pd.factorize(pd.Series(lineages, dtype=object))
        indicator = sparse.csr_array(
            (np.ones(len(codes)), (np.arange(len(codes)), codes)), shape=(len(codes), len(uniques))
        )
        x = self.abundance @ indicator
        x = x.toarray() if sparse.issparse(x) and not sparse.issparse(self.abundance) else x
        first_label: dict[object, object] = {}
        for lab, code in zip(labels, codes):
            first_label.setdefault(code, lab)
        ids = [first_label[i] for i in range(len(uniques))]
        if len(set(ids)) < len(ids):  # the same name under two parents: keep IDs unique with the full lineage
            ids = [";".join(u) if ids.count(i) > 1 else i for u, i in zip(uniques, ids)]
        new_tax = pd.DataFrame([list(u) + [None] * (len(RANKS) - depth) for u in uniques],
                               index=pd.Index(ids, dtype=object), columns=list(RANKS))
        op = {"op": "aggregate", "rank": rank, "n_features": len(ids)}
        return self._derive(op, abundance=x, taxonomy=new_tax)

    # ----------------------------------------------------------------- filter
    def relative(self) -> np.ndarray:
        """Abundances as fractions of each sample's total (dense)."""
        x = self.dense()
        totals = x.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(totals > 0, x / np.where(totals > 0, totals, 1.0), 0.0)
        return rel

    def filter(self, *, min_prevalence: float = 0.0, min_abundance: float = 0.0,
               detection: float = 0.0) -> Cohort:
        """Keep features present (relative abundance > *detection*) in at least *min_prevalence* of samples
        and with mean relative abundance ≥ *min_abundance* (fractions, 0–1)."""
        rel = self.relative()
        prevalence = (rel > detection).mean(axis=0)
        keep = (prevalence >= min_prevalence) & (rel.mean(axis=0) >= min_abundance) & (rel.sum(axis=0) > 0)
        if not keep.any():
            raise DesignError(
                f"no feature passes min_prevalence={min_prevalence}, min_abundance={min_abundance}.",
            )
        out = self._take_features(np.flatnonzero(keep))
        op = {"op": "filter", "min_prevalence": min_prevalence, "min_abundance": min_abundance,
              "detection": detection, "n_features_kept": int(keep.sum()), "n_features_dropped": int((~keep).sum())}
        return replace(out, history=self.history + (op,))

    def drop_empty_samples(self) -> Cohort:
        """Remove samples whose abundances are all zero (recorded in history)."""
        totals = np.asarray(self.abundance.sum(axis=1)).ravel()
        keep = np.flatnonzero(totals > 0)
        out = self._take_samples(keep)
        op = {"op": "drop_empty_samples", "n_dropped": int(self.n_samples - keep.size),
              "examples": list(self.sample_ids[totals <= 0][:5])}
        return replace(out, history=self.history + (op,))

    # ---------------------------------------------------------- transforms
    def closure(self) -> Cohort:
        """Rows rescaled to sum to 1 (``units='fraction'``)."""
        totals = np.asarray(self.abundance.sum(axis=1)).ravel()
        if (totals <= 0).any():
            bad = list(self.sample_ids[totals <= 0][:5])
            raise DesignError(f"{(totals <= 0).sum()} sample(s) have no reads/abundance, e.g. {bad}.",
                              )
        x = self.abundance
        if sparse.issparse(x):
            x = sparse.csr_array(sparse.diags_array(1.0 / totals) @ x)
        else:
            x = x / totals[:, None]
        return self._derive({"op": "closure"}, abundance=x, units="fraction")

    def clr(self, *, method: Literal["pseudocount", "multiplicative"] = "pseudocount",
            pseudocount: float | None = None) -> pd.DataFrame:
        """Centred log-ratio transform (samples × features DataFrame).

        Zeros are replaced either by adding *pseudocount* (default: half the smallest non-zero value of the
        table, on the table's own scale — 0.5 for counts) or by multiplicative replacement
        (Martín-Fernández et al. 2003, via scikit-bio).
        """
        x = self.dense()
        if method == "multiplicative":
            from skbio.stats.composition import multi_replace

            totals = x.sum(axis=1, keepdims=True)
            if (totals <= 0).any():
                raise DesignError("CLR needs every sample to have a non-zero total; drop empty samples first.")
            z = np.asarray(multi_replace(x / totals))
        elif method == "pseudocount":
            if pseudocount is None:
                nz = x[x > 0]
                pseudocount = 0.5 if self.units == "counts" else (float(nz.min()) / 2 if nz.size else 1.0)
            z = x + pseudocount
        else:
            raise ValueError(f"unknown zero-replacement method {method!r}")
        logz = np.log(z)
        out = logz - logz.mean(axis=1, keepdims=True)
        return pd.DataFrame(out, index=self.sample_ids, columns=self.feature_ids)

    def rarefy(self, depth: int | None = None, *, rng: int | np.random.Generator | None = None) -> Cohort:
        """Subsample each sample's counts without replacement to *depth* (default: the smallest sample's).

        Samples with fewer than *depth* reads are dropped (recorded in history). Needs integer counts.
        """
        if self.units != "counts":
            raise DesignError(f"rarefaction needs counts, but this cohort holds {self.units}.")
        x = np.rint(self.dense()).astype(np.int64)
        totals = x.sum(axis=1)
        depth = int(totals.min()) if depth is None else int(depth)
        if depth <= 0:
            raise DesignError("rarefaction depth must be positive; drop empty samples first.")
        gen = np.random.default_rng(rng)
        keep = np.flatnonzero(totals >= depth)
        if keep.size == 0:
            raise DesignError(f"no sample has at least {depth} reads.")
        out = np.zeros((keep.size, x.shape[1]))
        for i, row in enumerate(keep):  # one vectorised draw per sample
            out[i] = gen.multivariate_hypergeometric(x[row], depth)
        sub = self._take_samples(keep)
        op = {"op": "rarefy", "depth": depth, "n_dropped": int(self.n_samples - keep.size)}
        return replace(sub, abundance=out, history=self.history + (op,))

    # ------------------------------------------------------------ metadata
    def with_metadata(self, metadata: pd.DataFrame) -> Cohort:
        """Replace the metadata by a frame with the same index (e.g. with a derived column)."""
        if not metadata.index.equals(self.metadata.index):
            raise SampleMismatchError("new metadata must have exactly the cohort's sample IDs, in order.")
        return replace(self, metadata=metadata)

    def to_anndata(self) -> Any:
        """An :class:`anndata.AnnData` view (needs the optional ``anndata`` package)."""
        import anndata  # optional

        return anndata.AnnData(X=self.abundance, obs=self.metadata.copy(), var=self.taxonomy.copy(),
                               uns={"units": self.units})

    @classmethod
    def from_anndata(cls, adata: Any, *, units: Units = "counts") -> Cohort:
        """Build a cohort from an :class:`anndata.AnnData` (``var`` holds the lineage ranks)."""
        return cls(adata.X, metadata=adata.obs.copy(), taxonomy=adata.var.copy(),
                   units=adata.uns.get("units", units))


def _validate_values(x: Any, samples: pd.Index, features: pd.Index, units: str) -> None:
    data = x.data if sparse.issparse(x) else x
    if not np.isfinite(data).all():
        bad = np.argwhere(~np.isfinite(x.toarray() if sparse.issparse(x) else x))[0]
        raise InputFormatError(
            f"abundance is NaN or infinite for sample {samples[bad[0]]!r}, feature {features[bad[1]]!r}.",
            hint="Fill missing abundances with 0 (absent) or remove the sample.",
        )
    if (data < 0).any():
        dense = x.toarray() if sparse.issparse(x) else x
        bad = np.argwhere(dense < 0)[0]
        raise InputFormatError(
            f"negative abundance {dense[bad[0], bad[1]]:g} for sample {samples[bad[0]]!r}, "
            f"feature {features[bad[1]]!r}.",
            hint="Abundances must be counts or relative abundances ≥ 0 (not log or CLR values).",
        )
    if units in _TOTAL:
        totals = np.asarray(x.sum(axis=1)).ravel()
        limit = _TOTAL[units] * (1 + _SUM_TOLERANCE)
        if (totals > limit).any():
            i = int(np.argmax(totals))
            other = "percent" if units == "fraction" else "counts"
            raise InputFormatError(
                f"sample {samples[i]!r} sums to {totals[i]:g}, more than {_TOTAL[units]:g} as units={units!r} implies.",
                hint=f"Declare the right units (e.g. {other!r}), or check that the table holds one taxonomic rank "
                     "only (a MetaPhlAn table with every clade level sums to several hundred percent).",
            )


def ids_of(values: Sequence[Any]) -> list[str]:
    """Sample or feature IDs as strings."""
    return [str(v) for v in values]
