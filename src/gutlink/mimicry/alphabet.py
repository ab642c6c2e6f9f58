"""Amino-acid alphabet, residue rules and substitution matrices for the mimicry scan.

Residues are encoded as ``uint8`` codes 0–19 (``ACDEFGHIKLMNPQRSTVWY``) and one extra code, :data:`GAP`, for
everything that cannot take part in a match. The rules, applied to proteomes and epitopes alike:

- lower case is read as upper case (soft-masked sequence is still sequence);
- ``U`` (selenocysteine) is scored as ``C``, ``O`` (pyrrolysine) as ``K``;
- ``X``, ``B``, ``Z``, ``J`` (unknown or ambiguous) and an internal ``*`` (stop) become :data:`GAP`: a window that
  contains one is never reported (it is counted as skipped); one trailing ``*`` per record is dropped;
- any other character (digits, ``-``, ``.``, punctuation) is an error naming the record and position.

Examples
--------
>>> encode("vhFFKNIVT").tolist()
[17, 6, 4, 4, 8, 11, 7, 17, 16]
>>> int(substitution_matrix("BLOSUM62")[encode("W")[0], encode("W")[0]])
11
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import InputFormatError

__all__ = ["AMINO_ACIDS", "GAP", "ILLEGAL", "LOOKUP", "N_CODES", "decode", "encode", "substitution_matrix"]

#: The 20 standard amino acids, in code order.
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: Code of residues that never match (X, B, Z, J, internal stop) and of the separator between proteins.
GAP = 20
#: Number of codes (20 amino acids + GAP).
N_CODES = 21
#: Marks a byte that is not allowed in a protein sequence.
ILLEGAL = 255


def _lookup() -> np.ndarray:
    table = np.full(256, ILLEGAL, dtype=np.uint8)
    for code, aa in enumerate(AMINO_ACIDS):
        table[ord(aa)] = table[ord(aa.lower())] = code
    for aa, same in (("U", "C"), ("O", "K")):
        table[ord(aa)] = table[ord(aa.lower())] = AMINO_ACIDS.index(same)
    for aa in "XBZJ*":
        table[ord(aa)] = table[ord(aa.lower())] = GAP
    return table


#: Byte → code table (256 entries; :data:`ILLEGAL` for characters that are not allowed).
LOOKUP = _lookup()


def encode(sequence: str | bytes, *, name: str = "sequence", path: str | None = None) -> np.ndarray:
    """Encode one sequence as ``uint8`` codes, applying the residue rules of this module.

    Parameters
    ----------
    sequence
        Residues (whitespace is not allowed here; readers strip line breaks first).
    name
        The record's name, for the error message.
    path
        The file, for the error message.

    Returns
    -------
    numpy.ndarray
        One code per residue.

    Examples
    --------
    >>> encode("AXU*").tolist()
    [0, 20, 1, 20]
    """
    raw = sequence.encode("latin-1") if isinstance(sequence, str) else bytes(sequence)
    codes = LOOKUP[np.frombuffer(raw, dtype=np.uint8)]
    bad = np.flatnonzero(codes == ILLEGAL)
    if bad.size:
        pos = int(bad[0])
        raise InputFormatError(
            f"record {name!r} has {chr(raw[pos])!r} at residue {pos + 1}, which is not an amino acid.",
            path=path, hint="Allowed: the 20 amino acids, U, O, X, B, Z, J and '*' (any case); remove gaps and digits.")
    return codes


def decode(codes: np.ndarray) -> str:
    """Decode ``uint8`` codes back to letters (:data:`GAP` becomes ``X``).

    Examples
    --------
    >>> decode(encode("ACDX"))
    'ACDX'
    """
    letters = np.frombuffer((AMINO_ACIDS + "X").encode(), dtype=np.uint8)
    return letters[np.asarray(codes, dtype=np.intp)].tobytes().decode()


@lru_cache(maxsize=32)
def _load_biopython(name: str) -> np.ndarray:
    try:
        from Bio.Align import substitution_matrices
    except ImportError as err:  # pragma: no cover - biopython is a dependency
        raise ImportError("substitution matrices need Biopython: pip install biopython") from err
    known = substitution_matrices.load()
    if name.upper() not in {k.upper() for k in known}:
        raise InputFormatError(f"unknown substitution matrix {name!r}.",
                               hint=f"Choose one of Biopython's: {', '.join(sorted(known))}.")
    matrix = substitution_matrices.load(next(k for k in known if k.upper() == name.upper()))
    alphabet = matrix.alphabet
    missing = [aa for aa in AMINO_ACIDS if aa not in alphabet]
    if missing:
        raise InputFormatError(f"substitution matrix {name!r} is not a protein matrix (it lacks {missing}).",
                               hint="Use a protein matrix such as BLOSUM62, BLOSUM50 or PAM30.")
    idx = [alphabet.index(aa) for aa in AMINO_ACIDS]
    return np.asarray(matrix, dtype=float)[np.ix_(idx, idx)]


def substitution_matrix(matrix: str | np.ndarray = "BLOSUM62") -> np.ndarray:
    """A 20 × 20 substitution matrix in :data:`AMINO_ACIDS` order.

    Parameters
    ----------
    matrix
        A Biopython matrix name (``"BLOSUM62"``, ``"PAM30"``, …; case-insensitive) or a 20 × 20 array already in
        :data:`AMINO_ACIDS` order.

    Returns
    -------
    numpy.ndarray
        ``float64`` scores (a read-only copy).

    Examples
    --------
    >>> m = substitution_matrix("blosum62")
    >>> m.shape, int(m[0, 0])
    ((20, 20), 4)
    """
    if isinstance(matrix, str):
        out = _load_biopython(matrix).copy()
    else:
        out = np.array(matrix, dtype=float)
        if out.shape != (20, 20) or not np.isfinite(out).all():
            raise InputFormatError(f"a substitution matrix must be a finite 20 × 20 array, got shape {out.shape}.",
                                   hint=f"Order rows and columns as {AMINO_ACIDS}.")
    out.setflags(write=False)
    return out
