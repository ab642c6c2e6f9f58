"""Lineage strings from MetaPhlAn, Greengenes, SILVA and GTDB parse to the same ranks."""

from __future__ import annotations

import pytest

from gutlink.taxonomy import lineage_table, normalise_rank, parse_lineage, rank_of

SAME = [
    "k__Bacteria|p__Firmicutes|c__Clostridia|o__Clostridiales|f__Lachnospiraceae|g__Roseburia|s__Roseburia_intestinalis",
    "k__Bacteria; p__Firmicutes; c__Clostridia; o__Clostridiales; f__Lachnospiraceae; g__Roseburia; s__Roseburia_intestinalis",
    "D_0__Bacteria;D_1__Firmicutes;D_2__Clostridia;D_3__Clostridiales;D_4__Lachnospiraceae;D_5__Roseburia;D_6__Roseburia_intestinalis",
    "d__Bacteria;p__Firmicutes;c__Clostridia;o__Clostridiales;f__Lachnospiraceae;g__Roseburia;s__Roseburia_intestinalis",
    "Bacteria;Firmicutes;Clostridia;Clostridiales;Lachnospiraceae;Roseburia;Roseburia_intestinalis",
]


@pytest.mark.parametrize("lineage", SAME)
def test_all_styles_parse_to_the_same_ranks(lineage):
    parsed = parse_lineage(lineage)
    assert parsed == parse_lineage(SAME[0])
    assert parsed["genus"] == "Roseburia" and parsed["strain"] is None


def test_empty_levels_are_none_and_sgb_is_strain():
    p = parse_lineage("k__Bacteria; p__Firmicutes; g__; s__")
    assert p["genus"] is None and p["species"] is None
    sgb = parse_lineage("k__Bacteria|p__Firmicutes|s__Faecalibacterium_prausnitzii|t__SGB15316")
    assert sgb["strain"] == "SGB15316"
    assert rank_of("k__Bacteria|p__Firmicutes|s__X|t__SGB1") == "strain"


def test_lineage_table_and_ranks():
    t = lineage_table(SAME[:2], index=["a", "b"])
    assert t.loc["b", "family"] == "Lachnospiraceae"
    assert normalise_rank("Genus") == "genus"
    with pytest.raises(ValueError, match="unknown rank"):
        normalise_rank("tribe")
