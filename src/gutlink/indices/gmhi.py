"""The Gut Microbiome Health Index (GMHI).

GMHI follows Gupta et al. 2020 *Nat Commun* 11:4635 (doi:10.1038/s41467-020-18476-8) and its reference R
script (``GMHI.R`` in jaeyunsung/GMHI_2020) step by step, so that its worked example is reproduced to 1e-6.

Examples
--------
>>> from gutlink.datasets import franzosa2019
>>> res = gmhi(franzosa2019())
>>> res.table.columns[:3].tolist()
['gmhi', 'psi_mh', 'psi_mn']
>>> round(float(res.table["gmhi"].iloc[0]), 3)
-1.71
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..cohort import Cohort
from ..errors import DesignError
from ..results import Result
from ..taxonomy import TaxonMatch, match_taxa

__all__ = ["GMHIResult", "MH_SPECIES", "MN_SPECIES", "gmhi", "species_names"]

#: The 7 health-prevalent species of Gupta et al. 2020 (Fig. 2; MetaPhlAn2 names without ``s__``).
MH_SPECIES: tuple[str, ...] = (
    "Alistipes_senegalensis", "Bacteroidales_bacterium_ph8", "Bifidobacterium_adolescentis",
    "Bifidobacterium_angulatum", "Bifidobacterium_catenulatum", "Lachnospiraceae_bacterium_8_1_57FAA",
    "Sutterella_wadsworthensis",
)
#: The 43 health-scarce species of Gupta et al. 2020 (Fig. 2; MetaPhlAn2 names without ``s__``).
MN_SPECIES: tuple[str, ...] = (
    "Anaerotruncus_colihominis", "Atopobium_parvulum", "Bifidobacterium_dentium", "Blautia_producta",
    "candidate_division_TM7_single_cell_isolate_TM7c", "Clostridiales_bacterium_1_7_47FAA",
    "Clostridium_asparagiforme", "Clostridium_bolteae", "Clostridium_citroniae", "Clostridium_clostridioforme",
    "Clostridium_hathewayi", "Clostridium_nexile", "Clostridium_ramosum", "Clostridium_symbiosum",
    "Eggerthella_lenta", "Erysipelotrichaceae_bacterium_2_2_44A", "Flavonifractor_plautii",
    "Fusobacterium_nucleatum", "Gemella_morbillorum", "Gemella_sanguinis", "Granulicatella_adiacens",
    "Holdemania_filiformis", "Klebsiella_pneumoniae", "Lachnospiraceae_bacterium_1_4_56FAA",
    "Lachnospiraceae_bacterium_2_1_58FAA", "Lachnospiraceae_bacterium_3_1_57FAA_CT1",
    "Lachnospiraceae_bacterium_5_1_57FAA", "Lachnospiraceae_bacterium_9_1_43BFAA", "Lactobacillus_salivarius",
    "Peptostreptococcus_stomatis", "Ruminococcaceae_bacterium_D16", "Ruminococcus_gnavus", "Solobacterium_moorei",
    "Streptococcus_anginosus", "Streptococcus_australis", "Streptococcus_gordonii", "Streptococcus_infantis",
    "Streptococcus_mitis_oralis_pneumoniae", "Streptococcus_sanguinis", "Streptococcus_vestibularis",
    "Subdoligranulum_sp_4_3_54A2FAA", "Subdoligranulum_variabile", "Veillonella_atypica",
)
#: Species names containing these substrings are removed before renormalising (as ``GMHI.R`` does).
GMHI_EXCLUDE: tuple[str, ...] = ("unclassified", "virus")
_EPS = 1e-5  # GMHI.R adds 0.00001 to numerator and denominator


@dataclass(frozen=True)
class GMHIResult(Result):
    """Per-sample Gut Microbiome Health Index and its parts.

    ``table`` has one row per sample: ``gmhi`` (log10 ratio; > 0 healthy-like, < 0 disease-like, 0 when no
    listed species is detected), ``psi_mh`` / ``psi_mn`` (collective abundances), ``shannon_mh`` /
    ``shannon_mn`` and ``richness_mh`` / ``richness_mn``. ``missing_mh`` / ``missing_mn`` name the listed
    species absent from the input table (scored as zero), ``excluded`` counts the features removed before
    renormalisation; ``matches`` says how each listed species was found (exact, normalised, or a synonym such
    as *Ruminococcus gnavus* → *Mediterraneibacter gnavus* in newer MetaPhlAn tables).
    """

    table: pd.DataFrame
    threshold: float
    mh_prime: float
    mn_prime: float
    missing_mh: tuple[str, ...] = ()
    missing_mn: tuple[str, ...] = ()
    excluded: int = 0
    matches: pd.DataFrame = field(default_factory=pd.DataFrame, metadata={"json": False})
    citation: str = field(default="Gupta et al. 2020 Nat Commun 11:4635, doi:10.1038/s41467-020-18476-8")


def species_names(cohort: Cohort) -> pd.Series:
    """Species name of each feature (``s__`` stripped), or ``None`` for features not at species level.

    A feature is at species level when its lineage names a species and no strain; a bare ``s__X`` ID is read as
    species ``X``.

    Examples
    --------
    >>> from gutlink.datasets import franzosa2019
    >>> species_names(franzosa2019()).iloc[:2].tolist()
    ['Methanobrevibacter_smithii', 'Methanosphaera_stadtmanae']
    """
    tax = cohort.taxonomy
    species = tax["species"].astype(object)
    strain = tax["strain"].astype(object)
    ids = pd.Series(tax.index, index=tax.index, dtype=object)
    bare = ids.str.startswith("s__")
    names = species.where(species.notna(), ids.where(bare).str.slice(3))
    names = names.where(strain.isna(), None)
    return names.map(lambda s: None if s is None or (isinstance(s, float) and np.isnan(s)) else str(s))


def _strip(names: Sequence[str]) -> list[str]:
    return [n[3:] if n.startswith("s__") else n for n in (str(x).strip() for x in names) if n]


def _gmhi_profile(cohort: Cohort, threshold: float) -> tuple[pd.DataFrame, int]:
    """Species-level profile renormalised to sum 1 after exclusions, values below *threshold* set to 0."""
    names = species_names(cohort)
    excluded = names.fillna("").str.contains("|".join(GMHI_EXCLUDE), regex=True).to_numpy(dtype=bool)
    keep = names.notna().to_numpy(dtype=bool) & ~excluded
    if not keep.any():
        raise DesignError("GMHI needs a species-level table (MetaPhlAn2 's__' names); no species feature was found.")
    x = cohort.dense()[:, keep]
    totals = x.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        bad = list(cohort.sample_ids[(totals <= 0).ravel()][:5])
        raise DesignError(f"{int((totals <= 0).sum())} sample(s) have no classified species abundance, e.g. {bad}.")
    rel = x / totals
    rel[rel < threshold] = 0.0
    # duplicated names stay separate columns, as rows do in the reference script
    return pd.DataFrame(rel, index=cohort.sample_ids, columns=names[keep].to_numpy()), int((~keep).sum())


def _collective(profile: pd.DataFrame, columns: list[int], prime: float) -> tuple[np.ndarray, ...]:
    x = profile.to_numpy()[:, columns]
    with np.errstate(divide="ignore", invalid="ignore"):
        shannon = 0.0 - np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0).sum(axis=1)
    richness = (x > 0).sum(axis=1).astype(float)
    return richness / prime * shannon, shannon, richness


def gmhi(cohort: Cohort, *, mh_species: Sequence[str] = MH_SPECIES, mn_species: Sequence[str] = MN_SPECIES,
         threshold: float = 1e-5, mh_prime: float = 7, mn_prime: float = 31) -> GMHIResult:
    """Gut Microbiome Health Index of each sample, exactly as published (Gupta et al. 2020).

    Steps of the reference script: keep species-level features; drop those whose name contains
    ``'unclassified'`` or ``'virus'``; renormalise each sample to sum 1; set relative abundances below
    *threshold* (1e-5, i.e. 0.001 % on the MetaPhlAn2 scale) to zero; for the health-prevalent (MH) and
    health-scarce (MN) species compute Shannon diversity ``H`` and richness ``R`` of the present species and
    ``psi = R / R' * H`` with the published medians ``R'_MH = 7`` and ``R'_MN = 31``; then
    ``GMHI = log10((psi_MH + 1e-5) / (psi_MN + 1e-5))``.

    Parameters
    ----------
    cohort
        MetaPhlAn2 species-level profile (any units: each sample is renormalised).
    mh_species, mn_species
        The species lists (``s__`` prefixes are optional); default: the published 7 and 43 species.
    threshold
        Presence threshold on the renormalised relative abundance (fraction).
    mh_prime, mn_prime
        The published reference richness values.

    Returns
    -------
    GMHIResult
        One row per sample; listed species missing from the table are reported in ``missing_mh`` /
        ``missing_mn``.

    Examples
    --------
    >>> from gutlink.datasets import franzosa2019
    >>> res = gmhi(franzosa2019())
    >>> int(res.table["richness_mh"].max()) <= 7
    True
    """
    profile, excluded = _gmhi_profile(cohort, threshold)
    names = pd.Series(profile.columns.to_numpy(), index=pd.RangeIndex(profile.shape[1]).astype(str))
    match_mh, match_mn = (match_taxa(_strip(s), names) for s in (mh_species, mn_species))
    psi_mh, h_mh, r_mh = _collective(profile, [int(i) for i in match_mh.features()], mh_prime)
    psi_mn, h_mn, r_mn = _collective(profile, [int(i) for i in match_mn.features()], mn_prime)
    table = pd.DataFrame({"gmhi": np.log10((psi_mh + _EPS) / (psi_mn + _EPS)), "psi_mh": psi_mh,
                          "psi_mn": psi_mn, "shannon_mh": h_mh, "shannon_mn": h_mn, "richness_mh": r_mh,
                          "richness_mn": r_mn}, index=cohort.sample_ids)
    return GMHIResult(table=table, threshold=threshold, mh_prime=mh_prime, mn_prime=mn_prime,
                      missing_mh=match_mh.missing, missing_mn=match_mn.missing, excluded=excluded,
                      matches=pd.concat([_named(match_mh, names, "MH"), _named(match_mn, names, "MN")],
                                        ignore_index=True))


def _named(match: TaxonMatch, names: pd.Series, which: str) -> pd.DataFrame:
    """The match table with the matched species names instead of column positions."""
    t = match.table
    return t.assign(list=which, feature_id=t["feature_id"].map(names).fillna(""))


# ----------------------------------------------------------------------------- other indices
