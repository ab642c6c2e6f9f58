"""Small real datasets bundled with gutlink (loaded with :mod:`importlib.resources`, never downloaded).

Examples
--------
>>> c = franzosa2019()
>>> c.n_samples, c.n_features, c.units
(155, 201, 'fraction')
>>> c.metadata["Diagnosis"].value_counts().to_dict()
{'CD': 68, 'UC': 53, 'Control': 34}
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from ..cohort import Cohort
from ..taxonomy import RANKS, lineage_table

__all__ = ["franzosa2019", "toy", "citation"]


def _open(folder: str, name: str):  # noqa: ANN202 - a text handle
    return resources.files(__package__).joinpath(folder, name).open("r", encoding="utf-8")


def citation(name: str) -> str:
    """The citation and provenance text of a bundled dataset (``'franzosa2019'`` or ``'toy'``)."""
    with _open(name, "CITATION.md") as fh:
        return fh.read()


def franzosa2019() -> Cohort:
    """The PRISM IBD cohort of Franzosa et al. 2019 (MetaPhlAn2 species, fractions, with metadata).

    155 stool samples: 68 Crohn's disease, 53 ulcerative colitis, 34 controls. BSD-2 licence; see
    :func:`citation`.
    """
    with _open("franzosa2019", "ibd_taxa.csv") as fh:
        taxa = pd.read_csv(fh, index_col=0)
    with _open("franzosa2019", "ibd_lineages.csv") as fh:
        lineages = pd.read_csv(fh, index_col=0)
    with _open("franzosa2019", "ibd_metadata.csv") as fh:
        meta = pd.read_csv(fh, index_col=0)
    lineages.columns = [c.lower() for c in lineages.columns]
    taxonomy = lineages.reindex(taxa.index).reindex(columns=list(RANKS))
    taxonomy = taxonomy.astype(object).where(taxonomy.notna(), None)
    meta = meta.reindex(taxa.columns)
    history = ({"op": "read", "source": "gutlink.datasets.franzosa2019"},)
    return Cohort(taxa.T.to_numpy(dtype=float), metadata=meta, taxonomy=taxonomy, units="fraction", history=history)


def toy() -> Cohort:
    """19 infant stool samples × 30 genera of 16S read counts (DIABIMMUNE T1D; 11 cases, 8 controls).

    Small enough for examples; real enough to behave like data. MIT licence; see :func:`citation`.
    """
    with _open("toy", "counts.tsv") as fh:
        counts = pd.read_csv(fh, sep="\t", index_col=0)
    with _open("toy", "metadata.tsv") as fh:
        meta = pd.read_csv(fh, sep="\t", index_col=0)
    taxonomy = lineage_table(counts.index)
    history = ({"op": "read", "source": "gutlink.datasets.toy"},)
    return Cohort(counts.T.to_numpy(dtype=float), metadata=meta.reindex(counts.columns), taxonomy=taxonomy,
                  units="counts", history=history)
