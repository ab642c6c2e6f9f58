"""Design checks a classifier's result carries: confounding and perfect separation, measured before reporting.

A classifier happily learns whatever separates the classes: a taxon present in every sample of the one study
the cases come from, a clinical indicator read as a feature, a sequencing run that holds all controls. The
checks are those of :func:`gutlink.design.check` (group ⟂ every categorical metadata column by Cramér's V and
complete separation, fatal for the study / batch column; any single feature that separates cases from
controls; repeated subjects and matched blocks), kept on the result as a list of plain dictionaries
(``check, status, column, message, fix``; status ``'red' | 'amber' | 'green'``) so that no summary calls an
AUROC good while a red check stands.

Examples
--------
>>> from gutlink.datasets import toy
>>> rows = design_checks(toy(), group="group", case="case", control="control")
>>> sorted(rows[0])
['check', 'column', 'fix', 'message', 'status']
>>> worst(rows) in {"green", "amber", "red"}
True
"""

from __future__ import annotations

from collections.abc import Sequence

from ..cohort import Cohort
from ..design import Design as StudyDesign
from ..design import as_values, check
from ..errors import DesignError

__all__ = ["design_checks", "worst", "red", "refuse_if_red"]

Check = dict[str, str]


def design_checks(cohort: Cohort, *, group: str, case: str | Sequence[str], control: str | Sequence[str],
                  subject: str | None = None, block: str | None = None, study: str | None = None,
                  min_level_n: int = 5) -> list[Check]:
    """The design checks of a case/control prediction on *cohort*, one dictionary per check."""
    design = StudyDesign(group=group, case=as_values(case), control=as_values(control), subject=subject,
                         block=block, study=study)
    table = check(cohort, design, min_level_n=min_level_n).table
    return [{k: str(v) for k, v in row.items()} for row in table.to_dict(orient="records")]


def red(checks: Sequence[Check]) -> list[Check]:
    """The red checks."""
    return [c for c in checks if c.get("status") == "red"]


def worst(checks: Sequence[Check]) -> str:
    """The worst status among *checks* (``'green'`` when there are none)."""
    statuses = {c.get("status") for c in checks}
    return "red" if "red" in statuses else "amber" if "amber" in statuses else "green"


def refuse_if_red(checks: Sequence[Check]) -> None:
    """Raise :class:`DesignError` listing every red check and its fix (what ``strict=True`` does)."""
    bad = red(checks)
    if bad:
        said = " ".join(f"[{c['check']}] {c['message']}" + (f" Fix: {c['fix']}" if c.get("fix") else "")
                        for c in bad)
        raise DesignError(f"{len(bad)} design check(s) are red, so no performance is reported (strict=True): "
                          f"{said}")
