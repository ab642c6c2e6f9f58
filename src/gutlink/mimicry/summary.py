"""One result for a whole ``gutlink mimicry`` run: the scan, the per-taxon burden and (optionally) the cohort test.

:func:`summarize` bundles a :class:`~gutlink.mimicry.scan.ScanResult`, its per-taxon burden (named by the manifest's
taxa where one is given) and a :class:`~gutlink.mimicry.burden.BurdenResult` into a :class:`MimicryResult`, which
:func:`gutlink.report.write` turns into ``report.html``, ``summary.json`` and the TSV tables.

Examples
--------
>>> from gutlink.mimicry import Proteome, scan
>>> res = scan([Proteome.from_records("bug", [("p1", "MSTVHFFKNIVTKL")])], "builtin:MS", min_score=45)
>>> out = summarize(res)
>>> out.n_hits, out.hits_per_disease, out.taxon_burden["proteome"].tolist()
(1, {'MS': 1}, ['bug'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from ..results import Result
from .burden import BurdenResult, taxon_burden
from .scan import ScanResult

__all__ = ["MimicryResult", "summarize"]


@dataclass(frozen=True)
class MimicryResult(Result):
    """A mimicry run: scan hits, per-taxon burden and, when a cohort was given, the case/control burden test.

    Attributes
    ----------
    scan
        The proteome scan.
    taxon_burden
        :func:`~gutlink.mimicry.burden.taxon_burden` of the hits, with a ``taxon`` column when a manifest was given.
    burden
        The per-sample burden test, or ``None`` without a cohort.
    design
        ``group``, ``case`` and ``control`` of the burden test (empty without one).
    inputs
        Provenance: ``files`` (role, path, sha256), ``command``, ``epitopes``.
    n_hits, hits_per_disease, n_taxa_with_hits
        Headline counts.
    """

    REPORT_TITLE: ClassVar[str] = "molecular mimicry of autoantigen epitopes"

    scan: ScanResult
    taxon_burden: pd.DataFrame = field(metadata={"json": False})
    burden: BurdenResult | None
    design: dict[str, Any]
    inputs: dict[str, Any]
    n_hits: int
    hits_per_disease: dict[str, int]
    n_taxa_with_hits: int

    @property
    def table(self) -> pd.DataFrame:
        """The hit table."""
        return self.scan.hits


def _named_burden(hits: pd.DataFrame, manifest: pd.DataFrame | None) -> pd.DataFrame:
    burden = taxon_burden(hits)
    if manifest is None:
        return burden
    return burden.merge(manifest[["proteome", "taxon"]].drop_duplicates(), on="proteome", how="left")


def _design(group: str | None, case: Sequence[str], control: str | None, strata: str | None) -> dict[str, Any]:
    if group is None:
        return {}
    out = {"group": group, "case": [str(c) for c in case], "control": str(control)}
    return {**out, "strata": strata} if strata else out


def summarize(result: ScanResult, *, manifest: pd.DataFrame | None = None, burden: BurdenResult | None = None,
              group: str | None = None, case: Sequence[str] = (), control: str | None = None,
              strata: str | None = None, inputs: Mapping[str, Any] | None = None) -> MimicryResult:
    """Bundle a scan, its per-taxon burden and an optional burden test into one reportable result.

    Parameters
    ----------
    result
        From :func:`~gutlink.mimicry.scan.scan`.
    manifest
        From :func:`~gutlink.mimicry.burden.read_manifest`: adds the ``taxon`` of each proteome.
    burden
        From :func:`~gutlink.mimicry.burden.burden_test`.
    group, case, control, strata
        The design of *burden* (for the report's group names; *strata* only when the test was stratified).
    inputs
        Provenance to record (``files``, ``command``, ``epitopes``).

    Returns
    -------
    MimicryResult

    Examples
    --------
    >>> from gutlink.mimicry import Proteome, scan
    >>> res = scan([Proteome.from_records("bug", [("p1", "MSTVHFFKNIVTKL")])], "builtin:MS", min_score=45)
    >>> manifest = pd.DataFrame({"taxon": ["s__Bug"], "path": ["bug.faa"], "proteome": ["bug"]})
    >>> summarize(res, manifest=manifest).taxon_burden[["taxon", "epitope_id", "n_hits"]].values.tolist()
    [['s__Bug', 'MS_MBP_85-99', 1]]
    """
    hits = result.hits
    tb = _named_burden(hits, manifest)
    per_disease = hits.groupby("disease").size() if len(hits) else pd.Series(dtype=int)
    return MimicryResult(scan=result, taxon_burden=tb, burden=burden, design=_design(group, case, control, strata),
                         inputs=dict(inputs or {}), n_hits=len(hits),
                         hits_per_disease={str(k): int(v) for k, v in per_disease.items()},
                         n_taxa_with_hits=int(tb["proteome"].nunique()) if len(tb) else 0)
