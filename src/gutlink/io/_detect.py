"""Recognise a file's format from its content (never from its name).

Examples
--------
>>> from gutlink.io._source import Source
>>> detect(Source.from_bytes(b"#mpa_v30_CHOCOPhlAn_201901\\nclade_name\\ts1\\nk__Bacteria\\t100\\n", "t.txt"))
'metaphlan'
>>> detect(Source.from_bytes(b" 9.50\\t95\\t95\\tU\\t0\\tunclassified\\n", "r.kreport"))
'kraken'
>>> detect(Source.from_bytes(b"OTU,s1,s2\\nA,1,2\\n", "t.csv"))
'table'
"""

from __future__ import annotations

import re

from ..errors import InputFormatError
from ._compress import HDF5_MAGIC
from ._source import Source

__all__ = ["FORMATS", "detect", "unknown_format"]

#: Every format :func:`gutlink.io.read` knows, in the order they are tried.
FORMATS = ("metaphlan", "biom", "qza", "kraken", "bracken", "table")

_KRAKEN_ROW = re.compile(r"^\s*\d+(\.\d+)?\t\d+\t\d+\t(\d+\t\d+\t)?([URDKPCOFGS]\d*|-)\t\d+\t")
_METAPHLAN_ROW = re.compile(r"^[kd]__[^\t;|]*\|[a-z]__[^\t;]*\t")
_METAPHLAN_HEADER = re.compile(r"^#?clade_name\t")
_BRACKEN_HEADER = "name\ttaxonomy_id\ttaxonomy_lvl\t"
_MAX_SCAN = 5000  # lines scanned for clade rows (the MetAML table has 211 metadata rows first)


def unknown_format(source: Source, why: str) -> InputFormatError:
    """The error for a file no reader recognises, naming the formats tried."""
    return source.error(
        f"unrecognised format ({why}); tried {', '.join(FORMATS)}.",
        hint="Pass format= one of those if the file is one of them, or convert it to a TSV with samples as columns.",
    )


def _first_lines(text: str, n: int) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text) and len(out) < n:
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        out.append(text[pos:min(end, pos + 2000)].rstrip("\r"))
        pos = end + 1
    return out


def _text_format(lines: list[str]) -> str:
    content = [ln for ln in lines if ln.strip()]
    data = [ln for ln in content if not ln.startswith("#")]
    if any(ln.startswith("# gutlink") for ln in content[:3]):
        return "table"
    if any(ln.startswith("#mpa_") for ln in content[:5]):
        return "metaphlan"
    if data and data[0].startswith(_BRACKEN_HEADER):
        return "bracken"
    if data and (data[0].startswith("perc\ttot_all\t") or _KRAKEN_ROW.match(data[0])):
        return "kraken"
    if any(_METAPHLAN_HEADER.match(ln) for ln in content[:10]) or any(_METAPHLAN_ROW.match(ln) for ln in data):
        return "metaphlan"
    return "table"


def detect(source: Source) -> str:
    """The format of *source*: one of :data:`FORMATS` (``'table'`` when nothing more specific fits)."""
    data = source.data
    if data.startswith(HDF5_MAGIC):
        return "biom"
    if source.compression == "qza":
        return "qza"
    if source.is_binary():
        raise unknown_format(source, "binary content that is neither BIOM/HDF5 nor a .qza archive")
    head = source.text.lstrip()[:1]
    if head == "{":
        return "biom"
    return _text_format(_first_lines(source.text, _MAX_SCAN))

