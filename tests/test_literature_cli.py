"""``gutlink literature``: a differential output folder (or its differential.tsv) in, the concordance report out."""

from __future__ import annotations

import json

import pytest

from gutlink.cli import main
from gutlink.datasets import franzosa2019
from gutlink.io import write_tsv


@pytest.fixture(scope="module")
def differential_out(tmp_path_factory):
    """``gutlink differential`` on PRISM at genus rank, CD vs control (written once for the module)."""
    base = tmp_path_factory.mktemp("lit")
    c = franzosa2019()
    write_tsv(c, base / "prism.tsv")
    c.metadata.to_csv(base / "meta.tsv", sep="\t", index_label="sample_id")
    out = base / "da"
    code = main(["differential", str(base / "prism.tsv"), "--metadata", str(base / "meta.tsv"), "--formula",
                 "~ Diagnosis", "--group", "Diagnosis", "--case", "CD", "--control", "Control", "--rank", "genus",
                 "--shuffles", "0", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_literature_command_on_a_differential_folder(differential_out, tmp_path, capsys):
    out = tmp_path / "lit"
    code = main(["literature", str(differential_out), "--condition", "Crohn disease", "--out", str(out),
                 "--permutations", "499"])
    assert code == 0
    said = capsys.readouterr().out
    assert "concordant" in said and "Matched" in said
    for name in ("literature_signatures.tsv", "literature_studies.tsv", "literature_taxa.tsv",
                 "literature_tests.tsv", "literature_mapping.tsv", "report.html", "summary.json"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "summary.json").read_text())
    text = json.dumps(doc)
    assert '"verdict": "concordant"' in text and "BugSigDB" in text
    html = (out / "report.html").read_text()
    assert 'id="fig-literature-studies"' in html and "CC BY 4.0" in html


def test_literature_command_on_the_tsv_with_all_contrasts(differential_out, tmp_path):
    out = tmp_path / "lit2"
    assert main(["literature", str(differential_out / "differential.tsv"), "--condition", "IBD", "--contrasts",
                 "all", "--statistic", "abundance", "--permutations", "199", "--out", str(out)]) == 0
    assert (out / "literature_tests.tsv").is_file()


def test_unknown_condition_exits_2_and_writes_nothing(differential_out, tmp_path, capsys):
    out = tmp_path / "nope"
    code = main(["literature", str(differential_out), "--condition", "rheumatoid arthritiss x", "--out", str(out)])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "Nearest names" in err and "rheumatoid arthritis" in err


def test_missing_results_exits_2(tmp_path, capsys):
    code = main(["literature", str(tmp_path / "absent"), "--condition", "RA", "--out", str(tmp_path / "o")])
    assert code == 2 and "differential.tsv" in capsys.readouterr().err
