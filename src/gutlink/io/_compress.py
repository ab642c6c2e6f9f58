"""Decompress input by its magic bytes, never by its file name.

gzip, bzip2, xz and single-member zip archives are opened transparently; a truncated or corrupt stream
becomes an :class:`~gutlink.errors.InputFormatError` that names the file.

Examples
--------
>>> import gzip
>>> sniff(gzip.compress(b"hello"))
'gzip'
>>> decompress(gzip.compress(b"hello"), "x.gz")
(b'hello', 'gzip')
>>> decompress(b"plain text", "x.txt")
(b'plain text', None)
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
import zlib

from ..errors import InputFormatError

__all__ = ["HDF5_MAGIC", "sniff", "decompress", "is_zip", "is_qza"]

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty zip archive
)
_TOOL = {"gzip": "gzip -t", "bz2": "bzip2 -t", "xz": "xz -t", "zip": "unzip -t"}


def sniff(data: bytes) -> str | None:
    """The compression of *data* from its first bytes: ``'gzip'``, ``'bz2'``, ``'xz'``, ``'zip'`` or ``None``."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return None


def is_zip(data: bytes) -> bool:
    """Whether *data* is a zip archive (also a QIIME 2 ``.qza``)."""
    return sniff(data) == "zip"


def is_qza(data: bytes) -> bool:
    """Whether *data* is a QIIME 2 artifact: a zip with ``<uuid>/metadata.yaml`` at its top level."""
    if not is_zip(data):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.count("/") == 1 and n.endswith("/metadata.yaml") for n in names)


def _corrupt(kind: str, path: str, exc: BaseException) -> InputFormatError:
    return InputFormatError(
        f"the {kind} stream is truncated or corrupt ({exc}).",
        path=path,
        hint=f"Re-download or re-create the file; `{_TOOL[kind]} {path}` checks it.",
    )


def _unzip_single(data: bytes, path: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/")]
            if len(members) != 1:
                names = [m.filename for m in members[:5]]
                raise InputFormatError(
                    f"the zip archive holds {len(members)} files {names}, expected exactly one table.",
                    path=path,
                    hint="Unzip it and read the table you mean, or pass a QIIME 2 .qza artifact.",
                )
            return archive.read(members[0])
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise _corrupt("zip", path, exc) from None


def decompress(data: bytes, path: str) -> tuple[bytes, str | None]:
    """Return ``(content, compression)``: *data* decompressed once, or unchanged when not compressed.

    Parameters
    ----------
    data
        The raw bytes of a file.
    path
        The file's name, for error messages.

    Returns
    -------
    tuple
        The decompressed bytes and the compression found (``None`` for plain input).
    """
    kind = sniff(data)
    if kind is None:
        return data, None
    if kind == "zip":
        return _unzip_single(data, path), kind
    opener = {"gzip": gzip.decompress, "bz2": bz2.decompress, "xz": lzma.decompress}[kind]
    try:
        return opener(data), kind
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise _corrupt(kind, path, exc) from None
