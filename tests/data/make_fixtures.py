"""Regenerate the small fixtures cut from ../shared/data (run from the repository root:
``python tests/data/make_fixtures.py``). Every cut is deterministic; see README.md for what each file is."""

from __future__ import annotations

import bz2
import csv
import datetime
import gzip
import subprocess
import zipfile
from pathlib import Path

import biom
import h5py
import pandas as pd

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "data"
UUID = "3a0c4d4b-9c2e-4e8f-a0f1-5b2d7c6e9f10"


def metaml_cut() -> None:
    """211 metadata rows + the first 69 clade rows; H10, H11 and MH0002/MH0003 of three datasets."""
    cmd = f"bzcat {SHARED}/ibd/metaml/abundance.txt.bz2 | sed -n '1,280p' | cut -f1,2,3,40,41,1810,1811,1920"
    text = subprocess.run(["bash", "-c", cmd], capture_output=True, check=True).stdout
    (HERE / "metaml_cut.tsv.bz2").write_bytes(bz2.compress(text))


def sokol_biom_and_qza() -> None:
    """12 taxa × 6 samples of the Morgan 2012 Greengenes taxa table, as BIOM 2.1 and as a QIIME 2 .qza."""
    with gzip.open(SHARED / "ibd/mlrepo/sokol_morgan2012/gg/taxatable.txt.gz", "rt") as fh:
        table = pd.read_csv(fh, sep="\t", index_col=0).iloc[:12, :6]
    lineages = [[p.strip() for p in ix.split(";")] for ix in table.index]
    t = biom.Table(table.to_numpy(dtype=float), list(table.index), list(table.columns),
                   observation_metadata=[{"taxonomy": lin} for lin in lineages])
    path = HERE / "sokol_gg_cut.biom"
    with h5py.File(path, "w") as handle:
        t.to_hdf5(handle, "gutlink tests/data/make_fixtures.py", compress=False,
                  creation_date=datetime.datetime(2024, 1, 1))
    yaml = f"uuid: {UUID}\ntype: FeatureTable[Frequency]\nformat: BIOMV210DirFmt\n"
    members = {f"{UUID}/VERSION": "QIIME 2\narchive: 5\nframework: 2023.9.0\n",
               f"{UUID}/metadata.yaml": yaml}
    with zipfile.ZipFile(HERE / "sokol_gg_cut.qza", "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in members.items():
            z.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), text)
        z.writestr(zipfile.ZipInfo(f"{UUID}/data/feature-table.biom", (2024, 1, 1, 0, 0, 0)), path.read_bytes())


def franzosa_cut() -> None:
    """8 species × 6 samples of Franzosa 2019 (fractions) and the lineage rows of 10 species."""
    out = HERE / "franzosa"
    out.mkdir(exist_ok=True)
    taxa = pd.read_csv(SHARED / "ibd/franzosa2019_prism/ibd_taxa.csv", dtype=str, keep_default_na=False)
    taxa.iloc[:8, :7].to_csv(out / "ibd_taxa.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    lin = pd.read_csv(SHARED / "ibd/franzosa2019_prism/ibd_lineages.csv", dtype=str, keep_default_na=False)
    lin.iloc[:10].to_csv(out / "ibd_lineages.csv", index=False)


def gmrepo_cut() -> None:
    """6 samples × 8 species (+ metadata columns) of the RA shotgun GMrepo table, with its name files."""
    src = SHARED / "multi/gmrepo_benchmark"
    out = HERE / "gmrepo"
    (out / "rawdata").mkdir(parents=True, exist_ok=True)
    with open(src / "rawdata/RA_Metagenomics_species.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    taxa = [i for i, h in enumerate(header) if h.startswith("ncbi_")][:8]
    meta = [i for i, h in enumerate(header) if not h.startswith("ncbi_")]
    keep = meta[:2] + taxa + meta[2:]
    picked = [rows[0]] + rows[1:4] + rows[-3:]
    with open(out / "rawdata/RA_Metagenomics_species.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(
            [[r[i] for i in keep] for r in picked])
    ids = {header[i][5:] for i in taxa}
    species = pd.read_csv(src / "species_id_names.csv", dtype=str)
    species[species.taxid.isin(ids)].to_csv(out / "species_id_names.csv", index=False)
    genera = {n.split()[0] for n in species[species.taxid.isin(ids)].taxname}
    genus = pd.read_csv(src / "genus_id_names.csv", dtype=str)
    genus[genus.taxname.isin(genera)].to_csv(out / "genus_id_names.csv", index=False)
    lines = (src / "genus_lineage.csv").read_text().splitlines()
    keep_g = set(genus[genus.taxname.isin(genera)].taxid)
    (out / "genus_lineage.csv").write_text("\n".join([lines[0]] + [ln for ln in lines[1:]
                                                                  if ln.split(",")[0] in keep_g]) + "\n")


if __name__ == "__main__":
    metaml_cut()
    sokol_biom_and_qza()
    franzosa_cut()
    gmrepo_cut()
    print("fixtures written to", HERE)
