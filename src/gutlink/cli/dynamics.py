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
    p.add_argument("--l1-ratios", default="0,0.5,0.9", metavar="R1,R2",
                   help="elastic-net L1 shares tried (0 = ridge)")
    p.add_argument("--stability", default="negdef", choices=["negdef", "diagonal", "none"],
                   help="negdef: negative self-interactions and negative definite symmetric part (no blow-up)")
    p.add_argument("--select", default="forecast", choices=["forecast", "one-step"],
                   help="choose the penalty by held-out subjects' forecast error or one-step error")
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
    s.add_argument("--guild-prebiotic", action="append", default=[], metavar="GUILD:FACTOR:START:END",
                   help="growth of the model taxa in GUILD (e.g. butyrate_producer) multiplied by FACTOR")
    s.add_argument("--taxonomy", default=None, help="taxa × ranks table (species, genus, …) for guilds; "
                   "default: taxon names are read as names")
    s.add_argument("--reference", default=None, help="reference profiles (samples × model taxa) for the "
                   "dysbiosis readout")
    s.add_argument("--classifier", default=None, metavar="MODEL.json",
                   help="a model saved by 'gutlink predict --save-model': its disease probability over the "
                        "simulated trajectories, with bands (taxa matched by name; not assessable below "
                        "--classifier-coverage)")
    s.add_argument("--classifier-coverage", type=float, default=0.5, metavar="F",
                   help="least share of the classifier's features (and |coefficients|) found in the model")
    s.add_argument("--start", default=None, help="start abundances: a table taxon, abundance (default: the gLV "
                   "steady state; cLV: the state after 365 days from an even community)")
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


def _fit_options(args: argparse.Namespace) -> dict[str, Any]:
    from ..errors import DesignError

    try:
        ratios = [float(x) for x in str(args.l1_ratios).split(",") if x.strip()]
    except ValueError as err:
        raise DesignError(f"--l1-ratios {args.l1_ratios!r}: give numbers in [0, 1] separated by commas.") from err
    return {"l1_ratios": ratios, "stability": args.stability, "select": args.select}


def run_fit(args: argparse.Namespace) -> int:
    """``gutlink dynamics fit``: returns the exit code."""
    from ..dynamics import fit
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run

    check_destination(args.out, args.overwrite)
    ts, inputs = _load_series(args)
    model = fit(ts, model=args.model, n_boot=args.bootstrap, rng=args.seed, **_fit_options(args))
    out = write(Run(subcommand="dynamics fit", results=(model,), inputs=tuple(inputs), command=command_line(),
                    seed=args.seed), args.out, overwrite=args.overwrite,
                extra_files={"model.json": json.dumps(model.to_json())})
    print(f"{args.model} on {ts.n_taxa} taxa, {ts.n_subjects} subjects; penalty {model.alpha:.3g} (L1 share "
          f"{model.l1_ratio:g}, stability {model.stability}) by leave-one-subject-out CV on {model.selection} "
          f"error; {args.bootstrap} bootstrap replicates. {CAVEAT}")
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
    res = holdout(ts, model=args.model, **_fit_options(args))
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


def _interventions(args: argparse.Namespace, model: Any, taxonomy: Any) -> list[Any]:
    from ..dynamics import antibiotic, guild_prebiotic, prebiotic, probiotic

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
    for t in args.guild_prebiotic:
        guild, fac, a, b = _parts(t, 4, "--guild-prebiotic")
        ivs.append(guild_prebiotic(model, guild, factor=float(fac), start=float(a), end=float(b),
                                   taxonomy=taxonomy))
    return ivs


def _start(args: argparse.Namespace, model: Any) -> tuple[np.ndarray, list[Any]]:
    """Start abundances and the results that justify them (the steady state)."""
    import pandas as pd

    from ..dynamics import steady_state
    from ..dynamics.forecast import trajectory
    from ..errors import DesignError, InputFormatError

    if args.start:
        table = pd.read_csv(args.start, sep=None, engine="python", index_col=0).iloc[:, 0]
        missing = [t for t in model.taxa if t not in table.index]
        if missing:
            raise InputFormatError(f"--start has no value for {len(missing)} model taxa (e.g. {missing[:3]}).",
                                   path=args.start)
        return table.reindex(list(model.taxa)).to_numpy(float), []
    if model.model == "clv":
        path = trajectory(model, np.full(len(model.taxa), 1.0 / len(model.taxa)), np.array([0.0, 365.0]))
        if path.status != "ok":
            raise DesignError(f"the cLV model could not be run to a start state: {path.message}; give --start.")
        return path.states[-1], []
    base = steady_state(model)
    if not (base.stable and base.uninvadable):
        raise DesignError(f"the scenario starts from the model's steady state, but {base.message}; give --start.")
    return np.maximum(base.table["abundance"].to_numpy(), 1e-9 * model.scale), [base]


def _readouts(args: argparse.Namespace, model: Any, res: Any, ivs: list[Any], taxonomy: Any) -> list[Any]:
    import pandas as pd

    from ..dynamics import dysbiosis_readout, guild_members, guild_readout, invasion

    out: list[Any] = []
    probiotics = tuple(dict.fromkeys(iv.taxa[0] for iv in ivs if iv.kind == "probiotic"))
    if probiotics and model.model == "glv":
        out.append(invasion(model, probiotics))
    if any(guild_members(model.taxa, g, taxonomy=taxonomy) for g in ("butyrate_producer", "lps_producer",
                                                                     "mucin_degrader")):
        out.append(guild_readout(res, taxonomy=taxonomy))
    if args.reference:
        ref = pd.read_csv(args.reference, sep=None, engine="python", index_col=0)
        out.append(dysbiosis_readout(res, ref.reindex(columns=list(model.taxa), fill_value=0.0)))
    if args.classifier:
        from ..dynamics import classifier_readout
        from ..predict import load_model

        out.append(classifier_readout(res, load_model(args.classifier), taxonomy=taxonomy,
                                      min_coverage=args.classifier_coverage))
    return out


def run_simulate(args: argparse.Namespace) -> int:
    """``gutlink dynamics simulate``: returns the exit code."""
    import pandas as pd

    from ..dynamics import DynamicsModel, simulate
    from ..errors import InputFormatError
    from ..report import write
    from ..report.output import check_destination
    from ..run import Run, file_record

    check_destination(args.out, args.overwrite)
    try:
        model = DynamicsModel.from_json(json.loads(Path(args.model_json).read_text()))
    except (ValueError, KeyError, TypeError) as err:
        raise InputFormatError(f"not a gutlink dynamics model: {err}", path=args.model_json) from err
    taxonomy = None if args.taxonomy is None else pd.read_csv(args.taxonomy, sep=None, engine="python",
                                                              index_col=0)
    ivs = _interventions(args, model, taxonomy)
    start, extra = _start(args, model)
    res = simulate(model, start, times=np.arange(0.0, args.days + 1e-9, args.step), interventions=ivs)
    readouts = _readouts(args, model, res, ivs, taxonomy)
    inputs = [file_record(args.model_json, "model")]
    inputs += [file_record(f, role) for f, role in ((args.taxonomy, "taxonomy"), (args.reference, "reference"),
                                                    (args.start, "start"), (args.classifier, "classifier")) if f]
    out = write(Run(subcommand="dynamics simulate", results=(res, *extra, *readouts), inputs=tuple(inputs),
                    command=command_line()), args.out, overwrite=args.overwrite)
    print(res.readouts.to_string(index=False))
    for r in readouts:
        if getattr(r, "assessable", True) is False:
            print(" ".join(r.notes))
        else:
            print(r.table.to_string(index=False))
    print(f"{CAVEAT} Report: {Path(out) / 'report.html'}")
    return 0
