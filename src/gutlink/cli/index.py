"""``gutlink index``: per-sample health indices (``gutlink index gmhi ABUNDANCE``).

Writes ``gmhi.tsv`` (one row per sample), ``summary.json`` and ``report.html`` into ``--out``, atomically,
through :func:`gutlink.report.write` like every other command.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import command_line

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add the ``index`` sub-command to *sub* (an argparse sub-parsers object)."""
    p = sub.add_parser("index", help="per-sample health indices (GMHI, Gupta et al. 2020)")
    p.add_argument("index", choices=["gmhi"], help="which index")
    p.add_argument("abundance", help="MetaPhlAn2 species table (any supported format)")
    p.add_argument("--format", default=None, help="abundance format (default: detected)")
    p.add_argument("--out", default="gutlink-index", help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """``gutlink index``: returns the exit code."""
    from ..indices import gmhi
    from ..io import read
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run, file_record

    check_destination(args.out, args.overwrite)
    res = gmhi(read(args.abundance, format=args.format, rank="species"))
    bundle = Run(subcommand="index", results=(res,), inputs=(file_record(args.abundance, "abundance"),),
                 command=command_line())
    out = write(bundle, args.out, overwrite=args.overwrite)
    g = res.table["gmhi"]
    print(f"GMHI of {len(g)} samples: {int((g > 0).sum())} > 0 (healthy-like), {int((g < 0).sum())} < 0, "
          f"{int((g == 0).sum())} = 0. Listed species absent from the table: {len(res.missing_mh)} of 7 "
          f"health-prevalent, {len(res.missing_mn)} of 43 health-scarce.")
    print(f"Results: {Path(out) / 'gmhi.tsv'}; report: {Path(out) / 'report.html'}")
    return 0
