"""The epitope catalogue shipped with gutlink, and user epitopes from TSV/CSV or FASTA.

Every catalogue row names its disease, autoantigen, UniProt accession, residue range, sequence, 9-residue binding
core (where known), HLA restriction, evidence, the source it was checked against (``citation``, ``doi``,
``source_url``) and where exactly its sequence was read (``verified_from``); ``data/README.md`` lists the epitopes
still wanted. Rows of ``kind == "microbial_mimic"`` are published microbial peptides that mimic a catalogue
epitope (``mimic_of``): positive controls, left out of scans unless asked for.

Examples
--------
>>> ms = load_epitopes("builtin:MS")
>>> "VHFFKNIVT" in set(ms["core"])
True
>>> load_epitopes("builtin:MS,T1D")["disease"].unique().tolist()
['MS', 'T1D']
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from ..errors import InputFormatError
from .alphabet import encode
from .proteome import _parse_fasta

__all__ = ["COLUMNS", "catalogue", "load_epitopes"]

#: Columns of an epitope table (user tables need only ``epitope_id`` and ``sequence``).
COLUMNS = ["epitope_id", "kind", "disease", "antigen", "gene", "uniprot", "start", "end", "sequence", "core", "hla",
           "evidence", "mimic_of", "citation", "doi", "source_url", "verified_from", "note"]


def catalogue() -> pd.DataFrame:
    """The full shipped catalogue (autoantigen epitopes and published microbial mimics).

    Examples
    --------
    >>> cat = catalogue()
    >>> bool(cat["citation"].str.len().gt(0).all())
    True
    """
    with resources.files(__package__).joinpath("data/epitopes.tsv").open("rb") as fh:
        table = pd.read_csv(fh, sep="\t", dtype=str, keep_default_na=False, comment="#")
    return _validate(table, "builtin catalogue")


def _validate(table: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in ("epitope_id", "sequence") if c not in table.columns]
    if missing:
        raise InputFormatError(f"the epitope table lacks column(s) {missing}.", path=where,
                               hint="An epitope table needs at least 'epitope_id' and 'sequence' columns.")
    table = table.copy()
    for col in COLUMNS:
        if col not in table.columns:
            table[col] = "autoantigen" if col == "kind" else ""
    table = table.fillna("").astype(str)
    table["sequence"] = table["sequence"].str.strip().str.upper()
    table["core"] = table["core"].str.strip().str.upper()
    dups = table["epitope_id"][table["epitope_id"].duplicated()].unique().tolist()
    if dups:
        raise InputFormatError(f"duplicate epitope ID(s) {dups[:5]}.", path=where, hint="Epitope IDs must be unique.")
    for row in table.itertuples(index=False):
        _check_row(row, where)
    return table[COLUMNS + [c for c in table.columns if c not in COLUMNS]].reset_index(drop=True)


def _check_row(row: object, where: str) -> None:
    eid, seq, core = row.epitope_id, row.sequence, row.core  # type: ignore[attr-defined]
    if not seq:
        raise InputFormatError(f"epitope {eid!r} has no sequence.", path=where, hint="Fill in its 'sequence'.")
    encode(seq, name=str(eid), path=where)
    if core:
        encode(core, name=f"{eid} core", path=where)
        if core not in seq:
            raise InputFormatError(f"epitope {eid!r}: core {core!r} does not occur in its sequence {seq!r}.",
                                   path=where, hint="The core must be a substring of the sequence.")


def _read_user(path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise InputFormatError("the epitope file does not exist.", path=path,
                               hint="Pass builtin:DISEASE (e.g. builtin:MS, builtin:all) or a TSV/CSV/FASTA file.")
    head = p.read_bytes()[:1].strip()
    if head == b">":
        return _from_fasta(p.read_bytes(), path)
    sep = "," if p.suffix.lower() == ".csv" else "\t"
    return pd.read_csv(p, sep=sep, dtype=str, keep_default_na=False, comment="#")


def _from_fasta(data: bytes, path: str) -> pd.DataFrame:
    rows = []
    for name, seq in _parse_fasta(data, path):
        header = next(line for line in data.decode("utf-8", "replace").splitlines()
                      if line.startswith(">") and line[1:].split()[0] == name)
        fields = dict(w.split("=", 1) for w in header[1:].split()[1:] if "=" in w)
        rows.append({"epitope_id": name, "sequence": seq.decode("latin-1"), "disease": fields.get("disease", ""),
                     "antigen": fields.get("antigen", ""), "core": fields.get("core", ""),
                     "kind": "autoantigen", "citation": fields.get("citation", "user")})
    return pd.DataFrame(rows)


def load_epitopes(spec: str | Path | pd.DataFrame = "builtin:all", *, include_mimics: bool = False) -> pd.DataFrame:
    """Epitopes to scan for: the shipped catalogue, a subset by disease, or a user table.

    Parameters
    ----------
    spec
        ``"builtin:all"``, ``"builtin:MS"`` or ``"builtin:MS,T1D"`` (diseases, case-insensitive); a TSV/CSV file
        with at least ``epitope_id`` and ``sequence`` columns (optional: the other :data:`COLUMNS`); a FASTA
        file whose headers may carry ``disease=``, ``antigen=``, ``core=`` words; or a DataFrame.
    include_mimics
        Also return catalogue rows of kind ``microbial_mimic`` (published microbial mimics, positive controls).

    Returns
    -------
    pandas.DataFrame
        One row per epitope, with every column of :data:`COLUMNS`.

    Examples
    --------
    >>> load_epitopes("builtin:t1d").set_index("epitope_id").loc["T1D_INS_B9-23", "sequence"]
    'SHLVEALYLVCGERG'
    """
    if isinstance(spec, pd.DataFrame):
        table = _validate(spec, "epitope table")
    elif str(spec).lower().startswith("builtin:"):
        table = _builtin(str(spec).split(":", 1)[1])
    else:
        table = _validate(_read_user(str(spec)), str(spec))
    if not include_mimics:
        table = table[table["kind"] != "microbial_mimic"]
    if table.empty:
        raise InputFormatError(f"no epitope selected by {spec!r}.", hint="Check the disease names or the file.")
    return table.reset_index(drop=True)


def _builtin(which: str) -> pd.DataFrame:
    table = catalogue()
    wanted = {w.strip().lower() for w in which.split(",") if w.strip()}
    if "all" in wanted:
        return table
    known = set(table["disease"].str.lower())
    unknown = sorted(wanted - known)
    if unknown:
        raise InputFormatError(f"the builtin catalogue has no disease {unknown}.",
                               hint=f"Choose from: {', '.join(sorted(set(table['disease'])))} or 'all'.")
    return table[table["disease"].str.lower().isin(wanted)]
