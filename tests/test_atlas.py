"""``gutlink atlas CONFIG.toml``: bad configurations exit 2 with a message naming the file and the fix; on the
GMrepo RA cohorts one run gives the grid, progress on stderr, traceable sentences, and RA's failure to transfer
across cohorts stated."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from test_evidence import check_traceable

from gutlink.cli import main
from gutlink.errors import InputFormatError, UnknownConditionError
from gutlink.evidence import read_config

COHORT = """[[cohort]]
table = "{table}"
group = "Group"
case = "Case"
control = "Control"
condition = "{condition}"
"""


def _config(tmp_path, text):
    p = tmp_path / "atlas.toml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("text, needle", [
    ("[atlas]\nseed = 0\n", "no [[cohort]]"),
    ("[[cohort]]\ntable = 'x.csv'\n", "lacks group"),
    (COHORT.format(table="x.csv", condition="RA") + "colour = 'red'\n", "unknown key"),
    (COHORT.format(table="x.csv", condition="RA") + "options = { nonsense = 1 }\n", "unknown option"),
    ("[[cohort\n", "not valid TOML"),
])
def test_bad_configuration_is_exit_2_naming_the_file(tmp_path, capsys, text, needle):
    cfg = _config(tmp_path, text)
    assert main(["atlas", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert needle in err and "atlas.toml" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_unknown_condition_lists_the_nearest(tmp_path):
    with pytest.raises(UnknownConditionError, match="(?i)rheumatoid"):
        read_config(_config(tmp_path, COHORT.format(table="x.csv", condition="rheumatoid arthritus")))
    with pytest.raises(InputFormatError):
        read_config(tmp_path / "missing.toml")


def test_gmrepo_ra_grid_with_transfer_failure_stated(shared_data, tmp_path, capsys):
    table = shared_data / "multi" / "gmrepo_benchmark" / "rawdata" / "RA_Metagenomics_genus.csv"
    cfg = _config(tmp_path, "[atlas]\npermutations = 49\nseed = 1\npredict = false\n\n"
                  + COHORT.format(table=table, condition="RA") + 'study = "pair_rank"\nname = "RA shotgun"\n')
    out = tmp_path / "out"
    assert main(["atlas", str(cfg), "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert "leave-one-study-out" in said.err and "[ 1/" in said.err  # progress lines
    grid = pd.read_csv(out / "atlas_grid.tsv", sep="\t")
    assert grid["condition"].tolist() == ["rheumatoid arthritis"]
    assert {"community", "taxa", "literature", "prediction_across", "overall"} <= set(grid.columns)
    assert grid["prediction_across"].iloc[0] == "no evidence"  # RA does not transfer across cohorts
    doc = check_traceable(out)
    layers = doc["evidence"][0]["layers"]
    across = next(r for r in layers if r["layer"] == "prediction_across")
    assert "does not transfer" in across["sentence"] and across["n_cohorts"] == 3
    assert across["ci_low"] < 0.5  # the pooled held-out AUROC's interval holds chance
    forest = pd.read_csv(out / "atlas_forest.tsv", sep="\t")
    assert forest["pooled"].any() and "fig-evidence-rheumatoid-arthritis-prediction-across" in \
        (out / "report.html").read_text()
    assert json.loads((out / "summary.json").read_text())["subcommand"] == "atlas"
