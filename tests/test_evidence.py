"""Evidence synthesis: the rubric grades what the numbers say, a red design check makes a layer not gradable,
the overall statement is never stronger than its best layer, and every sentence of the page is traceable to a
number in summary.json."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest

from gutlink.datasets import franzosa2019
from gutlink.errors import DesignError
from gutlink.evidence import GRADES, evidence, row
from gutlink.evidence.synthesis import fmt
from gutlink.link import link
from gutlink.meta import random_effects
from gutlink.report import write

RANK = {g: i for i, g in enumerate(GRADES)}


def _sig(layer, cohort="c1", **kw):
    base = dict(effect=0.05, effect_name="r_squared", p_value=0.001, q_value=0.004, significant=True)
    return row(layer, cohort, **{**base, **kw})


def test_points_make_the_grade():
    weak = evidence("X", layers=[_sig("community", effect=0.001)])  # negligible effect, no other criterion
    assert weak.grid["community"] == "weak"
    mod = evidence("X", layers=[_sig("community", negative_control="calibrated")])
    assert mod.grid["community"] == "moderate"
    strong = evidence("X", layers=[_sig("community", c, negative_control="calibrated", adjusted=True)
                                   for c in ("a", "b")])
    assert strong.grid["community"] == "strong" and int(strong.layers["points"].iloc[0]) == 4


def test_gates_red_checks_and_caps():
    assert evidence("X", layers=[_sig("community", significant=False, q_value=0.3)]).grid["community"] == \
        "no evidence"
    red = evidence("X", layers=[_sig("community", design_red="confounding", negative_control="calibrated")])
    assert red.grid["community"] == "not gradable" and "design check is red" in red.layers["sentence"].iloc[0]
    assert red.overall["grade"] == "no evidence"
    capped = evidence("X", layers=[_sig("community", c, negative_control="excess", adjusted=True) for c in "ab"])
    assert capped.grid["community"] == "weak"
    na = evidence("X", layers=[row("literature", "c", assessable=False, reason="no condition")])
    assert na.grid["literature"] == "not assessable" and "no condition" in na.layers["sentence"].iloc[0]
    assert na.overall["grade"] == "not assessable"
    with pytest.raises(DesignError):
        evidence("X")


def test_overall_is_never_stronger_than_the_best_layer():
    gen = np.random.default_rng(0)
    layers = ["community", "diversity", "taxa", "prediction_within"]
    for _ in range(40):
        rows = [_sig(lay, c, effect=float(gen.uniform(0, 0.5)), significant=bool(gen.random() < 0.5),
                     adjusted=bool(gen.random() < 0.5), negative_control=str(gen.choice(["calibrated", "not run"])),
                     design_red="batch" if gen.random() < 0.2 else "")
                for lay in layers for c in ("a", "b")]
        ev = evidence("X", layers=rows)
        best = min(RANK[g] for g in ev.grid.values())
        assert RANK[ev.overall["grade"]] >= min(best, RANK["no evidence"])
        if ev.overall["grade"] in ("strong", "moderate", "weak"):
            assert RANK[ev.overall["grade"]] == best


def test_pooled_interval_is_the_random_effects_estimate():
    rows = [row("diversity", c, effect=e, ci_low=e - 0.2, ci_high=e + 0.2, p_value=0.01, q_value=0.02,
                significant=True, effect_name="difference") for c, e in (("a", -0.3), ("b", -0.1), ("c", -0.5))]
    ev = evidence("X", layers=rows)
    se = 0.2 / 1.959963984540054
    ref = random_effects(np.array([[-0.3], [-0.1], [-0.5]]), np.full((3, 1), se**2))
    got = ev.layers.iloc[0]
    assert got["effect"] == pytest.approx(float(ref["effect"][0]))
    assert got["p_value"] == pytest.approx(float(ref["p_value"][0]))


def _numbers(obj, out):
    if isinstance(obj, dict):
        for v in obj.values():
            _numbers(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _numbers(v, out)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out.add(fmt(obj))
    return out


_NUM = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]\d+)?")


def check_traceable(folder):
    """Every number of the page's evidence sentences is a number of summary.json (as the sentences format it)."""
    doc = json.loads((folder / "summary.json").read_text())
    known = _numbers(doc, set())
    page = (folder / "report.html").read_text()
    blocks = re.findall(r'<p class="evidence-overall">(.*?)</p>', page, re.S)
    blocks += [li for ul in re.findall(r'<ul class="evidence-sentences">(.*?)</ul>', page, re.S)
               for li in re.findall(r"<li>(.*?)</li>", ul, re.S)]
    assert blocks, "no evidence sentence on the page"
    names = {ev["condition"] for ev in doc.get("evidence") or [doc]}
    checked = 0
    for b in blocks:
        text = html.unescape(re.sub(r"<[^>]+>", "", b)).replace("95 % CI", "CI")
        for n in names:
            text = text.replace(n, "")
        for tok in _NUM.findall(text):
            assert tok in known, f"{tok!r} of {text!r} is not a number of summary.json"
            checked += 1
    assert checked > 0
    return doc


def test_real_cohort_sentences_are_traceable(tmp_path):
    res = link(franzosa2019().aggregate("genus"), group="Diagnosis", case=["CD"], control="Control",
               n_permutations=199, metrics=("braycurtis",), guilds=False, rng=0)
    ev = evidence("Crohn's disease", links={"PRISM": res})
    assert {"community", "diversity", "dysbiosis", "taxa", "literature"} <= set(ev.grid)
    assert ev.grid["community"] in {"weak", "moderate", "strong"}  # PRISM CD differs (q < 0.05)
    write(ev, tmp_path / "ev")
    doc = check_traceable(tmp_path / "ev")
    assert doc["overall"]["grade"] == ev.overall["grade"]
    assert (tmp_path / "ev" / "evidence_rubric.tsv").is_file()
