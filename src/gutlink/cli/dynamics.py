"""``gutlink dynamics fit|forecast|simulate``: community dynamics from time series (research tool, never
medical advice).

- ``fit``: fit gLV (with ``--qpcr`` biomass) or cLV, penalty by leave-one-subject-out CV, bootstrap over subjects;
  writes ``model.json`` (never pickle), the parameter table and the report.
- ``forecast``: hold out each subject in turn and forecast it from its first observation, beside persistence
  and the mean composition.
- ``simulate``: run a what-if scenario on a saved gLV ``model.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from . import add_input_arguments, add_run_arguments, command_line, load_cohort

__all__ = ["add_parser", "run_fit", "run_forecast", "run_simulate"]

CAVEAT = "Research tool, never medical advice."


def _series_arguments(p: argparse.ArgumentParser) -> None:
    add_input_arguments(p)
    p.add_argument("--subject", required=True, metavar="COL", help="metadata column of subject IDs")
    p.add_argument("--time", required=True, metavar="COL", help="metadata column of sampling times")
    p.add_argument("--qpcr", default=None, help="qPCR biomass table: sample IDs then one column per replicate")
    p.add_argument("--perturbations", default=None, help="windows table: name, start, end[, subject]")
    p.add_argument("--model", default="glv", choices=["glv", "clv"], help="gLV (needs --qpcr) or cLV")
    p.add_argument("--threshold", type=float, default=1e-4, help="consistency filter: relative abundance")
    p.add_argument("--consecutive", type=int, default=2, help="consistency filter: consecutive time points")
    p.add_argument("--subjects", type=int, default=1, help="consistency filter: number of subjects")
    p.add_argument("--out", default="gutlink-dynamics", help="output folder (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")


def add_parser(sub: Any) -> None:
    """Add ``dynamics fit|forecast|simulate`` to *sub* (an argparse sub-parsers object)."""
    p = sub.add_parser("dynamics", help="community dynamics: gLV / cLV fit, forecast, what-if scenarios")
    dsub = p.add_subparsers(dest="dynamics_command", required=True, metavar="STEP")
    f = dsub.add_parser("fit", help="fit gLV / cLV on time series")
    _series_arguments(f)
    f.add_argument("--bootstrap", type=int, default=100, metavar="N", help="bootstrap replicates over subjects")
    add_run_arguments(f)
    f.set_defaults(handler=run_fit)
    c = dsub.add_parser("forecast", help="held-out-subject forecasts against persistence")
    _series_arguments(c)
    add_run_arguments(c)
    c.set_defaults(handler=run_forecast)
    s = dsub.add_parser("simulate", help="what-if scenario on a saved gLV model.json")
    s.add_argument("model_json", help="model.json written by 'gutlink dynamics fit --model glv'")
    s.add_argument("--days", type=float, default=30.0, help="simulated days")
    s.add_argument("--step", type=float, default=0.5, help="output time step (days)")
    s.add_argument("--probiotic", action="append", default=[], metavar="TAXON:DOSE:T1,T2",
                   help="dose (absolute, model units) of TAXON at each time; repeatable")
    s.add_argument("--antibiotic", action="append", default=[], metavar="NAME:START:END",
                   help="a fitted perturbation switched on over [START, END); repeatable")
    s.add_argument("--prebiotic", action="append", default=[], metavar="TAXA:FACTOR:START:END",
                   help="growth rates of comma-separated TAXA multiplied by FACTOR over [START, END)")
    s.add_argument("--out", default="gutlink-scenario", help="output folder (written atomically)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    s.set_defaults(handler=run_simulate)


def _load_series(args: argparse.Namespace) -> tuple[Any, list[dict[str, str]]]:
    import pandas as pd

    from ..dynamics.series import _read_biomass, consistency_filter, from_cohort
    from ..errors import InputFormatError
    from ..run import file_record

    cohort, inputs = load_cohort(args)
    bio = None
    if args.qpcr:
        values = _read_biomass(Path(args.qpcr), cohort.metadata).reindex(cohort.sample_ids)
        if values.isna().any():
            raise InputFormatError(f"{int(values.isna().sum())} sample(s) have no qPCR value; gLV needs biomass "
                                   "for every sample (use --model clv, which works without).", path=args.qpcr)
        bio = values.to_numpy()
        inputs.append(file_record(args.qpcr, "qpcr"))
    windows = None
    if args.perturbations:
        windows = pd.read_csv(args.perturbations, sep=None, engine="python")
        inputs.append(file_record(args.perturbations, "perturbations"))
    ts = from_cohort(cohort, subject=args.subject, time=args.time, biomass=bio, perturbations=windows)
    ts = consistency_filter(ts, threshold=args.threshold, consecutive=args.consecutive, subjects=args.subjects)
    return ts, inputs


def run_fit(args: argparse.Namespace) -> int:
    """``gutlink dynamics fit``: returns the exit code."""
    from ..dynamics import fit
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run

    check_destination(args.out, args.overwrite)
    ts, inputs = _load_series(args)
    model = fit(ts, model=args.model, n_boot=args.bootstrap, rng=args.seed)
    out = write(Run(subcommand="dynamics fit", results=(model,), inputs=tuple(inputs), command=command_line(),
                    seed=args.seed), args.out, overwrite=args.overwrite,
                extra_files={"model.json": json.dumps(model.to_json())})
    print(f"{args.model} on {ts.n_taxa} taxa, {ts.n_subjects} subjects; penalty {model.alpha:.3g} by "
          f"leave-one-subject-out CV; {args.bootstrap} bootstrap replicates. {CAVEAT}")
    print(f"Model: {Path(out) / 'model.json'}; report: {Path(out) / 'report.html'}")
    return 0


def run_forecast(args: argparse.Namespace) -> int:
    """``gutlink dynamics forecast``: returns the exit code."""
    from ..dynamics import holdout
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run

    check_destination(args.out, args.overwrite)
    ts, inputs = _load_series(args)
    res = holdout(ts, model=args.model)
    out = write(Run(subcommand="dynamics forecast", results=(res,), inputs=tuple(inputs), command=command_line(),
                    seed=args.seed), args.out, overwrite=args.overwrite)
    s = res.summary["median_rmse"]
    print(f"Held-out-subject median RMSE (relative abundance): model {s['model']:.3f}, persistence "
          f"{s['persistence']:.3f}, mean composition {s['mean_composition']:.3f}; "
          f"{int(res.summary.loc['model', 'n_failed'])} forecast(s) failed. {CAVEAT}")
    print(f"Report: {Path(out) / 'report.html'}")
    return 0


def _parts(text: str, n: int, flag: str) -> list[str]:
    from ..errors import DesignError

    parts = text.rsplit(":", n - 1)
    if len(parts) != n:
        raise DesignError(f"{flag} {text!r}: expected {n} fields separated by ':'.")
    return parts


def run_simulate(args: argparse.Namespace) -> int:
    """``gutlink dynamics simulate``: returns the exit code."""
    from ..dynamics import DynamicsModel, antibiotic, prebiotic, probiotic, simulate, steady_state
    from ..errors import DesignError, InputFormatError
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run, file_record

    check_destination(args.out, args.overwrite)
    try:
        model = DynamicsModel.from_json(json.loads(Path(args.model_json).read_text()))
    except (ValueError, KeyError, TypeError) as err:
        raise InputFormatError(f"not a gutlink dynamics model: {err}", path=args.model_json) from err
    ivs = []
    for t in args.probiotic:
        taxon, dose, times = _parts(t, 3, "--probiotic")
        ivs.append(probiotic(taxon, dose=float(dose), times=[float(x) for x in times.split(",")]))
    for t in args.antibiotic:
        name, a, b = _parts(t, 3, "--antibiotic")
        ivs.append(antibiotic(name, start=float(a), end=float(b)))
    for t in args.prebiotic:
        taxa, fac, a, b = _parts(t, 4, "--prebiotic")
        ivs.append(prebiotic(taxa.split(","), factor=float(fac), start=float(a), end=float(b)))
    base = steady_state(model)
    if not (base.stable and base.uninvadable):
        raise DesignError(f"the scenario starts from the model's steady state, but {base.message}.")
    start = np.maximum(base.table["abundance"].to_numpy(), 1e-9 * model.scale)
    res = simulate(model, start, times=np.arange(0.0, args.days + 1e-9, args.step), interventions=ivs)
    out = write(Run(subcommand="dynamics simulate", results=(res, base),
                    inputs=(file_record(args.model_json, "model"),), command=command_line()),
                args.out, overwrite=args.overwrite)
    print(res.readouts.to_string(index=False))
    print(f"{CAVEAT} Report: {Path(out) / 'report.html'}")
    return 0
