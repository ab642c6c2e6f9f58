"""One input file, read once: raw bytes, decompressed content, text, checksum and error helpers.

Examples
--------
>>> s = Source.from_bytes(b"a\\tb\\nx\\t1\\n", "S1_bracken_species.kreport.gz")
>>> s.stem, s.line_of("x")
('S1', 2)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import InputFormatError
from ._compress import decompress

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
        data, compression = decompress(raw, path)
        if not data.strip():
            raise InputFormatError("the file holds no data (empty after decompression).", path=path,
                                   hint="Check that it was written completely.")
        return cls(path, raw, data, compression)

    @cached_property
    def text(self) -> str:
        """The content as text (UTF-8, with a byte-order mark removed; Latin-1 when not UTF-8)."""
        try:
            return self.data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return self.data.decode("latin-1")

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
            if line.split(sep, 1)[0].strip().strip('"') == label:
                return number
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
