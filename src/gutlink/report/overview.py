"""The cohort overview and reproducibility sections of a ``link`` report.

Examples
--------
>>> describe_step({"op": "drop_empty_samples", "n_dropped": 2, "examples": ["s1", "s9"]})
'Dropped 2 sample(s) with all-zero abundances (e.g. s1, s9).'
>>> describe_step({"op": "custom", "k": 1})
'custom: k = 1'
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .context import Context, Section

if TYPE_CHECKING:
    from ..link import LinkResult

__all__ = ["describe_step", "input_files", "overview_section", "reproduce_section", "command_line"]


def _examples(op: Mapping[str, Any], key: str = "examples") -> str:
    ex = [str(x) for x in op.get(key) or []]
    return f" (e.g. {', '.join(ex)})" if ex else ""


_STEPS = {
    "read": lambda op: f"Read from {op.get('source', op.get('path', 'input'))}.",
    "align": lambda op: (f"Matched abundance and {op.get('source', 'metadata')} by sample ID: {op.get('n_matched')} "
                         f"matched, {op.get('n_abundance_only')} abundance-only and {op.get('n_metadata_only')} "
                         f"metadata-only sample(s) dropped{_examples(op, 'abundance_only_examples')}."),
    "subset": lambda op: f"Kept {op.get('n_samples')} sample(s) and {op.get('n_features')} feature(s).",
    "aggregate": lambda op: f"Summed features to {op.get('rank')} level ({op.get('n_features')} features).",
    "filter": lambda op: (f"Filtered features (min prevalence {op.get('min_prevalence')}, min abundance "
                          f"{op.get('min_abundance')}): {op.get('n_features_kept')} kept, "
                          f"{op.get('n_features_dropped')} dropped."),
    "drop_empty_samples": lambda op: (f"Dropped {op.get('n_dropped')} sample(s) with all-zero abundances"
                                      f"{_examples(op)}."),
    "drop_missing_covariates": lambda op: (f"Dropped {op.get('n_dropped')} sample(s) with missing "
                                           f"{', '.join(map(str, op.get('columns') or []))}."),
    "rarefy": lambda op: f"Rarefied to {op.get('depth')} reads; {op.get('n_dropped')} shallower sample(s) dropped.",
    "closure": lambda op: "Converted to relative abundances.",
}


def describe_step(op: Mapping[str, Any]) -> str:
    """One plain sentence for one entry of a cohort's history."""
    name = str(op.get("op", "step"))
    if name in _STEPS:
        return _STEPS[name](op)
    rest = ", ".join(f"{k} = {v}" for k, v in op.items() if k != "op")
    return f"{name}: {rest}" if rest else name


def _walk_files(value: Any, key: str) -> Iterator[dict[str, Any]]:
    if isinstance(value, Mapping):
        if "sha256" in value:
            yield {"role": value.get("role", key), "path": value.get("path", value.get("name", key)),
                   "sha256": value["sha256"],
                   "size": value.get("size", value.get("bytes"))}
            return
        for k, v in value.items():
            yield from _walk_files(v, str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _walk_files(v, key)


def input_files(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every ``{path, sha256}`` record found anywhere in a result's ``inputs``."""
    return list(_walk_files(inputs, "input"))


def command_line(inputs: Mapping[str, Any]) -> str | None:
    """The command line recorded in ``inputs`` (``command`` string or ``argv`` list), if any."""
    for key in ("command", "command_line", "cmd", "argv"):
        value = inputs.get(key)
        if isinstance(value, (list, tuple)) and value:
            return shlex.join(str(v) for v in value)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _dropped(summary: Mapping[str, Any]) -> int | None:
    n_in, n_out = summary.get("n_samples_input"), summary.get("n_samples_analysed")
    return int(n_in) - int(n_out) if isinstance(n_in, int) and isinstance(n_out, int) else None


def overview_section(result: LinkResult, ctx: Context) -> Section:
    """Design, group sizes, features, units, processing steps and input files."""
    summary = result.cohort_summary or {}
    steps = [describe_step(op) for op in summary.get("history", []) if isinstance(op, Mapping)]
    body = ctx.render("overview.html.j2", result=result, summary=summary, steps=steps,
                      dropped=_dropped(summary), files=input_files(result.inputs))
    return Section("overview", "Cohort and design", body)


def _python_call(result: LinkResult) -> str:
    perms = next(iter(result.permanova.values())).permutations if result.permanova else 999
    args = [f"group={result.group!r}", f"case={list(result.case)!r}", f"control={result.control!r}"]
    if result.covariates:
        args.append(f"covariates={list(result.covariates)!r}")
    if result.strata:
        args.append(f"strata={result.strata!r}")
    if result.rank:
        args.append(f"rank={result.rank!r}")
    args += [f"metrics={tuple(result.ordinations)!r}", f"n_permutations={perms}", f"rng={result.seed!r}"]
    return "from gutlink.link import link\nresult = link(cohort, " + ", ".join(args) + ")"


def reproduce_section(result: LinkResult, ctx: Context) -> Section:
    """Software versions, seed, and the command (or Python call) that reproduces the run."""
    body = ctx.render("reproduce.html.j2", result=result, command=command_line(result.inputs),
                      python=_python_call(result))
    return Section("reproduce", "Reproducibility", body)
