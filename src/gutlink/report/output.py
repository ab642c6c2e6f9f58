"""Write a result's output folder atomically: everything or nothing.

The folder is built under a temporary name next to its destination (same filesystem) and renamed into place
only when every file is written. On any error the temporary folder is removed and the destination is left as
it was.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputError, OutputExistsError
from ..results import Result
from .export import summary_json, tables, to_tsv
from .page import render_html

__all__ = ["MARKER", "OutputExistsError", "check_destination", "write", "write_folder"]

#: A folder holding this file is a gutlink output and may be replaced with ``overwrite=True``.
MARKER = "summary.json"


def check_destination(out_dir: str | os.PathLike[str], overwrite: bool) -> None:
    """Raise before any work is done when *out_dir* could not be written or may not be replaced."""
    out = Path(out_dir).absolute()
    _check_replaceable(out, overwrite)
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: cannot create the output folder here ({parent} is not a writable folder). "
                          "Choose another --out.")


def _check_replaceable(out: Path, overwrite: bool) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if not overwrite:
        raise OutputExistsError(f"{out}: the output folder already exists. Choose another folder, or pass "
                                "overwrite=True (--overwrite) to replace it.")
    if out.is_symlink() or not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a folder; it will not be replaced.")
    if any(out.iterdir()) and not (out / MARKER).is_file():
        raise OutputExistsError(f"{out}: the folder is not empty and holds no {MARKER}, so it does not look like "
                                "a gutlink output; it will not be replaced. Choose a new or empty folder.")


def _write_text(folder: Path, name: str, text: str) -> str:
    data = text.encode("utf-8")
    (folder / name).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _fill(folder: Path, result: Result, extra_files: Mapping[str, str] | None = None) -> None:
    html = render_html(result)
    files = {name: _write_text(folder, name, to_tsv(frame)) for name, frame in tables(result).items()}
    files.update({name: _write_text(folder, name, text) for name, text in (extra_files or {}).items()})
    files["report.html"] = _write_text(folder, "report.html", html)
    _write_text(folder, MARKER, summary_json(result, dict(sorted(files.items()))))


def _new_folder(out: Path, tag: str) -> Path:
    """A new hidden folder beside *out* (``mkdir`` honours the umask, unlike ``mkdtemp``'s 0700)."""
    while True:
        path = out.parent / f".{out.name}.{tag}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


@contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A fresh temporary folder beside *out*, removed unless it was moved away."""
    tmp = _new_folder(out, "tmp")
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.replace(tmp, out)
        return
    old = _new_folder(out, "old")
    os.replace(out, old)  # an empty folder is replaced by the old output
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write(result: Result, out_dir: str | os.PathLike[str], *, overwrite: bool = False,
          extra_files: Mapping[str, str] | None = None) -> Path:
    """Write the report folder of *result*: ``report.html``, ``summary.json`` and one TSV per table.

    Parameters
    ----------
    result
        A result with a registered renderer (usually a :class:`gutlink.link.LinkResult`).
    out_dir
        The folder to create. Its parent is created when missing.
    overwrite
        Replace an existing gutlink output folder (one holding ``summary.json``) or an empty folder.
    extra_files
        More text files (name → content, e.g. a saved model) written into the same atomic folder and listed
        with their sha256 in ``summary.json``.

    Returns
    -------
    Path
        The output folder.

    Raises
    ------
    OutputExistsError
        *out_dir* exists and *overwrite* is false, or it exists but is not a gutlink output.
    """
    return write_folder(out_dir, lambda folder: _fill(folder, result, extra_files), overwrite=overwrite)


def write_folder(out_dir: str | os.PathLike[str], build: Callable[[Path], object], *,
                 overwrite: bool = False) -> Path:
    """Create the folder *out_dir* atomically: ``build(tmp)`` fills a temporary sibling, which is then renamed.

    On any error the temporary folder is removed and *out_dir* is left as it was. The replacement rules are
    those of :func:`write` (only a gutlink output, holding ``summary.json``, or an empty folder is replaced).
    """
    out = Path(out_dir).absolute()
    check_destination(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _staging(out) as tmp:
        build(tmp)
        _check_replaceable(out, overwrite)
        _swap_in(tmp, out)
    return out

