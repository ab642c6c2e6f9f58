"""Does a cohort's differential abundance agree with the published signatures of the same condition?

The cohort's evidence per genus is one signed statistic: each feature's two-sided p-value as a signed normal
score (sign of the effect), the abundance and presence parts of the hurdle model combined by Stouffer's method
(``statistic="auto"``: both parts when the presence part is there), and the features of one NCBI genus taxid
(species, GTDB splits) combined the same way. Only genera the cohort tested and BugSigDB names are *visible*;
the others never count, for or against.

Per published signature (oriented disease vs control; see :func:`gutlink.literature.signatures.orient`):

- ``score``: the mean centred rank (−½ … ½) of its visible genera in the cohort's statistic, signed by the
  signature's direction — a rank-based enrichment of the up (or down) set, > 0 when the cohort agrees;
- ``agreement``: of its visible genera that differ in the cohort (q < ``alpha``), the fraction that differ in
  the published direction;
- ``p_value``: against size-matched random signatures drawn from the visible genera: each of
  ``n_permutations`` permutations relabels the visible genera at random, so every signature becomes a random
  set of its size while signatures sharing a genus keep sharing one; BH ``q_value`` across the condition's
  signatures (:func:`gutlink.multitest.bh`).

Overall, signatures are averaged within each study, each study's score is standardised by its own null, and
studies are combined by Stouffer's method with equal weights, so a paper with twelve signatures counts once and
a study with one visible genus swings the total no more than one with thirty. The agreement is pooled within
studies and averaged over studies. Both are tested against the same permutations; the score also against a
study-level null (as many studies of *other* conditions, outside the condition's family, drawn at random).
The overall q-values are BH across these tests. *Concordant*: enrichment q < ``alpha`` and agreement above the
null (p < ``alpha``); *discordant*: both significantly below their nulls. An empty differential result, or no
visible genus in any signature, is *not assessable* — never discordant.

The random-signature null treats genera as exchangeable; genera that co-vary in the cohort make it somewhat
liberal (as for any competitive set test), so check a label-shuffled copy of the cohort, as the tests do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import DesignError, InputFormatError
from ..multitest import bh
from ..results import Result
from ._enrichment import (
    overall_tests,
    p_upper,
    replication,
    score_all,
    signature_nulls,
    study_table,
    visible_scores,
)
from .conditions import Condition, resolve
from .mapping import map_features
from .signatures import CITATION, incidence, label_terms, orient, provenance, signatures

__all__ = ["ConcordanceResult", "cohort_statistic", "concordance", "read_differential"]

Statistic = Literal["auto", "combined", "abundance", "presence"]
_SKIP_TERMS = {"log_depth", "Intercept"}


@dataclass(frozen=True)
class ConcordanceResult(Result):
    """Concordance of one differential result with BugSigDB's signatures of one condition.

    ``table``: one row per signature of the condition (oriented disease vs control); ``studies``: one row per
    study; ``taxa``: per genus, how many independent studies report it up / down and what the cohort says;
    ``tests``: the overall tests (q by BH across them); ``mapping``: how each cohort feature met a genus taxid;
    ``verdict``: ``concordant``, ``discordant``, ``no evidence of concordance`` or ``not assessable``.
    """

    REPORT_TITLE: ClassVar[str] = "literature concordance — do the taxa that differ agree with published signatures?"

    table: pd.DataFrame = field(metadata={"json": False})
    studies: pd.DataFrame = field(metadata={"json": False})
    taxa: pd.DataFrame = field(metadata={"json": False})
    tests: pd.DataFrame
    mapping: pd.DataFrame = field(metadata={"json": False})
    condition: str
    labels: tuple[str, ...]
    term: str
    statistic: str
    verdict: str
    reason: str
    coverage: dict[str, Any]
    overall: dict[str, Any]
    n_permutations: int
    alpha: float = 0.05
    notes: tuple[str, ...] = ()
    source: dict[str, Any] = field(default_factory=dict)

    def contradictions(self) -> pd.DataFrame:
        """Genera whose cohort direction contradicts a well-replicated published one."""
        return self.taxa[self.taxa["contradicts"]].reset_index(drop=True)


# ----------------------------------------------------------------------------- the cohort's statistic
def _signed_z(effect: pd.Series, p: pd.Series) -> np.ndarray:
    pv = pd.to_numeric(p, errors="coerce").to_numpy(dtype=float)
    z = stats.norm.isf(np.clip(pv, 1e-300, 1.0) / 2.0)
    return np.where(np.isfinite(pv), np.sign(pd.to_numeric(effect, errors="coerce").to_numpy(dtype=float)) * z,
                    np.nan)


def _choose_term(table: pd.DataFrame, term: str | None) -> str:
    terms = [t for t in dict.fromkeys(table["term"].astype(str)) if t not in _SKIP_TERMS]
    if term is not None:
        if term not in set(table["term"].astype(str)):
            raise DesignError(f"term {term!r} is not in the differential table; its terms are {terms}.")
        return term
    if not terms:
        raise DesignError("the differential table holds no tested term besides log_depth; nothing to compare.")
    return terms[0]


def _presence_z(rows: pd.DataFrame, prevalence: pd.DataFrame | None, term: str) -> np.ndarray:
    """Signed normal score of the presence part: the prevalence model's effect where it is given, else the
    sign of the case-minus-control prevalence with ``p_value_prevalence``."""
    if prevalence is not None and len(prevalence) and {"feature_id", "term", "effect", "p_value"} <= set(prevalence):
        pr = prevalence[prevalence["term"].astype(str) == term].drop_duplicates("feature_id").set_index("feature_id")
        pr = pr.reindex(rows["feature_id"].astype(str))
        return _signed_z(pr["effect"], pr["p_value"])
    if "p_value_prevalence" not in rows:
        return np.full(len(rows), np.nan)
    comparison = str(rows["comparison"].iloc[0]) if "comparison" in rows and len(rows) else ""
    levels = comparison.split(":", 1)[-1].split(" vs ")
    cols = [f"prevalence_{lv.strip()}" for lv in levels]
    if len(cols) != 2 or not set(cols) <= set(rows):
        return np.full(len(rows), np.nan)
    diff = rows[cols[0]].astype(float) - rows[cols[1]].astype(float)
    return _signed_z(diff, rows["p_value_prevalence"])


def cohort_statistic(table: pd.DataFrame, *, term: str | None = None, prevalence: pd.DataFrame | None = None,
                     statistic: Statistic = "auto") -> tuple[pd.DataFrame, str, str]:
    """Per feature of one term: ``feature_id, lineage, z`` (signed normal score), ``abundance`` (mean over the
    groups, where given); with the term and the statistic used.

    Examples
    --------
    >>> t = pd.DataFrame({"feature_id": ["a", "b"], "term": "g[T.case]", "effect": [1.0, -2.0],
    ...                   "p_value": [0.05, 0.01]})
    >>> cohort_statistic(t)[0]["z"].round(2).tolist()
    [1.96, -2.58]
    """
    name = _choose_term(table, term)
    rows = table[table["term"].astype(str) == name].drop_duplicates("feature_id").reset_index(drop=True)
    z_abund = _signed_z(rows["effect"], rows["p_value"])
    z_pres = _presence_z(rows, prevalence, name)
    has_presence = bool(np.isfinite(z_pres).any())
    used = {"auto": "combined" if has_presence else "abundance"}.get(statistic, statistic)
    if used in ("combined", "presence") and not has_presence:
        raise DesignError(f"statistic={statistic!r} needs the presence model (p_value_prevalence), which this "
                          "differential result does not have; use statistic='abundance'.")
    if used == "abundance":
        z = z_abund
    elif used == "presence":
        z = z_pres
    else:
        both = np.isfinite(z_abund) & np.isfinite(z_pres)
        z = np.where(both, (z_abund + z_pres) / np.sqrt(2.0), np.where(np.isfinite(z_abund), z_abund, z_pres))
    ab_cols = [c for c in rows.columns if str(c).startswith("mean_abundance")]
    abundance = rows[ab_cols].astype(float).mean(axis=1).to_numpy() if ab_cols else np.full(len(rows), np.nan)
    lineage = rows["lineage"] if "lineage" in rows else pd.Series([None] * len(rows))
    out = pd.DataFrame({"feature_id": rows["feature_id"].astype(str), "lineage": lineage.to_numpy(), "z": z,
                        "abundance": abundance})
    for col in ("taxid", "ncbi_taxid", "NCBI_tax_id"):
        if col in rows:
            out["taxid"] = rows[col].to_numpy()
    return out, name, used


def _per_taxon(stat: pd.DataFrame, mapping: pd.DataFrame) -> pd.DataFrame:
    """One row per matched genus taxid: Stouffer-combined z of its features, their number and abundance."""
    m = stat.assign(taxid=mapping["taxid"].to_numpy(), genus=mapping["genus"].to_numpy())
    m = m[(m["taxid"] >= 0) & np.isfinite(m["z"])]
    if m.empty:
        return pd.DataFrame(columns=["taxid", "z", "n_features", "features", "p_value", "q_value"])
    g = m.groupby("taxid", sort=True)
    out = pd.DataFrame({"z": g["z"].sum() / np.sqrt(g["z"].size()), "n_features": g["z"].size(),
                        "features": g["feature_id"].agg(lambda s: ";".join(s))})
    out["p_value"] = 2.0 * stats.norm.sf(np.abs(out["z"].to_numpy()))
    out["q_value"] = bh(out["p_value"].to_numpy())
    return out.reset_index()


# ----------------------------------------------------------------------------- signatures
@lru_cache(maxsize=1)
def _own_orientation() -> np.ndarray:
    """Every signature's contrast, oriented with the words of its own condition labels."""
    s = signatures()
    return np.array([orient(a, b, label_terms(c.split(","))) for a, b, c in zip(s["group1"], s["group0"],
                                                                                    s["condition"])])


def _members(cond: Condition, sigs: pd.DataFrame, labels: tuple[str, ...]) -> np.ndarray:
    wanted = set(labels)
    return np.array([bool(wanted & set(c.split(","))) for c in sigs["condition"]])


def _signs(sigs: pd.DataFrame, contrast: np.ndarray, contrasts: str) -> np.ndarray:
    """+1 (UP in disease), −1 (DOWN) or 0 (left out: direction NA, or not a disease-vs-control contrast)."""
    raw = np.where(sigs["direction"] == "UP", 1, np.where(sigs["direction"] == "DOWN", -1, 0))
    if contrasts == "all":
        return raw
    return np.where(contrast == "case_control", raw, np.where(contrast == "control_case", -raw, 0))


# ----------------------------------------------------------------------------- entry point
def _inputs(differential: Any) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    if isinstance(differential, pd.DataFrame):
        return differential, None
    if hasattr(differential, "table"):
        return differential.table, getattr(differential, "prevalence", None)
    raise TypeError("differential must be a DifferentialResult or its table (a DataFrame); read a saved "
                    "output folder with gutlink.literature.read_differential.")


def _coverage(stat: pd.DataFrame, mapping: pd.DataFrame, per_taxon: pd.DataFrame, frame_taxa: set[int]) -> dict:
    matched = mapping["taxid"].to_numpy() >= 0
    ab = stat["abundance"].to_numpy(dtype=float)
    total = np.nansum(ab)
    visible = set(per_taxon["taxid"].astype(int)) if len(per_taxon) else set()
    return {"n_features": len(stat), "n_features_matched": int(matched.sum()),
            "fraction_features_matched": float(matched.mean()) if len(stat) else np.nan,
            "fraction_abundance_matched": float(np.nansum(ab[matched]) / total) if total > 0 else np.nan,
            "n_features_without_taxid": int((~matched).sum()),
            "n_features_above_genus": int((mapping["how"] == "above_genus").sum()),
            "n_features_untested": int((~np.isfinite(stat["z"].to_numpy(dtype=float))).sum()),
            "n_genera_visible": len(visible), "n_signature_genera": len(frame_taxa),
            "n_signature_genera_visible": len(frame_taxa & visible),
            "fraction_signature_genera_visible": len(frame_taxa & visible) / len(frame_taxa) if frame_taxa else np.nan,
            "how": {str(k): int(v) for k, v in mapping["how"].value_counts().items()}}


def _agreement_text(summary: dict[str, Any], p_a: float) -> str:
    if not np.isfinite(summary["agreement"]):
        return "no genus of the signatures differs significantly in the cohort, so direction agreement is not measured"
    return (f"{summary['agreement']:.0%} of the signature genera that differ in the cohort differ in the published "
            f"direction, vs {summary['agreement_null']:.0%} for random signatures (p = {p_a:.2g})")


def _verdict(tests: pd.DataFrame, summary: dict[str, Any], alpha: float) -> tuple[str, str]:
    t = tests.set_index("test")
    q_e, p_a = float(t.loc["enrichment", "q_value"]), float(t.loc["direction_agreement", "p_value"])
    agreement = _agreement_text(summary, p_a)
    if q_e < alpha and p_a < alpha:
        return "concordant", (f"the published signatures are enriched in the cohort's statistic in their direction "
                              f"(q = {q_e:.2g}) and {agreement}")
    if summary["p_discordant"] < alpha and summary["p_disagreement"] < alpha:
        return "discordant", (f"the cohort goes against the published directions more than random signatures do "
                              f"(p = {summary['p_discordant']:.2g}); {agreement}")
    return "no evidence of concordance", f"enrichment q = {q_e:.2g}; {agreement}"


def _not_assessable(reason: str, **parts: Any) -> ConcordanceResult:
    empty = pd.DataFrame()
    return ConcordanceResult(table=parts.get("table", empty), studies=empty, taxa=parts.get("taxa", empty),
                             tests=empty, mapping=parts.get("mapping", empty), condition=parts["condition"].name,
                             labels=parts["condition"].labels, term=parts.get("term", ""),
                             statistic=parts.get("statistic", ""), verdict="not assessable", reason=reason,
                             coverage=parts.get("coverage", {}), overall={}, n_permutations=parts["n_perm"],
                             alpha=parts["alpha"], notes=parts.get("notes", ()), source=_source())


def _source() -> dict[str, Any]:
    p = provenance()
    return {"database": "BugSigDB", "version": p["version"], "export": p["export"], "licence": p["licence"],
            "citation": CITATION}


def concordance(differential: Any, *, condition: str, term: str | None = None, statistic: Statistic = "auto",
                contrasts: Literal["case_control", "all"] = "case_control", min_studies: int = 3,
                n_permutations: int = 999, alpha: float = 0.05,
                rng: int | np.random.Generator | None = None) -> ConcordanceResult:
    """Test a differential result against BugSigDB's published signatures of *condition*.

    Parameters
    ----------
    differential
        A :class:`~gutlink.differential.DifferentialResult` or its table (``differential.tsv`` as a DataFrame),
        at genus rank (species rows are combined per genus; ranks above genus are not used).
    condition
        The condition: ``RA``, ``CD``, ``IBD``, ``T1D``, ``MS``, … or a BugSigDB label
        (:func:`gutlink.literature.resolve`).
    term
        The tested term (default: the first one besides ``log_depth``: the formula's first, the group).
    statistic
        ``auto`` (abundance and presence combined when the presence model ran), ``combined``, ``abundance``
        or ``presence``.
    contrasts
        ``case_control`` (default): only signatures comparing the disease with controls, oriented disease vs
        control; ``all``: every signature as recorded.
    min_studies
        Independent studies that make a genus's published direction well replicated.
    n_permutations
        Random signatures per published one (and random draws of other-condition studies).
    alpha
        Significance level of the verdict and of the per-genus flags.
    rng
        Seed or generator of the random signatures.

    Returns
    -------
    ConcordanceResult

    Examples
    --------
    >>> from gutlink import differential
    >>> from gutlink.datasets import franzosa2019
    >>> c = franzosa2019().aggregate("genus")
    >>> da = differential.test(c, "~ Diagnosis", group="Diagnosis", case=["CD"], control="Control", n_shuffles=0)
    >>> res = concordance(da, condition="Crohn disease", rng=0)
    >>> res.labels, res.verdict
    (("Crohn's-disease",), 'concordant')
    """
    cond = resolve(condition)
    gen = np.random.default_rng(rng)
    table, prevalence = _inputs(differential)
    parts: dict[str, Any] = {"condition": cond, "n_perm": n_permutations, "alpha": alpha}
    if len(table) == 0:
        return _not_assessable("the differential result is empty (no feature was tested)", **parts)
    stat, name, used = cohort_statistic(table, term=term, prevalence=prevalence, statistic=statistic)
    mapping = map_features(stat["feature_id"].tolist(), stat["lineage"].tolist(),
                           stat["taxid"].tolist() if "taxid" in stat else None)
    if len(mapping) and mapping["how"].eq("above_genus").all():
        raise DesignError(f"every feature is above genus rank ({mapping['rank'].iloc[0]}); BugSigDB's export is at "
                          "genus level. Rerun the differential analysis at genus rank (gutlink differential "
                          "--rank genus).")
    per_taxon = _per_taxon(stat, mapping)
    sigs = signatures()
    member = _members(cond, sigs, cond.labels)
    contrast = _own_orientation().copy()
    terms = tuple(dict.fromkeys(cond.terms + label_terms(cond.labels)))
    contrast[member] = [orient(a, b, terms) for a, b in zip(sigs.loc[member, "group1"], sigs.loc[member, "group0"])]
    signs = _signs(sigs, contrast, contrasts)
    _, columns = incidence()
    vis, rank, code = visible_scores(per_taxon, columns, alpha)
    scored = pd.concat([sigs, score_all(vis, rank, code, signs)], axis=1).assign(sign=signs, contrast=contrast,
                                                                              row=np.arange(len(sigs)))
    frame = scored[member & (signs != 0)].reset_index(drop=True)
    frame_taxa = {int(t) for ids in frame["taxids"] for t in ids.split(";")}
    parts.update(term=name, statistic=used, mapping=mapping,
                 coverage=_coverage(stat, mapping, per_taxon, frame_taxa))
    notes = _notes(stat, mapping, cond, scored[member], contrasts)
    parts["notes"] = notes
    if frame.empty:
        return _not_assessable(f"BugSigDB has no {'disease-vs-control ' if contrasts == 'case_control' else ''}"
                               f"signature with a direction for {cond.name}", **parts)
    parts["taxa"] = replication(frame, per_taxon, alpha, min_studies)
    assess = frame[frame["n_visible"] > 0].reset_index(drop=True)
    if assess.empty:
        return _not_assessable("no genus of the condition's signatures is among the cohort's tested genera "
                               "(zero overlap)", table=_signature_frame(frame), **parts)
    null_score, null_agree, null_sig = signature_nulls(assess, vis, (rank[vis > 0], code[vis > 0]),
                                                       n_permutations, gen)
    assess["p_value"] = [p_upper(null_score[:, j], s) for j, s in enumerate(assess["score"])]
    assess["q_value"] = bh(assess["p_value"].to_numpy())
    other = _other_studies(scored, member, cond, signs)
    tests, summary = overall_tests(assess, null_score, (null_agree, null_sig), other, n_permutations, gen)
    verdict, reason = _verdict(tests, summary, alpha)
    studies = study_table(assess, null_score)
    summary.update(n_studies=len(studies), n_studies_concordant=int((studies["q_value"] < alpha).sum()),
                   n_signatures=len(assess), n_signatures_concordant=int((assess["q_value"] < alpha).sum()),
                   n_contradictions=int(parts["taxa"]["contradicts"].sum()),
                   n_replicated_genera=int((parts["taxa"]["consensus"] != "").sum()))
    table_out = _signature_frame(frame.merge(assess[["bsdb_id", "p_value", "q_value"]], on="bsdb_id", how="left"))
    return ConcordanceResult(table=table_out, studies=studies, taxa=parts["taxa"], tests=tests, mapping=mapping,
                             condition=cond.name, labels=cond.labels, term=name, statistic=used, verdict=verdict,
                             reason=reason, coverage=parts["coverage"], overall=summary,
                             n_permutations=n_permutations, alpha=alpha, notes=notes, source=_source())


def _other_studies(scored: pd.DataFrame, member: np.ndarray, cond: Condition, signs: np.ndarray) -> np.ndarray:
    """Study scores of the signatures of other conditions (outside the condition's family), disease vs control."""
    family = set(cond.family) | set(cond.labels)
    outside = np.array([not (family & set(c.split(","))) for c in scored["condition"]])
    keep = outside & ~member & (signs != 0) & (scored["n_visible"].to_numpy() > 0)
    return scored[keep].groupby("study")["score"].mean().to_numpy()


def _signature_frame(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["bsdb_id", "study", "pmid", "condition", "group1", "group0", "contrast", "direction", "sign", "n_taxa",
            "n_visible", "score", "n_significant", "n_agree", "agreement", "p_value", "q_value", "taxids"]
    out = frame.reindex(columns=cols)
    out["direction_in_disease"] = np.where(out["sign"] > 0, "up", "down")
    return out


def _notes(stat: pd.DataFrame, mapping: pd.DataFrame, cond: Condition, members: pd.DataFrame,
           contrasts: str) -> tuple[str, ...]:
    notes = ["BugSigDB's export holds no body site: some signatures come from oral, skin or biopsy samples."]
    species = int(mapping["rank"].isin(["species", "strain"]).sum())
    if species:
        notes.append(f"{species} species / strain features were combined per genus (Stouffer); concordance is "
                     "tested at genus level, as BugSigDB's export is.")
    left = int((members["contrast"] == "other").sum()) if contrasts == "case_control" else 0
    if left:
        notes.append(f"{left} signature(s) of {cond.name} compare other groups (disease vs disease, activity, "
                     "treatment, exposure) and were left out; contrasts='all' keeps them as recorded.")
    return tuple(notes)


def read_differential(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The tables of a saved ``gutlink differential`` output: its ``differential.tsv`` and, beside it, the
    ``prevalence.tsv`` of the presence model (``None`` when absent). *path* is the folder or the TSV itself.

    Raises
    ------
    InputFormatError
        When there is no such file, or it is not a differential table (columns ``feature_id``, ``term``,
        ``effect``, ``p_value``).
    """
    p = Path(path)
    tsv = p / "differential.tsv" if p.is_dir() else p
    if not tsv.is_file():
        raise InputFormatError("no differential.tsv here.", path=str(tsv),
                               hint="Pass the output folder of gutlink differential, or its differential.tsv.")
    table = pd.read_csv(tsv, sep="\t", dtype={"feature_id": str, "term": str}, comment=None)
    missing = {"feature_id", "term", "effect", "p_value"} - set(table.columns)
    if missing:
        raise InputFormatError(f"not a differential table: no column(s) {', '.join(sorted(missing))}.",
                               path=str(tsv), hint="Pass the differential.tsv written by gutlink differential.")
    prev_path = tsv.with_name("prevalence.tsv")
    prevalence = pd.read_csv(prev_path, sep="\t", dtype={"feature_id": str, "term": str}) \
        if prev_path.is_file() else None
    return table, prevalence
