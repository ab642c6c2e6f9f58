"""Issue 2 acceptance on MetAML (MetaHIT + Nielsen 2014 IBD, species level), read from the real file.

Every IBD patient in these two cohorts is Spanish while 163 of the 189 healthy subjects are Danish, so country is
adjusted for (PERMANOVA margin test, OLS for alpha diversity) and permutations and dysbiosis references are
restricted within country. Nielsen re-sequenced MetaHIT subjects: one sample per subject is analysed.
"""

from __future__ import annotations

import pytest

from gutlink.io import read
from gutlink.link import link

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def metaml(shared_data):
    c = read(shared_data / "ibd" / "metaml" / "abundance.txt.bz2")
    return c.subset(samples=c.metadata.dataset_name.isin(["metahit", "Neilsen_genome_assembly"]).to_numpy())


def _run(cohort, cases):
    return link(cohort, group="disease", case=cases, control="n", covariates=["country"], strata="country",
                subject="subjectID", permutations=199, rng=5, metrics=("braycurtis",))


def test_ibd_vs_healthy(metaml):
    res = _run(metaml, ["ibd_ulcerative_colitis", "ibd_crohn_disease"])
    assert res.n_per_group == {"case": 107, "control": 189}  # one sample per subject
    t = res.tests
    perm = t[t.analysis == "permanova"].iloc[0]
    assert perm.p_value <= 0.01 and perm.effect > 0
    sh = t[(t.analysis == "alpha") & (t.metric == "shannon") & (t.test == "ols")].iloc[0]
    assert sh.effect < 0 and sh.ci_high < 0  # lower Shannon diversity once country is adjusted for
    dys = t[(t.analysis == "dysbiosis") & (t.test == "mann_whitney")].iloc[0]
    assert dys.effect > 0 and dys.q_value < 0.01


def test_crohns_disease_has_lower_shannon(metaml):
    res = _run(metaml, ["ibd_crohn_disease"])
    t = res.tests
    sh = t[(t.analysis == "alpha") & (t.metric == "shannon") & (t.test == "ols")].iloc[0]
    assert sh.effect < -0.2 and sh.p_value < 0.01
