"""``gutlink differential``: which taxa differ? A thin layer over :func:`gutlink.differential.test`.

Reads the abundance table and metadata, runs the test (and, with ``--study``, a random-effects meta-analysis
across studies), and writes ``differential.tsv``, ``prevalence.tsv``, ``meta*.tsv``, ``summary.json`` and
``report.html`` (volcano and forest plots, the negative control, and the meta-analysis forest plot with
``--study``) — all into a temporary folder beside ``--out`` that replaces it only when complete. When a term
with three or more levels is tested as a whole (automatic for the group / first categorical column; see
``--omnibus``), ``omnibus.tsv`` holds one F (abundance) and LR (presence) test per feature and term.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from ..errors import DesignError
from . import (
    _split,
    add_design_arguments,
    add_input_arguments,
    add_run_arguments,
    checked_design,
    command_line,
    load_cohort,
)

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add the ``differential`` sub-command to *sub* (an argparse sub-parsers object)."""
    p = sub.add_parser("differential", help="which taxa differ? compositional linear models, per feature")
    add_input_arguments(p)
    p.add_argument("--formula", required=True, help='model formula, e.g. "~ group + age"')
    p.add_argument("--group", default=None, help="case-control column (kept levels: --case, --control)")
    p.add_argument("--case", default=None, help="case value(s), comma-separated (pooled)")
    p.add_argument("--control", default=None, help="control value (the reference level)")
    p.add_argument("--reference", action="append", default=[], metavar="COL=LEVEL",
                   help="reference level of a categorical column (repeatable)")
    p.add_argument("--contrast", action="append", default=[], metavar="COL:A:B",
                   help="extra comparison A vs B of column COL (repeatable); 'pairwise' for all pairs")
    p.add_argument("--omnibus", action="append", default=[], metavar="COL",
                   help="test categorical column COL as a whole (any difference among its levels?; repeatable; "
                        "'all': every column with 3+ levels). Default: the group / first categorical column "
                        "when it has 3+ levels")
    p.add_argument("--no-omnibus", action="store_true", help="no omnibus (multi-level) tests")
    p.add_argument("--subject", default=None,
                   help="subject column (repeated samples of one person): random intercept, clustered presence model")
    p.add_argument("--study", default=None, help="study column: adjust for it and meta-analyse across studies")
    p.add_argument("--meta-method", default="reml", choices=["reml", "dl"], help="between-study variance")
    p.add_argument("--meta-test", default="z", choices=["z", "knha"],
                   help="test of the pooled effect: normal (z) or Hartung-Knapp-Sidik-Jonkman (knha; few studies)")
    p.add_argument("--rank", default=None, help="aggregate to this rank first (e.g. genus)")
    p.add_argument("--min-prevalence", type=float, default=0.1, help="test features present in this fraction")
    p.add_argument("--load", default=None, help="column of total microbial load: model absolute abundance")
    p.add_argument("--zeros", default="exclude", choices=["exclude", "adaptive", "pseudocount", "imputation"],
                   help="exclude (default): abundance modelled where present, presence apart; else floor zeros")
    p.add_argument("--no-prevalence", action="store_true", help="skip the presence/absence model")
    p.add_argument("--shuffles", type=int, default=10, help="label-shuffled copies for the negative control")
    p.add_argument("--strata", default=None, help="shuffle labels within levels of this column")
    p.add_argument("--out", default="gutlink-differential", help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    add_run_arguments(p, jobs="threads for the presence model")
    p.add_argument("--no-presence-depth", action="store_true",
                   help="leave log sequencing depth out of the presence model (count tables only)")
    p.add_argument("--abundance-depth", choices=["auto", "on", "off"], default="auto",
                   help="log sequencing depth as a covariate of both parts (count tables, zeros excluded): auto = "
                        "when it correlates with a tested column (|r| > 0.1)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address (tcp://HOST:8786): fit the presence model's feature chunks on that "
                        "cluster (same results)")
    add_design_arguments(p)
    p.set_defaults(handler=run)


# ----------------------------------------------------------------------------- argument parsing
def _pairs(items: list[str], sep: str, what: str) -> list[list[str]]:
    out = []
    for item in items:
        parts = item.split(sep)
        if len(parts) < 2 or not all(parts):
            raise DesignError(f"{what} {item!r}: expected {('COL=LEVEL' if sep == '=' else 'COL:A:B')}.")
        out.append(parts)
    return out


def _test_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    reference = {p[0]: "=".join(p[1:]) for p in _pairs(args.reference, "=", "--reference")}
    contrasts: Any = None
    if args.contrast == ["pairwise"]:
        contrasts = "pairwise"
    elif args.contrast:
        contrasts = [tuple(p) for p in _pairs(args.contrast, ":", "--contrast")]
        if any(len(c) != 3 for c in contrasts):
            raise DesignError("--contrast takes COL:A:B (three parts).")
    case = None if args.case is None else [c.strip() for c in args.case.split(",") if c.strip()]
    if (args.group is None) != (case is None and args.control is None) or (args.group and not (case and args.control)):
        raise DesignError("--group needs both --case and --control (and they need --group).")
    if args.no_omnibus and args.omnibus:
        raise DesignError("--omnibus and --no-omnibus exclude each other.")
    omnibus: Any = False if args.no_omnibus else (True if "all" in args.omnibus else (args.omnibus or None))
    return {"group": args.group, "case": case, "control": args.control, "reference": reference or None,
            "omnibus": omnibus, "n_jobs": args.jobs,
            "contrasts": contrasts, "subject": args.subject, "prevalence": not args.no_prevalence,
            "min_prevalence": args.min_prevalence, "load": args.load, "zeros": args.zeros, "block": args.block,
            "presence_depth": not args.no_presence_depth,
            "abundance_depth": {"auto": None, "on": True, "off": False}[args.abundance_depth]}


# ----------------------------------------------------------------------------- command
def _formula_with_study(formula: str, study: str | None) -> str:
    if study is None:
        return formula
    name = study if study.isidentifier() else f"`{study}`"
    return f"{formula} + {name}"


def _checks(args: argparse.Namespace, cohort: Any) -> tuple[Any, Any]:
    """The design and its checks when the run names a case/control column (else none: a formula alone)."""
    if not args.group:
        return None, None
    return checked_design(args, cohort, group=args.group, case=_split(args.case), control=_split(args.control),
                          subject=args.subject, block=args.block, study=args.study, batch=args.batch,
                          strata=args.strata)


def run(args: argparse.Namespace) -> int:
    """``gutlink differential``: returns the exit code."""
    from .. import differential, meta  # imported when run, not when the parser is built (start-up time)
    from ..differential import describe_control
    from ..parallel import on_cluster
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run

    check_destination(args.out, args.overwrite)
    cohort, files = load_cohort(args)
    kwargs = _test_kwargs(args)
    design, checks = _checks(args, cohort)
    meta_result = None
    with on_cluster(args.scheduler):  # one client for every fit; an unreachable scheduler is a DesignError
        result = differential.test(cohort, _formula_with_study(args.formula, args.study), n_shuffles=args.shuffles,
                                   strata=args.strata or args.study, rng=args.seed, **kwargs)
        if args.study:
            meta_result = meta.by_study(cohort, args.formula, study=args.study, method=args.meta_method,
                                        test=args.meta_test, **{**kwargs, "omnibus": False})
    if meta_result is not None:
        result = replace(result, meta=meta_result)
    summary: dict[str, Any] = result.to_dict()
    doc = {"differential": summary, "meta_analysis": None if meta_result is None else meta_result.to_dict()}
    bundle = Run(subcommand="differential", results=(result,), document=doc, inputs=tuple(files),
                 command=command_line(), seed=args.seed, design=design, checks=checks)
    out = write(bundle, args.out, overwrite=args.overwrite)
    found = summary["discoveries"]
    print(f"{result.n_features} features × {len(result.terms)} term(s) tested on {result.n_samples} samples "
          f"({result.model}); q < {result.alpha}: " + ", ".join(f"{t} {n}" for t, n in found.items()))
    if result.omnibus is not None:
        omni = summary.get("omnibus_joint_discoveries") or summary["omnibus_discoveries"]
        what = "joint q" if "omnibus_joint_discoveries" in summary else "q"
        print(f"Omnibus (any difference among levels), {what} < {result.alpha}: "
              + ", ".join(f"{t} {n}" for t, n in omni.items()))
    print(describe_control(result.negative_control))
    if checks is not None and checks.status == "red":
        print(checks.headline() + " Read these results with that in mind (see the report's Design checks).")
    print(f"Results: {out / 'differential.tsv'}; report: {out / 'report.html'}")
    return 0
