"""One input file, read once: raw bytes, decompressed content, text, checksum and error helpers.

Examples
--------
>>> s = Source.from_bytes(b"a\\tb\\nx\\t1\\n", "S1_bracken_species.kreport.gz")
>>> s.stem, s.line_of("x")
('S1', 2)
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import InputFormatError
from ._compress import MAX_INPUT, clean, decompress, is_qza, too_large

__all__ = ["Source"]

_EXTENSIONS = re.compile(
    r"(\.(gz|bz2|xz|zip|txt|tsv|csv|tab|kreport2?|k2report|report|bracken|profile|kraken2?|biom|qza|json))+$",
    re.IGNORECASE,
)
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_SUFFIXES = re.compile(r"(_bracken(_(species|genus|family|order|class|phylum|domain))?|_profiled?|_profile"
                       r"|_metaphlan\d?|_kraken2?|_report|_kreport2?)$", re.IGNORECASE)


@dataclass
class Source:
    """A file's bytes as read from disk (``raw``) and after decompression (``data``, UTF-8 or Latin-1 text bytes;
    UTF-16/32 input is transcoded to UTF-8 and its encoding kept in ``file_encoding``)."""

    path: str
    raw: bytes = field(repr=False)
    data: bytes = field(repr=False)
    compression: str | None = None
    max_input: int = MAX_INPUT
    file_encoding: str | None = None

    @classmethod
    def load(cls, path: str | Path, *, max_input: int = MAX_INPUT) -> Source:
        """Read *path* once and decompress it by its magic bytes (at most *max_input* bytes, before and after)."""
        file = Path(path)
        try:
            size = file.stat().st_size
            if file.is_dir():
                raise IsADirectoryError(str(file))
            if size > max_input:
                raise too_large(str(path), "the file holds", max_input)
            raw = file.read_bytes()
        except (FileNotFoundError, IsADirectoryError, PermissionError, NotADirectoryError) as exc:
            what = {FileNotFoundError: "the file does not exist", IsADirectoryError: "is a folder, not a file",
                    PermissionError: "the file cannot be read (permission denied)",
                    NotADirectoryError: "the path runs through a file"}[type(exc)]
            raise InputFormatError(f"{what}.", path=clean(str(path)),
                                   hint="Check the path; pass a table file (a folder only where a list of "
                                        "single-sample reports is expected).") from None
        return cls.from_bytes(raw, str(path), max_input=max_input)

    @classmethod
    def from_bytes(cls, raw: bytes, path: str, *, max_input: int = MAX_INPUT) -> Source:
        """A source from bytes already in memory (*path* names it in messages)."""
        if not raw:
            raise InputFormatError("the file is empty.", path=clean(path), hint="Check that it was written completely.")
        if is_qza(raw):
            return cls(path, raw, raw, "qza", max_input)
        data, compression = decompress(raw, path, max_input=max_input)
        data, encoding = _transcode(data, path)
        if not data.strip():
            raise InputFormatError("the file holds no data (empty after decompression).", path=clean(path),
                                   hint="Check that it was written completely.")
        return cls(path, raw, data, compression, max_input, encoding)

    @cached_property
    def _decoded(self) -> tuple[str, str]:
        try:
            return self.data.decode("utf-8-sig"), "utf-8"
        except UnicodeDecodeError:
            return self.data.decode("latin-1"), "latin-1"

    @property
    def text(self) -> str:
        """The content as text (UTF-8, with a byte-order mark removed; Latin-1 when not UTF-8)."""
        return self._decoded[0]

    @property
    def encoding(self) -> str:
        """``'utf-8'`` when the content decodes as UTF-8, else ``'latin-1'``."""
        return self._decoded[1]

    def bytes_from(self, offset: int) -> io.BytesIO:
        """The content from character *offset* of :attr:`text` on, as bytes (no copy of the text)."""
        bom = 3 if self.data.startswith(codecs.BOM_UTF8) else 0
        start = len(self.text[:offset].encode(self.encoding)) + bom
        return io.BytesIO(memoryview(self.data)[start:])

    @cached_property
    def sha256(self) -> str:
        """Checksum of the file as stored on disk."""
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def stem(self) -> str:
        """The file name without compression, data extensions and tool suffixes (a sample ID)."""
        name = _EXTENSIONS.sub("", Path(self.path).name)
        return _SUFFIXES.sub("", name) or name

    def is_binary(self) -> bool:
        """Whether the content looks binary (NUL bytes near the start)."""
        return b"\x00" in self.data[:8192]

    def line_of(self, label: str, *, delimiter: str | None = None) -> int | None:
        """1-based number of the first line whose first field is *label* (error paths only)."""
        for number, line in enumerate(self.text.splitlines(), start=1):
            sep = delimiter or ("\t" if "\t" in line else ",")
            fields = [f.strip().strip('"') for f in line.split(sep, 2)[:2]]
            if fields[0] == label or (len(fields) > 1 and fields[0].isdigit() and fields[1] == label):
                return number  # the label is the first field, or follows an R row number
        return None

    def error(self, message: str, **fields: Any) -> InputFormatError:
        """An :class:`InputFormatError` about this file (``line``, ``column``, ``hint`` as keywords); control
        characters in the message, path and column are escaped (:func:`~gutlink.io._compress.clean`)."""
        if isinstance(fields.get("column"), str):
            fields["column"] = clean(fields["column"])
        return InputFormatError(clean(message), path=clean(self.path), **fields)

    def provenance(self, fmt: str, units: str, units_from: str, **extra: Any) -> dict[str, Any]:
        """The ``read`` entry of a cohort's history."""
        entry = {"op": "read", "path": self.path, "format": fmt, "sha256": self.sha256, "units": units,
                 "units_from": units_from, "compression": self.compression, "encoding": self.file_encoding}
        entry.update({k: v for k, v in extra.items() if v is not None})
        return entry


def _utf16_without_bom(head: bytes) -> str | None:
    """``'utf-16-le'``/``'utf-16-be'`` when every other byte of an ASCII-looking start is NUL."""
    if len(head) < 4 or b"\x00" not in head:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def _transcode(data: bytes, path: str) -> tuple[bytes, str | None]:
    """UTF-16/UTF-32 text (with a byte-order mark, or UTF-16 without one) as UTF-8 bytes, and its encoding."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    encoding = encoding or _utf16_without_bom(data[:4096])
    if encoding is None:
        return data, None
    try:
        return data.decode(encoding).lstrip("\ufeff").encode("utf-8"), encoding
    except UnicodeDecodeError as exc:
        raise InputFormatError(f"the file looks like {encoding.upper()} text but does not decode as it "
                               f"(byte {exc.start}: {exc.reason}).", path=clean(path),
                               hint="Save it as UTF-8 text (e.g. `iconv -f UTF-16 -t UTF-8 FILE`).") from None
