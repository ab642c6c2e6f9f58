"""``gutlink mimicry``: scan proteomes for autoantigen-epitope mimics, summarise the burden per taxon and, given a
cohort, test the per-sample burden between cases and controls.

Writes ``report.html``, ``hits.tsv``, ``taxon_burden.tsv``, ``proteomes.tsv`` and ``summary.json`` into ``--out``
(and ``sample_burden.tsv`` + ``burden_tests.tsv`` with a cohort) through :func:`gutlink.report.write`, atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import DesignError
from . import Progress, _split, add_design_arguments, add_run_arguments, checked_design, command_line

__all__ = ["add_parser", "run"]

_COHORT_ARGS = ("abundance", "group", "case", "control")


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
    p.add_argument("--scheduler", default=None, help="Dask distributed scheduler address (scan on that cluster)")
    p.add_argument("--query-memory", type=float, default=256, metavar="MB",
                   help="memory budget of the compiled epitope tables; larger epitope sets are scanned in batches "
                        "(default 256; hits do not depend on it)")
    _add_cohort(p)
    p.add_argument("--out", default="gutlink-mimicry", help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    add_run_arguments(p, jobs="worker processes")
    add_design_arguments(p, block=False)
    p.set_defaults(handler=run)


def _add_cohort(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("per-sample burden (needs --manifest)")
    g.add_argument("--abundance", default=None, help="abundance table whose taxa match the manifest's")
    g.add_argument("--metadata", default=None, help="sample metadata (default: embedded in the table)")
    g.add_argument("--rank", default=None, help="aggregate the abundance table to this rank first (e.g. species)")
    g.add_argument("--group", default=None, help="metadata column holding case/control status")
    g.add_argument("--case", default=None, help="case value(s), comma-separated (pooled)")
    g.add_argument("--control", default=None, help="control value")
    g.add_argument("--strata", default=None, metavar="COL",
                   help="metadata column of strata (e.g. HLA risk genotype): compare cases with controls within "
                        "each stratum (van Elteren) and report each stratum")
    g.add_argument("--permutations", type=int, default=999, help="shuffles of the taxon → proteome assignment")


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


def _wants_cohort(args: argparse.Namespace) -> bool:
    given = [a for a in _COHORT_ARGS if getattr(args, a)]
    if not given and not args.metadata and not args.strata:
        return False
    missing = [f"--{a}" for a in _COHORT_ARGS if not getattr(args, a)] + ([] if args.manifest else ["--manifest"])
    if missing:
        raise DesignError(f"the per-sample burden test needs {', '.join(missing)} as well "
                          "(--abundance, --group, --case, --control and --manifest go together).")
    return True


def _cohort(args: argparse.Namespace) -> Any:
    from ..io import read, read_metadata

    cohort = read(args.abundance)
    if args.metadata:
        cohort = cohort.align(read_metadata(args.metadata), source=str(args.metadata))
    return cohort.aggregate(args.rank) if args.rank else cohort


def _files(args: argparse.Namespace, result: Any) -> list[dict[str, str]]:
    from ..run import file_record

    files = [file_record(p, "proteome") for p in result.proteomes["path"] if p]
    for role in ("manifest", "abundance", "metadata"):
        path = getattr(args, role)
        if path:
            files.append(file_record(path, role))
    if Path(args.epitopes).is_file():
        files.append(file_record(args.epitopes, "epitopes"))
    return files


def _query_memory(mb: float) -> int:
    if not mb > 0:
        raise DesignError(f"--query-memory must be a positive number of MB, got {mb}.")
    return int(mb * 2 ** 20)


def _scan(args: argparse.Namespace, paths: list[str]) -> Any:
    from .._progress import progress_to
    from ..mimicry import scan

    progress = Progress(args.quiet, what="scanned")
    with progress_to(progress.detail):  # residues scanned per finished batch, with an ETA (indented lines)
        return scan(paths, args.epitopes, matrix=args.matrix, min_score=args.min_score,
                    min_fraction=args.min_fraction, k=args.k, max_mismatches=args.max_mismatches,
                    conservative=args.conservative, weights=_weights(args.weights), kind=args.kind,
                    n_jobs=args.jobs, scheduler=args.scheduler, query_memory=_query_memory(args.query_memory),
                    callback=progress)


def _burden(args: argparse.Namespace, cohort: Any, result: Any, manifest: Any) -> Any:
    from ..mimicry import burden_test, taxon_burden

    return burden_test(cohort, taxon_burden(result.hits), manifest=manifest, group=args.group,
                       case=_split(args.case), control=args.control, n_permutations=args.permutations,
                       strata=args.strata, rng=args.seed)


def run(args: argparse.Namespace) -> int:
    """``gutlink mimicry``."""
    from ..mimicry import summarize
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run

    out = Path(args.out)
    check_destination(out, args.overwrite)
    cohort = _cohort(args) if _wants_cohort(args) else None
    design, checks = (None, None) if cohort is None else checked_design(
        args, cohort, group=args.group, case=_split(args.case), control=_split(args.control), strata=args.strata)
    paths, manifest = _inputs(args)
    result = _scan(args, paths)
    burden = _burden(args, cohort, result, manifest) if cohort is not None else None
    files = _files(args, result)
    inputs = {"files": files, "command": command_line(), "epitopes": args.epitopes}
    summary = summarize(result, manifest=manifest, burden=burden, group=args.group, case=_split(args.case),
                        control=args.control, strata=args.strata, inputs=inputs)
    bundle = Run(subcommand="mimicry", results=(summary,), inputs=tuple(files), command=command_line(),
                 seed=args.seed, design=design, checks=checks)
    folder = write(bundle, out, overwrite=args.overwrite)
    print(f"{summary.n_hits} hits in {len(result.proteomes)} proteome(s); results in {out}")
    print(f"Report: {Path(folder) / 'report.html'}")
    return 0
