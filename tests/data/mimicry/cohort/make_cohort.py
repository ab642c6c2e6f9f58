"""Regenerate the small real-derived cohort used by ``tests/test_cli_mimicry.py`` (run from the repository root).

Abundances and metadata: 20 samples (the first 10 CD and 10 Control PRISM sample IDs in sorted order) × the 8
species with the highest mean relative abundance in the bundled Franzosa et al. 2019 cohort
(``gutlink.datasets.franzosa2019``, BSD-2), values unchanged. Proteomes: consecutive blocks of 30 real proteins of the
pyhmmer test proteome ``938293.PRJEB85.HG003687.faa.gz`` (one block per file); known epitope mimics are planted at
residue 21 of a few proteins (listed in ``PLANTED``) so the burden has a hand-checkable answer. Four species are
mapped to proteomes (one of them to two files, as strains); the other four are unmapped.

    python tests/data/mimicry/cohort/make_cohort.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gutlink.datasets import franzosa2019
from gutlink.mimicry import read_proteome
from gutlink.mimicry.alphabet import AMINO_ACIDS

HERE = Path(__file__).parent
REAL = HERE.parent / "938293.PRJEB85.HG003687.faa.gz"
BLOCK = 30
#: proteome file → [(protein index within its block, planted peptide)]: the MBP 85-99 core (self-score 48), the
#: iMSMS MOG mimic IHLYKNGKD (47 vs VHLYRNGKD) and the P. distasonis hprt4-18 insulin mimic.
PLANTED = {"Eubacterium_rectale": [(0, "VHFFKNIVT"), (3, "VHFFKNIVT"), (5, "IHLYKNGKD")],
           "Ruminococcus_gnavus": [(1, "RILVELLYLVCSEYL")],
           "Escherichia_coli_strainA": [(2, "IHLYKNGKD")],
           "Escherichia_coli_strainB": [],
           "Faecalibacterium_prausnitzii": []}
MANIFEST = [("Eubacterium_rectale", "Eubacterium_rectale"), ("Ruminococcus_gnavus", "Ruminococcus_gnavus"),
            ("Escherichia_coli", "Escherichia_coli_strainA"), ("Escherichia_coli", "Escherichia_coli_strainB"),
            ("Faecalibacterium_prausnitzii", "Faecalibacterium_prausnitzii")]


def _cohort() -> None:
    c = franzosa2019()
    meta = c.metadata
    samples = sorted(meta.index[meta["Diagnosis"] == "CD"])[:10] + sorted(meta.index[meta["Diagnosis"] == "Control"])[:10]
    top = np.argsort(-c.relative().mean(axis=0), kind="stable")[:8]
    sub = c.subset(samples=np.isin(c.sample_ids, samples))
    x = np.asarray(sub.abundance.todense() if hasattr(sub.abundance, "todense") else sub.abundance)[:, top]
    table = pd.DataFrame(x.T, index=pd.Index(c.feature_ids[top], name="id"), columns=sub.sample_ids)
    table.to_csv(HERE / "abundance.tsv", sep="\t", float_format="%.7g")
    sub.metadata[["Diagnosis", "Age"]].rename_axis("sample_id").to_csv(HERE / "metadata.tsv", sep="\t")


def _proteomes() -> None:
    real = read_proteome(REAL)
    letters = np.array(list(AMINO_ACIDS + "X"))
    (HERE / "proteomes").mkdir(exist_ok=True)
    for b, (name, plants) in enumerate(PLANTED.items()):
        records = []
        for j in range(BLOCK):
            i = b * BLOCK + j
            seq = "".join(letters[real.codes[real.starts[i]:real.starts[i] + real.lengths[i]]])
            for where, peptide in plants:
                if where == j:
                    seq = seq[:20] + peptide + seq[20 + len(peptide):]
            records.append(f">{name}_{real.ids[i]}\n{seq}\n")
        (HERE / "proteomes" / f"{name}.faa").write_text("".join(records))
    rows = "".join(f"{taxon}\tproteomes/{file}.faa\n" for taxon, file in MANIFEST)
    (HERE / "manifest.tsv").write_text("taxon\tproteome\n" + rows)


if __name__ == "__main__":
    _cohort()
    _proteomes()
