"""gutlink.dynamics.trial and ``gutlink trial``: within-subject change in intervention trials (research tool, never
medical advice)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gutlink.cohort import Cohort
from gutlink.dynamics.trial import trial
from gutlink.errors import DesignError


def _crossover(effect: float, rng: int = 0) -> Cohort:
    """12 subjects, arms A and B each with days -2, -1, 1, 2; taxon f0 rises by *effect* (x-fold) in arm A only."""
    gen = np.random.default_rng(rng)
    rows = [(f"p{i}", arm, day) for i in range(12) for arm in ("A", "B") for day in (-2, -1, 1, 2)]
    meta = pd.DataFrame(rows, columns=["subject", "arm", "day"], index=[f"s{k}" for k in range(len(rows))])
    base = gen.lognormal(3, 1, (12, 6))
    x = np.vstack([gen.poisson(base[int(s[1:])] * np.exp(gen.normal(0, 0.2, 6))) for s in meta["subject"]])
    x = x.astype(float) + 1
    on = ((meta["arm"] == "A") & (meta["day"] > 0)).to_numpy()
    x[on, 0] *= effect
    return Cohort(x, meta)


def test_planted_change_is_found_in_its_arm_and_in_the_crossover():
    res = trial(_crossover(5.0), subject="subject", time="day", arm="arm", pre=(-2, -1), post=(1, 2), rank=None,
                guilds=False)
    t = res.table.set_index(["arm", "feature_id"])
    assert t.loc[("A", "feature_0"), "q_value"] < 0.05 and t.loc[("A", "feature_0"), "effect"] > 0.5
    assert t.loc[("B", "feature_0"), "p_value"] > 0.01
    assert t.loc[("A - B", "feature_0"), "q_value"] < 0.05 and t.loc[("A - B", "feature_0"), "n_subjects"] == 12
    assert set(res.table["analysis"]) == {"taxon", "diversity"} and res.arms == ("A", "B")
    assert set(res.responders.columns) >= {"arm", "subject", "bray_curtis_shift", "responder", "baseline_shannon"}


def test_no_planted_change_keeps_p_values_near_uniform():
    p = np.concatenate([trial(_crossover(1.0, rng=k), subject="subject", time="day", arm="arm", pre=(-2, -1),
                              post=(1, 2), rank=None, guilds=False).table["p_value"].dropna().to_numpy()
                        for k in range(8)])
    assert len(p) == 8 * 3 * 7 and (p < 0.05).mean() < 0.1


def test_bad_windows_and_columns_raise():
    c = _crossover(1.0)
    with pytest.raises(DesignError, match="must start after"):
        trial(c, subject="subject", time="day", pre=(-2, 1), post=(1, 2), rank=None, guilds=False)
    with pytest.raises(DesignError, match="not in the metadata"):
        trial(c, subject="mouse", time="day", pre=(-2, -1), post=(1, 2), rank=None, guilds=False)
    with pytest.raises(DesignError, match="no samples"):
        trial(c, subject="subject", time="day", arm="arm", arms=["C"], pre=(-2, -1), post=(1, 2), rank=None,
              guilds=False)
    few = trial(c.subset(samples=np.flatnonzero(c.metadata["subject"].isin(["p0", "p1", "p2"]).to_numpy())),
                subject="subject", time="day", pre=(-2, -1), post=(1, 2), rank=None, guilds=False)
    assert few.table["p_value"].isna().all() and "only 3 subjects" in few.notes[0]


@pytest.mark.realdata
def test_david2014_animal_diet_lowers_roseburia_and_raises_bilophila(shared_data, tmp_path):
    from gutlink.cli import main
    d = shared_data / "dynamics" / "david2014_mlrepo"
    if not (d / "gg" / "taxatable.txt").is_file():
        pytest.skip(f"{d} not present")
    out = tmp_path / "trial"
    assert main(["trial", str(d / "gg" / "taxatable.txt"), "--metadata", str(d / "mapping-orig.txt"),
                 "--subject", "SubjectFood", "--time", "Day", "--arm", "Diet", "--arms", "Animal,Plant",
                 "--pre=-4:-1", "--post", "1:4", "--min-prevalence", "0.05", "--no-guilds", "--out", str(out)]) == 0
    t = pd.read_csv(out / "trialresult.tsv", sep="\t").set_index(["arm", "feature_id"])
    # measured: Roseburia animal -1.74 (10 of 10 down, q 0.095); crossover Bilophila +0.90 (9 of 9 up, q 0.085)
    assert t.loc[("Animal", "Roseburia"), "effect"] < 0 and t.loc[("Animal", "Roseburia"), "q_value"] < 0.1
    assert t.loc[("Animal - Plant", "Bilophila"), "effect"] > 0
    assert t.loc[("Animal - Plant", "Bilophila"), "q_value"] < 0.1
    assert "never medical advice" in (out / "report.html").read_text()
