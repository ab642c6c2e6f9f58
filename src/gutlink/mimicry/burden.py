"""Mimicry burden: per taxon (from scan hits), per sample (abundance-weighted), and case vs control.

A *manifest* maps the cohort's taxa to proteome files (TSV with columns ``taxon`` and ``proteome``; paths are
relative to the manifest). A taxon's burden for a disease is the mean over its proteomes of the weighted hit
count (each hit weighs ``score / self_score``); a sample's burden is the abundance-weighted sum over its taxa,
and the fraction of its abundance carried by taxa without a proteome is reported. The case/control test is a
Mann–Whitney U on sample burdens, calibrated against a null that shuffles which proteome belongs to which
mapped taxon (as the iMSMS analysis did): it asks whether mimicry, not abundance shifts alone, separates groups.

With ``strata`` (e.g. HLA-DRB1*15:01 carriers vs non-carriers, or HLA-DR3/DR4 genotype groups for T1D) cases are
compared with controls only within each stratum: the statistic is van Elteren's stratified Wilcoxon (each stratum's
centred U weighted by ``1 / (n_s + 1)``), the shuffled-assignment null is computed with the same statistic, the
shift is the matching stratified Hodges–Lehmann estimate, and each stratum is also tested on its own.

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

from ..cohort import Cohort
from ..community import hodges_lehmann
from ..community._stats import _blocks, _centred_u, _stratified_u, _weights, stratified_hodges_lehmann, van_elteren
from ..compat import renamed
from ..design import case_control
from ..errors import DesignError, InputFormatError
from ..multitest import bh
from ..results import TEST_COLUMNS, Result
from .proteome import proteome_name

__all__ = ["BurdenResult", "burden_test", "read_manifest", "sample_burden", "stratified_hodges_lehmann",
           "taxon_burden", "van_elteren"]

BURDEN_COLUMNS = ["proteome", "disease", "epitope_id", "n_hits", "n_proteins", "best_score", "weighted_hits"]
#: Columns of the per-stratum table of a stratified burden test.
STRATUM_COLUMNS = ["metric", "stratum", "n_case", "n_control", "statistic", "p_mann_whitney", "p_value", "effect",
                   "ci_low", "ci_high", "weight"]


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
        :data:`~gutlink.results.TEST_COLUMNS` plus ``p_mann_whitney`` (the plain, pooled test), ``p_van_elteren``
        (the stratified rank test, normal approximation; NaN without strata) and ``p_value`` from the shuffled
        taxon → proteome null (with strata: of the van Elteren statistic).
    samples
        Per-sample burden (:func:`sample_burden`) with the ``group_label`` (and the stratum column when stratified).
    permutations
        Number of shuffles.
    strata
        The metadata column of the strata, or ``None``.
    per_stratum
        With strata, one row per disease and stratum (:data:`STRATUM_COLUMNS`): Mann–Whitney U, its plain p, the
        shuffled-assignment p within the stratum, the Hodges–Lehmann shift and CI, and the stratum's van Elteren
        weight; empty without strata.
    """

    tests: pd.DataFrame
    samples: pd.DataFrame = field(metadata={"json": False})
    permutations: int
    strata: str | None = None
    per_stratum: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=STRATUM_COLUMNS))

    @property
    def table(self) -> pd.DataFrame:
        """The per-disease tests."""
        return self.tests


def _shuffled(rel: np.ndarray, vec: np.ndarray, permutations: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """Observed per-sample burden and the burden under each shuffle of the taxon → proteome assignment."""
    null = np.stack([rng.permutation(vec) for _ in range(permutations)], axis=1)
    return rel @ vec[:, None], rel @ null


def _perm_p(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Two-sided shuffle p-value(s): *observed* ``(k,)`` against *null* ``(k, permutations)``."""
    hits = np.sum(np.abs(null) >= np.abs(observed)[:, None] - 1e-9, axis=1)
    return (1 + hits) / (null.shape[1] + 1)


def _shuffle_p(rel: np.ndarray, vec: np.ndarray, is_case: np.ndarray, permutations: int,
               rng: np.random.Generator, blocks: list[np.ndarray] | None = None) -> tuple[float, np.ndarray]:
    """Shuffle p of the (stratified) statistic, and of each stratum's own U (empty without strata)."""
    observed, null = _shuffled(rel, vec, permutations, rng)
    if blocks is None:
        p = _perm_p(_centred_u(observed, is_case), _centred_u(null, is_case)[None, :])
        return float(p[0]), np.empty(0)
    w = _weights(blocks)
    obs_u, null_u = _stratified_u(observed, is_case, blocks)[:, 0], _stratified_u(null, is_case, blocks)
    p = _perm_p(np.array([w @ obs_u]), (w @ null_u)[None, :])
    return float(p[0]), _perm_p(obs_u, null_u)


def _disease_row(disease: str, values: pd.Series, labels: pd.Series, shuffled_p: float,
                 strata: np.ndarray | None = None) -> dict[str, Any]:
    a = values[labels == "case"].to_numpy(dtype=float)
    b = values[labels == "control"].to_numpy(dtype=float)
    mw = stats.mannwhitneyu(a, b, alternative="two-sided")
    row: dict[str, Any] = dict.fromkeys(TEST_COLUMNS, np.nan)
    row.update(analysis="mimicry_burden", metric=disease, comparison="case vs control", p_value=shuffled_p,
               n_case=a.size, n_control=b.size, p_mann_whitney=float(mw.pvalue), p_van_elteren=np.nan)
    if strata is None:
        shift, lo, hi = hodges_lehmann(a, b)
        row.update(test="mann_whitney_vs_shuffled_taxon_proteome", statistic=float(mw.statistic), effect=shift,
                   effect_name="hodges_lehmann_shift", ci_low=lo, ci_high=hi)
        return row
    is_case = (labels == "case").to_numpy()
    z, p = van_elteren(values.to_numpy(dtype=float), is_case, strata)
    shift, lo, hi = stratified_hodges_lehmann(values.to_numpy(dtype=float), is_case, strata)
    row.update(test="van_elteren_vs_shuffled_taxon_proteome", statistic=z, p_van_elteren=p, effect=shift,
               effect_name="stratified_hodges_lehmann_shift", ci_low=lo, ci_high=hi)
    return row


def _stratum_rows(disease: str, values: pd.Series, labels: pd.Series, names: list[str],
                  blocks: list[np.ndarray], shuffled: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    for name, b, w, p in zip(names, blocks, _weights(blocks), shuffled):
        v, lab = values.iloc[b], labels.iloc[b]
        a = v[lab == "case"].to_numpy(dtype=float)
        c = v[lab == "control"].to_numpy(dtype=float)
        mw = stats.mannwhitneyu(a, c, alternative="two-sided")
        shift, lo, hi = hodges_lehmann(a, c)
        rows.append({"metric": disease, "stratum": name, "n_case": a.size, "n_control": c.size,
                     "statistic": float(mw.statistic), "p_mann_whitney": float(mw.pvalue), "p_value": float(p),
                     "effect": shift, "ci_low": lo, "ci_high": hi, "weight": float(w)})
    return rows


def _strata(cc: Cohort, column: str, labels: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer stratum codes of the case/control samples and the stratum names; every stratum holds both groups."""
    meta = cc.metadata
    if column not in meta.columns:
        close = [c for c in meta.columns if str(c).lower() == column.lower()]
        hint = f" Did you mean {close[0]!r}?" if close else f" Columns: {', '.join(map(str, meta.columns[:20]))}."
        raise DesignError(f"metadata has no strata column {column!r}.{hint}")
    values = meta[column].astype("string")
    missing = values.isna().to_numpy()
    if missing.any():
        raise DesignError(f"{int(missing.sum())} case/control sample(s) have no value in strata column {column!r} "
                          f"(e.g. {list(meta.index[missing][:3])}); fill them in or leave those samples out.")
    codes, names = pd.factorize(values, sort=True)
    for code, name in enumerate(names):
        lab = labels.to_numpy()[codes == code]
        n_case, n_control = int((lab == "case").sum()), int((lab == "control").sum())
        if n_case == 0 or n_control == 0:
            have, lack = ("case", "control") if n_control == 0 else ("control", "case")
            raise DesignError(
                f"stratum {name!r} of {column!r} has only {have}s ({max(n_case, n_control)} {have}(s), no {lack}), "
                "so cases and controls cannot be compared within it; merge it with another stratum or leave its "
                "samples out.")
    return codes, [str(n) for n in names]


@renamed(permutations="n_permutations")
def burden_test(cohort: Cohort, burden: pd.DataFrame, *, manifest: pd.DataFrame, group: str,
                case: Sequence[str], control: str | Sequence[str], metric: str = "weighted_hits",
                n_permutations: int = 999, strata: str | None = None,
                rng: int | np.random.Generator | None = None) -> BurdenResult:
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
    n_permutations
        Shuffles of the taxon → proteome assignment among mapped taxa.
    strata
        Metadata column of strata (e.g. HLA risk genotype): compare cases with controls only within each
        stratum (van Elteren statistic, shuffled-assignment null of the same statistic, stratified
        Hodges–Lehmann shift) and report each stratum on its own. Every stratum needs cases and controls.
    rng
        Seed or generator.

    Returns
    -------
    BurdenResult
    """
    rng = np.random.default_rng(rng)
    cc = case_control(cohort, group=group, case=case, control=control)
    labels = cc.metadata["group_label"].astype(str)
    codes, names = _strata(cc, strata, labels) if strata is not None else (None, [])
    blocks = _blocks(codes, len(labels)) if codes is not None else None
    per_sample = sample_burden(cc, burden, manifest, metric=metric)
    mapped = cc.feature_ids.isin(manifest["taxon"])
    rel = cc.relative()[:, mapped]
    matrix = _taxon_matrix(burden, manifest, cc.feature_ids[mapped], metric).reindex(cc.feature_ids[mapped])
    is_case = (labels == "case").to_numpy()
    rows, stratum_rows = [], []
    for disease in [c for c in per_sample.columns if c != "unmapped_fraction"]:
        p, per_block = _shuffle_p(rel, matrix[disease].fillna(0.0).to_numpy(), is_case, n_permutations, rng, blocks)
        rows.append(_disease_row(disease, per_sample[disease], labels, p, codes))
        if blocks is not None:
            stratum_rows += _stratum_rows(disease, per_sample[disease], labels, names, blocks, per_block)
    tests = pd.DataFrame(rows, columns=TEST_COLUMNS + ["p_mann_whitney", "p_van_elteren"])
    tests["q_value"] = bh(tests["p_value"].to_numpy(dtype=float))
    samples = per_sample.assign(group_label=labels)
    if strata is not None:
        samples[strata] = cc.metadata[strata].astype(str).to_numpy()
    return BurdenResult(tests, samples, n_permutations, strata, pd.DataFrame(stratum_rows, columns=STRATUM_COLUMNS))
