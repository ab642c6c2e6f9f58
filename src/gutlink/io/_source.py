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
from ._compress import decompress, is_qza

__all__ = ["Source"]

_EXTENSIONS = re.compile(
    r"(\.(gz|bz2|xz|zip|txt|tsv|csv|tab|kreport2?|k2report|report|bracken|profile|kraken2?|biom|qza|json))+$",
    re.IGNORECASE,
)
_SUFFIXES = re.compile(r"(_bracken(_(species|genus|family|order|class|phylum|domain))?|_profiled?|_profile"
                       r"|_metaphlan\d?|_kraken2?|_report|_kreport2?)$", re.IGNORECASE)


@dataclass
class Source:
    """A file's bytes as read from disk (``raw``) and after decompression (``data``)."""

    path: str
    raw: bytes = field(repr=False)
    data: bytes = field(repr=False)
    compression: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> Source:
        """Read *path* once and decompress it by its magic bytes."""
        raw = Path(path).read_bytes()
        return cls.from_bytes(raw, str(path))

    @classmethod
    def from_bytes(cls, raw: bytes, path: str) -> Source:
        """A source from bytes already in memory (*path* names it in messages)."""
        if not raw:
            raise InputFormatError("the file is empty.", path=path, hint="Check that it was written completely.")
        if is_qza(raw):
            return cls(path, raw, raw, "qza")
        data, compression = decompress(raw, path)
        if not data.strip():
            raise InputFormatError("the file holds no data (empty after decompression).", path=path,
                                   hint="Check that it was written completely.")
        return cls(path, raw, data, compression)

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
        """An :class:`InputFormatError` about this file (``line``, ``column``, ``hint`` as keywords)."""
        return InputFormatError(message, path=self.path, **fields)

    def provenance(self, fmt: str, units: str, units_from: str, **extra: Any) -> dict[str, Any]:
        """The ``read`` entry of a cohort's history."""
        entry = {"op": "read", "path": self.path, "format": fmt, "sha256": self.sha256, "units": units,
                 "units_from": units_from, "compression": self.compression}
        entry.update({k: v for k, v in extra.items() if v is not None})
        return entry
