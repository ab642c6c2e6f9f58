"""``gutlink index``: per-sample health indices (``gutlink index gmhi ABUNDANCE``).

Writes one TSV row per sample (to ``--out``, atomically: a temporary file beside it, then :func:`os.replace`).
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path
from typing import Any

from ..errors import OutputExistsError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add the ``index`` sub-command to *sub* (an argparse sub-parsers object)."""
    p = sub.add_parser("index", help="per-sample health indices (GMHI, Gupta et al. 2020)")
    p.add_argument("index", choices=["gmhi"], help="which index")
    p.add_argument("abundance", help="MetaPhlAn2 species table (any supported format)")
    p.add_argument("--format", default=None, help="abundance format (default: detected)")
    p.add_argument("--out", default="gmhi.tsv", help="output TSV (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(handler=run)


def _write_tsv(frame: Any, out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: already exists; choose another path or pass --overwrite.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{secrets.token_hex(4)}"
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            frame.to_csv(fh, sep="\t", float_format="%.10g")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    """``gutlink index``: returns the exit code."""
    from ..indices import gmhi
    from ..io import read

    cohort = read(args.abundance, format=args.format, rank="species")
    res = gmhi(cohort)
    out = Path(args.out)
    _write_tsv(res.table, out, args.overwrite)
    healthy = int((res.table["gmhi"] > 0).sum())
    print(f"GMHI of {len(res.table)} samples: {healthy} > 0 (healthy-like), "
          f"{int((res.table['gmhi'] < 0).sum())} < 0, {int((res.table['gmhi'] == 0).sum())} = 0. "
          f"Listed species absent from the table: {len(res.missing_mh)} of 7 health-prevalent, "
          f"{len(res.missing_mn)} of 43 health-scarce.")
    print(f"Written: {out}")
    return 0
