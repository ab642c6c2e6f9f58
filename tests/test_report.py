"""Tests of gutlink.report: atomic output folder, escaping, JSON, tables, figures, NaN handling."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from _figures import layer_figures
from _html import Page

from gutlink import report
from gutlink.community import AlphaResult, DysbiosisResult, OrdinationResult, PermanovaResult, PermdispResult
from gutlink.datasets import franzosa2019, toy
from gutlink.link import LinkResult, link
from gutlink.report import OutputExistsError
from gutlink.report.renderers import link_layers
from gutlink.results import TEST_COLUMNS, Result

EVIL_CASE = "<script>alert(1)</script>"
EVIL_CONTROL = '"><img src=x onerror=alert(1)>'
EVIL_SAMPLE = "<svg onload=alert(2)>"
EVIL_FILE = "</title><script>alert(3)</script>.tsv"
TSV_FILES = {"alpha_diversity.tsv", "alpha_tests.tsv", "permanova.tsv", "permdisp.tsv", "dysbiosis_scores.tsv",
             "tests.tsv", "pcoa_braycurtis.tsv", "pcoa_jaccard.tsv", "pcoa_aitchison.tsv"}


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def result() -> LinkResult:
    """A real run on the bundled DIABIMMUNE toy cohort (19 samples), few permutations."""
    return link(toy(), group="group", case=["case"], control="control", n_permutations=49, rng=3,
                inputs={"abundance": {"path": "counts.tsv", "sha256": "a" * 64},
                        "command": "gutlink link counts.tsv --group group --case case --control control"})


@pytest.fixture(scope="module")
def evil_result() -> LinkResult:
    """The toy cohort with hostile group labels, sample ID, column name and file name."""
    c = toy()
    meta = c.metadata.copy()
    meta["group"] = meta["group"].map({"case": EVIL_CASE, "control": EVIL_CONTROL})
    meta = meta.rename(columns={"group": "grp<b>"})
    meta.index = [EVIL_SAMPLE if i == 0 else s for i, s in enumerate(meta.index)]
    c = type(c)(c.abundance, metadata=meta, taxonomy=c.taxonomy, units=c.units, history=c.history)
    inputs = {"metadata": {"path": EVIL_FILE, "sha256": "b" * 64}, "argv": ["gutlink", "link", EVIL_FILE]}
    return link(c, group="grp<b>", case=[EVIL_CASE], control=EVIL_CONTROL, n_permutations=19, rng=1,
                metrics=("braycurtis",), inputs=inputs)


@pytest.fixture(scope="module")
def franzosa_result() -> LinkResult:
    """The bundled Franzosa 2019 cohort, CD vs Control (155 samples in, 102 analysed)."""
    return link(franzosa2019(), group="Diagnosis", case=["CD"], control="Control", n_permutations=99, rng=1)


def _nan_frame(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for col in columns:
        if col in out.columns:
            out[col] = np.nan
    return out


@pytest.fixture(scope="module")
def nan_result(result: LinkResult) -> LinkResult:
    """The toy run with NaN in every numeric place a real run can produce one (and some it cannot)."""
    numeric = ["statistic", "p_value", "q_value", "effect", "ci_low", "ci_high", "n_case", "n_control"]
    alpha = dataclasses.replace(result.alpha, values=_nan_frame(result.alpha.values, ["shannon"]),
                                tests=_nan_frame(result.alpha.tests, numeric))
    ords = {m: dataclasses.replace(o, proportion_explained=o.proportion_explained * np.nan)
            for m, o in result.ordinations.items()}
    perms = {m: dataclasses.replace(p, table=_nan_frame(p.table, ["statistic", "p_value", "r2"]))
             for m, p in result.permanova.items()}
    disps = {m: dataclasses.replace(d, statistic=np.nan, p_value=np.nan) for m, d in result.permdisp.items()}
    scores = result.dysbiosis.scores.copy()
    scores.loc[scores.index[:3], "score"] = np.nan
    dys = dataclasses.replace(result.dysbiosis, threshold=np.nan, scores=scores,
                              tests=_nan_frame(result.dysbiosis.tests, numeric))
    return dataclasses.replace(result, alpha=alpha, ordinations=ords, permanova=perms, permdisp=disps,
                               dysbiosis=dys, tests=_nan_frame(result.tests, numeric), seed=None)


# ----------------------------------------------------------------------------- an HTML inspector
def _expected_figures(res: LinkResult) -> set[str]:
    alpha = {f"fig-alpha-{m}" for m in res.alpha.values.columns if m != "group_label"}
    diff = set() if res.differential is None else {"fig-volcano", "fig-forest", "fig-composition"}
    diff |= set() if res.prediction is None else {"fig-roc", "fig-calibration", "fig-importance"}
    lit = res.literature
    diff |= {"fig-literature-studies"} if lit is not None and lit.verdict != "not assessable" and len(lit.studies) else set()
    return alpha | {f"fig-pcoa-{m}" for m in res.ordinations} | {"fig-dysbiosis"} | diff | set(layer_figures(res))



# ----------------------------------------------------------------------------- output folder
def test_write_creates_every_file(result: LinkResult, tmp_path: Path) -> None:
    out = report.write(result, tmp_path / "run")
    assert out == (tmp_path / "run").absolute()
    names = {p.name for p in out.iterdir()}
    assert TSV_FILES | {"report.html", "summary.json"} <= names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no temporary folder left beside it


def test_write_creates_missing_parents(result: LinkResult, tmp_path: Path) -> None:
    out = report.write(result, tmp_path / "results" / "2024" / "run")
    assert (out / "report.html").is_file()
    assert [p.name for p in out.parent.iterdir()] == ["run"]


def test_tsv_tables(result: LinkResult, tmp_path: Path) -> None:
    out = report.write(result, tmp_path / "run")
    tests = pd.read_csv(out / "tests.tsv", sep="\t")
    assert list(tests.columns) == TEST_COLUMNS and len(tests) == len(result.tests)
    perm = pd.read_csv(out / "permanova.tsv", sep="\t")
    assert perm.columns[0] == "metric" and set(perm["metric"]) == set(result.permanova)
    alpha = pd.read_csv(out / "alpha_diversity.tsv", sep="\t", index_col=0)
    assert alpha.index.name == "sample_id" and len(alpha) == result.alpha.values.shape[0]
    np.testing.assert_allclose(alpha["shannon"], result.alpha.values["shannon"])
    pc = pd.read_csv(out / "pcoa_braycurtis.tsv", sep="\t", index_col=0)
    np.testing.assert_allclose(pc.to_numpy(), result.ordinations["braycurtis"].coordinates.to_numpy())
    disp = pd.read_csv(out / "permdisp.tsv", sep="\t")
    assert {"metric", "group", "n", "mean_distance_to_centroid", "p_value"} <= set(disp.columns)


def _strict_json(text: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_summary_json_is_valid_and_complete(result: LinkResult, tmp_path: Path) -> None:
    out = report.write(result, tmp_path / "run")
    doc = _strict_json((out / "summary.json").read_text(encoding="utf-8"))
    assert doc["type"] == "LinkResult"
    assert doc["verdict"]["level"] == result.verdict["level"]
    assert doc["seed"] == 3 and doc["versions"]["gutlink"] == report.summary(result)["versions"]["gutlink"]
    assert doc["alpha"]["type"] == "AlphaResult"  # nested results are expanded, not stringified
    assert doc["permanova"]["braycurtis"]["table"][0]["term"]
    assert doc["inputs"]["abundance"]["sha256"] == "a" * 64
    for name, digest in doc["report"]["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    diff = set() if result.differential is None else {"differential.tsv", "prevalence.tsv"}
    layers = {name for layer in link_layers(result) for name in report.tables(layer)}  # guilds, markers, literature
    evidence = {"evidence_layers.tsv", "evidence_rubric.tsv"}  # the first screen's grid
    assert set(doc["report"]["files"]) == TSV_FILES | {"report.html", "dysbiosis_tests.tsv"} | diff | layers | evidence
    assert doc["evidence"]["grid"]  # the first screen's grades


def test_existing_folder_is_not_replaced_without_overwrite(result: LinkResult, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError) as err:
        report.write(result, out)
    assert isinstance(err.value, FileExistsError) and "overwrite" in str(err.value)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_overwrite_replaces_a_gutlink_folder(result: LinkResult, tmp_path: Path) -> None:
    out = report.write(result, tmp_path / "run")
    (out / "stale.tsv").write_text("old")
    report.write(result, out, overwrite=True)
    assert not (out / "stale.tsv").exists() and (out / "report.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_overwrite_refuses_a_folder_that_is_not_a_gutlink_output(result: LinkResult, tmp_path: Path) -> None:
    out = tmp_path / "home"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(OutputExistsError, match="does not look like"):
        report.write(result, out, overwrite=True)
    assert (out / "thesis.tex").read_text() == "precious"


def test_overwrite_of_an_empty_folder(result: LinkResult, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    report.write(result, tmp_path / "run", overwrite=True)
    assert (tmp_path / "run" / "report.html").is_file()


def _fail(*args: object, **kwargs: object) -> None:
    raise RuntimeError("renderer exploded")


def test_failing_renderer_leaves_nothing(result: LinkResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gutlink.report.renderers.box_strip_figure", _fail)
    with pytest.raises(RuntimeError, match="exploded"):
        report.write(result, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_failing_renderer_keeps_the_old_output(result: LinkResult, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    out = report.write(result, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr("gutlink.report.renderers.pcoa_figure", _fail)
    with pytest.raises(RuntimeError):
        report.write(result, out, overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_failed_swap_restores_the_old_output(result: LinkResult, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = report.write(result, tmp_path / "run")
    before = sorted(p.name for p in out.iterdir())
    real_replace = os.replace

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if ".run.tmp-" in os.fspath(src):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr("gutlink.report.output.os.replace", replace)
    with pytest.raises(OSError, match="disk full"):
        report.write(result, out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_output_is_deterministic(result: LinkResult, tmp_path: Path) -> None:
    a = report.write(result, tmp_path / "a")
    b = report.write(result, tmp_path / "b")
    for name in ("report.html", "summary.json", "tests.tsv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


# ----------------------------------------------------------------------------- page content
def test_page_has_every_figure_with_svg(result: LinkResult) -> None:
    page = Page(report.render_html(result))
    assert set(page.figures) == _expected_figures(result)
    for fig_id, inner in page.figures.items():
        assert "svg" in inner and "title" in inner and "figcaption" in inner, fig_id
    svg_ids = [a["id"] for t, a in page.tags if a.get("id")]
    assert len(svg_ids) == len(set(svg_ids)), "element ids must be unique across the inline SVGs"


def test_page_sections_and_verdict(result: LinkResult) -> None:
    html = report.render_html(result)
    page = Page(html)
    ids = {a.get("id") for _, a in page.tags}
    assert {"verdict", "disclaimer", "overview", "alpha", "beta", "permanova", "permdisp", "dysbiosis", "tests",
            "reproduce", "dispersion-note", "software-versions"} <= ids
    verdict = next(a for t, a in page.tags if a.get("id") == "verdict")
    assert f"verdict-{result.verdict['level']}" in (verdict["class"] or "")
    text = page.all_text
    for sentence in result.verdict["sentences"]:
        assert sentence in text
    assert "not medical advice" in text
    assert result.inputs["command"] in text and "a" * 64 in text
    assert "% of variance" in html


def test_page_is_self_contained(result: LinkResult) -> None:
    html = report.render_html(result)
    page = Page(html)
    assert not {"script", "img", "link", "iframe", "object", "embed"} & set(page.tag_names)
    for _, attrs in page.tags:
        for key, value in attrs.items():
            assert not key.startswith("on")
            if key in ("src", "href", "xlink:href") and value:
                assert value.startswith("#"), (key, value)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', "")
    assert "@import" not in html and "url(" not in html.replace("url(#", "")


def test_hostile_strings_are_escaped(evil_result: LinkResult, tmp_path: Path) -> None:
    out = report.write(evil_result, tmp_path / "run")
    html = (out / "report.html").read_text(encoding="utf-8")
    page = Page(html)
    assert not {"script", "img", "b"} & set(page.tag_names)
    assert not [k for _, a in page.tags for k in a if k.startswith("on")]
    text = page.all_text
    for evil in (EVIL_CASE, EVIL_CONTROL, EVIL_FILE, "grp<b>"):
        assert evil in text  # shown to the reader as text
    for raw in (EVIL_CASE, EVIL_CONTROL, "<svg onload", "<b>"):
        assert raw not in html  # never as markup
    assert _strict_json((out / "summary.json").read_text(encoding="utf-8"))["control"] == EVIL_CONTROL
    assert EVIL_SAMPLE in pd.read_csv(out / "alpha_diversity.tsv", sep="\t", index_col=0).index


def test_nan_values_render_gracefully(nan_result: LinkResult, tmp_path: Path) -> None:
    out = report.write(nan_result, tmp_path / "run")
    html = (out / "report.html").read_text(encoding="utf-8")
    page = Page(html)
    assert set(page.figures) == _expected_figures(nan_result)
    assert "nan" not in page.all_text.lower().split() and "NaN" not in html
    assert "—" in page.all_text
    doc = _strict_json((out / "summary.json").read_text(encoding="utf-8"))
    assert doc["dysbiosis"]["threshold"] is None and doc["seed"] is None
    assert "NA" in (out / "tests.tsv").read_text()


def test_matplotlib_global_state_is_untouched(result: LinkResult) -> None:
    before = dict(matplotlib.rcParams)
    backend = matplotlib.get_backend()
    report.render_html(result)
    assert dict(matplotlib.rcParams) == before and matplotlib.get_backend() == backend


def test_franzosa_page_size(franzosa_result: LinkResult, tmp_path: Path) -> None:
    out = report.write(franzosa_result, tmp_path / "run")
    size = (out / "report.html").stat().st_size
    assert size < 2_000_000, size
    page = Page((out / "report.html").read_text(encoding="utf-8"))
    assert set(page.figures) == _expected_figures(franzosa_result)
    assert "53 of 155 input samples" in " ".join(page.all_text.split())


# ----------------------------------------------------------------------------- dispatch
@pytest.mark.parametrize("attr", ["alpha", "dysbiosis", "ordinations", "permanova", "permdisp"])
def test_each_result_renders_on_its_own(result: LinkResult, attr: str, tmp_path: Path) -> None:
    value = getattr(result, attr)
    part = next(iter(value.values())) if isinstance(value, dict) else value
    assert isinstance(part, (AlphaResult, DysbiosisResult, OrdinationResult, PermanovaResult, PermdispResult))
    out = report.write(part, tmp_path / attr)
    page = Page((out / "report.html").read_text(encoding="utf-8"))
    assert "verdict" not in {a.get("id") for _, a in page.tags}
    assert "summary.json" in {p.name for p in out.iterdir()}


def test_unregistered_result_raises(tmp_path: Path) -> None:
    @dataclasses.dataclass(frozen=True)
    class Unknown(Result):
        x: int = 1

    with pytest.raises(TypeError, match="no report renderer for Unknown"):
        report.write(Unknown(), tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_input_files_keep_their_roles():
    from gutlink.report.overview import input_files

    inputs = {"files": [{"role": "abundance", "path": "a.tsv", "sha256": "0" * 64},
                        {"role": "metadata", "path": "m.tsv", "sha256": "1" * 64}], "command": "gutlink link"}
    assert [f["role"] for f in input_files(inputs)] == ["abundance", "metadata"]
