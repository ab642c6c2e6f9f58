"""Decompress input by its magic bytes, never by its file name, with a cap on the decompressed size.

gzip, bzip2, xz and single-member zip archives are opened transparently and read in chunks, so a
decompression bomb stops at ``max_input`` bytes (:data:`MAX_INPUT` by default) with an
:class:`~gutlink.errors.InputFormatError` instead of filling memory; a truncated or corrupt stream
becomes an error that names the file.

Examples
--------
>>> import gzip
>>> sniff(gzip.compress(b"hello"))
'gzip'
>>> decompress(gzip.compress(b"hello"), "x.gz")
(b'hello', 'gzip')
>>> decompress(b"plain text", "x.txt")
(b'plain text', None)
>>> decompress(gzip.compress(b"0" * 5000), "bomb.gz", max_input=1000)
Traceback (most recent call last):
...
gutlink.errors.InputFormatError: bomb.gz: the gzip stream decompresses to more than 1000 bytes (max_input). ...
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
import zlib
from typing import IO, Any

from ..errors import InputFormatError, printable

__all__ = ["HDF5_MAGIC", "MAX_INPUT", "ZIP_ERRORS", "sniff", "decompress", "is_zip", "is_qza", "read_limited",
           "too_large", "clean", "zip_members", "open_member"]

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: Default cap on an input's size once decompressed (bytes): 20 GiB.
MAX_INPUT = 20 * 2**30
_CHUNK = 1 << 22  # 4 MiB
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty zip archive
)
_TOOL = {"gzip": "gzip -t", "bz2": "bzip2 -t", "xz": "xz -t", "zip": "unzip -t"}
_OPENERS: dict[str, Any] = {"gzip": lambda f: gzip.GzipFile(fileobj=f), "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}
_STREAM_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError)
clean = printable  # the io layer's name for it
#: What :mod:`zipfile` raises on a corrupt archive: besides BadZipFile, a bad offset is a ValueError ("negative seek
#: value"), a bad stream a zlib.error, an unknown method or version a NotImplementedError.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, ValueError, RuntimeError,
              lzma.LZMAError)


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
    except ZIP_ERRORS:
        return False
    return any(n.count("/") == 1 and n.endswith("/metadata.yaml") for n in names)


def too_large(path: str, what: str, max_input: int) -> InputFormatError:
    """The error for input beyond *max_input* bytes, naming the option that raises the cap."""
    return InputFormatError(
        f"{what} more than {max_input} bytes (max_input).",
        path=clean(path),
        hint="It may be a decompression bomb; if the table really is that large, raise the cap with max_input= "
             "(CLI --max-input) to a number of bytes above its uncompressed size.",
    )


def read_limited(handle: IO[bytes], max_input: int, path: str, what: str) -> bytes:
    """Read *handle* to its end in chunks, refusing to hold more than *max_input* bytes."""
    parts: list[bytes] = []
    total = 0
    while True:
        chunk = handle.read(min(_CHUNK, max_input + 1 - total))
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        total += len(chunk)
        if total > max_input:
            raise too_large(path, what, max_input)


def _corrupt(kind: str, path: str, exc: BaseException) -> InputFormatError:
    return InputFormatError(
        f"the {kind} stream is truncated or corrupt ({clean(str(exc))}).",
        path=clean(path),
        hint=f"Re-download or re-create the file; `{_TOOL[kind]} FILE` checks it.",
    )


def zip_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The archive's files (not folders, not macOS resource forks); a member with an empty name is skipped
    (``ZipInfo.is_dir`` fails on it)."""
    return [m for m in archive.infolist()
            if m.filename and not m.filename.endswith("/") and not m.filename.startswith("__MACOSX/")]


def open_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo | str, path: str) -> IO[bytes]:
    """Open one member for reading; an encrypted member is an error (gutlink takes no passwords)."""
    info = archive.getinfo(member) if isinstance(member, str) else member
    if info.flag_bits & 0x1:
        raise InputFormatError(f"the zip member {clean(info.filename)!r} is encrypted (password-protected).",
                               path=clean(path), hint="Unzip it with its password and pass the table itself.")
    return archive.open(info)


def _unzip_single(data: bytes, path: str, max_input: int) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = zip_members(archive)
            if len(members) != 1:
                names = [clean(m.filename) for m in members[:5]]
                raise InputFormatError(
                    f"the zip archive holds {len(members)} files {names}, expected exactly one table.",
                    path=clean(path),
                    hint="Unzip it and read the table you mean, or pass a QIIME 2 .qza artifact.",
                )
            with open_member(archive, members[0], path) as handle:
                return read_limited(handle, max_input, path, "the zip member decompresses to")
    except InputFormatError:
        raise
    except ZIP_ERRORS as exc:
        raise _corrupt("zip", path, exc) from None


def decompress(data: bytes, path: str, *, max_input: int = MAX_INPUT) -> tuple[bytes, str | None]:
    """Return ``(content, compression)``: *data* decompressed once, or unchanged when not compressed.

    Parameters
    ----------
    data
        The raw bytes of a file.
    path
        The file's name, for error messages.
    max_input
        The most bytes the decompressed content may hold.

    Returns
    -------
    tuple
        The decompressed bytes and the compression found (``None`` for plain input).

    Raises
    ------
    InputFormatError
        The stream is corrupt or truncated, or decompresses to more than *max_input* bytes.
    """
    kind = sniff(data)
    if kind is None:
        return data, None
    if kind == "zip":
        return _unzip_single(data, path, max_input), kind
    try:
        with _OPENERS[kind](io.BytesIO(data)) as handle:
            return read_limited(handle, max_input, path, f"the {kind} stream decompresses to"), kind
    except InputFormatError:
        raise
    except _STREAM_ERRORS as exc:
        raise _corrupt(kind, path, exc) from None
