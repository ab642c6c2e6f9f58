"""The statistics of :mod:`gutlink.literature.concordance`: signature scores, random-signature and
other-condition nulls, study weighting and per-genus replication (vectorised over signatures)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..multitest import bh
from .signatures import genus_names, incidence

__all__ = ["overall_tests", "p_upper", "random_sums", "replication", "score_all", "signature_nulls",
           "study_table", "study_weights", "visible_scores"]


def random_sums(values: np.ndarray, sizes: np.ndarray, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    """(n_perm, len(sizes)) sums of *values* over random subsets of each size, drawn without replacement."""
    n = len(values)
    out = np.zeros((n_perm, len(sizes)))
    for j, k in enumerate(sizes):
        if k >= n:
            out[:, j] = values.sum()
            continue
        idx = np.argpartition(rng.random((n_perm, n)), k - 1, axis=1)[:, :k]
        out[:, j] = values[idx].sum(axis=1)
    return out


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


def visible_scores(per_taxon: pd.DataFrame, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over BugSigDB's taxid columns: visible mask, centred rank score (−½ … ½) and sign of the cohort statistic."""
    vis = np.zeros(len(columns))
    rank = np.zeros(len(columns))
    sign = np.zeros(len(columns))
    if len(per_taxon):
        pos = np.searchsorted(columns, per_taxon["taxid"].to_numpy(dtype=np.int64))
        n = len(pos)
        vis[pos] = 1.0
        rank[pos] = (stats.rankdata(per_taxon["z"].to_numpy()) - (n + 1) / 2.0) / n
        sign[pos] = np.sign(per_taxon["z"].to_numpy())
    return vis, rank, sign


def score_all(vis: np.ndarray, rank: np.ndarray, sign: np.ndarray, signs: np.ndarray) -> pd.DataFrame:
    """Overlap, signed enrichment score and direction agreement of every signature at once (sparse products)."""
    m, _ = incidence()
    k = m @ vis
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_rank = np.where(k > 0, (m @ rank) / k, np.nan)
        up, down = m @ (vis * (sign > 0)), m @ (vis * (sign < 0))
        agree = np.where(signs > 0, up, np.where(signs < 0, down, np.nan)) / np.where(k > 0, k, np.nan)
    return pd.DataFrame({"n_visible": k.astype(int), "score": signs * mean_rank, "agreement": agree})


def signature_nulls(frame: pd.DataFrame, values: tuple[np.ndarray, np.ndarray], n_perm: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random-signature null of each assessable signature: (n_perm, n) null scores and agreements."""
    r_vis, s_vis = values
    sizes = frame["n_visible"].to_numpy()
    sgn = frame["sign"].to_numpy()
    null_score = random_sums(r_vis, sizes, n_perm, rng) / sizes * sgn
    # the agreement null reuses the same kind of draws, on the indicator of the published sign
    pos = random_sums((s_vis > 0).astype(float), sizes, n_perm, rng)
    neg = random_sums((s_vis < 0).astype(float), sizes, n_perm, rng)
    null_agree = np.where(sgn > 0, pos, neg) / sizes
    return null_score, null_agree


def study_table(frame: pd.DataFrame, null_score: np.ndarray) -> pd.DataFrame:
    rows = []
    for study, idx in frame.groupby("study", sort=False).indices.items():
        obs = float(frame["score"].to_numpy()[idx].mean())
        null = null_score[:, idx].mean(axis=1)
        sub = frame.iloc[idx]
        rows.append({"study": study, "pmid": sub["pmid"].iloc[0], "n_signatures": len(idx),
                     "n_up": int((sub["sign"] > 0).sum()), "n_down": int((sub["sign"] < 0).sum()),
                     "n_visible": int(sub["n_visible"].sum()), "score": obs,
                     "agreement": float(sub["agreement"].mean()), "p_value": p_upper(null, obs)})
    out = pd.DataFrame(rows, columns=["study", "pmid", "n_signatures", "n_up", "n_down", "n_visible", "score",
                                      "agreement", "p_value"])
    out["q_value"] = bh(out["p_value"].to_numpy()) if len(out) else []
    return out


def overall_tests(frame: pd.DataFrame, null_score: np.ndarray, null_agree: np.ndarray, other: np.ndarray,
             n_perm: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Study-weighted score and agreement with their random-signature nulls, and the other-conditions null."""
    study = frame["study"].to_numpy()
    sgn = frame["sign"].to_numpy()
    score, agree = frame["score"].to_numpy(), frame["agreement"].to_numpy()
    rows: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for name, keep in (("enrichment", np.ones(len(frame), bool)), ("enrichment_up", sgn > 0),
                       ("enrichment_down", sgn < 0)):
        w = study_weights(study, keep)
        if not keep.any():
            rows.append({"test": name, "statistic": np.nan, "null_mean": np.nan, "p_value": np.nan,
                         "n_signatures": 0, "n_studies": 0})
            continue
        obs, null = float(w @ score), null_score @ w
        rows.append({"test": name, "statistic": obs, "null_mean": float(null.mean()), "p_value": p_upper(null, obs),
                     "n_signatures": int(keep.sum()), "n_studies": int(pd.Series(study[keep]).nunique())})
        if name == "enrichment":
            summary.update(score=obs, p_discordant=p_upper(-null, -obs))
            wa = w
    obs_a, null_a = float(wa @ agree), null_agree @ wa
    rows.append({"test": "direction_agreement", "statistic": obs_a, "null_mean": float(null_a.mean()),
                 "p_value": p_upper(null_a, obs_a), "n_signatures": len(frame),
                 "n_studies": int(pd.Series(study).nunique())})
    n_studies = int(pd.Series(study).nunique())
    if len(other) >= n_studies:
        draws = np.argpartition(rng.random((n_perm, len(other))), n_studies - 1, axis=1)[:, :n_studies]
        null_o = other[draws].mean(axis=1)
        rows.append({"test": "specificity_vs_other_conditions", "statistic": summary["score"],
                     "null_mean": float(null_o.mean()), "p_value": p_upper(null_o, summary["score"]),
                     "n_signatures": len(frame), "n_studies": n_studies})
    tests = pd.DataFrame(rows)
    tests["q_value"] = bh(tests["p_value"].to_numpy())
    summary.update(agreement=obs_a, agreement_null=float(null_a.mean()), n_other_studies=len(other))
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
