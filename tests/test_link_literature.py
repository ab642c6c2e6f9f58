"""link's literature layer: the condition given or inferred from the case label (and said so), not assessable
(never an error, never discordant) without a condition or with an empty differential result."""

from __future__ import annotations

import pandas as pd
import pytest

import gutlink.link as link_module
from gutlink.cli import build_parser
from gutlink.datasets import franzosa2019, toy
from gutlink.errors import UnknownConditionError
from gutlink.link import link

FAST = dict(n_permutations=199, rng=0, metrics=("braycurtis",), guilds=False)


@pytest.fixture(scope="module")
def prism():
    return franzosa2019().aggregate("genus")


def test_condition_inferred_from_the_case_label_and_said(prism):
    res = link(prism, group="Diagnosis", case=["CD"], control="Control", **FAST)
    assert res.literature_info["source"] == "inferred" and res.literature_info["case_label"] == "CD"
    assert res.literature is not None and res.literature.labels == ("Crohn's-disease",)
    said = [s for s in res.verdict["sentences"] if s.startswith("Literature")]
    assert len(said) == 1 and "inferred from the case label 'CD'" in said[0]
    assert res.literature.verdict in {"concordant", "no evidence of concordance"}
    assert res.literature.verdict != "discordant"  # PRISM CD agrees with the published Crohn's signatures
    # the layer never changes the community verdict's level
    without = link(prism, group="Diagnosis", case=["CD"], control="Control", literature=False, **FAST)
    assert without.verdict["level"] == res.verdict["level"] and without.literature is None


def test_given_condition_and_the_layer_runs_its_own_differential(prism):
    res = link(prism, group="Diagnosis", case=["CD"], control="Control", condition="IBD", differential=False, **FAST)
    assert res.differential is None
    assert res.literature_info["source"] == "given" and "literature layer" in res.literature_info["differential"]
    assert set(res.literature.labels) == {"Crohn's-disease", "Inflammatory-bowel-disease", "Ulcerative-colitis"}


def test_no_inference_is_not_assessable_not_an_error():
    res = link(toy(), group="group", case=["case"], control="control", **FAST)
    assert res.literature is None and res.literature_info["verdict"] == "not assessable"
    said = [s for s in res.verdict["sentences"] if s.startswith("Literature")]
    assert said and "not assessable" in said[0] and "--condition" in said[0]


def test_unknown_explicit_condition_names_the_nearest():
    with pytest.raises(UnknownConditionError, match="(?i)rheumatoid"):
        link(toy(), group="group", case=["case"], control="control", condition="rheumatoid arthritus", **FAST)


class _Empty:
    table = pd.DataFrame(columns=["feature_id", "term", "effect", "p_value", "q_value"])
    terms: tuple[str, ...] = ()
    prevalence = None


def test_an_empty_differential_result_is_not_assessable_not_discordant(prism, monkeypatch):
    monkeypatch.setattr(link_module, "_differential", lambda *a, **k: _Empty())
    res = link(prism, group="Diagnosis", case=["CD"], control="Control", differential=False, **FAST)
    assert res.literature.verdict == "not assessable" and "empty" in res.literature.reason
    assert any("not assessable" in s for s in res.verdict["sentences"] if s.startswith("Literature"))


def test_cli_link_flags():
    args = build_parser().parse_args(["link", "t.tsv", "--group", "g", "--case", "a", "--control", "b",
                                      "--condition", "RA"])
    assert args.condition == "RA" and args.no_literature is False
    args = build_parser().parse_args(["link", "t.tsv", "--group", "g", "--case", "a", "--control", "b",
                                      "--no-literature"])
    assert args.no_literature is True and args.condition is None


def test_the_layer_is_written_and_rendered_in_the_link_folder(tmp_path, capsys):
    from gutlink.cli import main
    from gutlink.datasets import resources

    demo = resources.files("gutlink.datasets") / "franzosa2019"
    out = tmp_path / "link"
    code = main(["link", str(demo / "ibd_taxa.csv"), "--metadata", str(demo / "ibd_metadata.csv"), "--group",
                 "Diagnosis", "--case", "CD", "--control", "Control", "--metrics", "braycurtis", "--permutations",
                 "19", "--no-guilds", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    tests = pd.read_csv(out / "literature_tests.tsv", sep="\t")
    assert len(tests) >= 1
    html = (out / "report.html").read_text()
    assert 'id="literature"' in html and html.index('id="literature"') < html.index('id="tests"')
    capsys.readouterr()
    assert main(["link", str(demo / "ibd_taxa.csv"), "--metadata", str(demo / "ibd_metadata.csv"), "--group",
                 "Diagnosis", "--case", "CD", "--control", "Control", "--metrics", "braycurtis", "--permutations",
                 "19", "--no-guilds", "--no-literature", "--out", str(tmp_path / "none"), "--quiet"]) == 0
    assert not list((tmp_path / "none").glob("literature_*")) and 'id="literature"' not in \
        (tmp_path / "none" / "report.html").read_text()
