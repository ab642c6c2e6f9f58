"""``gutlink atlas CONFIG.toml``: several cohorts and conditions in one run, graded layer by layer.

Reads the configuration (see :mod:`gutlink.evidence.atlas` for its keys), runs ``link`` on every cohort (each
level of a cohort's ``study`` column is one cohort), leave-one-study-out prediction across the cohorts of one
table, a random-effects meta-analysis of each condition's taxa, and grades each condition
(:func:`gutlink.evidence.evidence`). Writes ``atlas_grid.tsv``, ``atlas_cohorts.tsv``, ``atlas_forest.tsv``,
``evidence_layers.tsv``, ``evidence_cohorts.tsv``, ``evidence_rubric.tsv``, ``summary.json`` and ``report.html``
into ``--out``, atomically, through :func:`gutlink.report.write`. Progress goes to stderr, one line per step.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import Progress, command_line

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add the ``atlas`` sub-command to *sub* (an argparse sub-parsers object)."""
    p = sub.add_parser("atlas", help="several cohorts and conditions in one run: the condition × layer grid")
    p.add_argument("config", metavar="CONFIG", help="TOML file: an optional [atlas] table and one [[cohort]] table "
                                                   "per cohort (table, group, case, control, condition, options)")
    p.add_argument("--out", default="gutlink-atlas", help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--seed", type=int, default=None, help="seed of every random step (default: the "
                                                          "configuration's, else 0)")
    p.add_argument("--permutations", type=int, default=None, metavar="N",
                   help="permutations of each permutation test (default: the configuration's, else 199)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """``gutlink atlas``: returns the exit code."""
    from ..evidence import atlas, read_config
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run, file_record

    check_destination(args.out, args.overwrite)
    cfg = read_config(args.config)
    for key in ("seed", "permutations"):
        if getattr(args, key) is not None:
            cfg["atlas"][key] = getattr(args, key)
    res = atlas(cfg, callback=Progress(args.quiet, what="atlas"))
    files = [file_record(args.config, "config")]
    for entry in cfg["cohort"]:
        files.append(file_record(entry["table"], f"abundance ({entry['name']})"))
        if entry.get("metadata"):
            files.append(file_record(entry["metadata"], f"metadata ({entry['name']})"))
    bundle = Run(subcommand="atlas", results=(res,), inputs=tuple(files), command=command_line(),
                 seed=int(cfg["atlas"].get("seed", 0)))
    out = write(bundle, args.out, overwrite=args.overwrite)
    for ev in res.evidence:
        print(ev.overall["statement"])
    print(f"{len(res.links)} cohorts in {res.seconds:.0f} s. Grid: {Path(out) / 'atlas_grid.tsv'}; report: "
          f"{Path(out) / 'report.html'}")
    return 0
