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
    # the secondary mixed model agrees (measured: Roseburia -1.68, Bilophila crossover +1.78, both q < 0.01)
    assert t.loc[("Animal", "Roseburia"), "mixed_effect"] < 0 and t.loc[("Animal", "Roseburia"), "mixed_q"] < 0.1
    assert t.loc[("Animal - Plant", "Bilophila"), "mixed_effect"] > 0
    assert t.loc[("Animal - Plant", "Bilophila"), "mixed_q"] < 0.1
    assert "never medical advice" in (out / "report.html").read_text()


def _two_by_two(rng: int, *, carry: float = 1.0, period_shift: float = 1.0, n: int = 12) -> Cohort:
    """A 2 x 2 crossover (half AB, half BA), days -2, -1, 1, 2 in each period; feature_0's period-2 response is
    multiplied by *carry* in sequence AB only (carry-over), feature_1's post samples of period 2 by *period_shift*
    in both sequences (a period effect)."""
    gen = np.random.default_rng(rng)
    rows = [(f"p{i}", arm, per, day) for i in range(n) for per, arm in enumerate(("A", "B") if i % 2 == 0
                                                                                  else ("B", "A"), start=1)
            for day in (-2, -1, 1, 2)]
    meta = pd.DataFrame(rows, columns=["subject", "arm", "period", "day"], index=[f"s{k}" for k in range(len(rows))])
    subj = meta["subject"].str[1:].astype(int).to_numpy()
    base = gen.normal(3, 1, (n, 6))
    x = gen.poisson(np.exp(base[subj] + gen.normal(0, 0.2, (len(meta), 6)))).astype(float) + 1
    late = ((meta["period"] == 2) & (meta["day"] > 0)).to_numpy()
    x[late & (subj % 2 == 0), 0] *= carry
    x[late, 1] *= period_shift
    return Cohort(x, meta)


def _run_2x2(c: Cohort, **kw):
    return trial(c, subject="subject", time="day", arm="arm", arms=["A", "B"], period="period", pre=(-2, -1),
                 post=(1, 2), rank=None, guilds=False, **kw)


def test_mixed_model_columns_find_the_planted_change_and_stay_quiet_elsewhere():
    res = trial(_crossover(5.0), subject="subject", time="day", arm="arm", pre=(-2, -1), post=(1, 2), rank=None,
                guilds=False)
    t = res.table.set_index(["arm", "feature_id"])
    assert {"mixed_effect", "mixed_se", "mixed_df", "mixed_p", "mixed_q"} <= set(res.table.columns)
    assert t.loc[("A", "feature_0"), "mixed_q"] < 0.01 and t.loc[("A", "feature_0"), "mixed_effect"] > 1
    assert t.loc[("A - B", "feature_0"), "mixed_q"] < 0.01 and t.loc[("B", "feature_0"), "mixed_p"] > 0.01
    # containment df: 12 subjects x 2 arms x 2 windows = 48 units, 48 - 12 - 4 terms below the intercept
    assert t.loc[("A", "feature_0"), "mixed_df"] == 48 - 12 - 3
    p = np.concatenate([trial(_crossover(1.0, rng=k), subject="subject", time="day", arm="arm", pre=(-2, -1),
                              post=(1, 2), rank=None, guilds=False).table["mixed_p"].dropna().to_numpy()
                        for k in range(8)])
    assert len(p) == 8 * 3 * 7 and (p < 0.05).mean() < 0.1


def test_crossover_carry_over_and_period_effects_are_separated():
    carry = _run_2x2(_two_by_two(0, carry=6.0)).crossover.set_index(["analysis", "term", "feature_id"])
    assert carry.loc[("taxon", "carry-over", "feature_0"), "q_value"] < 0.05
    assert carry.loc[("taxon", "carry-over", "feature_0"), "effect"] > 0
    assert carry.loc[("taxon", "carry-over", "feature_1"), "p_value"] > 0.01
    per = _run_2x2(_two_by_two(1, period_shift=6.0)).crossover.set_index(["analysis", "term", "feature_id"])
    assert per.loc[("taxon", "period", "feature_1"), "q_value"] < 0.05
    assert per.loc[("taxon", "period", "feature_1"), "effect"] < 0      # period 1 minus period 2 responses
    assert per.loc[("taxon", "treatment A - B", "feature_1"), "p_value"] > 0.01
    assert per.loc[("taxon", "carry-over", "feature_1"), "p_value"] > 0.01
    assert set(per["n_sequence_ab"]) == {6} and set(per["n_sequence_ba"]) == {6}


def test_crossover_tests_need_a_period_column_and_two_sequences():
    res = trial(_crossover(1.0), subject="subject", time="day", arm="arm", pre=(-2, -1), post=(1, 2), rank=None,
                guilds=False)
    assert res.crossover.empty and any("no period column" in n for n in res.notes)
    c = _two_by_two(2)
    same = c.with_metadata(c.metadata.assign(period=np.where(c.metadata["arm"] == "A", 1, 2)))
    res = _run_2x2(same)                                 # everyone AB: no BA sequence, and period = arm
    assert res.crossover.empty and any("each sequence" in n for n in res.notes)
    assert any("not estimable" in n for n in res.notes) and res.table["mixed_p"].isna().all()
    with pytest.raises(DesignError, match="not in the metadata"):
        _run_2x2(c.with_metadata(c.metadata.drop(columns="period")))


def test_cli_trial_period_flag_writes_the_crossover_tests(tmp_path):
    from gutlink.cli import main
    c = _two_by_two(3, carry=6.0)
    counts = pd.DataFrame(c.dense().T, columns=c.sample_ids,
                          index=pd.Index([f"k__Bacteria;p__Firmicutes;c__C;o__O;f__F;g__Genus{i}"
                                          for i in range(c.n_features)], name="#OTU ID"))
    counts.to_csv(tmp_path / "counts.tsv", sep="\t")
    c.metadata.rename_axis("sampleID").to_csv(tmp_path / "meta.tsv", sep="\t")
    out = tmp_path / "out"
    assert main(["trial", str(tmp_path / "counts.tsv"), "--metadata", str(tmp_path / "meta.tsv"), "--subject",
                 "subject", "--time", "day", "--arm", "arm", "--arms", "A,B", "--period", "period", "--pre=-2:-1",
                 "--post", "1:2", "--min-prevalence", "0", "--no-guilds", "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "Crossover: carry-over and period" in html and "never medical advice" in html


def test_windows_that_no_subject_spans_are_an_error_not_an_empty_result():
    meta = pd.DataFrame({"subject": np.repeat([f"p{i}" for i in range(6)], 2), "day": np.tile([30.0, 40.0], 6)},
                        index=[f"s{i}" for i in range(12)])
    c = Cohort(np.random.default_rng(0).poisson(50, (12, 3)).astype(float), meta)
    with pytest.raises(DesignError, match=r"no subject of 'subject' has samples in both.*from 30 to 40"):
        trial(c, subject="subject", time="day", pre=(-4, -1), post=(1, 4), rank=None, guilds=False)
