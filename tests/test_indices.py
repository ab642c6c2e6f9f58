"""Health indices: GMHI reproduces the published worked example; the learned index is the out-of-fold log-odds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutlink import Cohort, lineage_table
from gutlink.datasets import franzosa2019, toy
from gutlink.errors import DesignError
from gutlink.indices import MH_SPECIES, MN_SPECIES, dysbiosis, gmhi, learned_index
from gutlink.io import read


@pytest.mark.realdata
def test_gmhi_reproduces_published_output(shared_data):
    folder = shared_data / "gmhi"
    res = gmhi(read(folder / "species_relative_abundances.csv"))
    expected = pd.read_csv(folder / "GMHI_output.csv", index_col=0)["GMHI"]
    assert list(res.table.index) == list(expected.index)
    assert np.abs(res.table["gmhi"].to_numpy() - expected.to_numpy()).max() < 1e-6
    assert res.missing_mh == () and res.missing_mn == ()


@pytest.mark.realdata
def test_bundled_species_lists_match_the_published_files(shared_data):
    def read(name):
        return [line.strip().removeprefix("s__") for line in (shared_data / "gmhi" / name).read_text().split("\n")
                if line.strip()]

    assert read("MH_species.txt") == list(MH_SPECIES) and len(MH_SPECIES) == 7
    assert read("MN_species.txt") == list(MN_SPECIES) and len(MN_SPECIES) == 43


def _tiny(values: dict[str, list[float]], units: str = "percent") -> Cohort:
    names = list(values)
    x = np.array([values[n] for n in names]).T
    return Cohort(x, metadata=pd.DataFrame(index=[f"s{i}" for i in range(x.shape[0])]),
                  taxonomy=lineage_table([f"s__{n}" for n in names]), units=units)


def test_gmhi_by_hand():
    # one health-prevalent and one health-scarce species, plus an unclassified row removed before renormalising
    c = _tiny({"Bifidobacterium_adolescentis": [30.0], "Klebsiella_pneumoniae": [10.0], "Other_species": [40.0],
               "Eubacterium_unclassified": [20.0]})
    p_mh, p_mn = 30 / 80, 10 / 80
    psi_mh = (1 / 7) * (-p_mh * np.log(p_mh))
    psi_mn = (1 / 31) * (-p_mn * np.log(p_mn))
    res = gmhi(c)
    assert res.table["gmhi"].iloc[0] == pytest.approx(np.log10((psi_mh + 1e-5) / (psi_mn + 1e-5)), abs=1e-12)
    assert res.excluded == 1


def test_gmhi_threshold_and_empty_sets():
    # 0.0005 % < 0.001 %: below the MetaPhlAn2 presence threshold, so no MH species counts; none listed → 0
    c = _tiny({"Bifidobacterium_adolescentis": [0.0005, 0.0], "Other_species": [99.9995, 100.0]})
    res = gmhi(c)
    assert res.table["gmhi"].tolist() == [0.0, 0.0] and res.table["richness_mh"].tolist() == [0.0, 0.0]
    assert "Klebsiella_pneumoniae" in res.missing_mn


def test_gmhi_units_do_not_matter():
    pct = _tiny({"Bifidobacterium_adolescentis": [30.0], "Klebsiella_pneumoniae": [10.0], "X_y": [60.0]})
    frac = _tiny({"Bifidobacterium_adolescentis": [0.3], "Klebsiella_pneumoniae": [0.1], "X_y": [0.6]}, "fraction")
    assert gmhi(pct).table["gmhi"].iloc[0] == pytest.approx(gmhi(frac).table["gmhi"].iloc[0], abs=1e-12)


def test_gmhi_needs_species():
    with pytest.raises(DesignError, match="species-level"):
        gmhi(toy())  # genus-level 16S table


def test_gmhi_separates_ibd_from_controls_in_the_right_direction():
    res = gmhi(franzosa2019())
    dx = franzosa2019().metadata["Diagnosis"]
    assert res.table["gmhi"][dx == "Control"].median() > res.table["gmhi"][dx != "Control"].median()


def test_learned_index_and_dysbiosis():
    c = franzosa2019()
    idx = learned_index(c, group="Diagnosis", case=["CD", "UC"], control="Control", n_repeats=1, rng=0)
    assert idx.table.columns.tolist()[:2] == ["index", "label"]
    assert idx.table.loc[idx.table.label == "case", "index"].mean() > idx.table.loc[
        idx.table.label == "control", "index"].mean()
    d = dysbiosis(c, group="Diagnosis", case=["CD", "UC"], control="Control")
    assert d.scores.shape[0] == c.n_samples
