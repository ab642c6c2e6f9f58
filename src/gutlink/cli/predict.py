"""``gutlink predict``: how well does the community predict the disease, and does it hold in another study?

A thin layer over :mod:`gutlink.predict`. Cross-validates a classifier (plus leave-one-study-out and the
study × study matrix with ``--study``) and writes ``summary.json``, ``predictions.tsv`` (out-of-fold
probability per sample), ``importance.tsv``, ``roc.tsv``, ``calibration.tsv``, ``folds.tsv``, ``loso.tsv`` /
``cross_study.tsv``, ``report.html`` (ROC, calibration, feature importance, the study × study heat map) and,
with ``--save-model``, ``model.json``; the folder is written atomically by :func:`gutlink.report.write`.
``--per-case`` runs one model per case value against the shared controls (``diseases.tsv``,
``importance_by_disease.tsv``, ``shared_features.tsv``). With ``--apply MODEL`` it scores new samples with a
saved model instead (``predictions.tsv``, ``score_groups.tsv``; with ``--group/--case/--control`` also the AUROC
on those labelled samples). Every mode writes ``report.html`` and ``summary.json`` and builds its folder in a
temporary folder beside ``--out`` that replaces it only when complete. ``--per-study-standardise`` (with
``--study``) standardises features within each study.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import DesignError
from . import (
    Progress,
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
    """Add the ``predict`` sub-command to *sub* (an argparse sub-parsers object)."""
    p = sub.add_parser("predict", help="how well does the microbiome predict the disease? (nested CV, LOSO)")
    add_input_arguments(p)
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
    p.add_argument("--per-study-standardise", action="store_true",
                   help="with --study: standardise features within each study (a held-out study on its own "
                        "unlabelled samples)")
    p.add_argument("--per-case", action="store_true",
                   help="one model per --case value against the shared controls, and which signals are shared")
    p.add_argument("--no-matrix", action="store_true", help="with --study: LOSO only, no study × study matrix")
    p.add_argument("--save-model", action="store_true", help="also fit on all samples and write model.json")
    p.add_argument("--apply", default=None, metavar="MODEL", help="score the samples with a saved model.json")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://…) to run the fits on")
    p.add_argument("--out", default="gutlink-predict", help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    add_run_arguments(p, permutations=0, jobs="parallel workers (joblib)")
    add_design_arguments(p)
    p.set_defaults(handler=run)


# ----------------------------------------------------------------------------- cross-validation
def _design_args(args: argparse.Namespace) -> dict[str, Any]:
    if not (args.group and args.case and args.control):
        raise DesignError("gutlink predict needs --group, --case and --control (or --apply MODEL).")
    return {"group": args.group, "case": _split(args.case), "control": _split(args.control),
            "subject": args.subject, "block": args.block, "model": args.model, "normalisation": args.normalisation,
            "min_prevalence": args.min_prevalence}


def _check_per_study(args: argparse.Namespace) -> None:
    if not args.per_study_standardise:
        return
    if not args.study:
        raise DesignError("--per-study-standardise needs --study COLUMN (the studies to standardise within).")
    if args.save_model:
        raise DesignError("--save-model cannot be combined with --per-study-standardise yet: a saved model would "
                          "need a batch of samples per new study to standardise. Drop one of the two options.")


def _fit(args: argparse.Namespace, cohort: Any) -> dict[str, Any]:
    from .._progress import progress_to
    from ..predict import cross_validate, fit_model, loso

    design = _design_args(args)
    _check_per_study(args)
    common = {"rng": args.seed, "n_jobs": args.jobs, "scheduler": args.scheduler,
              "per_study_standardise": args.per_study_standardise}
    progress = Progress(args.quiet, what="cross-validation:")
    with progress_to(progress.detail):  # folds / permutations / studies done, with an ETA (indented lines)
        out: dict[str, Any] = {"cv": cross_validate(cohort, study=args.study, n_repeats=args.repeats,
                                                    n_folds=args.folds, n_permutations=args.permutations,
                                                    select_k=args.select, callback=progress, **design, **common)}
        if args.study:
            out["transfer"] = loso(cohort, study=args.study, matrix=not args.no_matrix, n_folds=args.folds,
                                   n_repeats=min(args.repeats, 3), **design, **common)
    if args.save_model:
        out["model"] = fit_model(cohort, select_k=args.select, rng=args.seed, **design)
    return out


def _summary(found: dict[str, Any]) -> dict[str, Any]:
    cv = found["cv"]
    doc: dict[str, Any] = {**cv.summary(), "stability": cv.stability}
    doc["within_cohort_per_study"] = doc.pop("per_study", [])
    if "transfer" in found:
        t = found["transfer"].summary()
        doc.update(per_study=t["loso"], loso_mean_auroc=t["loso_mean_auroc"], cross_study_matrix=t["matrix"])
    doc["top_features"] = json.loads(cv.importance.head(20).reset_index().to_json(orient="records"))
    return doc


def _write(args: argparse.Namespace, results: tuple[Any, ...], doc: dict[str, Any], files: list[dict[str, str]],
           checks: tuple[Any, Any], extra: dict[str, str] | None = None) -> Path:
    """``report.html``, ``summary.json``, the tables (and ``model.json``) in one atomic :func:`gutlink.report.write`."""
    from ..report import write
    from ..run import Run

    doc["report_html"] = True
    bundle = Run(subcommand="predict", results=results, document=doc, inputs=tuple(files), command=command_line(),
                 seed=args.seed, design=checks[0], checks=checks[1])
    return write(bundle, args.out, overwrite=args.overwrite, extra_files=extra)


def _write_cv(args: argparse.Namespace, found: dict[str, Any], files: list[dict[str, str]],
              checks: tuple[Any, Any]) -> Path:
    doc = _summary(found)
    model_json = found["model"].to_json() if "model" in found else None
    doc["model_json"] = model_json is not None
    results = (found["cv"], *([found["transfer"]] if "transfer" in found else []))
    return _write(args, results, doc, files, checks, {} if model_json is None else {"model.json": model_json})


# ----------------------------------------------------------------------------- apply
def _apply(args: argparse.Namespace, cohort: Any, files: list[dict[str, str]], checks: tuple[Any, Any]) -> int:
    from ..predict import apply_model, load_model
    from ..run import file_record

    model = load_model(args.apply)
    labelled = bool(args.group and args.case and args.control)
    res = apply_model(model, cohort, group=args.group, case=_split(args.case) if labelled else None,
                      control=_split(args.control) if labelled else None, rng=args.seed)
    files.append(file_record(args.apply, "model"))
    doc = {"model": model.info, "alignment": res.alignment, "n_samples": int(len(res.table)), "group": res.group,
           "by_group": res.by_group}
    if res.auroc is not None:
        doc.update(auroc=res.auroc, auroc_ci=list(res.auroc_ci or ()))
    out = _write(args, (res,), doc, files, checks)
    a = res.alignment
    print(f"Scored {len(res.table)} samples; {a['n_matched']} of {a['n_model_features']} model features found "
          f"({a['n_missing']} missing, treated as absent; {a['n_extra']} extra ignored).")
    if res.auroc is not None and res.auroc_ci is not None:
        print(f"AUROC on these labelled samples: {res.auroc:.3f} (95% CI {res.auroc_ci[0]:.3f}–{res.auroc_ci[1]:.3f}).")
    print(f"Predictions: {out / 'predictions.tsv'}; report: {out / 'report.html'}")
    return 0


# ----------------------------------------------------------------------------- multi-disease
def _multi(args: argparse.Namespace, cohort: Any, files: list[dict[str, str]], checks: tuple[Any, Any]) -> int:
    from ..predict import multi_disease

    design = _design_args(args)
    _check_per_study(args)
    options: dict[str, Any] = {"normalisation": args.normalisation, "min_prevalence": args.min_prevalence}
    if args.per_study_standardise:
        options.update(study=args.study, per_study_standardise=True)
    res = multi_disease(cohort, group=design["group"], cases=design["case"], control=design["control"],
                        model=args.model, subject=args.subject, block=args.block, n_repeats=args.repeats, n_folds=args.folds,
                        options=options, rng=args.seed, n_jobs=args.jobs, scheduler=args.scheduler)
    out = _write(args, (res,), res.summary(), files, checks)
    for r in res.table.itertuples():
        print(f"{r.disease} vs control: AUROC {r.auroc:.3f} ({r.ci_low:.3f}–{r.ci_high:.3f}), "
              f"{r.n_case} cases / {r.n_control} controls")
    print(f"{len(res.shared)} feature(s) among the top {res.top_k} of ≥ 2 diseases with one direction. Results: {out}")
    return 0


def run(args: argparse.Namespace) -> int:
    """``gutlink predict``: returns the exit code."""
    from ..report.output import check_destination

    check_destination(args.out, args.overwrite)
    cohort, files = load_cohort(args)
    checks: tuple[Any, Any] = (None, None)
    if args.group and args.case and args.control:
        checks = checked_design(args, cohort, group=args.group, case=_split(args.case),
                                control=_split(args.control), subject=args.subject, block=args.block,
                                study=args.study, batch=args.batch)
    if args.apply:
        return _apply(args, cohort, files, checks)
    if args.per_case:
        return _multi(args, cohort, files, checks)
    found = _fit(args, cohort)
    out = _write_cv(args, found, files, checks)
    cv = found["cv"]
    print(f"{cv.model}: AUROC {cv.auroc:.3f} (95% CI {cv.auroc_ci[0]:.3f}–{cv.auroc_ci[1]:.3f}), balanced accuracy "
          f"{cv.balanced_accuracy:.3f}; {cv.n_case} cases, {cv.n_control} controls, "
          f"{cv.protocol['n_repeats']}×{cv.protocol['n_folds']}-fold CV"
          + (" grouped by subject" if cv.protocol["grouped"] else "") + ".")
    wb = cv.within_block
    if wb and wb.get("n_pairs"):
        print(f"Within {args.block} (case vs control of one block): case scored higher in "
              f"{wb['fraction_case_higher']:.3f} of {wb['n_pairs']} pairs (95% CI {wb['ci_low']:.3f}–{wb['ci_high']:.3f}).")
    if "transfer" in found:
        t = found["transfer"].table
        print("Leave-one-study-out AUROC: " + ", ".join(f"{r.study} {r.auroc:.3f}" for r in t.itertuples()))
    print(f"Results: {out}; report: {out / 'report.html'}")
    return 0
