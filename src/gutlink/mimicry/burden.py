"""Mimicry burden: per taxon (from scan hits), per sample (abundance-weighted), and case vs control.

A *manifest* maps the cohort's taxa to proteome files (TSV with columns ``taxon`` and ``proteome``; paths are
relative to the manifest). A taxon's burden for a disease is the mean over its proteomes of the weighted hit
count (each hit weighs ``score / self_score``); a sample's burden is the abundance-weighted sum over its taxa,
and the fraction of its abundance carried by taxa without a proteome is reported. The case/control test is a
Mann–Whitney U on sample burdens, calibrated against a null that shuffles which proteome belongs to which
mapped taxon (as the iMSMS analysis did): it asks whether mimicry, not abundance shifts alone, separates groups.

Examples
--------
>>> import pandas as pd
>>> hits = pd.DataFrame({"proteome": ["g1", "g1", "g2"], "protein": ["a", "b", "c"], "disease": "MS",
...                      "epitope_id": "e", "score": [40.0, 48.0, 36.0], "self_score": 48.0})
>>> taxon_burden(hits)[["proteome", "n_hits", "best_score", "weighted_hits"]].values.tolist()
[['g1', 2, 48.0, 1.8333333333333335], ['g2', 1, 36.0, 0.75]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..association import case_control, hodges_lehmann
from ..cohort import Cohort
from ..errors import DesignError, InputFormatError
from ..multitest import bh
from ..results import TEST_COLUMNS, Result
from .proteome import proteome_name

__all__ = ["BurdenResult", "burden_test", "read_manifest", "sample_burden", "taxon_burden"]

BURDEN_COLUMNS = ["proteome", "disease", "epitope_id", "n_hits", "n_proteins", "best_score", "weighted_hits"]


def read_manifest(path: str | Path, *, check_files: bool = True) -> pd.DataFrame:
    """Read a ``taxon → proteome`` manifest (TSV/CSV with columns ``taxon`` and ``proteome``).

    Returns columns ``taxon``, ``path`` (resolved against the manifest's folder) and ``proteome`` (the
    proteome's name, as in scan results). A taxon may list several proteomes (strains).

    Examples
    --------
    >>> import tempfile
    >>> m = Path(tempfile.mkdtemp()) / "manifest.tsv"
    >>> _ = m.write_text("taxon\\tproteome\\ns__Bacteroides_vulgatus\\tgenomes/Bvul.faa.gz\\n")
    >>> read_manifest(m, check_files=False)[["taxon", "proteome"]].values.tolist()
    [['s__Bacteroides_vulgatus', 'Bvul']]
    """
    path = Path(path)
    if not path.is_file():
        raise InputFormatError("the manifest file does not exist.", path=str(path),
                               hint="Pass a TSV with columns 'taxon' and 'proteome'.")
    table = pd.read_csv(path, sep="," if path.suffix.lower() == ".csv" else "\t", dtype=str, comment="#")
    missing = [c for c in ("taxon", "proteome") if c not in table.columns]
    if missing:
        raise InputFormatError(f"the manifest lacks column(s) {missing}.", path=str(path),
                               hint="A manifest has columns 'taxon' and 'proteome' (a path per row).")
    table = table.dropna(subset=["taxon", "proteome"])
    table["path"] = [str((path.parent / p).resolve()) if not Path(p).is_absolute() else p for p in table["proteome"]]
    if check_files:
        for line, p in enumerate(table["path"], start=2):
            if not Path(p).is_file():
                raise InputFormatError(f"the manifest names a proteome file that does not exist: {p}.",
                                       path=str(path), line=line, hint="Fix the path (relative to the manifest).")
    table["proteome"] = [proteome_name(p) for p in table["path"]]
    return table[["taxon", "path", "proteome"]].reset_index(drop=True)


def taxon_burden(hits: pd.DataFrame) -> pd.DataFrame:
    """Hits summarised per proteome, disease and epitope: counts, proteins, best score, weighted count.

    ``weighted_hits`` sums ``score / self_score`` (1 for an identical window); returns :data:`BURDEN_COLUMNS`.
    """
    if hits.empty:
        return pd.DataFrame(columns=BURDEN_COLUMNS)
    h = hits.assign(weight=hits["score"] / hits["self_score"].where(hits["self_score"] > 0, np.nan))
    grouped = h.groupby(["proteome", "disease", "epitope_id"], sort=True)
    out = grouped.agg(n_hits=("score", "size"), n_proteins=("protein", "nunique"), best_score=("score", "max"),
                      weighted_hits=("weight", "sum")).reset_index()
    return out[BURDEN_COLUMNS]


def _taxon_matrix(burden: pd.DataFrame, manifest: pd.DataFrame, taxa: pd.Index, metric: str) -> pd.DataFrame:
    """Taxa × diseases: mean over each taxon's proteomes of the summed *metric* (0 where a proteome has no hit)."""
    per_proteome = burden.groupby(["proteome", "disease"])[metric].sum().unstack(fill_value=0.0)
    rows = manifest[manifest["taxon"].isin(taxa)]
    values = per_proteome.reindex(rows["proteome"]).fillna(0.0)
    values.index = rows["taxon"].to_numpy()
    return values.groupby(level=0).mean()


def sample_burden(cohort: Cohort, burden: pd.DataFrame, manifest: pd.DataFrame, *,
                  metric: str = "weighted_hits") -> pd.DataFrame:
    """Abundance-weighted burden per sample and disease, with the unmapped abundance fraction.

    Parameters
    ----------
    cohort
        Feature IDs are matched to the manifest's ``taxon`` column (aggregate the cohort to the manifest's rank
        first if needed).
    burden
        From :func:`taxon_burden`.
    manifest
        From :func:`read_manifest`.
    metric
        ``"weighted_hits"``, ``"n_hits"`` or ``"n_proteins"``.

    Returns
    -------
    pandas.DataFrame
        Samples × (one column per disease, then ``unmapped_fraction``).
    """
    taxa = cohort.feature_ids
    mapped = taxa.isin(manifest["taxon"])
    if not mapped.any():
        raise DesignError(f"no cohort feature matches a manifest taxon (e.g. cohort {list(taxa[:3])}, manifest "
                          f"{manifest['taxon'].head(3).tolist()}).", )
    rel = cohort.relative()
    matrix = _taxon_matrix(burden, manifest, taxa[mapped], metric).reindex(taxa[mapped]).fillna(0.0)
    out = pd.DataFrame(rel[:, mapped] @ matrix.to_numpy(), index=cohort.sample_ids, columns=matrix.columns)
    out["unmapped_fraction"] = rel[:, ~mapped].sum(axis=1)
    return out


@dataclass(frozen=True)
class BurdenResult(Result):
    """Case vs control mimicry burden, one test per disease.

    Attributes
    ----------
    tests
        :data:`~gutlink.results.TEST_COLUMNS` plus ``p_mann_whitney`` (the plain test) and ``p_value`` from the
        shuffled taxon → proteome null.
    samples
        Per-sample burden (:func:`sample_burden`) with the ``group_label``.
    permutations
        Number of shuffles.
    """

    tests: pd.DataFrame
    samples: pd.DataFrame = field(metadata={"json": False})
    permutations: int

    @property
    def table(self) -> pd.DataFrame:
        """The per-disease tests."""
        return self.tests


def _centred_u(burden: np.ndarray, is_case: np.ndarray) -> np.ndarray:
    """Mann–Whitney U of cases minus its null mean, for each column of *burden* (samples × columns)."""
    ranks = stats.rankdata(burden, axis=0)
    n1, n2 = int(is_case.sum()), int((~is_case).sum())
    return ranks[is_case].sum(axis=0) - n1 * (n1 + 1) / 2 - n1 * n2 / 2


def _shuffle_p(rel: np.ndarray, vec: np.ndarray, is_case: np.ndarray, permutations: int,
               rng: np.random.Generator) -> tuple[float, float]:
    observed = _centred_u(rel @ vec[:, None], is_case)[0]
    null = np.stack([rng.permutation(vec) for _ in range(permutations)], axis=1)
    u = _centred_u(rel @ null, is_case)
    return float(observed), float((1 + np.sum(np.abs(u) >= abs(observed) - 1e-9)) / (permutations + 1))


def _disease_row(disease: str, values: pd.Series, labels: pd.Series, shuffled_p: float) -> dict[str, Any]:
    a = values[labels == "case"].to_numpy(dtype=float)
    b = values[labels == "control"].to_numpy(dtype=float)
    mw = stats.mannwhitneyu(a, b, alternative="two-sided")
    shift, lo, hi = hodges_lehmann(a, b)
    row: dict[str, Any] = dict.fromkeys(TEST_COLUMNS, np.nan)
    row.update(analysis="mimicry_burden", metric=disease, test="mann_whitney_vs_shuffled_taxon_proteome",
               comparison="case vs control", statistic=float(mw.statistic), p_value=shuffled_p,
               effect=shift, effect_name="hodges_lehmann_shift", ci_low=lo, ci_high=hi, n_case=a.size,
               n_control=b.size, p_mann_whitney=float(mw.pvalue))
    return row


def burden_test(cohort: Cohort, burden: pd.DataFrame, *, manifest: pd.DataFrame, group: str,
                case: Sequence[str], control: str | Sequence[str], metric: str = "weighted_hits",
                permutations: int = 999, rng: int | np.random.Generator | None = None) -> BurdenResult:
    """Is the abundance-weighted mimicry burden different between cases and controls?

    Parameters
    ----------
    cohort
        Samples with metadata; feature IDs match the manifest's taxa.
    burden
        Per-taxon burden from :func:`taxon_burden`.
    manifest
        From :func:`read_manifest`.
    group, case, control
        Metadata column and its case / control values.
    metric
        Burden column to weigh (see :func:`sample_burden`).
    permutations
        Shuffles of the taxon → proteome assignment among mapped taxa.
    rng
        Seed or generator.

    Returns
    -------
    BurdenResult
    """
    rng = np.random.default_rng(rng)
    cc = case_control(cohort, group=group, case=case, control=control)
    labels = cc.metadata["group_label"].astype(str)
    per_sample = sample_burden(cc, burden, manifest, metric=metric)
    mapped = cc.feature_ids.isin(manifest["taxon"])
    rel = cc.relative()[:, mapped]
    matrix = _taxon_matrix(burden, manifest, cc.feature_ids[mapped], metric).reindex(cc.feature_ids[mapped])
    is_case = (labels == "case").to_numpy()
    rows = []
    for disease in [c for c in per_sample.columns if c != "unmapped_fraction"]:
        _, p = _shuffle_p(rel, matrix[disease].fillna(0.0).to_numpy(), is_case, permutations, rng)
        rows.append(_disease_row(disease, per_sample[disease], labels, p))
    tests = pd.DataFrame(rows, columns=TEST_COLUMNS + ["p_mann_whitney"])
    tests["q_value"] = bh(tests["p_value"].to_numpy(dtype=float))
    return BurdenResult(tests, per_sample.assign(group_label=labels), permutations)
