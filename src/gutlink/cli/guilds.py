"""``gutlink guilds``: how much barrier-eroding and immune-skewing community does each sample carry, and does it
differ between cases and controls?

Writes ``guild_scores.tsv`` (per sample and guild: load, bounds, assigned / ambiguous / unassigned fractions),
``guild_coverage.tsv``, ``guild_features.tsv`` (how each feature was placed), with ``--group/--case/--control``
also ``guild_tests.tsv`` and ``guild_shuffle.tsv``, plus ``summary.json`` and ``report.html`` into ``--out``,
atomically, through :func:`gutlink.report.write`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

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
    """Add the ``guilds`` sub-command to *sub* (an argparse sub-parsers object)."""
    p = sub.add_parser("guilds", help="barrier and immune guild scores per sample (LPS, butyrate, mucin, H2S, …)")
    add_input_arguments(p)
    p.add_argument("--rank", default=None, help="taxonomic rank to use (e.g. species, genus)")
    p.add_argument("--where", action="append", default=[], metavar="COL=V1[,V2]",
                   help="keep only samples whose COL is one of the values (repeatable)")
    p.add_argument("--group", help="metadata column holding the outcome (with --case/--control: tests)")
    p.add_argument("--case", help="case value(s), comma-separated (pooled)")
    p.add_argument("--control", help="control value(s), comma-separated")
    p.add_argument("--covariates", default="", help="comma-separated metadata columns to adjust for")
    p.add_argument("--subject", default=None, help="subject ID column (repeated measures)")
    p.add_argument("--strata", default=None, help="shuffle labels only within levels of this column")
    p.add_argument("--threshold", type=float, default=0.9,
                   help="genus consensus that places an unlisted species of the genus in a guild")
    p.add_argument("--shuffles", type=int, default=200, metavar="N", help="label shuffles of the negative control")
    p.add_argument("--markers", default=None, metavar="COL,COL|FILE",
                   help="host markers: metadata columns, or a table keyed by sample ID (cytokines, calprotectin, CRP)")
    p.add_argument("--no-taxa", action="store_true", help="with --markers: test guilds only, not every taxon")
    p.add_argument("--marker-model", choices=("random", "within"), default="random",
                   help="with --markers and --subject: a random intercept per subject, or fixed intercepts "
                        "(within-subject association only)")
    p.add_argument("--marker-direction", choices=("marker", "taxon"), default="marker",
                   help="with --markers: marker ~ taxon (default) or taxon ~ marker (MaAsLin's direction: each "
                        "taxon CLR / guild score as the outcome)")
    p.add_argument("--mediation", default=None, metavar="EXPOSURE,MEDIATOR,OUTCOME",
                   help="also the indirect effect of EXPOSURE on OUTCOME through MEDIATOR (each a metadata column, "
                        "a guild, barrier_balance or taxon:NAME; 'group_label' with --group/--case/--control), "
                        "bootstrap over whole --subject")
    p.add_argument("--out", default="gutlink-guilds", help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    add_run_arguments(p)
    add_design_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """``gutlink guilds``: returns the exit code."""
    from ..design import case_control
    from ..errors import DesignError
    from ..guilds import guild_scores, guild_test
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run

    check_destination(args.out, args.overwrite)
    cohort, files = load_cohort(args)
    cc = cohort
    labelled = [bool(x) for x in (args.group, args.case, args.control)]
    if any(labelled) and not all(labelled):
        raise DesignError("tests need all three of --group, --case and --control (or none of them for scores only).")
    design = checks = None
    if all(labelled):
        design, checks = checked_design(args, cohort, group=args.group, case=_split(args.case),
                                        control=_split(args.control), covariates=_split(args.covariates),
                                        subject=args.subject, block=args.block, batch=args.batch, strata=args.strata)
        cc = case_control(cohort, group=args.group, case=_split(args.case), control=_split(args.control))
        res: Any = guild_test(cc, covariates=_split(args.covariates), subject=args.subject, block=args.block,
                              strata=args.strata, n_shuffles=args.shuffles, threshold=args.threshold, rng=args.seed)
        scores = res.scores
    else:
        res = scores = guild_scores(cohort, threshold=args.threshold)
    results: tuple[Any, ...] = (res,)
    if args.markers:
        results += (_markers(args, cohort, files),)
    if args.mediation:
        results += (_mediation(args, cc),)
    bundle = Run(subcommand="guilds", results=results, inputs=tuple(files), command=command_line(), seed=args.seed,
                 design=design, checks=checks)
    out = write(bundle, args.out, overwrite=args.overwrite)
    cov = scores.coverage.set_index("guild")
    print(f"Guild scores of {cohort.n_samples} samples; LPS rule places a median "
          f"{cov.loc['lps_producer', 'median_assigned']:.1%} of the abundance "
          f"(knowledge base {scores.knowledge_version}).")
    if all(labelled):
        rank = res.tests[res.tests["test"].isin(["mann_whitney", "wilcoxon_signed_rank", "van_elteren"])]
        hits = rank[rank["q_value"] < 0.05]
        for r in hits.itertuples():
            print(f"{r.metric}: {'higher' if r.effect > 0 else 'lower'} in cases (q = {r.q_value:.2g}).")
        if hits.empty:
            print("No guild score differs between cases and controls at q < 0.05: no evidence of a difference.")
        if checks is not None and checks.status == "red":
            print(checks.headline() + " These results do not count as evidence until the red checks are resolved.")
    if args.markers:
        m = results[1].table
        print(f"Markers: {m['marker'].nunique()} tested against {m['predictor'].nunique()} guilds/taxa "
              f"({results[1].model}); {int((m['q_value'] < 0.1).sum())} pair(s) at q < 0.1.")
    if args.mediation:
        med = results[-1]
        ind = med.table.set_index("effect").loc["indirect"]
        print(f"Mediation {med.exposure} -> {med.mediator} -> {med.outcome}: indirect {ind['estimate']:.3g} "
              f"(95% CI {ind['ci_low']:.3g} to {ind['ci_high']:.3g}; bootstrap of {med.resampled}).")
    print(f"Results: {Path(out) / 'guild_scores.tsv'}; report: {Path(out) / 'report.html'}")
    return 0


def _markers(args: argparse.Namespace, cohort: Any, files: list[dict[str, str]]) -> Any:
    from ..guilds import marker_association
    from ..io import read_metadata
    from ..run import file_record

    if Path(args.markers).is_file():
        markers: Any = read_metadata(args.markers)
        files.append(file_record(args.markers, "markers"))
    else:
        markers = _split(args.markers)
    return marker_association(cohort, markers=markers, covariates=_split(args.covariates), subject=args.subject,
                              block=args.block, repeated=args.marker_model, taxa=not args.no_taxa,
                              direction=args.marker_direction)


def _mediation(args: argparse.Namespace, cohort: Any) -> Any:
    from ..errors import DesignError
    from ..guilds import mediation

    parts = _split(args.mediation)
    if len(parts) != 3:
        raise DesignError(f"--mediation needs EXPOSURE,MEDIATOR,OUTCOME (three names); got {args.mediation!r}.")
    res = mediation(cohort, exposure=parts[0], mediator=parts[1], outcome=parts[2],
                    covariates=_split(args.covariates), subject=args.subject, rng=args.seed)
    return res
