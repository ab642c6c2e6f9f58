"""QIIME 2 ``.qza`` feature tables, read without QIIME 2.

A ``.qza`` is a zip archive ``<uuid>/metadata.yaml`` + ``<uuid>/data/feature-table.biom`` (+ VERSION,
provenance). The artifact's semantic type gives the units: ``FeatureTable[Frequency]`` (and
``PresenceAbsence``, ``Composition``) → counts, ``FeatureTable[RelativeFrequency]`` → fraction. Other
types (taxonomies, trees, distance matrices) are refused with a message saying what the archive holds.

Examples
--------
>>> artifact_type("uuid: 1\\ntype: FeatureTable[RelativeFrequency]\\nformat: BIOMV210DirFmt\\n")
'FeatureTable[RelativeFrequency]'
>>> UNITS_OF_TYPE["FeatureTable[Frequency]"]
'counts'
"""

from __future__ import annotations

import io
import re
import zipfile

from ..cohort import Cohort
from ..errors import InputFormatError
from ._compress import ZIP_ERRORS, is_qza, open_member, read_limited
from ._source import Source
from .biom import load_biom_table, table_to_cohort

__all__ = ["read_qza", "is_qza", "artifact_type", "UNITS_OF_TYPE"]

#: Units implied by each feature-table semantic type.
UNITS_OF_TYPE = {
    "FeatureTable[Frequency]": "counts",
    "FeatureTable[PresenceAbsence]": "counts",
    "FeatureTable[Composition]": "counts",
    "FeatureTable[RelativeFrequency]": "fraction",
}
_BIOM_MEMBER = re.compile(r"^[^/]+/data/[^/]+\.biom$")


def artifact_type(metadata_yaml: str) -> str | None:
    """The ``type:`` of an artifact's ``metadata.yaml`` (a plain line; no YAML parser needed)."""
    m = re.search(r"^type:\s*(.+?)\s*$", metadata_yaml, flags=re.MULTILINE)
    return m.group(1).strip("'\"") if m else None


def _members(source: Source) -> tuple[str | None, str | None, bytes | None, list[str]]:
    """The artifact type, the BIOM member's name and bytes (if any) and the archive's file names."""
    try:
        with zipfile.ZipFile(io.BytesIO(source.raw)) as archive:
            names = archive.namelist()
            meta = next((n for n in names if n.count("/") == 1 and n.endswith("/metadata.yaml")), None)
            kind = artifact_type(_member(archive, meta, source).decode("utf-8", "replace")) if meta else None
            biom_name = next((n for n in names if _BIOM_MEMBER.match(n)), None)
            return kind, biom_name, (_member(archive, biom_name, source) if biom_name else None), names
    except InputFormatError:
        raise
    except ZIP_ERRORS as exc:
        raise source.error(f"the .qza archive is corrupt ({type(exc).__name__}: {exc}).",
                           hint="Re-export the artifact; `unzip -t FILE` checks it.") from None


def _member(archive: zipfile.ZipFile, name: str, source: Source) -> bytes:
    """One member's bytes, at most ``source.max_input`` of them (the archive may be a zip bomb)."""
    with open_member(archive, name, source.path) as handle:
        return read_limited(handle, source.max_input, f"{source.path}!{name}", "the archive member decompresses to")


def read_qza(source: Source, *, rank: str | None = None, units: str | None = None) -> Cohort:
    """Read a QIIME 2 feature-table artifact.

    Parameters
    ----------
    source
        The loaded ``.qza`` file.
    rank
        Sum features up to this level (needs lineage in the table's observation metadata or IDs).
    units
        ``None`` takes them from the artifact type; a conflicting value raises.

    Returns
    -------
    Cohort
        Samples × features.
    """
    kind, member, payload, names = _members(source)
    if payload is None:
        data_files = [n for n in names if "/data/" in n][:5]
        raise source.error(f"the artifact ({kind or 'unknown type'}) holds no BIOM feature table "
                           f"(data files: {data_files}).",
                           hint="Pass a FeatureTable[Frequency] or FeatureTable[RelativeFrequency] artifact.")
    if kind is not None and kind not in UNITS_OF_TYPE:
        raise source.error(f"unsupported artifact type {kind}.",
                           hint=f"Pass one of {', '.join(UNITS_OF_TYPE)}.")
    implied = UNITS_OF_TYPE.get(kind or "")
    if units is not None and implied is not None and units != implied:
        raise source.error(f"the artifact is {kind} ({implied}) but units={units!r} was given.",
                           hint="Leave units=None to use the artifact's type.")
    inner = Source(f"{source.path}!{member}", source.raw, payload, "qza", source.max_input)
    table = load_biom_table(inner)
    return table_to_cohort(table, source, fmt="qza", rank=rank, units=units, file_units=implied)
