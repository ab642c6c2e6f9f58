"""The verdict's rule on design checks: no result is called evidence while a design check is red.

A verdict is a dict with ``level`` (``evidence`` / ``weak`` / ``none``), ``headline`` and ``sentences``.
:func:`qualify` applies the design checks to it: with a red check an ``evidence`` verdict becomes
``flagged`` — a difference was measured, but the design cannot yet tell it from the red check's explanation —
and every verdict names the red checks and what would resolve them.

Examples
--------
>>> import pandas as pd
>>> from gutlink.design import CHECK_COLUMNS, Design, DesignChecks
>>> d = Design(group="g", case=("a",), control=("b",))
>>> red = pd.DataFrame([["confounding", "red", "run", "the groups line up with 'run'", "add --covariates run"]],
...                    columns=CHECK_COLUMNS)
>>> v = qualify({"level": "evidence", "headline": "The community differs.", "sentences": []},
...             DesignChecks(design=d, table=red))
>>> v["level"], v["headline"].startswith("A difference was measured")
('flagged', True)
"""

from __future__ import annotations

from typing import Any

from .design import DesignChecks

__all__ = ["LEVELS", "qualify"]

#: Verdict levels, strongest first, with the badge the report shows.
LEVELS = {"evidence": "Evidence of a difference", "flagged": "Difference measured — design check red",
          "weak": "Weak evidence at most", "none": "No evidence of a difference"}


def qualify(verdict: dict[str, Any], checks: DesignChecks | None) -> dict[str, Any]:
    """*verdict* with the design checks applied (a new dict; *verdict* is not changed)."""
    out = {**verdict, "sentences": list(verdict.get("sentences", [])),
           "design_status": None if checks is None else checks.status}
    if checks is None or checks.status != "red":
        return out
    red = checks.red
    names = "; ".join(f"{r.check} ({r.column})" if r.column else str(r.check) for r in red.itertuples())
    fixes = " ".join(str(f) for f in red["fix"] if f)
    sentence = (f"Design check{'s' if len(red) > 1 else ''} red: {names}. " + " ".join(str(m) for m in red["message"])
                + (f" What would resolve it: {fixes}" if fixes else ""))
    if out.get("level") == "evidence":
        out["level"] = "flagged"
        out["headline"] = ("A difference was measured, but it cannot count as evidence while a design check is red "
                           f"({names}): " + str(verdict.get("headline", "")))
    out["sentences"].insert(0, sentence)
    return out
