"""``gutlink trial``: within-subject change in an intervention trial — paired pre/post per arm and the crossover
contrast between arms, on taxa, diversity and guild loads (research tool, never medical advice)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import add_input_arguments, command_line, load_cohort

__all__ = ["add_parser", "run_trial"]

CAVEAT = "Research tool, never medical advice."


def _window(text: str, flag: str) -> tuple[float, float]:
    from ..errors import DesignError

    parts = text.split(":")
    try:
        a, b = (float(p) for p in parts)
    except ValueError as err:
        raise DesignError(f"{flag} {text!r}: expected START:END (numbers, inclusive).") from err
    return a, b


def add_parser(sub: Any) -> None:
    """Add ``trial`` to *sub* (an argparse sub-parsers object)."""
    p = sub.add_parser("trial", help="intervention trial: within-subject change pre vs post, per arm and crossover")
    add_input_arguments(p)
    p.add_argument("--subject", required=True, metavar="COL", help="metadata column of subject IDs")
    p.add_argument("--time", required=True, metavar="COL", help="metadata column of sampling times (e.g. day)")
    p.add_argument("--pre", required=True, metavar="START:END", help="baseline window (inclusive)")
    p.add_argument("--post", required=True, metavar="START:END", help="intervention window (inclusive)")
    p.add_argument("--arm", default=None, metavar="COL", help="metadata column of the arm (diet, product)")
    p.add_argument("--arms", default="", metavar="A,B", help="arms to analyse, the first is the crossover reference")
    p.add_argument("--period", default=None, metavar="COL",
                   help="metadata column of each sample's period (crossover: 1, 2): period term in the mixed model "
                        "and, with two arms, the 2 x 2 crossover tests of carry-over, period and treatment")
    p.add_argument("--rank", default="genus", help="aggregate taxa to this rank first")
    p.add_argument("--min-prevalence", type=float, default=0.2, help="test taxa present in this share of samples")
    p.add_argument("--no-guilds", action="store_true", help="skip guild loads and the barrier balance")
    p.add_argument("--out", default="gutlink-trial", help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(handler=run_trial)


def run_trial(args: argparse.Namespace) -> int:
    """``gutlink trial``: returns the exit code."""
    from ..dynamics.trial import trial
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run

    check_destination(args.out, args.overwrite)
    pre, post = _window(args.pre, "--pre"), _window(args.post, "--post")
    cohort, inputs = load_cohort(args)           # aggregated to --rank here
    arms = [a for a in args.arms.split(",") if a] or None
    res = trial(cohort, subject=args.subject, time=args.time, pre=pre, post=post, arm=args.arm, rank=None,
                min_prevalence=args.min_prevalence, guilds=not args.no_guilds, arms=arms,
                period=args.period)
    out = write(Run(subcommand="trial", results=(res,), inputs=tuple(inputs), command=command_line()), args.out,
                overwrite=args.overwrite)
    hits = res.table[res.table["q_value"] < 0.1]
    print(f"{len(hits)} of {int(res.table['q_value'].notna().sum())} tested changes with q < 0.1 by the signed-rank "
          f"test (primary; mixed model: {int((res.table['mixed_q'] < 0.1).sum())}) (arms: {', '.join(res.arms)}). "
          f"{CAVEAT}")
    print(f"Report: {Path(out) / 'report.html'}")
    return 0
