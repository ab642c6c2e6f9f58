"""The presence model on real designs: sequencing depth, clustered samples (subjects, blocks), within-block effects.

**Depth.** A deeper sample detects more taxa, so a difference in presence can come from depth alone. With count
data the presence design gets the centred log library size of the raw counts as a covariate, as MaAsLin 3
recommends for its prevalence model (Nickols et al. 2024, bioRxiv 10.1101/2024.12.13.628459): under Poisson
sampling ``P(present) = 1 - exp(-N pi)``, whose complementary log-log is linear in ``log N``; the logit of a
presence probability is close to linear in ``log N`` over the range of depths in one cohort, with a slope per
taxon.

**Clustered samples.** Repeated samples of a subject (or the members of a household / pair / family block) are not
independent, and a presence test that treats them so is liberal: on the DIABIMMUNE 16S genera (19 infants, 103
samples) 18 % of presence p-values fell below 0.05 on average under shuffles of whole subjects (up to 34 %). With a subject or block
column the presence model is a GEE with the independence working correlation (the Firth fit itself, Liang & Zeger
1986 Biometrika 73:13) and the cluster-robust sandwich covariance with the small-sample correction of Morel,
Bokossa & Neerchal (2003 Biom J 45:395; SAS GLIMMIX ``EMPIRICAL=MBN``)::

    V = c A M A + delta phi A,   c = (n - 1) / (n - p) * G / (G - 1),   delta = min(1/2, p / (G - p)),
    phi = max(1, tr(A c M) / p)

with ``A`` the inverse Fisher information and ``M`` the sum over clusters of the outer products of the cluster
score sums. The correction keeps the variance away from zero with few clusters (the plain sandwich is biased
downwards), and tends to the plain sandwich as clusters grow. Tests are Wald t on ``G - p_between`` degrees of
freedom for a term constant within clusters (e.g. a subject's diagnosis) and ``G - 1`` otherwise; a multi-df term
gets the Wald F on the same df.

**Blocks.** A block (household, pair, family) may hold both cases and controls; the presence model conditions
on it by adding the block mean of every design column that varies within blocks (the within/between
decomposition of Mundlak 1978 Econometrica 46:69 and Neuhaus & Kalbfleisch 1998 Biometrics 54:638): the tested
coefficient is then the within-block effect, free of anything that differs between blocks, and the sandwich is
clustered on the block. A mean that is collinear with the design (e.g. one case and one control in every pair) is
left out: the coefficient is already a within-block contrast.

Examples
--------
>>> gen = np.random.default_rng(0)
>>> subject = np.repeat(np.arange(20), 5)
>>> x = np.column_stack([np.ones(100), np.repeat(np.arange(20) % 2, 5)])
>>> y = (gen.random((20, 30))[subject] < 0.5).astype(float)  # presence shared within subject, no effect
>>> fits, _ = clustered_tests(x, y, [np.array([0.0, 1.0])], clusters=subject)
>>> float(fits[0].df), bool(np.nanmean(fits[0].p_value < 0.05) < 0.2)
(18.0, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import linalg, special, stats

from ._linmod import TermFit
from ._mixed import indicator
from ._prevalence import LogisticFit, LRTest, firth_logistic, single_threaded_blas

__all__ = ["between_columns", "clustered_tests", "mbn_covariance", "presence_design"]

#: Largest delta of the MBN correction (Morel et al. 2003).
_MBN_DELTA_CAP = 0.5


def between_columns(x: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Which columns of *x* are constant within every cluster."""
    codes = pd.factorize(pd.Series(clusters))[0]
    return (pd.DataFrame(x).groupby(codes).nunique() <= 1).all(axis=0).to_numpy()


def _adds_rank(base: np.ndarray, col: np.ndarray) -> bool:
    both = np.column_stack([base, col])
    s = linalg.svdvals(both / np.maximum(np.abs(both).max(axis=0), 1e-300))
    return bool(s[-1] > s[0] * 1e-8)


def presence_design(x: np.ndarray, *, depth: np.ndarray | None = None,
                    blocks: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """The presence model's design: *x*, the centred log *depth* (when given and not already in *x*, e.g. as a
    covariate of the formula), and with *blocks* the block mean of every column that varies within blocks and is
    not collinear with the rest; with the names of the added columns."""
    out, names = np.asarray(x, dtype=float), []
    if depth is not None:
        logd = np.log(np.asarray(depth, dtype=float))
        if _adds_rank(out, logd - logd.mean()):
            out = np.column_stack([out, logd - logd.mean()])
            names.append("log_depth")
    if blocks is None:
        return out, names
    codes = pd.factorize(pd.Series(blocks))[0]
    means = pd.DataFrame(out).groupby(codes).transform("mean").to_numpy()
    varies = ~between_columns(out, blocks)
    for j in np.flatnonzero(varies):
        if _adds_rank(out, means[:, j]):
            out = np.column_stack([out, means[:, j]])
            names.append(f"block_mean[{j}]")
    return out, names


def mbn_covariance(x: np.ndarray, y: np.ndarray, fit: LogisticFit, clusters: np.ndarray) -> np.ndarray:
    """Cluster-robust covariance (m × p × p) of the logistic coefficients with the MBN small-sample correction."""
    n, p = x.shape
    ind = indicator(clusters)
    g = ind.shape[0]
    resid = y - special.expit(x @ fit.coef)  # n × m
    sums = np.stack([ind @ (x[:, [k]] * resid) for k in range(p)], axis=1)  # G × p × m
    c = (n - 1) / max(n - p, 1) * g / max(g - 1, 1)
    meat = c * np.einsum("gkj,glj->jkl", sums, sums)
    a = fit.cov
    am = a @ meat
    phi = np.maximum(1.0, np.trace(am, axis1=1, axis2=2) / p)
    delta = _MBN_DELTA_CAP if g <= p else min(_MBN_DELTA_CAP, p / (g - p))
    return am @ a + (delta * phi)[:, None, None] * a


def _df(between: np.ndarray, used: np.ndarray, g: int) -> float:
    return float(max(g - int(between.sum()), 1) if between[used].all() else max(g - 1, 1))


def clustered_tests(x: np.ndarray, present: np.ndarray, contrasts: Sequence[np.ndarray],
                    joint: Sequence[np.ndarray] = (), *, clusters: np.ndarray,
                    n_jobs: int = 1) -> tuple[list[TermFit], list[LRTest]]:
    """Firth logistic fit per feature with cluster-robust (MBN) Wald tests: t per contrast row, F per contrast
    matrix in *joint* (``LRTest.statistic`` then holds F on ``df`` numerator df). Shapes as
    :func:`gutlink.differential._prevalence.prevalence_tests`."""
    informative = (present.min(axis=0) < 1) & (present.max(axis=0) > 0)
    y = present[:, informative]
    with single_threaded_blas():
        fit = firth_logistic(x, y, n_jobs=n_jobs)
        cov = mbn_covariance(x, y, fit, clusters)
    g = int(pd.Series(clusters).nunique())
    between = between_columns(x, clusters)
    out = []
    for vec in contrasts:
        vec = np.asarray(vec, dtype=float)
        est = vec @ fit.coef
        se = np.sqrt(np.maximum(np.einsum("p,jpq,q->j", vec, cov, vec), 0))
        df = _df(between, np.abs(vec) > 0, g)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * stats.t.sf(np.abs(est / se), df)
        ok = fit.converged & (se > 0)
        out.append(TermFit(_spread(np.where(ok, est, np.nan), informative),
                           _spread(np.where(ok, se, np.nan), informative), df,
                           _spread(np.where(ok, p, np.nan), informative)))
    tests = []
    for matrix in joint:
        matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
        q = int(np.linalg.matrix_rank(matrix))
        d = (matrix @ fit.coef).T  # m × q
        lcl = np.einsum("rp,jpq,sq->jrs", matrix, cov, matrix)
        ok = fit.converged & (np.linalg.eigvalsh(lcl)[:, 0] > 0)
        sol = np.linalg.solve(np.where(ok[:, None, None], lcl, np.eye(q)), d[..., None])[..., 0]
        f = np.where(ok, (d * sol).sum(axis=1) / q, np.nan)
        df = _df(between, (np.abs(matrix) > 0).any(axis=0), g)
        tests.append(LRTest(_spread(f, informative), q, _spread(stats.f.sf(f, q, df), informative)))
    return out, tests


def _spread(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full(mask.shape, np.nan)
    out[mask] = values
    return out
