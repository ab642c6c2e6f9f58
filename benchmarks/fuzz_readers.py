"""Coverage-guided fuzzing of every reader (issue 12, defect 11): any exception other than a GutlinkError is a crash.

Run by hand::

    python benchmarks/fuzz_readers.py --seconds 300        # atheris (libFuzzer), the default when installed
    python benchmarks/fuzz_readers.py --engine mutate --seconds 300   # pure-Python mutation fuzzer, no atheris

Writes ``benchmarks/results/fuzz.md`` (budget, executions, coverage, crashes, the command) and saves every
crashing input under ``--crashes`` (default ``benchmarks/work/fuzz_crashes/``, git-ignored) as
``<reader>-<n>.bin``: the first byte picks the reader (:data:`TARGETS`), the rest is the file.

One fuzz input is one file handed to one reader: ``gutlink.io.read`` with the format detected or forced (table,
MetaPhlAn, Kraken, Bracken, BIOM, .qza; ``rank='genus'``), ``gutlink.io.read_metadata``, or a side file of a fixed
table (a ``lineage=`` table; a GMrepo ``species_id_names.csv`` in the folder above). The seed corpus in
``benchmarks/fuzz_corpus/`` (a few small files of each format, plain and gzip/bz2/xz/zip/UTF-16; regenerate
with ``--make-corpus``) is given to every reader. A ``GutlinkError`` with a non-empty message is the expected way to
refuse input; any other exception, an empty message or a warning (tests turn warnings into errors) is a crash,
deduplicated by exception type and the innermost gutlink frame.

atheris instruments ``gutlink`` only (not pandas, numpy, h5py), so its coverage counts are over gutlink's own
branches. The mutation engine flips, inserts, deletes and duplicates bytes, splices seeds and inserts tokens
from :data:`TOKENS` (delimiters, quotes, BOMs, NaN/inf, huge numbers, lineage prefixes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "fuzz_corpus"
RESULTS = HERE / "results" / "fuzz.md"
CRASHES = HERE / "work" / "fuzz_crashes"


@dataclass(frozen=True)
class Target:
    name: str
    filename: str  # the fuzzed file's name (names matter: sample IDs come from them)
    kwargs: tuple[tuple[str, Any], ...] = ()
    metadata: bool = False
    #: a fixed table (from tests/data) read with the fuzzed file beside it: as lineage= or a GMrepo name file
    beside: str | None = None
    as_lineage: bool = False


#: The readers, selected by the first byte of a fuzz input (modulo their number).
TARGETS = (
    Target("read", "input.tsv"),
    Target("table", "input.csv", (("format", "table"),)),
    Target("metaphlan", "S1_profile.txt", (("format", "metaphlan"),)),
    Target("kraken", "S1.kreport", (("format", "kraken"),)),
    Target("bracken", "S1.bracken", (("format", "bracken"),)),
    Target("biom", "input.biom", (("format", "biom"),)),
    Target("qza", "input.qza", (("format", "qza"),)),
    Target("metadata", "metadata.tsv", metadata=True),
    Target("read-genus", "input.txt.gz", (("rank", "genus"),)),
    Target("lineage-file", "lineages.csv", beside="franzosa/ibd_taxa.csv", as_lineage=True),
    Target("gmrepo-names", "species_id_names.csv", beside="gmrepo/rawdata/RA_Metagenomics_species.csv"),
)
TEST_DATA = HERE.parent / "tests" / "data"

TOKENS = [b"\t", b",", b"\n", b"\r\n", b"\r", b'"', b"'", b"#", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b"NaN",
          b"inf", b"-inf", b"-1", b"1e308", b"9223372036854775808", b"18446744073709551616", b"0.5", b"100",
          b"k__Bacteria|p__", b"g__", b"s__", b"ncbi_816", b"#OTU ID", b"#SampleID", b"#q2:types", b"numeric",
          b"categorical", b"clade_name", b"# gutlink feature table: units=counts", b"taxonomy", b"lineage",
          b"perc\ttot_all\t", b"name\ttaxonomy_id\ttaxonomy_lvl\t", b"U\t0\tunclassified", b"S1", b"\xc3\xa9",
          b"\xe2\x80\xa8", b'{"data": [[0, 0, 1]]}', b"[", b"]", b"{", b"}", b"null", b"NA", b"nd", b"TRUE",
          b"=cmd", b"\x1b[31m", b"\\", b"|", b";", b"  "]


# ------------------------------------------------------------------------------------------------ the target
class Harness:
    """Runs one input through one reader and records what is not a GutlinkError."""

    def __init__(self, crashes: Path) -> None:
        from gutlink.errors import GutlinkError
        from gutlink.io import read, read_metadata

        self.GutlinkError = GutlinkError
        self.read, self.read_metadata = read, read_metadata
        self.work = Path(tempfile.mkdtemp(prefix="gutlink-fuzz-"))
        self.crashes = crashes
        self.executions = 0
        self.refused = 0
        self.accepted = 0
        self.found: dict[str, dict[str, Any]] = {}
        self.per_target = {t.name: 0 for t in TARGETS}

    def run(self, data: bytes) -> None:
        if not data:
            return
        target = TARGETS[data[0] % len(TARGETS)]
        self.executions += 1
        self.per_target[target.name] += 1
        folder = self.work / str(data[0] % len(TARGETS))
        folder.mkdir(exist_ok=True)
        path = folder / target.filename
        path.write_bytes(data[1:])
        kwargs = dict(target.kwargs)
        if target.beside is not None:  # the fuzzed file is a side file of a fixed table
            table = folder / "rawdata" / Path(target.beside).name
            if not table.exists():
                table.parent.mkdir(exist_ok=True)
                table.write_bytes((TEST_DATA / target.beside).read_bytes())
            kwargs = {"lineage": path} if target.as_lineage else {}
            path = table
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                if target.metadata:
                    self.read_metadata(path)
                else:
                    self.read(path, **kwargs)
            self.accepted += 1
        except self.GutlinkError as exc:
            self.refused += 1
            if not str(exc).strip():
                self._record(target, data, AssertionError(f"{type(exc).__name__} with an empty message"), exc)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: B036 - every other exception is the finding
            self._record(target, data, exc, exc)

    def _record(self, target: Target, data: bytes, shown: BaseException, origin: BaseException) -> None:
        frames = traceback.extract_tb(origin.__traceback__)
        ours = [f for f in frames if f"{os.sep}gutlink{os.sep}" in f.filename] or frames
        where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno} ({ours[-1].name})" if ours else "?"
        key = f"{type(shown).__name__} at {where}"
        entry = self.found.get(key)
        if entry is None:
            self.crashes.mkdir(parents=True, exist_ok=True)
            name = f"{target.name}-{len(self.found) + 1}.bin"
            (self.crashes / name).write_bytes(data)
            entry = self.found[key] = {"key": key, "target": target.name, "file": name, "count": 0,
                                       "message": str(shown)[:200], "size": len(data) - 1}
        entry["count"] += 1

    def stats(self) -> dict[str, Any]:
        return {"executions": self.executions, "refused": self.refused, "accepted": self.accepted,
                "crashes": list(self.found.values()), "per_target": self.per_target}


def seeds() -> list[bytes]:
    """Every corpus file once per reader (the selector byte in front)."""
    files = sorted(p for p in CORPUS.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix != ".md")
    return [bytes([i]) + f.read_bytes() for f in files for i in range(len(TARGETS))]


# ------------------------------------------------------------------------------------------------ engines
def mutate(data: bytes, pool: list[bytes], rng: random.Random) -> bytes:
    """One random mutation (several stacked now and then) of *data*."""
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 4, 8))):
        op = rng.randrange(9)
        pos = rng.randrange(len(out) + 1) if out else 0
        if op == 0 and out:  # flip a bit
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        elif op == 1 and out:  # a random byte
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif op == 2:  # insert a token
            out[pos:pos] = rng.choice(TOKENS)
        elif op == 3 and out:  # delete a run
            del out[pos:pos + rng.randint(1, 16)]
        elif op == 4 and out:  # duplicate a run (ragged rows, duplicate IDs)
            end = min(len(out), pos + rng.randint(1, 64))
            out[end:end] = out[pos:end]
        elif op == 5:  # splice another seed
            other = rng.choice(pool)[1:]
            cut = rng.randrange(len(other) + 1)
            out = out[:pos] + bytearray(other[cut:cut + rng.randint(1, 256)])
        elif op == 6 and out:  # replace a number-looking run with an extreme one
            out[pos:pos + rng.randint(1, 4)] = rng.choice((b"1e400", b"-0", b"nan", b"2e19", b"99999999999999999999"))
        elif op == 7 and len(out) > 1:  # swap a delimiter
            i = rng.randrange(1, len(out))
            if out[i] in b"\t,\n":
                out[i] = rng.choice(b"\t,\n; ")
        elif op == 8:  # the selector byte
            if out:
                out[0] = rng.randrange(len(TARGETS))
    return bytes(out[: 1 << 16])


def run_mutate(harness: Harness, seconds: float, seed: int, stats_file: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    pool = seeds()
    for s in pool:
        harness.run(s)
    start = last = time.monotonic()
    while time.monotonic() - start < seconds:
        harness.run(mutate(rng.choice(pool), pool, rng))
        if time.monotonic() - last > 5:
            last = time.monotonic()
            stats_file.write_text(json.dumps(harness.stats()))
    stats = harness.stats()
    stats_file.write_text(json.dumps(stats))
    return stats


def child_atheris(seconds: int, seed: int, stats_file: Path, crashes: Path, corpus_dir: Path) -> None:
    """Run inside a subprocess: libFuzzer exits the process when its budget is spent."""
    import atheris

    with atheris.instrument_imports(include=["gutlink"]):
        import gutlink.io  # noqa: F401
        import gutlink.io.biom  # noqa: F401
        import gutlink.io.qza  # noqa: F401
    harness = Harness(crashes)
    last = [time.monotonic()]

    def target(data: bytes) -> None:
        harness.run(data)
        if time.monotonic() - last[0] > 2:
            last[0] = time.monotonic()
            stats_file.write_text(json.dumps(harness.stats()))

    crashes.mkdir(parents=True, exist_ok=True)  # libFuzzer writes a native crash (a signal) there as crash-<sha1>
    args = [sys.argv[0], f"-max_total_time={seconds}", f"-seed={seed}", "-max_len=16384", "-timeout=20",
            "-rss_limit_mb=4096", "-print_final_stats=1", f"-artifact_prefix={crashes}{os.sep}", str(corpus_dir)]
    import atexit

    atexit.register(lambda: stats_file.write_text(json.dumps(harness.stats())))
    atheris.Setup(args, target)
    atheris.Fuzz()


def run_atheris(seconds: int, seed: int, stats_file: Path, crashes: Path) -> tuple[dict[str, Any], str]:
    with tempfile.TemporaryDirectory(prefix="gutlink-fuzz-corpus-") as tmp:
        for i, s in enumerate(seeds()):
            (Path(tmp) / f"seed{i:04d}").write_bytes(s)
        command = [sys.executable, __file__, "--child", "--seconds", str(seconds), "--seed", str(seed),
                   "--stats", str(stats_file), "--crashes", str(crashes), "--corpus-dir", tmp]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 600)
    log = proc.stderr
    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    stats["libfuzzer"] = _libfuzzer_numbers(log)
    stats["returncode"] = proc.returncode
    if proc.returncode != 0:
        stats["tail"] = log[-3000:]
    return stats, log


def _libfuzzer_numbers(log: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in log.splitlines():
        if line.startswith("stat::"):
            key, _, value = line[6:].partition(":")
            out[key.strip()] = value.strip()
        elif " cov: " in line and line.startswith("#"):
            parts = line.split()
            for name in ("cov:", "ft:", "corp:"):
                if name in parts:
                    out[name.rstrip(":")] = parts[parts.index(name) + 1]
    return out


# ------------------------------------------------------------------------------------------------ report
def report(stats: dict[str, Any], engine: str, seconds: float, wall: float, seed: int, command: str) -> str:
    crashes = stats.get("crashes", [])
    lf = stats.get("libfuzzer", {})
    lines = ["# Fuzzing the readers (coverage-guided)", "",
             f"Command: `{command}`", "",
             f"Engine: {engine}"
             + (" (libFuzzer through atheris, gutlink's modules instrumented)" if engine == "atheris" else
                " (pure-Python mutation fuzzer over the seed corpus)")
             + f"; seed {seed}; Python {platform.python_version()} on {platform.machine()}.", "",
             f"Budget: {seconds:g} s of fuzzing (wall {wall:.0f} s including start-up); seed corpus "
             f"`benchmarks/fuzz_corpus/` ({len(list(CORPUS.glob('*')))} files, each given to all {len(TARGETS)} "
             "readers).", "",
             "| executions | refused with a GutlinkError | read successfully | crashes (distinct) |",
             "|---|---|---|---|",
             f"| {stats.get('executions', 0):,} | {stats.get('refused', 0):,} | {stats.get('accepted', 0):,} | "
             f"{len(crashes)} |", ""]
    if lf:
        lines += ["libFuzzer: " + ", ".join(f"{k} {v}" for k, v in sorted(lf.items())) +
                  " (cov/ft: edges and features covered in gutlink's code).", ""]
    lines += ["Executions per reader: " + ", ".join(f"{k} {v:,}" for k, v in stats.get("per_target", {}).items()),
              ""]
    if crashes:
        lines += ["## Crashes (any exception other than a GutlinkError)", "",
                  "| exception, innermost gutlink frame | reader | hits | input | message |", "|---|---|---|---|---|"]
        for c in crashes:
            msg = c["message"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {c['key']} | {c['target']} | {c['count']} | `{c['file']}` ({c['size']} B) | {msg} |")
        lines.append("")
    else:
        lines += ["No crash: every input was either read or refused with a GutlinkError naming the file.", ""]
    if stats.get("returncode") not in (None, 0):
        lines += [f"The fuzzer stopped with exit code {stats['returncode']}: a native crash (signal), a timeout or the "
                  "memory limit, each a finding; libFuzzer saved the input under the crashes folder. Its log ends:",
                  "", "```", stats.get("tail", "")[-1500:], "```", ""]
    return "\n".join(lines)


def make_corpus() -> None:
    """Regenerate the seed corpus (small files of every format) from the test fixtures."""
    import bz2
    import gzip
    import lzma
    import shutil

    import biom
    import h5py

    from gutlink.io import read, write_tsv

    d, t = CORPUS, HERE.parent / "tests" / "data"
    d.mkdir(exist_ok=True)
    texts = {
        "table_rows.tsv": "feature\tS1\tS2\tS3\ng__Blautia\t1\t3\t5\ng__Dorea\t0\t2\t7\ng__Alistipes\t4\t0\t1\n",
        "table_samples_as_rows.csv": "Sample,g__Blautia,g__Dorea,Group,Age\nA,0.5,0.5,case,31\nB,0.2,0.8,control,40\n"
                                     "C,0.1,0.9,case,\n",
        "table_otu.tsv": "# Constructed from biom file\n#OTU ID\tS1\tS2\ttaxonomy\nOTU1\t10\t0\tk__Bacteria; "
                         "p__Firmicutes; g__Blautia\nOTU2\t3\t8\tk__Bacteria; p__Bacteroidetes; g__Bacteroides\n",
        "table_r_rownames.csv": '"S1","S2"\n"sp_a",1,2\n"sp_b",3,0\n',
        "table_bare_names.tsv": "sample\tBlautia\tDorea\tRoseburia\nx1\t10\t5\t0\nx2\t3\t8\t1\nx3\t0\t2\t9\n",
        "metadata_plain.tsv": "SampleID\tDiagnosis\tAge\tSex\tOnAbx\nS1\tCD\t31\tf\tTRUE\nS2\tcontrol\tnd\tm\tFALSE\n"
                              "S3\tUC\t45.5\t\tTRUE\n",
    }
    for name, text in texts.items():
        (d / name).write_text(text)
    for src, name in [("metaphlan3_merged.tsv", "metaphlan_merged.tsv"), ("profiles/A_profile.txt",
                      "metaphlan_profile.txt"), ("kraken/S1.kreport", "S1.kreport"), ("kraken/S2.k2report",
                      "S2.k2report"), ("bracken/S1.bracken", "S1.bracken"), ("bracken_combined.tsv",
                      "bracken_combined.tsv"), ("kraken_combined.txt", "kraken_combined.txt"),
                      ("tiny_v1.biom", "tiny_v1.biom"), ("q2_metadata.tsv", "metadata_q2.tsv"),
                      ("metadata_r.csv", "metadata_r.csv"), ("franzosa/ibd_lineages.csv", "lineages.csv"),
                      ("gmrepo/species_id_names.csv", "species_id_names.csv")]:
        shutil.copy(t / src, d / name)
    write_tsv(read(d / "table_rows.tsv"), d / "gutlink_written.tsv")
    raw = (d / "table_rows.tsv").read_bytes()
    (d / "table_rows.tsv.gz").write_bytes(gzip.compress(raw, mtime=0))
    (d / "table_rows.tsv.bz2").write_bytes(bz2.compress(raw))
    (d / "table_rows.tsv.xz").write_bytes(lzma.compress(raw))
    (d / "table_rows.zip").write_bytes(_zip({"table_rows.tsv": raw}))
    (d / "table_utf16.tsv").write_bytes(raw.decode().encode("utf-16"))
    (d / "metadata_utf8bom.csv").write_bytes(b"\xef\xbb\xbfid,group\nS1,a\nS2,b\n")
    table = biom.load_table(str(t / "tiny_v1.biom"))
    table.add_metadata({i: {"taxonomy": ["k__Bacteria"]} for i in table.ids(axis="observation")}, axis="observation")
    with h5py.File(d / "tiny_v2.biom", "w", libver="latest") as handle:  # 'latest' keeps the file ~11 KB
        table.to_hdf5(handle, "gutlink (units=counts)", compress=False)
    uuid = "0b0b0b0b-1111-2222-3333-444444444444"
    (d / "tiny.qza").write_bytes(_zip({
        f"{uuid}/VERSION": b"QIIME 2\narchive: 5\nframework: 2023.5.1\n",
        f"{uuid}/metadata.yaml": f"uuid: {uuid}\ntype: FeatureTable[Frequency]\nformat: BIOMV210DirFmt\n".encode(),
        f"{uuid}/data/feature-table.biom": (d / "tiny_v2.biom").read_bytes()}))


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def replay(paths: list[Path]) -> int:
    """Run saved crash inputs again; print what each does now. Exit 1 if any still crashes."""
    harness = Harness(Path(tempfile.mkdtemp(prefix="gutlink-replay-")))
    for p in paths:
        before = len(harness.found)
        harness.run(p.read_bytes())
        print(f"{p}: {'CRASH ' + list(harness.found)[-1] if len(harness.found) > before else 'ok'}")
    return 1 if harness.found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=300, help="fuzzing budget (default 300)")
    parser.add_argument("--engine", choices=("atheris", "mutate"), default=None,
                        help="default: atheris when it imports, else mutate")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--crashes", type=Path, default=CRASHES)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--make-corpus", action="store_true", help="regenerate benchmarks/fuzz_corpus and exit")
    parser.add_argument("--replay", type=Path, nargs="+", help="run saved crash inputs and exit")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--corpus-dir", type=Path, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv)
    if args.make_corpus:
        make_corpus()
        return 0
    if args.replay:
        return replay(args.replay)
    if args.child:
        child_atheris(args.seconds, args.seed, args.stats, args.crashes, args.corpus_dir)
        return 0
    engine = args.engine
    if engine is None:
        try:
            import atheris  # noqa: F401
            engine = "atheris"
        except ImportError:
            engine = "mutate"
    command = "python benchmarks/fuzz_readers.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        stats_file = Path(tmp) / "stats.json"
        if engine == "atheris":
            stats, _ = run_atheris(args.seconds, args.seed, stats_file, args.crashes)
        else:
            stats = run_mutate(Harness(args.crashes), args.seconds, args.seed, stats_file)
    text = report(stats, engine, args.seconds, time.monotonic() - start, args.seed, command.strip())
    sys.path.insert(0, str(HERE))
    from _results import write_results

    write_results(args.out, text)
    print(text)
    return 1 if stats.get("crashes") or stats.get("returncode") not in (None, 0) else 0


if __name__ == "__main__":
    sys.exit(main())
