"""``gutlink mimicry``: scan proteomes for autoantigen-epitope mimics and summarise the burden per taxon.

Writes ``hits.tsv``, ``taxon_burden.tsv``, ``proteomes.tsv`` and ``summary.json`` into ``--out``, atomically
(a temporary folder next to it, renamed when complete).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import DesignError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Add the ``mimicry`` sub-command."""
    p = sub.add_parser("mimicry", help="scan proteomes for peptides that mimic autoantigen epitopes")
    p.add_argument("--proteomes", nargs="+", default=None, metavar="DIR|FILE",
                   help="protein FASTA (or nucleotide genomes) files, or folders of them; default: the manifest's")
    p.add_argument("--epitopes", default="builtin:all", help="builtin:all, builtin:MS[,T1D…] or a TSV/CSV/FASTA file")
    p.add_argument("--matrix", default="BLOSUM62", help="substitution matrix (any Biopython protein matrix)")
    p.add_argument("--min-score", type=float, default=None, help="report windows scoring at least this")
    p.add_argument("--min-fraction", type=float, default=None,
                   help="…and at least this fraction of the epitope core's self-score (default 0.7 without --min-score)")
    p.add_argument("--k", type=int, default=9, help="window length (default 9, the HLA class II core)")
    p.add_argument("--max-mismatches", type=int, default=None, help="mismatch mode: at most this many substitutions")
    p.add_argument("--conservative", action="store_true", help="mismatch mode: allow only positive-score substitutions")
    p.add_argument("--weights", default=None, help="k comma-separated position weights (e.g. TCR contacts > anchors)")
    p.add_argument("--kind", default="auto", choices=["auto", "protein", "nucleotide"], help="input sequence kind")
    p.add_argument("--manifest", default=None, help="TSV taxon → proteome; adds a taxon column to the burden")
    p.add_argument("--n-jobs", type=int, default=1, help="worker processes (-1: every core)")
    p.add_argument("--scheduler", default=None, help="Dask distributed scheduler address (scan on that cluster)")
    p.add_argument("--out", default="gutlink-mimicry", help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(handler=run)


def _progress(quiet: bool) -> Any:
    def report(name: str, i: int, n: int) -> None:
        if not quiet:
            print(f"[{i + 1}/{n}] scanned {name}", file=sys.stderr, flush=True)
    return report


def _inputs(args: argparse.Namespace) -> tuple[list[str], Any]:
    from ..mimicry import read_manifest

    manifest = read_manifest(args.manifest) if args.manifest else None
    if args.proteomes:
        return list(args.proteomes), manifest
    if manifest is None:
        raise DesignError("give --proteomes (files or folders) or a --manifest naming the proteome files.")
    return sorted(set(manifest["path"])), manifest


def _weights(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise DesignError(f"--weights {text!r}: expected comma-separated numbers.") from None


def _summary(args: argparse.Namespace, result: Any, burden: Any, paths: list[str]) -> dict[str, Any]:
    from ..cli import _sha256

    files = [{"role": "proteome", "path": str(p), "sha256": _sha256(p)} for p in result.proteomes["path"] if p]
    if args.manifest:
        files.append({"role": "manifest", "path": args.manifest, "sha256": _sha256(args.manifest)})
    if Path(args.epitopes).is_file():
        files.append({"role": "epitopes", "path": args.epitopes, "sha256": _sha256(args.epitopes)})
    per_disease = result.hits.groupby("disease").size().to_dict() if len(result.hits) else {}
    return {"gutlink_version": __version__, "command": "gutlink " + shlex.join(sys.argv[1:]),
            "epitopes": args.epitopes, "inputs": files, "n_hits": len(result.hits),
            "hits_per_disease": {str(k): int(v) for k, v in per_disease.items()},
            "n_taxa_with_hits": int(burden["proteome"].nunique()) if len(burden) else 0,
            "result": result.to_dict()}


def _write(out: Path, overwrite: bool, tables: dict[str, Any], summary: dict[str, Any]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, frame in tables.items():
            frame.to_csv(tmp / name, sep="\t", index=False)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def run(args: argparse.Namespace) -> int:
    """``gutlink mimicry``."""
    from ..mimicry import scan, taxon_burden

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise DesignError(f"output folder {out} exists; pass --overwrite to replace it.")
    out.parent.mkdir(parents=True, exist_ok=True)
    paths, manifest = _inputs(args)
    result = scan(paths, args.epitopes, matrix=args.matrix, min_score=args.min_score, min_fraction=args.min_fraction,
                  k=args.k, max_mismatches=args.max_mismatches, conservative=args.conservative,
                  weights=_weights(args.weights), kind=args.kind, n_jobs=args.n_jobs, scheduler=args.scheduler,
                  callback=_progress(args.quiet))
    burden = taxon_burden(result.hits)
    if manifest is not None:
        burden = burden.merge(manifest[["proteome", "taxon"]], on="proteome", how="left")
    tables = {"hits.tsv": result.hits, "taxon_burden.tsv": burden, "proteomes.tsv": result.proteomes}
    _write(out, args.overwrite, tables, _summary(args, result, burden, paths))
    print(f"{len(result.hits)} hits in {len(result.proteomes)} proteome(s); results in {out}")
    return 0
