"""One command's run: what went in (files with sha256), what the user asked (the design and its checks), what
came out (the results), with the software versions and the seed — the one bundle every command writes through
:func:`gutlink.report.write`.

Examples
--------
>>> from gutlink.datasets import toy
>>> from gutlink.design import Design, check
>>> d = Design(group="group", case=("case",), control=("control",))
>>> checks = check(toy(), d)
>>> run = Run(subcommand="index", results=(checks,), design=d, checks=checks)
>>> doc = run.to_dict()
>>> doc["subcommand"], doc["design"]["group"], doc["design_checks"]["status"] in {"green", "amber", "red"}
('index', 'group', True)
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .design import Design, DesignChecks
from .errors import DesignError
from .results import Result, jsonable

__all__ = ["Run", "file_record", "software_versions"]


def software_versions() -> dict[str, str]:
    """Versions of gutlink and the libraries its numbers come from."""
    import scipy
    import skbio
    import sklearn
    import statsmodels

    return {"gutlink": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "pandas": pd.__version__, "scikit-bio": skbio.__version__,
            "statsmodels": statsmodels.__version__, "scikit-learn": sklearn.__version__}


def file_record(path: str | Path, role: str) -> dict[str, str]:
    """``{"role", "path", "sha256"}`` of one input file (a folder gets an empty checksum)."""
    p = Path(path)
    digest = ""
    if p.is_file():
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
    return {"role": role, "path": str(path), "sha256": digest}


@dataclass(frozen=True)
class Run(Result):
    """Everything one command did.

    Parameters
    ----------
    subcommand
        The sub-command (``link``, ``differential``, ``predict``, ``index``, ``mimicry``).
    results
        The results, main one first; each is rendered and its tables written.
    document
        The command's headline numbers for ``summary.json`` (default: the main result's summary).
    inputs
        One ``{"role", "path", "sha256"}`` record per input file (:func:`file_record`).
    command
        The command line as typed.
    seed
        The seed of every random step.
    design, checks
        The design the command used and what the data said about it.
    """

    subcommand: str
    results: tuple[Result, ...] = field(metadata={"json": False})
    document: Mapping[str, Any] = field(default_factory=dict, metadata={"json": False})
    inputs: tuple[Mapping[str, str], ...] = ()
    command: str = ""
    seed: int | None = None
    design: Design | None = None
    checks: DesignChecks | None = field(default=None, metadata={"json": False})
    versions: Mapping[str, str] = field(default_factory=software_versions)

    def __post_init__(self) -> None:
        if not self.results:
            raise DesignError("a run needs at least one result.")
        object.__setattr__(self, "results", tuple(self.results))
        object.__setattr__(self, "inputs", tuple(dict(i) for i in self.inputs))

    @property
    def main(self) -> Result:
        """The main result (rendered first, titles the page)."""
        return self.results[0]

    @property
    def table(self) -> pd.DataFrame:
        """The main result's table."""
        return self.main.table  # type: ignore[attr-defined, no-any-return]

    @property
    def red(self) -> bool:
        """Whether a design check is red (no result of this run may then be called evidence unqualified)."""
        return self.checks is not None and self.checks.status == "red"

    def provenance(self) -> dict[str, Any]:
        """The keys every command's ``summary.json`` carries."""
        checks = None if self.checks is None else {
            "status": self.checks.status, "headline": self.checks.headline(),
            "checks": jsonable(self.checks.table)}
        return {"subcommand": self.subcommand, "command": self.command, "gutlink_version": __version__,
                "inputs": [dict(i) for i in self.inputs], "seed": self.seed, "versions": dict(self.versions),
                "design": None if self.design is None else self.design.to_dict(), "design_checks": checks}

    def to_dict(self) -> dict[str, Any]:
        """The command's document, then the provenance keys (JSON-safe)."""
        return {"type": type(self).__name__, **jsonable(dict(self.document)), **self.provenance()}
