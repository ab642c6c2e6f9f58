"""Build gutlink's bundled copy of BugSigDB (genus level, NCBI taxids) from ``../shared/data/bugsigdb``.

Run from the repository root::

    python scripts/build_bugsigdb.py [--source ../shared/data/bugsigdb] [--out src/gutlink/literature/data]

BugSigDB (https://bugsigdb.org; Geistlinger et al., medRxiv doi:10.1101/2022.10.24.22281483; data DOI
10.5281/zenodo.5606165) is licensed CC BY 4.0. The bundled files are an adaptation of its 2025-08-05
genus-level NCBI export (``bugsigdb_signatures_genus_ncbi.gmt``), reduced to the columns gutlink uses.
Writes (the same inputs always give the same bytes; gzip without a time stamp):

``signatures.tsv.gz``
    One row per signature: ``bsdb_id, study, pmid, condition, group1, group0, direction, n_taxa, taxids``
    (``direction`` UP / DOWN in group 1 against group 0, or NA; ``taxids`` ``;``-separated genus taxids;
    ``condition`` the comma-joined BugSigDB condition labels, hyphenated as in the export).
``genera.tsv.gz``
    ``ncbi_taxid, genus_name, n_entries``: the genus names of 1,466 of the 1,469 taxids (3 stay unnamed).
``provenance.json``
    Version, export stamp, licence and citation, input files with sha256, counts.
``NOTICE.md``
    The CC BY 4.0 attribution and what was changed.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
from pathlib import Path

import pandas as pd

VERSION = "2025.08.05-1"
ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "bugsigdb"
OUT = ROOT / "src" / "gutlink" / "literature" / "data"
EXPORT = "2025-08-05"
LICENCE = "CC BY 4.0 (Creative Commons Attribution 4.0 International)"
CITATION = ("Geistlinger L. et al. BugSigDB captures patterns of differential abundance across a broad range of "
            "host-associated microbial signatures. medRxiv doi:10.1101/2022.10.24.22281483; data: BugSigDB "
            "(https://bugsigdb.org), Zenodo doi:10.5281/zenodo.5606165")
COLUMNS = ["bsdb_id", "study", "pmid", "condition", "group1", "group0", "direction", "n_taxa", "taxids"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _gzip_tsv(frame: pd.DataFrame, path: Path) -> None:
    text = frame.to_csv(sep="\t", index=False, lineterminator="\n")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as fh:
        fh.write(text.encode("utf-8"))
    path.write_bytes(buf.getvalue())


def signatures(source: Path) -> pd.DataFrame:
    """The flat signature table, checked against the GMT it was made from."""
    flat = pd.read_csv(source / "bugsigdb_signatures_genus_ncbi.tsv", sep="\t", dtype=str, keep_default_na=False)
    gmt = [line.rstrip("\n").split("\t") for line in
           (source / "bugsigdb_signatures_genus_ncbi.gmt").read_text(encoding="utf-8").splitlines()[1:]]
    by_name = {row[0]: ";".join(row[2:]) for row in gmt}
    if len(by_name) != len(flat) or any(by_name[n] != t for n, t in zip(flat["gmt_name"], flat["genus_ncbi_taxids"])):
        raise SystemExit("the flat TSV does not match the GMT it claims to come from")
    out = pd.DataFrame({
        "bsdb_id": flat["bsdb_id"], "study": flat["study"], "pmid": flat["pmid_inferred"],
        "condition": flat["condition"], "group1": flat["group1"], "group0": flat["group0"],
        "direction": flat["direction_gmt"], "n_taxa": flat["n_taxa"].astype(int), "taxids": flat["genus_ncbi_taxids"],
    })
    return out[COLUMNS]


def genera(source: Path, sigs: pd.DataFrame) -> pd.DataFrame:
    """Taxid → genus name (every taxid of the signatures; name empty where the export gives none)."""
    names = pd.read_csv(source / "genus_taxid_names.tsv", sep="\t", dtype={"ncbi_taxid": int, "genus_name": str})
    used = sorted({int(t) for ids in sigs["taxids"] for t in ids.split(";") if t})
    table = pd.DataFrame({"ncbi_taxid": used}).merge(names, on="ncbi_taxid", how="left")
    counts = pd.Series([int(t) for ids in sigs["taxids"] for t in ids.split(";")]).value_counts()
    table["n_entries"] = counts.reindex(table["ncbi_taxid"]).fillna(0).astype(int).to_numpy()
    table["genus_name"] = table["genus_name"].fillna("")
    return table[["ncbi_taxid", "genus_name", "n_entries"]]


NOTICE = """# BugSigDB (bundled adaptation)

The files in this folder are adapted from BugSigDB (https://bugsigdb.org), export of {export}
(`waldronlab/BugSigDBExports`, file `bugsigdb_signatures_genus_ncbi.gmt`, commit
0004e7136219fb54a98d180d5c6066be6b3858f6), licensed under the Creative Commons Attribution 4.0 International
licence (CC BY 4.0, https://creativecommons.org/licenses/by/4.0/).

Cite: {citation}.

Changes made: the GMT signature names were split into study, condition, groups and direction; only those
columns and the genus taxids are kept; genus names were added from the sister export with genus names
(aligned line by line). Built by `scripts/build_bugsigdb.py` (version {version}). No body site is in this
export: some signatures come from oral, skin or biopsy samples.
"""


def main(argv: list[str] | None = None) -> None:
    """Build the bundled files."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    header = (args.source / "bugsigdb_signatures_genus_ncbi.gmt").read_text(encoding="utf-8").split("\n", 1)[0]
    if EXPORT not in header or "Creative Commons Attribution 4.0" not in header:
        raise SystemExit(f"unexpected export header: {header!r}")
    sigs = signatures(args.source)
    names = genera(args.source, sigs)
    args.out.mkdir(parents=True, exist_ok=True)
    _gzip_tsv(sigs, args.out / "signatures.tsv.gz")
    _gzip_tsv(names, args.out / "genera.tsv.gz")
    inputs = ["bugsigdb_signatures_genus_ncbi.gmt", "bugsigdb_signatures_genus_ncbi.tsv", "genus_taxid_names.tsv"]
    provenance = {
        "version": VERSION, "export": EXPORT, "export_header": header, "licence": LICENCE, "citation": CITATION,
        "url": "https://bugsigdb.org", "builder": "scripts/build_bugsigdb.py",
        "inputs": {name: _sha256(args.source / name) for name in inputs},
        "counts": {"signatures": len(sigs), "studies": int(sigs["study"].nunique()),
                   "taxids": len(names), "named_taxids": int((names["genus_name"] != "").sum()),
                   "directions": {k: int(v) for k, v in sigs["direction"].value_counts().sort_index().items()}},
    }
    (args.out / "provenance.json").write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    (args.out / "NOTICE.md").write_text(NOTICE.format(export=EXPORT, citation=CITATION, version=VERSION),
                                        encoding="utf-8")
    print(f"{len(sigs)} signatures from {provenance['counts']['studies']} studies, {len(names)} genus taxids "
          f"-> {args.out}")


if __name__ == "__main__":
    main()
