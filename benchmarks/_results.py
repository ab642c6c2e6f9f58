"""Writing a benchmark's results file without losing the notes written by hand below its tables.

The scripts regenerate their tables; the section from ``## Reading these numbers`` to the end of the file is
written by hand after a run. :func:`write_results` carries that section over into the new file (marked as
written for an earlier run, until someone rereads it against the new tables and removes the mark), and
replaces the file atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

NOTES = "## Reading these numbers"
MARK = ("> Written for an earlier run of the script: check these notes against the tables above, then delete "
        "this line.")


def write_results(path: str | Path, text: str) -> None:
    """Write *text* to *path* (temp file + rename), keeping the previous file's hand-written notes section."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    start = old.find(NOTES)
    if start >= 0:
        heading, _, body = old[start:].partition("\n")
        if MARK not in body:
            body = "\n" + MARK + "\n" + body
        text = text.rstrip("\n") + "\n\n" + heading + "\n" + body.rstrip("\n") + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
