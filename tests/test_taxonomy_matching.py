"""One taxon-matching helper: exact, normalised, synonyms, genus fallback and coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gutlink.cohort import Cohort
from gutlink.datasets import franzosa2019
from gutlink.indices import gmhi
from gutlink.taxonomy import lineage_table, match_taxa, taxon_key


def test_keys_ignore_prefix_brackets_case_and_separators():
    same = ["s__[Ruminococcus]_gnavus", "Ruminococcus gnavus", "ruminococcus-gnavus", "k__B|g__R|s__Ruminococcus_gnavus"]
    assert len({taxon_key(s) for s in same}) == 1
    assert taxon_key("Candidatus Saccharibacteria") == "saccharibacteria"


def test_rules_in_order_and_coverage():
    names = pd.Series(["Faecalibacterium_prausnitzii", "phocaeicola vulgatus", "Blautia", None],
                      index=["a", "b", "c", "d"])
    m = match_taxa(["Faecalibacterium_prausnitzii", "s__Phocaeicola_vulgatus", "Bacteroides_vulgatus",
                    "Blautia_wexlerae", "Akkermansia_muciniphila"], names, genus_fallback=True)
    assert m.table["how"].tolist() == ["exact", "normalised", "synonym", "genus", "missing"]
    assert m.missing == ("Akkermansia_muciniphila",) and m.coverage == 0.8
    assert m.features() == ["a", "b", "c"]
    assert match_taxa(["Blautia_wexlerae"], names).missing == ("Blautia_wexlerae",)  # no fallback unless asked


def test_gmhi_finds_renamed_species():
    """A MetaPhlAn 4-style table (Mediterraneibacter gnavus, Enterocloster bolteae) gives the GMHI of the
    MetaPhlAn 2 names it was published with."""
    c = franzosa2019()
    renamed = {"Ruminococcus_gnavus": "Mediterraneibacter_gnavus", "Clostridium_bolteae": "Enterocloster_bolteae"}
    assert set(renamed) <= set(c.feature_ids)
    ids = [renamed.get(f, f) for f in c.feature_ids]
    new = Cohort(c.dense(), metadata=c.metadata, taxonomy=lineage_table([f"s__{i}" for i in ids], index=ids),
                 units=c.units)
    a, b = gmhi(c), gmhi(new)
    np.testing.assert_allclose(a.table["gmhi"], b.table["gmhi"], rtol=1e-12)
    how = b.matches.set_index("query")["how"]
    assert how["Ruminococcus_gnavus"] == "synonym" and how["Clostridium_bolteae"] == "synonym"
    assert a.missing_mn == b.missing_mn
