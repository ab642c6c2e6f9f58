"""``gutlink predict``: how well does the community predict the disease, and does it hold in another study?

A thin layer over :mod:`gutlink.predict`. Cross-validates a classifier (plus leave-one-study-out and the
study × study matrix with ``--study``) and writes ``summary.json``, ``predictions.tsv`` (out-of-fold
probability per sample), ``importance.tsv``, ``roc.tsv``, ``calibration.tsv``, ``folds.tsv``, ``loso.tsv`` /
``cross_study.tsv`` and, with ``--save-model``, ``model.json``. ``--per-case`` runs one model per case value
against the shared controls (``diseases.tsv``, ``importance_by_disease.tsv``, ``shared_features.tsv``).
With ``--apply MODEL`` it scores new samples with
a saved model instead. Everything is written into a temporary folder beside ``--out`` that replaces it only
when complete.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shlex
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__
from ..errors import DesignError, OutputExistsError

__all__ = ["add_parser", "run", "write_atomically"]


def add_parser(sub: Any) -> None:
    """Add the ``predict`` sub-command to *sub* (an argparse sub-parsers object)."""
    p = sub.add_parser("predict", help="how well does the microbiome predict the disease? (nested CV, LOSO)")
    p.add_argument("abundance", help="abundance table (MetaPhlAn, BIOM, .qza, Kraken/Bracken, TSV/CSV)")
    p.add_argument("--metadata", default=None, help="sample metadata; default: embedded in the table")
    p.add_argument("--format", default=None, help="abundance format (default: detected)")
    p.add_argument("--rank", default=None, help="taxonomic rank to use (e.g. species, genus)")
    p.add_argument("--where", action="append", default=[], metavar="COL=V1[,V2]",
                   help="keep only samples whose COL is one of the values (repeatable)")
    p.add_argument("--group", help="metadata column holding the outcome")
    p.add_argument("--case", help="case value(s), comma-separated (pooled)")
    p.add_argument("--control", help="control value(s), comma-separated")
    p.add_argument("--study", default=None, help="study column: per-study AUROC, leave-one-study-out, matrix")
    p.add_argument("--subject", default=None, help="subject / household column: grouped CV")
    p.add_argument("--model", default="lasso", choices=["lasso", "elasticnet", "rf", "gbm", "ensemble", "auto"])
    p.add_argument("--normalisation", default="log-std", choices=["log-std", "clr", "log", "none"])
    p.add_argument("--min-prevalence", type=float, default=0.1, help="prevalence filter (inside each fold)")
    p.add_argument("--select", type=int, default=None, metavar="K", help="keep K features (inside each fold)")
    p.add_argument("--repeats", type=int, default=10, help="CV repeats")
    p.add_argument("--folds", type=int, default=5, help="CV folds")
    p.add_argument("--permutations", type=int, default=0, help="label permutations for the chance AUROC")
    p.add_argument("--per-case", action="store_true",
                   help="one model per --case value against the shared controls, and which signals are shared")
    p.add_argument("--no-matrix", action="store_true", help="with --study: LOSO only, no study × study matrix")
    p.add_argument("--save-model", action="store_true", help="also fit on all samples and write model.json")
    p.add_argument("--apply", default=None, metavar="MODEL", help="score the samples with a saved model.json")
    p.add_argument("--jobs", type=int, default=1, help="parallel workers (joblib)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://…) to run the fits on")
    p.add_argument("--rng", type=int, default=0, help="seed of every random step")
    p.add_argument("--out", default="gutlink-predict", help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.set_defaults(handler=run)


# ----------------------------------------------------------------------------- helpers
def _sha256(path: Path) -> str:
    if path.is_dir():
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def write_atomically(out: str | os.PathLike[str], build: Callable[[Path], None], *, overwrite: bool) -> Path:
    """Build the output folder in a temporary sibling, then move it into place with :func:`os.replace`.

    Nothing appears at *out* unless *build* completes; an existing folder is replaced only with *overwrite*
    and only when it is a gutlink output (holds ``summary.json``).
    """
    out = Path(out).absolute()
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: the output folder already exists; choose another or pass --overwrite.")
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "summary.json").is_file())):
        raise OutputExistsError(f"{out}: exists and is not a gutlink output folder (no summary.json); not replaced.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        build(tmp)
        old = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _load(args: argparse.Namespace) -> tuple[Any, list[dict[str, str]]]:
    from ..io import read, read_metadata
    from . import _apply_where

    cohort = read(args.abundance, format=args.format, rank=args.rank)
    files = [{"role": "abundance", "path": str(args.abundance), "sha256": _sha256(Path(args.abundance))}]
    if args.metadata:
        cohort = cohort.align(read_metadata(args.metadata), source=str(args.metadata))
        files.append({"role": "metadata", "path": str(args.metadata), "sha256": _sha256(Path(args.metadata))})
    return _apply_where(cohort, args.where), files


def _tsv(folder: Path, name: str, frame: pd.DataFrame, *, index: bool = True) -> None:
    frame.to_csv(folder / name, sep="\t", index=index, float_format="%.6g")


def _report_html(result: Any) -> str | None:
    """The report page when :mod:`gutlink.report` has a renderer for this result, else ``None``."""
    try:
        from ..report import render_html
        from ..report.renderers import render
    except ImportError:
        return None
    if render.dispatch(type(result)) is render.dispatch(object):
        return None
    return render_html(result)


# ----------------------------------------------------------------------------- cross-validation
def _design_args(args: argparse.Namespace) -> dict[str, Any]:
    if not (args.group and args.case and args.control):
        raise DesignError("gutlink predict needs --group, --case and --control (or --apply MODEL).")
    return {"group": args.group, "case": _split(args.case), "control": _split(args.control),
            "subject": args.subject, "model": args.model, "normalisation": args.normalisation,
            "min_prevalence": args.min_prevalence}


def _fit(args: argparse.Namespace, cohort: Any) -> dict[str, Any]:
    from ..predict import cross_validate, fit_model, loso

    design = _design_args(args)
    common = {"rng": args.rng, "n_jobs": args.jobs, "scheduler": args.scheduler}
    out: dict[str, Any] = {"cv": cross_validate(cohort, study=args.study, n_repeats=args.repeats, n_folds=args.folds,
                                                n_permutations=args.permutations, select_k=args.select,
                                                **design, **common)}
    if args.study:
        out["transfer"] = loso(cohort, study=args.study, matrix=not args.no_matrix, n_folds=args.folds,
                               n_repeats=min(args.repeats, 3), **design, **common)
    if args.save_model:
        out["model"] = fit_model(cohort, select_k=args.select, rng=args.rng, **design)
    return out


def _summary(args: argparse.Namespace, files: list[dict[str, str]], found: dict[str, Any]) -> dict[str, Any]:
    cv = found["cv"]
    doc: dict[str, Any] = {"gutlink_version": __version__, "command": "gutlink " + shlex.join(sys.argv[1:]),
                           "inputs": files, "seed": args.rng, **cv.summary(), "stability": cv.stability}
    doc["within_cohort_per_study"] = doc.pop("per_study", [])
    if "transfer" in found:
        t = found["transfer"].summary()
        doc.update(per_study=t["loso"], loso_mean_auroc=t["loso_mean_auroc"], cross_study_matrix=t["matrix"])
    doc["top_features"] = json.loads(cv.importance.head(20).reset_index().to_json(orient="records"))
    return doc


def _write_cv(folder: Path, found: dict[str, Any], doc: dict[str, Any]) -> None:
    cv = found["cv"]
    _tsv(folder, "predictions.tsv", cv.predictions)
    _tsv(folder, "importance.tsv", cv.importance)
    _tsv(folder, "roc.tsv", cv.roc, index=False)
    _tsv(folder, "calibration.tsv", cv.calibration, index=False)
    _tsv(folder, "folds.tsv", cv.folds.assign(params=cv.folds["params"].map(json.dumps)), index=False)
    if "transfer" in found:
        _tsv(folder, "loso.tsv", found["transfer"].table, index=False)
        if not found["transfer"].matrix.empty:
            _tsv(folder, "cross_study.tsv", found["transfer"].matrix)
    if "model" in found:
        (folder / "model.json").write_text(found["model"].to_json(), encoding="utf-8")
    html = _report_html(cv)
    if html is not None:
        (folder / "report.html").write_text(html, encoding="utf-8")
    doc["report_html"] = html is not None
    (folder / "summary.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------- apply
def _apply(args: argparse.Namespace, cohort: Any, files: list[dict[str, str]]) -> int:
    from ..predict import apply_model, load_model

    model = load_model(args.apply)
    res = apply_model(model, cohort)
    files.append({"role": "model", "path": str(args.apply), "sha256": _sha256(Path(args.apply))})
    doc = {"gutlink_version": __version__, "command": "gutlink " + shlex.join(sys.argv[1:]), "inputs": files,
           "model": model.info, "alignment": res.alignment, "n_samples": int(len(res.table))}

    def build(folder: Path) -> None:
        _tsv(folder, "predictions.tsv", res.table)
        (folder / "summary.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")

    out = write_atomically(args.out, build, overwrite=args.overwrite)
    a = res.alignment
    print(f"Scored {len(res.table)} samples; {a['n_matched']} of {a['n_model_features']} model features found "
          f"({a['n_missing']} missing, treated as absent; {a['n_extra']} extra ignored).")
    print(f"Predictions: {out / 'predictions.tsv'}")
    return 0


# ----------------------------------------------------------------------------- multi-disease
def _multi(args: argparse.Namespace, cohort: Any, files: list[dict[str, str]]) -> int:
    from ..predict import multi_disease

    design = _design_args(args)
    res = multi_disease(cohort, group=design["group"], cases=design["case"], control=design["control"],
                        model=args.model, subject=args.subject, n_repeats=args.repeats, n_folds=args.folds,
                        options={"normalisation": args.normalisation, "min_prevalence": args.min_prevalence},
                        rng=args.rng, n_jobs=args.jobs, scheduler=args.scheduler)
    doc = {"gutlink_version": __version__, "command": "gutlink " + shlex.join(sys.argv[1:]), "inputs": files,
           "seed": args.rng, **res.summary()}

    def build(folder: Path) -> None:
        _tsv(folder, "diseases.tsv", res.table, index=False)
        _tsv(folder, "importance_by_disease.tsv", res.importance)
        _tsv(folder, "shared_features.tsv", res.shared, index=False)
        (folder / "summary.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")

    out = write_atomically(args.out, build, overwrite=args.overwrite)
    for r in res.table.itertuples():
        print(f"{r.disease} vs control: AUROC {r.auroc:.3f} ({r.ci_low:.3f}–{r.ci_high:.3f}), "
              f"{r.n_case} cases / {r.n_control} controls")
    print(f"{len(res.shared)} feature(s) among the top {res.top_k} of ≥ 2 diseases with one direction. Results: {out}")
    return 0


def run(args: argparse.Namespace) -> int:
    """``gutlink predict``: returns the exit code."""
    cohort, files = _load(args)
    if args.apply:
        return _apply(args, cohort, files)
    if args.per_case:
        return _multi(args, cohort, files)
    found = _fit(args, cohort)
    doc = _summary(args, files, found)
    out = write_atomically(args.out, lambda folder: _write_cv(folder, found, doc), overwrite=args.overwrite)
    cv = found["cv"]
    print(f"{cv.model}: AUROC {cv.auroc:.3f} (95% CI {cv.auroc_ci[0]:.3f}–{cv.auroc_ci[1]:.3f}), balanced accuracy "
          f"{cv.balanced_accuracy:.3f}; {cv.n_case} cases, {cv.n_control} controls, "
          f"{cv.protocol['n_repeats']}×{cv.protocol['n_folds']}-fold CV"
          + (" grouped by subject" if cv.protocol["grouped"] else "") + ".")
    if "transfer" in found:
        t = found["transfer"].table
        print("Leave-one-study-out AUROC: " + ", ".join(f"{r.study} {r.auroc:.3f}" for r in t.itertuples()))
    note = "" if doc["report_html"] else " (no report.html: the report has no prediction page yet)"
    print(f"Results: {out}{note}")
    return 0
