"""``gutlink literature``: do the taxa that differ agree with the published signatures of the condition?

Reads a ``gutlink differential`` output (the folder or its ``differential.tsv``; ``prevalence.tsv`` beside it is
used for the presence part), tests it against BugSigDB's signatures of ``--condition`` with
:func:`gutlink.literature.concordance`, and writes ``literature_signatures.tsv``, ``literature_studies.tsv``,
``literature_taxa.tsv``, ``literature_tests.tsv``, ``literature_mapping.tsv``, ``summary.json`` and
``report.html`` into ``--out``, atomically, through :func:`gutlink.report.write`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import add_run_arguments, command_line

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add the ``literature`` sub-command to *sub* (an argparse sub-parsers object)."""
    p = sub.add_parser("literature", help="do the taxa that differ agree with published signatures (BugSigDB)?")
    p.add_argument("results", metavar="RESULTS", help="a gutlink differential output folder, or its differential.tsv")
    p.add_argument("--condition", required=True,
                   help="the condition: RA, MS, T1D, CD, UC, IBD, AS, SLE, celiac, psoriasis, … or a BugSigDB label")
    p.add_argument("--term", default=None, help="the tested term (default: the first besides log_depth)")
    p.add_argument("--statistic", default="auto", choices=["auto", "combined", "abundance", "presence"],
                   help="cohort statistic: abundance and presence parts combined (auto: when presence ran)")
    p.add_argument("--contrasts", default="case_control", choices=["case_control", "all"],
                   help="case_control: only disease-vs-control signatures, oriented; all: every signature as recorded")
    p.add_argument("--min-studies", type=int, default=3, metavar="N",
                   help="independent studies that make a genus's published direction well replicated")
    p.add_argument("--out", default="gutlink-literature", help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    add_run_arguments(p, permutations=999, progress=False)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """``gutlink literature``: returns the exit code."""
    from ..literature import concordance, read_differential
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run, file_record

    check_destination(args.out, args.overwrite)
    table, prevalence = read_differential(args.results)
    res = concordance(table if prevalence is None else _Tables(table, prevalence), condition=args.condition,
                      term=args.term, statistic=args.statistic, contrasts=args.contrasts,
                      min_studies=args.min_studies, n_permutations=args.permutations, rng=args.seed)
    src = Path(args.results)
    tsv = src / "differential.tsv" if src.is_dir() else src
    files = [file_record(tsv, "differential")]
    if prevalence is not None:
        files.append(file_record(tsv.with_name("prevalence.tsv"), "prevalence"))
    bundle = Run(subcommand="literature", results=(res,), inputs=tuple(files), command=command_line(),
                 seed=args.seed)
    out = write(bundle, args.out, overwrite=args.overwrite)
    cov = res.coverage
    print(f"{res.condition} (BugSigDB {', '.join(res.labels)}): {res.verdict} — {res.reason}.")
    if cov:
        print(f"Matched {cov['n_features_matched']} of {cov['n_features']} features to NCBI genus taxids "
              f"({cov['n_features_without_taxid']} without); the cohort sees {cov['n_signature_genera_visible']} of "
              f"{cov['n_signature_genera']} signature genera.")
    print(f"Results: {Path(out) / 'literature_signatures.tsv'}; report: {Path(out) / 'report.html'}")
    return 0


class _Tables:
    """A saved differential output in the shape :func:`~gutlink.literature.concordance` reads."""

    def __init__(self, table: Any, prevalence: Any) -> None:
        self.table, self.prevalence = table, prevalence
