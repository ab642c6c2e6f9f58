"""Proteomes for the mimicry scan: protein FASTA (plain or compressed) or nucleotide genomes (genes called by pyrodigal).

A :class:`Proteome` holds every protein of one genome encoded as ``uint8`` codes (see :mod:`.alphabet`),
concatenated with one :data:`~.alphabet.GAP` after each protein so that no window crosses two proteins.

Examples
--------
>>> p = Proteome.from_records("toy", [("p1", "MKVHFFKNIVT*"), ("p2", "ACDX")])
>>> p.n_proteins, p.n_residues, p.locate([3, 13])
(2, 15, (array([0, 1]), array([3, 1])))
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import InputFormatError
from ..io._compress import decompress
from .alphabet import ILLEGAL, LOOKUP

__all__ = ["Proteome", "SequenceKind", "proteome_paths", "read_proteome"]

SequenceKind = Literal["auto", "protein", "nucleotide"]
_SUFFIX = re.compile(r"(\.(gz|bz2|xz|zip|faa|fa|fasta|fna|ffn|fas|pep|prot|aa|txt|seq))+$", re.IGNORECASE)
_NUCLEOTIDE = frozenset(b"ACGTUNacgtun")
_FASTA_SUFFIXES = (".faa", ".fa", ".fasta", ".fna", ".ffn", ".fas", ".pep", ".aa")


@dataclass(frozen=True, eq=False)
class Proteome:
    """The proteins of one genome, encoded and concatenated.

    Attributes
    ----------
    name
        The proteome's name (by default the file name without extensions): the taxon key in burden tables.
    ids
        Protein IDs (first word of each FASTA header), unique within the proteome.
    codes
        ``uint8`` residue codes of all proteins, each followed by one GAP.
    starts
        Offset of each protein in ``codes``.
    path
        The file it was read from (``None`` when built in memory).
    genes_called
        Whether the proteins were predicted from a nucleotide genome with pyrodigal.
    """

    name: str
    ids: tuple[str, ...]
    codes: np.ndarray
    starts: np.ndarray
    path: str | None = None
    genes_called: bool = False

    @property
    def n_proteins(self) -> int:
        """Number of proteins."""
        return len(self.ids)

    @property
    def n_residues(self) -> int:
        """Number of residues (separators excluded)."""
        return int(self.codes.size - len(self.ids))

    @property
    def lengths(self) -> np.ndarray:
        """Length of each protein."""
        ends = np.append(self.starts[1:], self.codes.size) - 1
        return ends - self.starts

    def locate(self, offsets: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Protein index and 0-based position within it of offsets into ``codes``."""
        offsets = np.asarray(offsets, dtype=np.int64)
        idx = np.searchsorted(self.starts, offsets, side="right") - 1
        return idx, offsets - self.starts[idx]

    @classmethod
    def from_records(cls, name: str, records: Iterable[tuple[str, str | bytes]], *, path: str | None = None,
                     genes_called: bool = False) -> Proteome:
        """Build a proteome from ``(id, sequence)`` pairs (residue rules of :mod:`.alphabet` apply)."""
        pairs = [(str(i), s.encode("latin-1") if isinstance(s, str) else bytes(s)) for i, s in records]
        return _assemble(name, pairs, path, genes_called)


def _strip_stop(seq: bytes) -> bytes:
    return seq[:-1] if seq.endswith(b"*") else seq


def _assemble(name: str, pairs: list[tuple[str, bytes]], path: str | None, genes_called: bool) -> Proteome:
    ids = [pid for pid, _ in pairs]
    _check_unique(ids, path or name)
    seqs = [_strip_stop(seq) for _, seq in pairs]
    raw = b"".join(s + b"*" for s in seqs)  # '*' is the separator's byte: it encodes as GAP
    codes = LOOKUP[np.frombuffer(raw, dtype=np.uint8)]
    lengths = np.fromiter((len(s) + 1 for s in seqs), dtype=np.int64, count=len(seqs))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    bad = np.flatnonzero(codes == ILLEGAL)
    if bad.size:
        rec = int(np.searchsorted(starts, bad[0], side="right") - 1)
        pos = int(bad[0] - starts[rec])
        raise InputFormatError(
            f"record {ids[rec]!r} has {chr(seqs[rec][pos])!r} at residue {pos + 1}, which is not an amino acid.",
            path=path, hint="Allowed: the 20 amino acids, U, O, X, B, Z, J and '*' (any case); remove alignment "
                            "gaps and digits, or pass a nucleotide genome as such.")
    codes.setflags(write=False)
    starts.setflags(write=False)
    return Proteome(name, tuple(ids), codes, starts, path, genes_called)


def _check_unique(ids: list[str], where: str) -> None:
    seen: set[str] = set()
    dups = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
    if dups:
        raise InputFormatError(f"{len(dups)} duplicate record ID(s), e.g. {sorted(set(dups))[:5]}.", path=where,
                               hint="Each record's first word must be unique within a proteome.")


def _parse_fasta(data: bytes, path: str) -> list[tuple[str, bytes]]:
    text = data.lstrip()
    if not text.startswith(b">"):
        raise InputFormatError("not a FASTA file: the first non-blank character is not '>'.", path=path, line=1,
                               hint="Pass protein FASTA (.faa) or nucleotide FASTA (.fna), plain or compressed.")
    pairs = []
    for n, chunk in enumerate(text[1:].split(b"\n>")):
        header, _, body = chunk.partition(b"\n")
        words = header.split()
        if not words:
            raise InputFormatError(f"record {n + 1} has an empty header.", path=path, hint="Give every record an ID.")
        pairs.append((words[0].decode("utf-8", "replace"), body.translate(None, b" \t\r\n")))
    return pairs


def _is_nucleotide(pairs: list[tuple[str, bytes]]) -> bool:
    sample = b"".join(seq for _, seq in pairs[:200])[:200_000]
    return bool(sample) and sum(sample.count(bytes([c])) for c in _NUCLEOTIDE) >= 0.9 * len(sample)


def _call_genes(pairs: list[tuple[str, bytes]], path: str) -> list[tuple[str, bytes]]:
    try:
        import pyrodigal
    except ImportError as err:
        raise ImportError(f"{path} is a nucleotide genome; calling its genes needs pyrodigal: "
                          "pip install pyrodigal (or pass protein FASTA).") from err
    total = sum(len(seq) for _, seq in pairs)
    finder = pyrodigal.GeneFinder(meta=total < 100_000)
    if total >= 100_000:
        finder.train(*(seq for _, seq in pairs))
    proteins = []
    for contig, seq in pairs:
        for i, gene in enumerate(finder.find_genes(seq), start=1):
            proteins.append((f"{contig}_{i}", gene.translate(include_stop=False).encode()))
    return proteins


def proteome_name(path: str | Path) -> str:
    """A proteome's default name: its file name without compression and FASTA extensions.

    Examples
    --------
    >>> proteome_name("genomes/GCF_000001.1_ASM1.faa.gz")
    'GCF_000001.1_ASM1'
    """
    name = Path(path).name
    return _SUFFIX.sub("", name) or name


def read_proteome(path: str | Path, *, name: str | None = None, kind: SequenceKind = "auto") -> Proteome:
    """Read one proteome from a FASTA file (plain, gzip, bzip2, xz or zip, detected by magic bytes).

    Parameters
    ----------
    path
        Protein FASTA, or a nucleotide genome whose genes are called with pyrodigal (single mode when the genome
        has ≥ 100 kb, metagenomic mode below).
    name
        The proteome's name; default: the file name without extensions.
    kind
        ``"auto"`` reads a file whose residues are ≥ 90 % ``ACGTUN`` as nucleotide, anything else as protein.

    Returns
    -------
    Proteome

    Examples
    --------
    >>> import gzip, tempfile, os
    >>> d = tempfile.mkdtemp(); f = os.path.join(d, "g1.faa.gz")
    >>> with open(f, "wb") as fh:
    ...     _ = fh.write(gzip.compress(b">a desc\\nMKV\\nHFF*\\n>b\\nWW\\n"))
    >>> p = read_proteome(f)
    >>> p.name, p.ids, p.lengths.tolist()
    ('g1', ('a', 'b'), [6, 2])
    """
    path = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputFormatError("the proteome file does not exist.", path=path,
                               hint="Check the path (and the manifest that names it).") from None
    if not raw.strip():
        raise InputFormatError("the file is empty.", path=path, hint="Check that it was written completely.")
    data, _ = decompress(raw, path)
    pairs = _parse_fasta(data, path)
    nucleotide = kind == "nucleotide" or (kind == "auto" and _is_nucleotide(pairs))
    if nucleotide:
        pairs = _call_genes(pairs, path)
    return _assemble(name or proteome_name(path), pairs, path, nucleotide)


def proteome_paths(spec: str | Path | Sequence[str | Path]) -> list[Path]:
    """Expand a folder (its FASTA files, sorted) or a list of files into proteome paths.

    Examples
    --------
    >>> proteome_paths(["b.faa", "a.faa"])
    [PosixPath('b.faa'), PosixPath('a.faa')]
    """
    items = [spec] if isinstance(spec, (str, Path)) else list(spec)
    out: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and _is_fasta_name(p.name))
            if not found:
                raise InputFormatError("the folder holds no FASTA file.", path=str(item),
                                       hint=f"Proteome files end in one of {', '.join(_FASTA_SUFFIXES)} "
                                            "(optionally .gz/.bz2/.xz).")
            out.extend(found)
        else:
            out.append(item)
    return out


def _is_fasta_name(name: str) -> bool:
    base = re.sub(r"\.(gz|bz2|xz|zip)$", "", name.lower())
    return base.endswith(_FASTA_SUFFIXES)
