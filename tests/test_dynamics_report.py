"""Report sections and CLI of gutlink.dynamics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from gutlink.dynamics import fit, holdout
from gutlink.dynamics.series import from_frames
from gutlink.dynamics.simulate import simulate_glv
from gutlink.report import write
from gutlink.run import Run


def test_report_escapes_taxon_names_and_states_the_caveat(tmp_path):
    ts = simulate_glv(np.array([1.0, 0.5]), -np.eye(2), n_subjects=3, times=np.arange(6.0), rng=0)
    hostile = "<script>alert(1)</script>"
    rel = ts.relative.set_axis(["ok", hostile], axis=1)
    ts = from_frames(rel, subjects=ts.subjects, times=ts.times, biomass=ts.biomass)
    m = fit(ts, alphas=[1e-3])
    out = write(Run(subcommand="dynamics", results=(m, holdout(ts, alphas=[1e-3]))), tmp_path / "o",
                extra_files={"model.json": json.dumps(m.to_json())})
    page = (out / "report.html").read_text()
    assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Research tool, never medical advice." in page
    assert json.loads((out / "model.json").read_text())["model"] == "glv"
    assert isinstance(pd.read_csv(out / "dynamicsmodel.tsv", sep="\t"), pd.DataFrame)
