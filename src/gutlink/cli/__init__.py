"""Command-line interface: a thin layer over the Python API.

``main(argv) -> int``; :class:`~gutlink.errors.GutlinkError` becomes exit code 2 with one paragraph on stderr,
anything else keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import GutlinkError, printable

__all__ = ["main", "build_parser"]

#: Sub-command modules of this package. Each defines ``add_parser(subparsers)``, which adds its parser and sets
#: ``handler=<function(args) -> int>`` with ``set_defaults``.
_PLUGINS: tuple[str, ...] = ("differential", "predict", "index", "mimicry", "guilds", "dynamics", "literature",
                             "trial", "atlas")


def build_parser() -> argparse.ArgumentParser:
    """The ``gutlink`` argument parser (one sub-command per question)."""
    parser = argparse.ArgumentParser(
        prog="gutlink",
        description="Test the link between the gut microbiome and autoimmune disease on cohort data. "
        "A research tool, not medical advice.",
    )
    parser.add_argument("--version", action="version", version=f"gutlink {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_link(sub)
    _add_demo(sub)
    _add_convert(sub)
    for module in _PLUGINS:
        try:
            plugin = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as err:  # a sub-command not built yet
            if err.name != f"{__name__}.{module}":
                raise
            continue
        plugin.add_parser(sub)
    for command in sub.choices.values():  # every --help shows the defaults
        command.formatter_class = _Defaults
    return parser


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--covariates", default="", help="comma-separated metadata columns to adjust for")
    p.add_argument("--strata", default=None, help="restrict permutations within levels of this column")
    p.add_argument("--subject", default=None, help="subject ID column (repeated measures)")
    p.add_argument("--rank", default=None, help="aggregate to this rank first (e.g. genus)")
    p.add_argument("--metrics", default="braycurtis,jaccard,aitchison", help="beta-diversity metrics")
    p.add_argument("--by", choices=("margin", "terms"), default="margin",
                   help="PERMANOVA test of the group term: marginal (given all covariates) or sequential")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--drop-empty", action="store_true", help="drop all-zero samples instead of failing")
    p.add_argument("--rarefy", type=int, default=None, metavar="DEPTH",
                   help="rarefy counts to DEPTH reads for alpha diversity only")
    p.add_argument("--predict", action="store_true",
                   help="also measure out-of-sample prediction of the label (lasso, nested 5 × 5-fold CV)")
    add_run_arguments(p, permutations=999)


class _Defaults(argparse.HelpFormatter):
    """``--help`` with each option's default, where it has one worth saying (not None / False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        quiet = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if "%(default)" in text or quiet or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


class _Alias(argparse.Action):
    """An option with a deprecated spelling: the old spelling still works for one release, with a note."""

    def __init__(self, option_strings: list[str], dest: str, *, deprecated: str = "", **kwargs: Any) -> None:
        self.deprecated = deprecated
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if option_string == self.deprecated:
            print(f"note: {self.deprecated} is deprecated; use {self.option_strings[0]}.", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_run_arguments(p: argparse.ArgumentParser, *, permutations: int | None = None, jobs: str = "",
                      progress: bool = True) -> None:
    """The words every long command shares: ``--seed``, ``--permutations``, ``--jobs``, ``--quiet``."""
    p.add_argument("--seed", "--rng", dest="seed", type=int, default=0, action=_Alias, deprecated="--rng",
                   help="seed of every random step (--rng: deprecated spelling)")
    if permutations is not None:
        p.add_argument("--permutations", type=int, default=permutations, metavar="N",
                       help="permutations of each permutation test")
    if jobs:
        p.add_argument("--jobs", "--n-jobs", dest="jobs", type=int, default=1, action=_Alias, deprecated="--n-jobs",
                       help=f"{jobs} (-1: every core)")
    if progress:
        p.add_argument("--quiet", action="store_true", help="no progress or cautions on stderr (red checks stay)")


def add_design_arguments(p: argparse.ArgumentParser, *, block: bool = True) -> None:
    """The design arguments every case/control command shares (read by :func:`checked_design`)."""
    if block:
        p.add_argument("--block", default=None, metavar="COL",
                       help="matched sets (household, family, twin pair): a block may hold cases and controls")
    p.add_argument("--batch", default=None, metavar="COL",
                   help="technical batch column (sequencing run, plate): checked for confounding with the groups")
    p.add_argument("--strict", action="store_true",
                   help="refuse (exit 2, nothing written) when a design check is red")
    p.add_argument("--min-level-n", type=int, default=5, metavar="N",
                   help="flag covariate / study / batch levels with fewer samples (default: %(default)s)")


def command_line() -> str:
    """The command line as typed (for provenance)."""
    return "gutlink " + shlex.join(sys.argv[1:]) if sys.argv else "gutlink"


def checked_design(args: argparse.Namespace, cohort: Any, **words: Any) -> tuple[Any, Any]:
    """The :class:`~gutlink.design.Design` of *words* (group, case, control, covariates, subject, block, study,
    batch, strata), validated, and its checks. Red and amber checks are said on stderr (red ones even with
    ``--quiet``); an unfittable design, or with ``--strict`` any red check, is an error before anything is
    computed or written."""
    from ..design import Design, check
    from ..errors import DesignError

    design = Design(**{k: v for k, v in words.items() if v is not None})
    checks = check(cohort, design, min_level_n=getattr(args, "min_level_n", 5))
    quiet = getattr(args, "quiet", False)
    for r in checks.table[checks.table["status"] != "green"].itertuples():
        if r.status == "red" or not quiet:  # --quiet silences progress and cautions, never a red check
            print(f"design check [{r.status}] {r.check}: {r.message}" + (f" Fix: {r.fix}" if r.fix else ""),
                  file=sys.stderr)
    if len(checks.fatal):
        raise DesignError(" ".join(f"{r.message} {r.fix}".strip() for r in checks.fatal.itertuples())
                          + " Nothing was computed or written.")
    if getattr(args, "strict", False) and checks.status == "red":
        raise DesignError(checks.headline() + " " + " ".join(f"{r.message} {r.fix}".strip()
                                                             for r in checks.red.itertuples())
                          + " Refusing because of --strict; nothing was computed or written.")
    return design, checks


def add_input_arguments(p: argparse.ArgumentParser) -> None:
    """The input arguments every cohort command shares (read by :func:`load_cohort`)."""
    p.add_argument("abundance", help="abundance table (MetaPhlAn, BIOM, .qza, Kraken/Bracken, TSV/CSV)")
    p.add_argument("--metadata", default=None, help="sample metadata (TSV/CSV/QIIME 2); default: embedded in the table")
    p.add_argument("--sample-id-column", default=None, metavar="COL",
                   help="the --metadata column holding sample IDs (default: the first column, or a later one named "
                        "like a sample ID; never another column when IDs repeat)")
    p.add_argument("--duplicate-ids", choices=("error", "collapse"), default="error",
                   help="metadata rows repeating a sample ID: an error, or collapsed into one when they differ only "
                        "in per-row identifiers such as run accessions (joined with ';')")
    p.add_argument("--format", default=None, help="abundance format (default: detected)")
    p.add_argument("--metadata-columns", default="", metavar="COLS",
                   help="comma-separated sample variables inside the abundance table (clinical columns): moved to "
                        "the metadata, never analysed as taxa")
    p.add_argument("--feature-columns", default="", metavar="COLS",
                   help="comma-separated abundance columns of a generic table, exactly; all others are metadata")
    p.add_argument("--units", default=None, choices=["counts", "fraction", "percent"],
                   help="units of the abundances (default: from the file, or detected from the values)")
    p.add_argument("--max-input", type=_size, default=None, metavar="SIZE",
                   help="largest input accepted, before and after decompression (e.g. 500M, 20G; default 20G)")


def _add_link(sub: Any) -> None:
    p = sub.add_parser("link", help="is the community different between cases and controls?")
    add_input_arguments(p)
    p.add_argument("--group", required=True, help="metadata column holding case/control status")
    p.add_argument("--case", required=True, help="case value(s), comma-separated (pooled)")
    p.add_argument("--control", required=True, help="control value(s), comma-separated (pooled)")
    p.add_argument("--where", action="append", default=[], metavar="COL=V1[,V2]",
                   help="keep only samples whose COL is one of the values (repeatable)")
    p.add_argument("--out", default="gutlink-link", help="output folder (written atomically)")
    _add_common(p)
    p.add_argument("--one-per-subject", default=None, metavar="first-by:COL|random",
                   help="analyse one sample per subject: the smallest COL (e.g. age at sampling) or a seeded random "
                        "one (default: every sample, with whole-subject permutations)")
    _add_link_layers(p)
    add_design_arguments(p)
    p.set_defaults(handler=cmd_link)


def _add_link_layers(p: argparse.ArgumentParser) -> None:
    """The guild and host-marker layers of ``link``."""
    p.add_argument("--no-guilds", action="store_true",
                   help="skip the barrier and immune guild layer (bundled trait knowledge base)")
    p.add_argument("--guild-shuffles", type=int, default=100, metavar="N",
                   help="design-keeping label shuffles of the guild layer's negative control")
    p.add_argument("--markers", default=None, metavar="COL,COL|FILE",
                   help="host markers (cytokines, calprotectin, CRP, autoantibodies): metadata columns, or a table "
                        "keyed by sample ID; each tested against every guild and prevalent taxon")
    p.add_argument("--marker-model", choices=("random", "within"), default="random",
                   help="with --markers and repeated --subject: a random intercept per subject, or fixed "
                        "intercepts (within-subject association only)")
    p.add_argument("--marker-direction", choices=("marker", "taxon"), default="marker",
                   help="with --markers: marker ~ guild/taxon, or guild/taxon CLR ~ marker (the MaAsLin direction)")
    p.add_argument("--condition", default=None, metavar="NAME",
                   help="condition of the literature layer (RA, MS, T1D, CD, UC, IBD, AS, SLE, … or a BugSigDB "
                        "label); default: inferred from the case label, else the layer is not assessable")
    p.add_argument("--no-literature", action="store_true",
                   help="skip the literature layer (concordance of the taxa that differ with BugSigDB)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address (tcp://HOST:8786): compute the distance blocks (from 2,000 samples) "
                        "and the differential layer's feature chunks on that cluster (same results)")


def _add_demo(sub: Any) -> None:
    p = sub.add_parser("demo", help="run `link` on the bundled Franzosa 2019 PRISM IBD cohort (CD and UC vs controls)")
    p.add_argument("--out", default="gutlink-demo", help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo output folder")
    add_run_arguments(p, permutations=999)
    p.set_defaults(handler=cmd_demo)


def _add_convert(sub: Any) -> None:
    p = sub.add_parser("convert", help="read any supported table and write TSV or BIOM")
    p.add_argument("abundance")
    p.add_argument("output", help="output path; .biom writes BIOM 2.1 HDF5, anything else TSV")
    p.add_argument("--format", default=None)
    p.add_argument("--rank", default=None, help="read at this rank and aggregate to it (feature IDs: its names)")
    p.add_argument("--units", default=None, choices=["counts", "fraction", "percent"],
                   help="units of the abundances (default: from the file, or detected)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(handler=cmd_convert)


# ----------------------------------------------------------------------------- helpers
class Progress:
    """Progress of a long command on stderr (the library itself never prints): a bar redrawn in place on a
    terminal, one plain line per step otherwise (logs, pipes, CI); nothing with ``--quiet``."""

    def __init__(self, quiet: bool, *, what: str = "") -> None:
        self.quiet, self.what, self.start = quiet, what, time.perf_counter()
        self.tty = sys.stderr.isatty()

    def __call__(self, step: str, i: int, n: int) -> None:
        if self.quiet:
            return
        elapsed = time.perf_counter() - self.start
        label = f"{self.what} {step}".strip()
        if not self.tty:
            print(f"[{i + 1:>2}/{n}] {elapsed:6.1f}s  {label}", file=sys.stderr, flush=True)
            return
        done = int(24 * min(i + 1, n) / max(n, 1))
        end = "\n" if i + 1 >= n else ""
        print(f"\r[{'#' * done}{'.' * (24 - done)}] {i + 1}/{n} {elapsed:5.1f}s {label[:60]:<60}", end=end,
              file=sys.stderr, flush=True)

    def detail(self, text: str) -> None:
        """One indented line inside the current step (e.g. permutations done and the time left)."""
        if self.quiet:
            return
        prefix = "\r" if self.tty else ""
        print(f"{prefix}      {text:<92}", file=sys.stderr, flush=True)


def _warn_unmatched(al: Any, path: str, n_meta: int, n_abund: int) -> None:
    """Say on stderr how many IDs of either side found no partner (they are left out, and recorded)."""
    if al.metadata_only:
        print(f"note: {path}: {len(al.metadata_only)} of {n_meta} sample IDs match no abundance sample "
              f"(e.g. {', '.join(map(repr, al.metadata_only[:3]))}); they are left out. Matching is exact and "
              "case-sensitive.", file=sys.stderr)
    if al.abundance_only:
        print(f"note: {len(al.abundance_only)} of {n_abund} abundance samples have no metadata row "
              f"(e.g. {', '.join(map(repr, al.abundance_only[:3]))}); they are left out.", file=sys.stderr)


def _size(text: str) -> int:
    """A byte size such as ``500M`` or ``20G`` (powers of 1024)."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    s = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = s[-1] if s and s[-1] in units else ""
    try:
        value = float(s[: len(s) - len(unit)])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 500M, 20G)") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the size must be positive")
    return int(value * units[unit])


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _apply_where(cohort: Any, clauses: list[str]) -> Any:
    from ..errors import DesignError

    for clause in clauses:
        if "=" not in clause:
            raise DesignError(f"--where {clause!r}: expected COL=VALUE[,VALUE].")
        col, vals = clause.split("=", 1)
        if col not in cohort.metadata.columns:
            raise DesignError(f"--where: metadata has no column {col!r}.")
        keep = cohort.metadata[col].astype("string").isin(_split(vals)).fillna(False).to_numpy(dtype=bool)
        if not keep.any():
            raise DesignError(f"--where {clause!r} keeps no sample.")
        cohort = cohort.subset(samples=keep)
    return cohort


# ----------------------------------------------------------------------------- commands
def _run_link(args: argparse.Namespace, cohort: Any, inputs: dict[str, Any]) -> Path:
    from ..community import progress_to
    from ..link import link
    from ..parallel import on_cluster
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run

    check_destination(args.out, args.overwrite)
    design, checks = checked_design(args, cohort, group=args.group, case=_split(args.case),
                                    control=_split(args.control), covariates=_split(args.covariates),
                                    subject=args.subject, block=getattr(args, "block", None),
                                    batch=getattr(args, "batch", None), strata=args.strata)
    progress = Progress(args.quiet)
    with progress_to(progress.detail), on_cluster(getattr(args, "scheduler", None)):
        result = link(cohort, group=args.group, case=_split(args.case), control=_split(args.control),
                      covariates=_split(args.covariates), strata=args.strata, subject=args.subject, rank=args.rank,
                      metrics=_split(args.metrics), n_permutations=args.permutations, rng=args.seed,
                      drop_empty=args.drop_empty, inputs=inputs, callback=progress, by=args.by,
                      predict=args.predict, rarefy=args.rarefy, block=getattr(args, "block", None),
                      one_per_subject=getattr(args, "one_per_subject", None),
                      guilds=not getattr(args, "no_guilds", False), guild_shuffles=getattr(args, "guild_shuffles", 100),
                      markers=_link_markers(args, inputs), marker_model=getattr(args, "marker_model", "random"),
                      marker_direction=getattr(args, "marker_direction", "marker"),
                      literature=not getattr(args, "no_literature", False), condition=getattr(args, "condition", None))
    bundle = Run(subcommand="link", results=(result,), inputs=tuple(inputs["files"]), command=inputs["command"],
                 seed=args.seed, design=design, checks=checks)
    out = write(bundle, args.out, overwrite=args.overwrite)
    print(result.verdict["headline"])
    if checks.status == "red":
        print(checks.headline() + " The verdict above does not count as evidence until these are resolved.")
    print(f"Report: {Path(out) / 'report.html'}")
    return Path(out)


def _link_markers(args: argparse.Namespace, inputs: dict[str, Any]) -> Any:
    """``--markers``: a table keyed by sample ID (recorded with its sha256) or metadata column names."""
    from ..io import read_metadata
    from ..run import file_record

    spec = getattr(args, "markers", None)
    if not spec:
        return None
    if Path(spec).is_file():
        inputs["files"].append(file_record(spec, "markers"))
        return read_metadata(spec)
    return _split(spec)


def load_cohort(args: argparse.Namespace) -> tuple[Any, list[dict[str, str]]]:
    """Read ``args.abundance`` (``args.format``), attach ``args.metadata`` when given (saying on stderr which IDs
    found no partner), apply ``args.where`` and ``args.rank``; returns the cohort and the input files with their
    sha256.

    ``--rank R`` has one meaning in every command: the table is read at level R (the format's own rows where it
    holds every level, e.g. MetaPhlAn) and aggregated to R, so the feature IDs are the taxon names at R; the full
    lineage stays in the cohort's lineage table.
    """
    from ..io import read, read_metadata
    from ..run import file_record

    rank = getattr(args, "rank", None)
    limits = {} if getattr(args, "max_input", None) is None else {"max_input": args.max_input}
    metadata = read_metadata(args.metadata, id_column=getattr(args, "sample_id_column", None),
                             duplicate_ids=getattr(args, "duplicate_ids", "error"), **limits) if args.metadata else None
    cohort = read(args.abundance, format=args.format, rank=rank, metadata=metadata, units=getattr(args, "units", None),
                  metadata_columns=_split(getattr(args, "metadata_columns", "")) or None,
                  feature_columns=_split(getattr(args, "feature_columns", "")) or None, **limits)
    if rank:
        cohort = cohort.aggregate(rank)
    files = [file_record(args.abundance, "abundance")]
    if metadata is not None:
        _warn_unmatched(cohort.alignment(metadata), args.metadata, len(metadata), cohort.n_samples)
        cohort = cohort.align(metadata, source=str(args.metadata))
        files.append(file_record(args.metadata, "metadata"))
    return _apply_where(cohort, getattr(args, "where", [])), files


def cmd_link(args: argparse.Namespace) -> int:
    """``gutlink link``."""
    cohort, files = load_cohort(args)
    _run_link(args, cohort, {"files": files, "command": command_line()})
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``gutlink demo``: the bundled Franzosa 2019 PRISM cohort, CD and UC vs controls."""
    from ..datasets import franzosa2019

    ns = argparse.Namespace(group="Diagnosis", case="CD,UC", control="Control", covariates="", strata=None,
                            subject=None, rank=None, metrics="braycurtis,jaccard,aitchison", drop_empty=False,
                            by="margin", predict=True, rarefy=None, out=args.out, permutations=args.permutations, seed=args.seed,
                            overwrite=args.overwrite, quiet=args.quiet)
    inputs = {"files": [{"role": "abundance", "path": "gutlink.datasets.franzosa2019 (bundled)", "sha256": ""}],
              "dataset": "Franzosa et al. 2019 Nat Microbiol 4:293, PRISM cohort (BSD-2)",
              "command": f"gutlink demo --out {args.out} --permutations {args.permutations} --seed {args.seed}"}
    _run_link(ns, franzosa2019(), inputs)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """``gutlink convert``."""
    from ..errors import OutputError, OutputExistsError
    from ..io import read, write_biom, write_tsv

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise OutputExistsError(f"{out}: already exists; choose another path or pass --overwrite.")
    if out.exists() and out.resolve() == Path(args.abundance).resolve():
        raise OutputError(f"{out}: the output would replace the input; choose another path.")
    if not out.parent.absolute().is_dir() or not os.access(out.parent.absolute(), os.W_OK):
        raise OutputError(f"{out}: its folder {out.parent.absolute()} does not exist or is not writable.")
    cohort = read(args.abundance, format=args.format, rank=args.rank, units=args.units)
    if args.rank:
        cohort = cohort.aggregate(args.rank)
    (write_biom if str(args.output).endswith(".biom") else write_tsv)(cohort, args.output)
    print(f"Wrote {cohort.n_samples} samples × {cohort.n_features} features to {args.output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except GutlinkError as err:
        print(f"gutlink {args.command}: error: {printable(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gutlink {args.command}: interrupted; nothing was written.", file=sys.stderr)
        return 130
