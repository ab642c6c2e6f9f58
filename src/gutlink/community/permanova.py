"""PERMANOVA and PERMDISP on a distance matrix, equal to R vegan ``adonis2`` and ``betadisper``.

The engine follows McArdle & Anderson (2001): the Gower-centred matrix
``G = -1/2 (I - 11'/n) D² (I - 11'/n)`` is projected on an orthonormal basis
``Q`` of the centred design, and the sum of squares explained by a set of
basis columns is ``sum_c q_c' G q_c``.  Permuting the rows and columns of
``G`` equals permuting the rows of ``Q``, so a block of permutations costs one
matrix product ``G @ [Q_p1 | Q_p2 | ...]`` and never a Python loop per sample.
Non-Euclidean distances (negative eigenvalues of ``G``) need no correction,
as in vegan.

Permutation schemes match vegan 2.6: ``by="terms"`` permutes the raw data and
recomputes every sequential F (``permutest.cca(by="terms")``); ``by="margin"``
permutes the raw data and recomputes each term's F given all the others
(``anova.ccabymargin``); ``by="overall"`` tests the whole model.  PERMDISP
permutes the residuals of the one-way ANOVA of distances to centroids
(``permutest.betadisper``).  p = (1 + #{F_perm >= F_obs - eps}) / (P + 1), with
vegan's ``eps = sqrt(machine epsilon)``.

Examples
--------
>>> import numpy as np, pandas as pd
>>> x = np.r_[np.arange(6.0), np.arange(6.0) + 20]
>>> d = np.abs(x[:, None] - x[None, :])
>>> meta = pd.DataFrame({"group": ["a"] * 6 + ["b"] * 6})
>>> table = permanova_table(d, meta, "~ group", n_permutations=99, rng=1)
>>> table["term"].tolist(), table["r2"].round(3).tolist(), float(table["p_value"].iloc[0])
(['group', 'Residual', 'Total'], [0.972, 0.028, 1.0], 0.01)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import patsy
from numpy.typing import ArrayLike
from skbio import DistanceMatrix

from ..cohort import Cohort
from ..compat import renamed
from ..design import LABEL
from ..errors import DesignError, InputFormatError, SampleMismatchError
from ..formula import Formula, aliases, environment, quote, restore_names, safe_frame
from ..formula import parse as parse_formula
from ..results import Result
from . import _memory
from ._progress import Ticker
from .diversity import distances_for as _distances
from .diversity import euclidean_coordinates

__all__ = ["PermanovaResult", "gower_centre", "permanova", "permanova_table", "permutation_matrix", "permutation_scheme"]

_EPS = float(np.sqrt(np.finfo(float).eps))  # vegan's tolerance when counting F_perm >= F_obs
_ALIAS_TOL = 1e-7  # R's qr() tolerance for aliased design columns
_BLOCK_BYTES = 64 * 2**20  # memory for one block of permuted bases (and as much for G @ it)
_DRAW_ROWS = 512  # permutations drawn (and held) at a time
_TABLE_COLUMNS = ["term", "df", "sum_of_squares", "r2", "statistic", "p_value"]

By = Literal["terms", "margin", "overall"]


# ---------------------------------------------------------------- input checks


def _as_distance_array(distances: object) -> np.ndarray:
    """Return the distances as a validated float array (not copied when already float64)."""
    raw = getattr(distances, "data", distances) if hasattr(distances, "ids") else distances
    d = np.asarray(raw, dtype=float)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise InputFormatError(
            f"distances must be a square matrix; got shape {d.shape}.",
            hint="Pass an n x n array or a skbio DistanceMatrix.",
        )
    _check_finite(d)
    _check_symmetric(d)
    if np.abs(np.diag(d)).max(initial=0) > 1e-8 * max(1.0, float(d.max())) or d.min(initial=0) < -1e-7:
        raise InputFormatError(
            "distances must be non-negative with a zero diagonal.",
            hint="Check that the matrix holds dissimilarities, not similarities.",
        )
    return d


def _check_finite(d: np.ndarray) -> None:
    bad = ~np.isfinite(d)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise InputFormatError(
            f"distances hold {int(bad.sum())} missing or infinite values (first at row {i}, column {j}).",
            hint="Drop the samples with undefined distances first.",
        )


def _check_symmetric(d: np.ndarray) -> None:
    """Compare d with d.T a few MiB at a time (no n x n temporaries)."""
    tol = 1e-8 * max(1.0, float(d.max(initial=0)), -float(d.min(initial=0)))
    rows = max(1, 2**20 // max(len(d), 1))
    for start in range(0, len(d), rows):
        diff = np.abs(d[start : start + rows] - d[:, start : start + rows].T)
        if diff.max(initial=0) > tol:
            i, j = np.unravel_index(np.argmax(diff), diff.shape)
            i += start
            raise InputFormatError(
                f"distances are not symmetric: d[{i}, {j}] = {d[i, j]!r} but d[{j}, {i}] = {d[j, i]!r}.",
                hint="A distance matrix must satisfy d[i, j] == d[j, i].",
            )


def _check_ids(distances: object, metadata: pd.DataFrame) -> None:
    """Raise if a DistanceMatrix's IDs and a string metadata index disagree in content or order."""
    ids = getattr(distances, "ids", None)
    index = metadata.index
    if ids is None or not all(isinstance(v, str) for v in index):
        return
    if list(ids) != list(index):
        off = [f"{a!r} vs {b!r}" for a, b in zip(ids, index, strict=False) if a != b][:3]
        raise SampleMismatchError(
            f"distance matrix IDs and metadata index differ ({', '.join(off) or 'different lengths'}). "
            "Put the metadata rows in the distance matrix's order: metadata.loc[list(dm.ids)]."
        )


def _check_labels(labels: ArrayLike, n: int, what: str) -> np.ndarray:
    """Return labels as an object array of length n without missing values."""
    values = pd.Series(np.asarray(labels, dtype=object).ravel())
    if len(values) != n:
        raise DesignError(f"{what} has {len(values)} labels but the distance matrix has {n} samples.")
    if values.isna().any():
        raise DesignError(f"{what} has {int(values.isna().sum())} missing labels; drop those samples first.")
    return values.to_numpy()


# ---------------------------------------------------------------------- design


@dataclass(frozen=True)
class _Design:
    """Centred design columns (intercept removed) and, per term, its columns and factor names."""

    x: np.ndarray
    assign: np.ndarray
    terms: tuple[str, ...]
    factors: tuple[frozenset[str], ...]


def _check_missing(metadata: pd.DataFrame, variables: list[str]) -> None:
    counts = {v: int(metadata[v].isna().sum()) for v in variables}
    missing = {v: k for v, k in counts.items() if k}
    if missing:
        what = ", ".join(f"{v!r} ({k} of {len(metadata)})" for v, k in missing.items())
        raise DesignError(
            f"metadata has missing values in formula column(s) {what}. "
            "Drop those samples from the distances and the metadata explicitly first."
        )


def _parse(formula: str, columns: pd.Index) -> Formula:
    """The formula by gutlink's allow-list grammar (a bare right-hand side such as ``"g * age"`` is accepted)."""
    return parse_formula(formula if "~" in formula else "~ " + formula, columns)


def _build_design(metadata: pd.DataFrame, formula: str) -> _Design:
    """Treatment-coded design, intercept dropped and columns centred (as vegan), terms in R's order.

    patsy builds the matrix from a formula gutlink wrote over aliases of the columns (:mod:`gutlink.formula`),
    so no formula text or column name is ever evaluated.
    """
    f = _parse(formula, metadata.columns)
    if not f.factors:
        raise DesignError(f"formula {formula!r} has no terms to test.")
    _check_missing(metadata, list(f.variables))
    alias = aliases(f.variables)
    data = safe_frame(metadata.reset_index(drop=True), alias)
    try:
        dm = patsy.dmatrix(f.safe(alias), data, NA_action="raise", eval_env=patsy.EvalEnvironment([environment()]))
    except patsy.PatsyError as err:
        raise DesignError(f"cannot build the design of {formula!r}: {restore_names([str(err)], alias)[0]}") from err
    slices = {frozenset(x.name() for x in t.factors): cols for t, cols in dm.design_info.term_slices.items()
              if t.factors}
    # R's order: as written (after expansion), stably by interaction degree; patsy puts categorical terms first
    order = sorted(f.factors, key=len)
    keys = [frozenset(x.render(alias) for x in term) for term in order]
    blocks = [np.asarray(dm)[:, slices[key]] for key in keys]
    assign = np.repeat(np.arange(len(order)), [b.shape[1] for b in blocks])
    x = np.hstack(blocks)
    names = tuple(":".join(x.label() for x in term) for term in order)
    return _Design(x - x.mean(axis=0), assign, names, tuple(frozenset(v.name for v in term) for term in order))


def _orthonormal_basis(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal basis of x's columns in order, skipping aliased columns as R's qr() does.

    Returns the basis (n x rank) and the indices of the columns it spans.
    """
    keep = np.arange(x.shape[1])
    norms = np.linalg.norm(x, axis=0)
    while True:
        if keep.size == 0:
            return np.zeros((x.shape[0], 0)), keep
        q, r = np.linalg.qr(x[:, keep])
        small = np.abs(np.diag(r)) <= _ALIAS_TOL * np.maximum(norms[keep], np.finfo(float).tiny)
        if not small.any():
            return q, keep
        keep = np.delete(keep, np.argmax(small))


def _term_basis(design: _Design) -> tuple[np.ndarray, np.ndarray]:
    """Basis of the full design and the term of each basis column; raise on terms with no rank."""
    q, kept = _orthonormal_basis(design.x)
    assign = design.assign[kept]
    empty = [t for i, t in enumerate(design.terms) if not np.any(assign == i)]
    if empty:
        raise DesignError(
            f"term(s) {', '.join(map(repr, empty))} add nothing to the design: the variable is constant "
            "(a factor with one level) or fully determined by earlier terms. Remove it from the formula."
        )
    return q, assign


# ------------------------------------------------------------------- engine


def gower_centre(distances: ArrayLike) -> np.ndarray:
    """Gower-centred matrix ``-1/2 (I - 11'/n) D² (I - 11'/n)`` (vegan's ``initDBRDA``).

    Parameters
    ----------
    distances
        Square distance matrix.

    Returns
    -------
    numpy.ndarray
        The centred matrix; its trace is the total sum of squares.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.array([[0.0, 2.0], [2.0, 0.0]])
    >>> gower_centre(d)
    array([[ 1., -1.],
           [-1.,  1.]])
    """
    return _gower_inplace(np.array(distances, dtype=float))


def _gower_inplace(a: np.ndarray) -> np.ndarray:
    """Gower-centre the float64 distance matrix *a* in place (no second n x n array) and return it."""
    np.square(a, out=a)
    a *= -0.5
    a -= a.mean(axis=0, keepdims=True)
    a -= a.mean(axis=1, keepdims=True)
    return a


def _column_traces(g: np.ndarray | None, basis: np.ndarray, perms: np.ndarray,
                   coords: np.ndarray | None = None) -> np.ndarray:
    """``diag(Q_p' G Q_p)`` for every permutation p (rows of perms); shape (P, k).

    ``Q_p[p[i]] = Q[i]``, so that ``trace(Q_p' G Q_p) = trace(Q' G[p][:, p] Q)``. With *coords* (column-centred
    Euclidean coordinates Z, so that ``G = Z Z'``), ``q' G q = |Z' q|²``: O(n p) per column instead of O(n²), and
    no n x n matrix (*g* is then unused).
    """
    n, k = basis.shape
    out = np.empty((len(perms), k))
    block = max(1, _BLOCK_BYTES // (8 * n * max(k, 1)))
    for start in range(0, len(perms), block):
        chunk = perms[start : start + block]
        b = len(chunk)
        scattered = np.empty((n, b, k))
        scattered[chunk.T, np.arange(b)[None, :], :] = basis[:, None, :]
        moved = scattered.reshape(n, b * k)
        if coords is not None:
            out[start : start + b] = np.square(coords.T @ moved).sum(axis=0).reshape(b, k)
        else:
            assert g is not None
            out[start : start + b] = np.einsum("ij,ij->j", moved, g @ moved).reshape(b, k)
    return out


def _f_statistics(traces: np.ndarray, plan: _Plan, total: float) -> np.ndarray:
    """Pseudo-F of each tested term for each row of column traces."""
    ss = traces @ plan.groups
    residual = total - traces @ plan.model
    with np.errstate(divide="ignore", invalid="ignore"):  # a perfect fit gives F = inf, as in R
        return (ss / plan.df) / (residual[:, None] / plan.df_residual)


def _permutation_p(
    f_obs: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], stream: Iterable[np.ndarray]
) -> np.ndarray:
    """(1 + #{F_perm >= F_obs - eps}) / (P + 1), streaming over blocks of permutations.

    NaN if P = 0, and NaN for every term whose observed statistic is NaN (all distances 0, no
    variance to partition): a NaN compares False with everything, so without this guard the count
    would be 0 and p the smallest possible value, 1 / (P + 1), a false "significant" result.
    """
    f_obs = np.asarray(f_obs, dtype=float)
    if np.isnan(f_obs).all():
        return np.full(f_obs.shape, np.nan)
    exceed, count = np.zeros(f_obs.shape), 0
    for perms in stream:
        exceed += (statistic(perms) >= f_obs - _EPS).sum(axis=0)
        count += len(perms)
    p = (1 + exceed) / (count + 1) if count else np.full(f_obs.shape, np.nan)
    return np.where(np.isnan(f_obs), np.nan, p)


@dataclass(frozen=True)
class _Plan:
    """Which basis columns make the model and which the tested terms."""

    basis: np.ndarray
    model: np.ndarray
    groups: np.ndarray
    df: np.ndarray
    df_residual: int
    labels: tuple[str, ...]


def _plan(design: _Design, by: str) -> _Plan:
    q, assign = _term_basis(design)
    n, rank = q.shape
    df_residual = n - rank - 1
    if df_residual < 1:
        raise DesignError(f"the design has {rank} columns for {n} samples: no residual degrees of freedom left.")
    if by == "overall":
        groups = np.ones((rank, 1))
        return _Plan(q, np.ones(rank), groups, np.array([rank]), df_residual, ("Model",))
    if by == "margin":
        return _margin_plan(design, q, df_residual)
    groups = (assign[:, None] == np.arange(len(design.terms))[None, :]).astype(float)
    return _Plan(q, np.ones(rank), groups, groups.sum(axis=0), df_residual, design.terms)


def _margin_scope(design: _Design) -> list[int]:
    """Terms that can be dropped respecting marginality (R's ``drop.scope``)."""
    return [i for i, f in enumerate(design.factors) if not any(f < other for other in design.factors)]


def _margin_plan(design: _Design, q: np.ndarray, df_residual: int) -> _Plan:
    """Full basis plus, per droppable term, a basis of that term orthogonal to all others."""
    blocks, sizes = [q], []
    for i in _margin_scope(design):
        order = np.r_[np.flatnonzero(design.assign != i), np.flatnonzero(design.assign == i)]
        basis, kept = _orthonormal_basis(design.x[:, order])
        mine = design.assign[order][kept] == i
        blocks.append(basis[:, mine])
        sizes.append(int(mine.sum()))
    rank = q.shape[1]
    groups = np.zeros((rank + sum(sizes), len(sizes)))
    for j, start in enumerate(np.cumsum([rank] + sizes[:-1])):
        groups[start : start + sizes[j], j] = 1.0
    model = np.r_[np.ones(rank), np.zeros(sum(sizes))]
    labels = tuple(design.terms[i] for i in _margin_scope(design))
    return _Plan(np.hstack(blocks), model, groups, np.array(sizes), df_residual, labels)


# ------------------------------------------------------------- permutations


def permutation_matrix(
    n: int,
    permutations: int | ArrayLike = 999,
    *,
    strata: ArrayLike | None = None,
    plots: ArrayLike | None = None,
    rng: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Permutations of ``range(n)``, free, within blocks, or of whole plots (subjects).

    ``strata`` alone is ``permute::how(blocks=strata)``. ``plots`` (subject IDs) permutes whole subjects:
    ``how(plots=Plots(strata=plots, type="free"), within=Within(type="none"))`` — a subject's samples move
    together, keeping their order, into the places of another subject with the same number of samples (and,
    with ``strata``, of the same block). The analyses draw the very same permutations block by block (bounded
    memory), so this matrix shows exactly which permutations a call with the same ``rng`` used.

    Parameters
    ----------
    n
        Number of samples.
    permutations
        How many random permutations, or an explicit (P, n) integer array of 0-based
        permutations (validated and returned), e.g. to reproduce a run of vegan.
    strata
        Block label of every sample; samples are only exchanged within their block.
    plots
        Subject (plot) label of every sample; whole subjects are exchanged, only with subjects of the same size.
    rng
        Seed or generator; the only source of randomness.

    Returns
    -------
    numpy.ndarray
        Integer array of shape (P, n); row p sends sample ``p[i]`` to position i.

    Examples
    --------
    >>> perms = permutation_matrix(6, 4, strata=["a", "a", "a", "b", "b", "b"], rng=0)
    >>> perms.shape, bool((np.sort(perms[:, :3], axis=1) == [0, 1, 2]).all())
    ((4, 6), True)
    >>> whole = permutation_matrix(6, 3, plots=["s1", "s1", "s2", "s2", "s3", "s3"], rng=0)
    >>> bool((whole[:, 1::2] == whole[:, ::2] + 1).all())  # the two samples of a subject move together
    True
    """
    parts = list(_permutation_stream(n, permutations, strata, rng, plots))
    return np.vstack(parts) if parts else np.empty((0, n), dtype=np.intp)


@dataclass(frozen=True)
class _Scheme:
    """Restrictions of a permutation: block codes (or None) and, for whole-plot permutations, the plots of each
    exchangeable class as an (m, k) matrix of sample positions (one row per plot, its samples in position order)."""

    blocks: np.ndarray | None
    classes: tuple[np.ndarray, ...] | None


def _scheme(n: int, strata: ArrayLike | None, plots: ArrayLike | None) -> _Scheme:
    blocks = None if strata is None else pd.factorize(_check_labels(strata, n, "strata"))[0]
    if plots is None:
        return _Scheme(blocks, None)
    codes = pd.factorize(_check_labels(plots, n, "plots (subjects)"))[0]
    within = np.zeros(n, dtype=np.intp) if blocks is None else blocks
    per_plot = pd.DataFrame({"plot": codes, "block": within}).groupby("plot")["block"].nunique()
    if (per_plot > 1).any():
        raise DesignError(f"{int((per_plot > 1).sum())} subject(s) have samples in several strata; whole subjects "
                          "can only be permuted within a stratum. Check the subject and strata columns.")
    order = np.lexsort((np.arange(n), codes))  # positions grouped by plot, in position order
    sizes = np.bincount(codes)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    plot_block = within[order[starts]]
    key = pd.factorize(pd.MultiIndex.from_arrays([plot_block, sizes]))[0]
    classes = tuple(order[starts[key == c][:, None] + np.arange(sizes[key == c][0])] for c in range(key.max() + 1))
    return _Scheme(blocks, classes)


def _permutation_stream(
    n: int, permutations: int | ArrayLike, strata: ArrayLike | None, rng: int | np.random.Generator | None,
    plots: ArrayLike | None = None,
) -> Iterator[np.ndarray]:
    """Validate the request, then yield permutations in blocks of at most ``_DRAW_ROWS`` rows."""
    scheme = _scheme(n, strata, plots)
    if not np.isscalar(permutations):
        perms = _check_permutations(np.asarray(permutations), n, scheme, plots)
        return (perms[i : i + _DRAW_ROWS] for i in range(0, len(perms), _DRAW_ROWS))
    count = int(permutations)  # type: ignore[arg-type]
    if count < 0:
        raise DesignError(f"permutations must be >= 0; got {count}.")
    gen = np.random.default_rng(rng)
    return (_draw(gen, n, min(_DRAW_ROWS, count - i), scheme) for i in range(0, count, _DRAW_ROWS))


def _draw(gen: np.random.Generator, n: int, rows: int, scheme: _Scheme) -> np.ndarray:
    perms = np.tile(np.arange(n), (rows, 1))
    if scheme.classes is not None:
        for members in scheme.classes:  # one class of interchangeable plots at a time, all rows at once
            m = members.shape[0]
            order = gen.permuted(np.tile(np.arange(m), (rows, 1)), axis=1)
            perms[:, members.ravel()] = members[order].reshape(rows, members.size)
        return perms
    if scheme.blocks is None:
        return gen.permuted(perms, axis=1)
    blocks = scheme.blocks
    for level in range(blocks.max() + 1):
        idx = np.flatnonzero(blocks == level)
        perms[:, idx] = idx[gen.permuted(np.tile(np.arange(idx.size), (rows, 1)), axis=1)]
    return perms


def _check_permutations(perms: np.ndarray, n: int, scheme: _Scheme, plots: ArrayLike | None) -> np.ndarray:
    if perms.ndim != 2 or perms.shape[1] != n or not np.issubdtype(perms.dtype, np.integer):
        raise DesignError(f"explicit permutations must be an integer array of shape (P, {n}); got {perms.shape}.")
    if not (np.sort(perms, axis=1) == np.arange(n)).all():
        raise DesignError("every row of explicit permutations must be a permutation of 0..n-1 (0-based).")
    if scheme.blocks is not None and not (scheme.blocks[perms] == scheme.blocks).all():
        raise DesignError("explicit permutations move samples between strata.")
    if plots is not None:
        codes = pd.factorize(np.asarray(plots, dtype=object))[0]
        first = np.unique(codes, return_index=True)[1][codes]  # first position of each sample's plot
        if not (codes[perms] == codes[perms][:, first]).all():
            raise DesignError("explicit permutations split a subject: a subject's samples must move together.")
    return perms


# --------------------------------------------------------------------- public


@renamed(permutations="n_permutations")
def permanova_table(
    distances: ArrayLike,
    metadata: pd.DataFrame,
    formula: str,
    *,
    by: By | None = "terms",
    strata: ArrayLike | None = None,
    plots: ArrayLike | None = None,
    n_permutations: int | ArrayLike = 999,
    rng: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """PERMANOVA table equal to R vegan ``adonis2(d ~ formula, by=by, strata=strata)``.

    Parameters
    ----------
    distances
        Square symmetric (n, n) array or skbio ``DistanceMatrix``; any dissimilarity
        (non-Euclidean ones are used as they are, as in vegan).
    metadata
        n rows in the order of ``distances``.
    formula
        Right-hand side such as ``"~ group + age"`` or ``"group * age"`` (:mod:`gutlink.formula` syntax, never
        evaluated: strings become treatment contrasts, numbers stay numeric).
    by
        ``"terms"``: sequential sums of squares; ``"margin"``: each term given all others
        (terms contained in an interaction are not tested, as ``drop.scope``);
        ``"overall"`` (or ``None``): one test of the whole model (vegan ``by=NULL``).
    strata
        Block label of every sample; permutations stay within blocks.
    plots
        Subject label of every sample: whole subjects are permuted (see :func:`permutation_matrix`), as
        ``adonis2(..., permutations=how(plots=Plots(strata=subject), within=Within("none")))``.
    n_permutations
        Number of permutations, or an explicit (P, n) array of 0-based permutations.
    rng
        Seed or ``numpy.random.Generator``.

    Returns
    -------
    pandas.DataFrame
        Columns ``term, df, sum_of_squares, r2, statistic, p_value``; one row per tested
        term, then ``Residual`` and ``Total`` (NaN statistic and p-value).

    Raises
    ------
    InputFormatError
        The distances are not a finite, symmetric, hollow, non-negative square matrix.
    DesignError
        A formula column is missing or has missing values, a term is constant, or no
        residual degrees of freedom are left.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> x = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 12.0])
    >>> d = np.abs(x[:, None] - x[None, :])
    >>> meta = pd.DataFrame({"group": list("aaabbb"), "age": [30.0, 41, 52, 33, 47, 60]})
    >>> t = permanova_table(d, meta, "~ group + age", n_permutations=0)
    >>> t[["term", "df", "sum_of_squares"]].round(2).values.tolist()
    [['group', 1, 150.0], ['age', 1, 3.96], ['Residual', 3, 0.04], ['Total', 5, 154.0]]
    """
    scheme = _check_by(by)
    d = _as_distance_array(distances)
    _check_rows(metadata, d.shape[0])
    _check_ids(distances, metadata)
    return _table(d, None, metadata, formula, by=scheme, strata=strata, plots=plots, n_permutations=n_permutations,
                  rng=rng, owned=False)


def _check_by(by: str | None) -> str:
    by = "overall" if by is None else by
    if by not in ("terms", "margin", "overall"):
        raise DesignError(f"by must be 'terms', 'margin', 'overall' or None; got {by!r}.")
    return by


def _ticking(stream: Iterable[np.ndarray], total: int, label: str) -> Iterator[np.ndarray]:
    """Pass the blocks of permutations through, reporting progress (with an ETA) after each one."""
    tick, done = Ticker(label, total, unit="permutations"), 0
    for block in stream:
        yield block
        done += len(block)
        tick(done)


def _count(n_permutations: int | ArrayLike) -> int:
    if np.isscalar(n_permutations):
        return int(n_permutations)  # type: ignore[arg-type]
    return len(np.asarray(n_permutations))


def _table(d: np.ndarray | None, coords: np.ndarray | None, metadata: pd.DataFrame, formula: str, *, by: str,
           strata: ArrayLike | None, plots: ArrayLike | None, n_permutations: int | ArrayLike,
           rng: int | np.random.Generator | None, owned: bool, label: str = "PERMANOVA") -> pd.DataFrame:
    """The PERMANOVA table from validated distances *d* (centred in place when *owned*) or from Euclidean
    coordinates *coords* (``G = Zc Zc'``, Zc the column-centred coordinates: the same numbers, no n x n matrix)."""
    n = coords.shape[0] if coords is not None else d.shape[0]  # type: ignore[union-attr]
    plan = _plan(_build_design(metadata, formula), by)
    stream = _ticking(_permutation_stream(n, n_permutations, strata, rng, plots), _count(n_permutations),
                     label)
    g, z = None, None
    if coords is not None:
        z = coords - coords.mean(axis=0)
        total = float(np.square(z).sum())
    else:
        assert d is not None
        g = _gower_inplace(d) if owned else gower_centre(d)
        del d  # keep one n x n matrix alive, not two
        total = float(np.trace(g))
    traces = _column_traces(g, plan.basis, np.arange(n)[None, :], z)
    f_obs = _f_statistics(traces, plan, total)[0]

    def f_perm(perms: np.ndarray) -> np.ndarray:
        return _f_statistics(_column_traces(g, plan.basis, perms, z), plan, total)

    return _permanova_frame(plan, traces[0], f_obs, _permutation_p(f_obs, f_perm, stream), total)


def _check_rows(metadata: pd.DataFrame, n: int) -> None:
    if not isinstance(metadata, pd.DataFrame):
        raise DesignError(f"metadata must be a pandas DataFrame; got {type(metadata).__name__}.")
    if len(metadata) != n:
        raise SampleMismatchError(
            f"metadata has {len(metadata)} rows but the distance matrix has {n} samples; "
            "give one metadata row per sample, in the distance matrix's order."
        )


def _permanova_frame(plan: _Plan, traces: np.ndarray, f: np.ndarray, p: np.ndarray, total: float) -> pd.DataFrame:
    ss = traces @ plan.groups
    residual = total - traces @ plan.model
    frame = pd.DataFrame(
        {
            "term": [*plan.labels, "Residual", "Total"],
            "df": [*plan.df.astype(int), plan.df_residual, plan.basis.shape[0] - 1],
            "sum_of_squares": [*ss, residual, total],
            "statistic": [*f, np.nan, np.nan],
            "p_value": [*p, np.nan, np.nan],
        }
    )
    frame.insert(3, "r2", frame["sum_of_squares"] / total)
    return frame[_TABLE_COLUMNS]


# ---------------------------------------------------------------- on a cohort


@dataclass(frozen=True)
class PermanovaResult(Result):
    """PERMANOVA table like vegan's ``adonis2``; ``scheme`` says how the permutations were restricted."""

    metric: str
    formula: str
    by: str
    permutations: int
    strata: str | None
    table: pd.DataFrame = field(default_factory=pd.DataFrame)  # type: ignore[assignment]
    block: str | None = None
    subject: str | None = None
    scheme: str = "free"

    def term(self, name: str = "group_label") -> pd.Series:
        """The row of one term."""
        return self.table.set_index("term").loc[name]


@renamed(permutations="n_permutations")
def permanova(cohort: Cohort, formula: str | None = None, *, metric: str = "braycurtis",
              covariates: Sequence[str] = (), by: By = "margin", strata: str | None = None,
              block: str | None = None, subject: str | None = None, n_permutations: int = 999,
              rng: int | np.random.Generator | None = None,
              distances: DistanceMatrix | None = None) -> PermanovaResult:
    """PERMANOVA of the case/control term (adjusted for *covariates*), like ``adonis2``.

    The default formula is ``~ covariates + group_label``; ``by='margin'`` tests each term given all others,
    ``by='terms'`` sequentially. *strata* (study, country) and *block* (household, pair, family) restrict the
    permutations within their levels (both given: within their crossing). *subject* (repeated samples of one
    person) permutes whole subjects, each only with subjects having as many samples (see
    :func:`permutation_matrix`). Samples are taken in sample-ID order before the permutations are drawn, so the
    row order of the cohort never changes the p-value.
    """
    if formula is None:
        formula = "~ " + " + ".join(quote(c) for c in [*covariates, LABEL])
    dm = _coordinates_or_distances(cohort, metric, distances)
    order = np.argsort(np.asarray(cohort.sample_ids, dtype=str), kind="stable")
    meta = cohort.metadata.iloc[order]
    restrict = [c for c in (strata, block) if c is not None]
    for col in [*restrict, *([subject] if subject else [])]:
        if col not in meta.columns:
            raise DesignError(f"metadata has no column {col!r} (given to restrict the PERMANOVA permutations).")
    blocks = restriction(meta, strata, block)
    plots = None if subject is None else meta[subject].astype(str).to_numpy()
    by = _check_by(by)  # type: ignore[assignment]
    _check_rows(meta, dm.shape[0])
    label = f"PERMANOVA ({metric})"
    coords = _euclidean(dm)
    if coords is not None and coords.shape[1] < coords.shape[0]:  # Aitchison: from the CLR coordinates, O(n p)
        table = _table(None, coords[order], meta, formula, by=by, strata=blocks, plots=plots,
                       n_permutations=n_permutations, rng=rng, owned=False, label=label)
    else:
        n = dm.shape[0]
        _memory.check(f"PERMANOVA of {n:,} samples ({metric})", _memory.square_bytes(n, 1.125) + 2 * _BLOCK_BYTES)
        in_order = bool(np.array_equal(order, np.arange(n)))
        d = _as_distance_array(dm.data if in_order else dm.data[np.ix_(order, order)])
        table = _table(d, None, meta, formula, by=by, strata=blocks, plots=plots, n_permutations=n_permutations,
                       rng=rng, owned=not in_order, label=label)
        del d
    return PermanovaResult(metric=metric, formula=formula, by=by, permutations=n_permutations, strata=strata,
                           table=table, block=block, subject=subject, scheme=permutation_scheme(strata, block, subject))


class _Coordinates:
    """Stands for an Aitchison distance matrix never formed: its CLR coordinates, ids and shape."""

    def __init__(self, coords: np.ndarray, ids: Sequence[str]) -> None:
        self.coords, self.ids, self.shape = coords, list(ids), (len(ids), len(ids))


def _coordinates_or_distances(cohort: Cohort, metric: str, distances: DistanceMatrix | None) -> Any:
    """Without given *distances*, Aitchison comes as its CLR coordinates (no n x n matrix) when there are fewer
    taxa than samples (then O(n p) beats O(n²)); else the matrix."""
    if distances is None and metric == "aitchison" and cohort.n_features < cohort.n_samples:
        return _Coordinates(cohort.clr().to_numpy(), cohort.sample_ids)
    return _distances(cohort, metric, distances)


def _euclidean(dm: object) -> np.ndarray | None:
    return dm.coords if isinstance(dm, _Coordinates) else euclidean_coordinates(dm)


def restriction(meta: pd.DataFrame, strata: str | None, block: str | None) -> np.ndarray | None:
    """Permutation block of every sample: the level of *strata*, of *block*, or of their crossing (None: free)."""
    cols = [c for c in (strata, block) if c is not None]
    if not cols:
        return None
    labels = meta[cols[0]].astype(str)
    for col in cols[1:]:
        labels = labels + "\x1f" + meta[col].astype(str)
    return labels.to_numpy()


def permutation_scheme(strata: str | None = None, block: str | None = None, subject: str | None = None) -> str:
    """Plain words for how permutations are restricted (for results and reports).

    Examples
    --------
    >>> permutation_scheme(block="household")
    "within levels of 'household'"
    """
    within = " × ".join(repr(c) for c in (strata, block) if c is not None)
    parts = [f"whole subjects of {subject!r} (exchanged only with subjects having as many samples)"] if subject else []
    if within:
        parts.append(f"within levels of {within}")
    return "; ".join(parts) or "free"
