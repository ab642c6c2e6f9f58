"""The paper figures of the report: volcano labels never overlap, composition bars, per-level PCoA and per-taxon
abundance plots drawn from the result's own numbers."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation, Text

from gutlink.report.figures_differential import _draw_volcano, volcano_figure
from gutlink.report.svg import style


def _crowded(n: int = 300, n_sig: int = 80, seed: int = 0) -> pd.DataFrame:
    """Many significant taxa packed close together (the hard case for labels)."""
    rng = np.random.default_rng(seed)
    effect = np.r_[rng.normal(2.0, 0.15, n_sig // 2), rng.normal(-2.0, 0.15, n_sig // 2), rng.normal(0, 1, n - n_sig)]
    q = np.r_[10 ** -rng.uniform(3, 4, n_sig), rng.uniform(0.06, 1, n - n_sig)]
    return pd.DataFrame({"feature_id": [f"g__Genus_number_{i}" for i in range(n)], "effect": effect, "q_value": q})


def _label_boxes(table: pd.DataFrame):
    with style():
        fig = Figure(figsize=(5.6, 4.2), layout="constrained")
        _draw_volcano(fig, table, 0.05, "log2 fold change")
        fig.savefig(io.StringIO(), format="svg")  # the final layout, as the report draws it
        renderer = FigureCanvasAgg(fig).get_renderer()
        ax = fig.axes[0]
        labels = [t for t in ax.texts if isinstance(t, Annotation)]
        for t in labels:
            t.update_positions(renderer)
        return [Text.get_window_extent(t, renderer) for t in labels], ax.get_window_extent(renderer), labels


def _overlapping(boxes) -> list[tuple[int, int]]:
    return [(i, j) for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2) if a.overlaps(b)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_volcano_labels_do_not_overlap(seed: int) -> None:
    boxes, axes_box, labels = _label_boxes(_crowded(seed=seed))
    assert len(labels) >= 6, "the crowded volcano should still name several taxa"
    assert _overlapping(boxes) == []
    for b in boxes:  # inside the plot
        assert axes_box.x0 <= b.x0 and b.x1 <= axes_box.x1 and axes_box.y0 <= b.y0 and b.y1 <= axes_box.y1


def test_the_overlap_check_can_fail() -> None:
    """Labels all put beside their points (the naive placement) do overlap on the same data."""
    boxes, _, labels = _label_boxes(_crowded())
    renderer = FigureCanvasAgg(labels[0].get_figure(root=True)).get_renderer()
    for t in labels:
        t.set_position((4, 0))
        t.update_positions(renderer)
    assert _overlapping([Text.get_window_extent(t, renderer) for t in labels])


def test_volcano_names_the_most_significant() -> None:
    tab = _crowded()
    svg = str(volcano_figure(tab, alpha=0.05, fig_id="fig-v", title="v", xlabel="x"))
    top = tab.sort_values("q_value").iloc[0]["feature_id"].removeprefix("g__").replace("_", " ")
    assert top in svg


# ----------------------------------------------------------------------------- composition, levels, top taxa
@pytest.fixture(scope="module")
def ibd():
    """PRISM CD + UC vs controls, with the per-sample figure data link can keep in ``extra``."""
    import dataclasses

    from gutlink.datasets import franzosa2019
    from gutlink.link import link
    from gutlink.plotdata import figure_data

    cohort = franzosa2019()
    res = link(cohort, group="Diagnosis", case=["CD", "UC"], control="Control", n_permutations=99,
               metrics=("braycurtis",), guilds=False, literature=False, rng=0)
    assert set(res.extra) == {"levels", "top_abundance"}  # link keeps the figure data itself
    data = figure_data(cohort, group="Diagnosis", differential=res.differential)
    return cohort, dataclasses.replace(res, extra={}), dataclasses.replace(res, extra={**res.extra, **data})


def test_composition_table_is_the_per_genus_sum_of_the_group_means(ibd) -> None:
    from gutlink.report.figures_paper import OTHER, composition_table, genus_of

    _, res, _ = ibd
    tab = res.differential.table
    tab = tab[tab["term"] == res.differential.terms[0]]
    comp = composition_table(tab, top=5)
    assert list(comp.index) == ["case", "control"] and comp.shape[1] == 6 and comp.columns[-1] == OTHER
    np.testing.assert_allclose(comp.sum(axis=1), 1.0)
    genus = tab.apply(lambda r: genus_of(r["feature_id"], r["lineage"]), axis=1)
    by_hand = tab.groupby(genus)["mean_abundance_case"].sum()
    for g in comp.columns[:-1]:
        assert comp.loc["case", g] == pytest.approx(by_hand[g])
    means = tab.groupby(genus)[["mean_abundance_case", "mean_abundance_control"]].sum().mean(axis=1)
    assert set(comp.columns[:-1]) == set(means.sort_values(ascending=False).index[:5])


def test_link_page_has_the_paper_figures(ibd) -> None:
    from _html import Page

    from gutlink.report import render_html

    cohort, bare, res = ibd
    page = Page(render_html(res))
    assert {"fig-composition", "fig-pcoa-levels", "fig-top-taxa"} <= set(page.figures)
    html = render_html(res)
    levels = cohort.metadata["Diagnosis"].astype(str).reindex(bare.alpha.values.index).value_counts()
    for level, n in levels.items():  # every case level in the legend, with its count
        assert f"{level} (n = {n})" in html
    plain = Page(render_html(bare))  # without the per-sample data, only the composition (nothing claimed)
    assert "fig-composition" in plain.figures and not {"fig-pcoa-levels", "fig-top-taxa"} & set(plain.figures)


def test_top_taxa_plots_show_the_data(ibd) -> None:
    from gutlink.report import render_html

    _, _, res = ibd
    values = res.extra["top_abundance"]
    labels = res.alpha.values["group_label"].astype(str)
    first = values.columns[0]
    v = values[first].reindex(labels.index)
    for group in ("case", "control"):  # the absent counts drawn are the data's
        absent, n = int((v[labels == group] == 0).sum()), int((labels == group).sum())
        assert f"{absent}/{n}" in render_html(res)


def test_differential_page_has_one_composition_bar_per_level() -> None:
    from _html import Page

    from gutlink import differential
    from gutlink.datasets import franzosa2019
    from gutlink.report import render_html

    res = differential.test(franzosa2019().aggregate("genus"), "~ Diagnosis", reference={"Diagnosis": "Control"},
                            prevalence=False)
    html = render_html(res)
    assert "fig-composition" in Page(html).figures
    for level in ("CD", "UC", "Control"):  # every level of the variable is a bar
        assert f">{level}<" in html.split('id="fig-composition"')[1].split("</figure>")[0]
