"""The statistics of :mod:`gutlink.literature.concordance`: signature scores, random-signature and
other-condition nulls, study weighting and per-genus replication (vectorised over signatures)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..multitest import bh
from .signatures import genus_names, incidence

__all__ = ["overall_tests", "p_upper", "replication", "score_all", "signature_nulls", "standardised",
           "study_agreement",
           "study_table", "study_weights", "visible_scores"]


def study_weights(study: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Each kept signature's weight: 1 / (its study's kept signatures) / (studies), so studies count equally."""
    w = np.zeros(len(study))
    if not keep.any():
        return w
    per = pd.Series(study[keep]).value_counts()
    w[keep] = 1.0 / per.reindex(study[keep]).to_numpy() / len(per)
    return w


def p_upper(null: np.ndarray, observed: float) -> float:
    return float((1 + np.sum(null >= observed - 1e-12)) / (len(null) + 1)) if np.isfinite(observed) else np.nan


def visible_scores(per_taxon: pd.DataFrame, columns: np.ndarray,
                   alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over BugSigDB's taxid columns: visible mask, centred rank score (−½ … ½) of the cohort statistic, and its
    significant direction (+1 / −1 where the cohort's q < *alpha*, else 0)."""
    vis = np.zeros(len(columns))
    rank = np.zeros(len(columns))
    code = np.zeros(len(columns))
    if len(per_taxon):
        pos = np.searchsorted(columns, per_taxon["taxid"].to_numpy(dtype=np.int64))
        n = len(pos)
        vis[pos] = 1.0
        rank[pos] = (stats.rankdata(per_taxon["z"].to_numpy()) - (n + 1) / 2.0) / n
        significant = per_taxon["q_value"].to_numpy(dtype=float) < alpha
        code[pos] = np.where(significant, np.sign(per_taxon["z"].to_numpy()), 0.0)
    return vis, rank, code


def score_all(vis: np.ndarray, rank: np.ndarray, code: np.ndarray, signs: np.ndarray) -> pd.DataFrame:
    """Overlap, signed enrichment score and direction agreement of every signature at once (sparse products).

    ``agreement``: of the signature's genera that differ significantly in the cohort, the fraction that differ
    in the published direction (NaN when none differs).
    """
    m, _ = incidence()
    k = m @ vis
    up, down = m @ (vis * (code > 0)), m @ (vis * (code < 0))
    n_agree = np.where(signs > 0, up, np.where(signs < 0, down, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rank = np.where(k > 0, (m @ rank) / k, np.nan)
        agree = np.where(up + down > 0, n_agree / (up + down), np.nan)
    return pd.DataFrame({"n_visible": k.astype(int), "score": signs * mean_rank,
                         "n_significant": (up + down).astype(int), "n_agree": n_agree.astype(int),
                         "agreement": agree})


def signature_nulls(frame: pd.DataFrame, visible: np.ndarray, values: tuple[np.ndarray, np.ndarray], n_perm: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random-signature null of each assessable signature: (n_perm, n) null scores, agreeing and significant
    counts.

    Each permutation relabels the visible genera at random (one permutation of the cohort's statistic over them)
    and rescores every signature: each becomes a random set of its visible size, and signatures that share a
    genus keep sharing one, so the overall null keeps the overlap between published signatures.
    """
    r_vis, c_vis = values
    m, _ = incidence()
    sub = m[frame["row"].to_numpy()][:, np.flatnonzero(visible > 0)]
    sizes = frame["n_visible"].to_numpy(dtype=float)[:, None]
    sgn = frame["sign"].to_numpy(dtype=float)[:, None]
    perm = np.argsort(rng.random((len(r_vis), n_perm)), axis=0)
    null_score = (sub @ r_vis[perm]) / sizes * sgn
    pos, neg = sub @ (c_vis[perm] > 0).astype(float), sub @ (c_vis[perm] < 0).astype(float)
    return np.asarray(null_score).T, np.asarray(np.where(sgn > 0, pos, neg)).T, np.asarray(pos + neg).T


def study_agreement(agree: np.ndarray, significant: np.ndarray, study: np.ndarray) -> np.ndarray:
    """Direction agreement pooled within each study, then averaged over the studies with a significant genus;
    *agree* / *significant* are counts per signature, (n,) or (n_perm, n)."""
    codes, index = np.unique(study, return_inverse=True)
    g = np.zeros((len(study), len(codes)))
    g[np.arange(len(study)), index] = 1.0
    a, n = np.atleast_2d(agree) @ g, np.atleast_2d(significant) @ g
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(n > 0, a / n, np.nan)
    with np.errstate(invalid="ignore"):
        out = np.where((n > 0).any(axis=1), np.nansum(per, axis=1) / np.maximum((n > 0).sum(axis=1), 1), np.nan)
    return out


def study_table(frame: pd.DataFrame, null_score: np.ndarray) -> pd.DataFrame:
    rows = []
    for study, idx in frame.groupby("study", sort=False).indices.items():
        obs = float(frame["score"].to_numpy()[idx].mean())
        null = null_score[:, idx].mean(axis=1)
        sub = frame.iloc[idx]
        rows.append({"study": study, "pmid": sub["pmid"].iloc[0], "n_signatures": len(idx),
                     "n_up": int((sub["sign"] > 0).sum()), "n_down": int((sub["sign"] < 0).sum()),
                     "n_visible": int(sub["n_visible"].sum()), "score": obs,
                     "n_significant": int(sub["n_significant"].sum()),
                     "agreement": (float(sub["n_agree"].sum() / sub["n_significant"].sum())
                                   if sub["n_significant"].sum() else np.nan), "p_value": p_upper(null, obs)})
    out = pd.DataFrame(rows, columns=["study", "pmid", "n_signatures", "n_up", "n_down", "n_visible", "score",
                                      "n_significant", "agreement", "p_value"])
    out["q_value"] = bh(out["p_value"].to_numpy()) if len(out) else []
    return out


def standardised(score: np.ndarray, null_score: np.ndarray, study: np.ndarray,
                 keep: np.ndarray) -> tuple[float, np.ndarray]:
    """Stouffer's Z across studies, each study's mean signature score standardised by its own null: every study
    counts once, and one with a single visible genus (a noisy score) swings the total no more than one with
    thirty. Returns the observed Z and its (n_perm,) null."""
    codes, index = np.unique(study[keep], return_inverse=True)
    g = np.zeros((int(keep.sum()), len(codes)))
    g[np.arange(len(index)), index] = 1.0
    g /= g.sum(axis=0, keepdims=True)
    obs, null = score[keep] @ g, null_score[:, keep] @ g
    centre, spread = null.mean(axis=0), null.std(axis=0)
    spread = np.where(spread > 0, spread, np.inf)
    z_obs, z_null = (obs - centre) / spread, (null - centre) / spread
    return float(z_obs.sum() / np.sqrt(len(codes))), z_null.sum(axis=1) / np.sqrt(len(codes))


def overall_tests(frame: pd.DataFrame, null_score: np.ndarray, null_counts: tuple[np.ndarray, np.ndarray],
                  other: np.ndarray, n_perm: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Study-weighted score and agreement with their random-signature nulls, and the other-conditions null."""
    study = frame["study"].to_numpy()
    sgn = frame["sign"].to_numpy()
    score = frame["score"].to_numpy()
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for name, keep in (("enrichment", np.ones(len(frame), bool)), ("enrichment_up", sgn > 0),
                       ("enrichment_down", sgn < 0)):
        w = study_weights(study, keep)
        if not keep.any():
            rows.append({"test": name, "statistic": np.nan, "null_mean": np.nan, "p_value": np.nan,
                         "n_signatures": 0, "n_studies": 0})
            continue
        obs, null = standardised(score, null_score, study, keep)
        rows.append({"test": name, "statistic": obs, "null_mean": float(null.mean()), "p_value": p_upper(null, obs),
                     "n_signatures": int(keep.sum()), "n_studies": int(pd.Series(study[keep]).nunique())})
        if name == "enrichment":
            summary.update(score=float(w @ score), z=obs, p_discordant=p_upper(-null, -obs))
    obs_a = float(study_agreement(frame["n_agree"].to_numpy(float), frame["n_significant"].to_numpy(float),
                                  study)[0])
    null_a = study_agreement(null_counts[0], null_counts[1], study)
    null_a = null_a[np.isfinite(null_a)]
    rows.append({"test": "direction_agreement", "statistic": obs_a,
                 "null_mean": float(null_a.mean()) if len(null_a) else np.nan,
                 "p_value": p_upper(null_a, obs_a) if len(null_a) else np.nan,
                 "n_signatures": int((frame["n_significant"] > 0).sum()),
                 "n_studies": int(pd.Series(study[frame["n_significant"].to_numpy() > 0]).nunique())})
    n_studies = int(pd.Series(study).nunique())
    if len(other) >= n_studies:
        draws = np.argpartition(rng.random((n_perm, len(other))), n_studies - 1, axis=1)[:, :n_studies]
        null_o = other[draws].mean(axis=1)
        rows.append({"test": "specificity_vs_other_conditions", "statistic": summary["score"],
                     "null_mean": float(null_o.mean()), "p_value": p_upper(null_o, summary["score"]),
                     "n_signatures": len(frame), "n_studies": n_studies})
    tests = pd.DataFrame(rows)
    tests["q_value"] = bh(tests["p_value"].to_numpy())
    summary["p_disagreement"] = p_upper(-null_a, -obs_a) if len(null_a) else np.nan
    summary.update(agreement=obs_a, agreement_null=float(null_a.mean()) if len(null_a) else np.nan,
                   n_other_studies=len(other))
    return tests, summary


def replication(frame: pd.DataFrame, per_taxon: pd.DataFrame, alpha: float, min_studies: int) -> pd.DataFrame:
    """Per genus: independent studies reporting it up / down in this condition, the consensus and the cohort."""
    long = frame[["study", "sign", "taxids"]].assign(taxid=frame["taxids"].str.split(";")).explode("taxid")
    long["taxid"] = long["taxid"].astype(np.int64)
    up = long[long["sign"] > 0].groupby("taxid")["study"].nunique()
    down = long[long["sign"] < 0].groupby("taxid")["study"].nunique()
    t = pd.DataFrame({"n_studies_up": up, "n_studies_down": down}).fillna(0).astype(int)
    t.index.name = "taxid"
    t = t.reset_index()
    t["genus"] = genus_names().reindex(t["taxid"]).fillna("").to_numpy()
    net_up = (t["n_studies_up"] >= min_studies) & (t["n_studies_up"] >= 2 * t["n_studies_down"])
    net_down = (t["n_studies_down"] >= min_studies) & (t["n_studies_down"] >= 2 * t["n_studies_up"])
    t["consensus"] = np.where(net_up, "up", np.where(net_down, "down", ""))
    c = per_taxon.set_index("taxid").reindex(t["taxid"]) if len(per_taxon) else None
    t["cohort_z"] = np.nan if c is None else c["z"].to_numpy()
    t["cohort_q"] = np.nan if c is None else c["q_value"].to_numpy()
    t["cohort_features"] = "" if c is None else c["features"].fillna("").to_numpy()
    want = np.where(t["consensus"] == "up", 1.0, np.where(t["consensus"] == "down", -1.0, 0.0))
    signif = t["cohort_q"].to_numpy(dtype=float) < alpha
    cz = t["cohort_z"].to_numpy(dtype=float)
    t["agrees"] = (want != 0) & signif & (np.sign(cz) == want)
    t["contradicts"] = (want != 0) & signif & (np.sign(cz) == -want)
    t["visible"] = np.isfinite(cz)
    order = t["n_studies_up"] + t["n_studies_down"]
    return t.assign(_o=order).sort_values(["_o", "taxid"], ascending=[False, True]).drop(columns="_o") \
        .reset_index(drop=True)
