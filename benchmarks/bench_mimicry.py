"""Benchmark of the mimicry scan against a numpy brute force, PEPMatch, BLASTp-short and DIAMOND.

Data: the real 2,100-protein proteome in tests/data/mimicry, plus residue-shuffled copies of it (each protein's
residues permuted, so composition and lengths are real and hits are not trivial duplicates), one proteome per
file, to >= --residues residues; --epitopes 9-mers, half windows of the proteome with 3 substitutions, half
composition-matched random. Each method runs in its own process (peak RSS from wait4); recall is measured
against gutlink's exhaustive hit set, which itself is checked against the brute force on a subset of epitopes.

Usage::

    python benchmarks/bench_mimicry.py --residues 10000000 --epitopes 500 --out benchmarks/results/mimicry.md
    python benchmarks/bench_mimicry.py --residues 1000000 --epitopes 100   # quick
    python benchmarks/bench_mimicry.py --scaling --repeats 3 --out benchmarks/results/mimicry.md  # gutlink only

``--memory`` measures the peak memory of gutlink's scan with tracemalloc (numpy's allocations included) and
the child's max RSS, on the real proteome (one file) against 500, 2000 and 5000 generated 9-mers, each in a fresh
process, and hashes the hit table so runs before and after a change can be compared for identical results::

    python benchmarks/bench_mimicry.py --memory --out benchmarks/results/mimicry.md

``--scaling`` times gutlink alone (BLOSUM62 >= 0.7 x self-score, and <= 2 mismatches) on the first 2, 5 and 15
proteome files (about 1, 3 and 10 M residues) with 500 epitopes, and on the 15 files with the first 50, 500 and
2000 epitopes; each configuration runs --repeats times in fresh processes (median and min reported).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REAL = HERE.parent / "tests" / "data" / "mimicry" / "938293.PRJEB85.HG003687.faa.gz"
AA = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
BRUTE_SUBSET = 20


# ----------------------------------------------------------------------------- data
def make_data(work: Path, residues: int, n_epitopes: int, seed: int) -> dict:
    from gutlink.mimicry import read_proteome

    rng = np.random.default_rng(seed)
    real = read_proteome(REAL)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWYX"))
    seqs = ["".join(letters[real.codes[s:s + n]]) for s, n in zip(real.starts, real.lengths)]
    (work / "proteomes").mkdir()
    total, copy, combined = 0, 0, []
    while total < residues:
        recs = []
        for pid, seq in zip(real.ids, seqs):
            s = seq if copy == 0 else "".join(rng.permutation(list(seq)))
            recs.append(f">c{copy}_{pid}\n{s}\n")
            total += len(s)
        text = "".join(recs)
        (work / "proteomes" / f"copy{copy:03d}.faa").write_text(text)
        combined.append(text)
        copy += 1
    (work / "all.faa").write_text("".join(combined))
    window_text = "".join(seqs)
    eps = []
    for i in range(n_epitopes):
        if i % 2 == 0:
            while True:
                s = int(rng.integers(0, len(window_text) - 9))
                w = list(window_text[s:s + 9])
                if "X" not in w:
                    break
            for j in rng.choice(9, 3, replace=False):
                w[j] = str(rng.choice(AA))
        else:
            w = [c for c in rng.choice(list(window_text.replace("X", "")), 9)]
        eps.append("".join(w))
    pd.DataFrame({"epitope_id": [f"e{i}" for i in range(n_epitopes)], "sequence": eps}).to_csv(
        work / "epitopes.tsv", sep="\t", index=False)
    (work / "epitopes.fasta").write_text("".join(f">e{i}\n{s}\n" for i, s in enumerate(eps)))
    return {"residues": total, "proteomes": copy, "epitopes": n_epitopes}


# ----------------------------------------------------------------------------- methods (run in a child process)
def _hits_frame(protein, start, epitope) -> pd.DataFrame:
    return pd.DataFrame({"protein": protein, "start": start, "epitope_id": epitope})


def run_gutlink(work: Path, mode: str, n_jobs: int) -> pd.DataFrame:
    from gutlink.mimicry import load_epitopes, scan

    eps = load_epitopes(work / "epitopes.tsv")
    files = sorted((work / "proteomes").iterdir())
    kw = {"min_fraction": 0.7} if mode == "blosum" else {"max_mismatches": int(mode[2:])}
    hits = scan(files, eps, n_jobs=n_jobs, **kw).hits
    return _hits_frame(hits["protein"], hits["start"], hits["epitope_id"])


def run_brute(work: Path, mode: str) -> pd.DataFrame:
    from gutlink.mimicry import brute_force, build_queries, load_epitopes, read_proteome
    from gutlink.mimicry.queries import mismatch_matrix

    eps = load_epitopes(work / "epitopes.tsv").iloc[:BRUTE_SUBSET]
    q = build_queries(eps, k=9, min_fraction=0.7) if mode == "blosum" else \
        build_queries(eps, k=9, matrix=mismatch_matrix(int(mode[2:]), 9), min_score=-int(mode[2:]))
    frames = []
    for f in sorted((work / "proteomes").iterdir()):
        prot = read_proteome(f)
        bf = brute_force(prot, q)
        pidx, pos = prot.locate(bf["offset"].to_numpy())
        frames.append(_hits_frame(np.asarray(prot.ids)[pidx], pos + 1, q.table["epitope_id"].to_numpy()[bf["query"]]))
    return pd.concat(frames, ignore_index=True)


def run_pepmatch(work: Path, mode: str) -> pd.DataFrame:
    from pepmatch import Matcher, Preprocessor

    m = int(mode[2:])
    k = 9 // (m + 1)
    t = time.perf_counter()
    Preprocessor(str(work / "all.faa"), preprocessed_files_path=str(work)).preprocess(k=k)
    index_s = time.perf_counter() - t
    df = Matcher(str(work / "epitopes.fasta"), str(work / "all.faa"), max_mismatches=m, k=k,
                 preprocessed_files_path=str(work), sequence_version=False).match()
    df = pd.DataFrame({c: df[c].to_list() for c in ("Protein ID", "Index start", "Query ID")})
    df = df.dropna(subset=["Index start"])
    (work / "pepmatch_index_s.txt").write_text(str(index_s))
    return _hits_frame(df["Protein ID"].astype(str), df["Index start"].astype(int), df["Query ID"].astype(str))


def _tabular_hits(path: Path) -> pd.DataFrame:
    cols = ["qseqid", "sseqid", "qstart", "qend", "sstart", "send", "length"]
    df = pd.read_csv(path, sep="\t", names=cols)
    full = df[(df["qstart"] == 1) & (df["qend"] == 9) & (df["length"] == 9) & (df["send"] - df["sstart"] == 8)]
    return _hits_frame(full["sseqid"], full["sstart"], full["qseqid"])


def run_blast(work: Path, threads: int) -> pd.DataFrame:
    subprocess.run(["makeblastdb", "-in", str(work / "all.faa"), "-dbtype", "prot", "-out", str(work / "blastdb")],
                   check=True, capture_output=True)
    out = work / "blast.tsv"
    subprocess.run(["blastp", "-task", "blastp-short", "-query", str(work / "epitopes.fasta"), "-db",
                    str(work / "blastdb"), "-outfmt", "6 qseqid sseqid qstart qend sstart send length",
                    "-evalue", "200000", "-max_target_seqs", "100000", "-comp_based_stats", "0", "-seg", "no",
                    "-num_threads", str(threads), "-out", str(out)], check=True, capture_output=True)
    return _tabular_hits(out)


def run_diamond(work: Path, threads: int) -> pd.DataFrame:
    subprocess.run(["diamond", "makedb", "--in", str(work / "all.faa"), "-d", str(work / "dmnd"), "--quiet"],
                   check=True)
    out = work / "diamond.tsv"
    subprocess.run(["diamond", "blastp", "-q", str(work / "epitopes.fasta"), "-d", str(work / "dmnd"), "-o",
                    str(out), "--ultra-sensitive", "-k", "0", "--evalue", "100000", "--masking", "0",
                    "--threads", str(threads), "--quiet", "--outfmt", "6", "qseqid", "sseqid", "qstart", "qend",
                    "sstart", "send", "length"], check=True)
    return _tabular_hits(out)


def child(args: argparse.Namespace) -> None:
    work = Path(args.work)
    if args.method in ("gutlink", "brute"):
        import gutlink.mimicry  # noqa: F401  (imports are not timed)
    elif args.method == "pepmatch":
        import pepmatch  # noqa: F401
    t = time.perf_counter()
    if args.method.startswith("gutlink"):
        hits = run_gutlink(work, args.mode, args.n_jobs)
    elif args.method == "brute":
        hits = run_brute(work, args.mode)
    elif args.method == "pepmatch":
        hits = run_pepmatch(work, args.mode)
    elif args.method == "blast":
        hits = run_blast(work, args.n_jobs)
    else:
        hits = run_diamond(work, args.n_jobs)
    seconds = time.perf_counter() - t
    hits.to_csv(work / f"hits_{args.method}_{args.mode}.tsv", sep="\t", index=False)
    peak_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    extra = {"index_s": float((work / "pepmatch_index_s.txt").read_text())} if args.method == "pepmatch" else {}
    print(json.dumps({"seconds": seconds, "n_hits": len(hits), "peak_mb": peak_kb / 1024, **extra}))


# ----------------------------------------------------------------------------- orchestration
def measure(work: Path, method: str, mode: str, n_jobs: int, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", method, "--mode", mode, "--work", str(work), "--n-jobs", str(n_jobs)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"method": method, "mode": mode, "seconds": float("nan"), "status": f"timeout > {timeout:.0f} s"}
    out = proc.stdout
    info = json.loads(out.strip().splitlines()[-1]) if proc.returncode == 0 else {}
    return {"method": method, "mode": mode, "wall_s": time.perf_counter() - start, **info,
            "status": "ok" if proc.returncode == 0 else f"exit {proc.returncode}"}


def recall(work: Path, method: str, mode: str, truth: pd.DataFrame) -> float:
    path = work / f"hits_{method}_{mode}.tsv"
    if not path.exists():
        return float("nan")
    got = pd.read_csv(path, sep="\t", dtype={"protein": str, "epitope_id": str})
    key = ["protein", "start", "epitope_id"]
    if method == "brute":  # the brute force ran on the first BRUTE_SUBSET epitopes only
        truth = truth[truth["epitope_id"].isin([f"e{i}" for i in range(BRUTE_SUBSET)])]
    merged = truth[key].drop_duplicates().merge(got[key].drop_duplicates(), on=key, how="left", indicator=True)
    return float((merged["_merge"] == "both").mean()) if len(merged) else float("nan")


SCALING = [(2, 500), (5, 500), (15, 500), (15, 50), (15, 2000)]  # (proteome files, epitopes)


def _subset(work: Path, n_files: int, n_epitopes: int) -> Path:
    sub = work / f"scale_{n_files}_{n_epitopes}"
    (sub / "proteomes").mkdir(parents=True)
    files = sorted((work / "proteomes").iterdir())[:n_files]
    for f in files:
        (sub / "proteomes" / f.name).symlink_to(f)
    eps = pd.read_csv(work / "epitopes.tsv", sep="\t").iloc[:n_epitopes]
    eps.to_csv(sub / "epitopes.tsv", sep="\t", index=False)
    return sub


def _residues(sub: Path) -> int:
    from gutlink.mimicry import read_proteome

    return sum(read_proteome(f).n_residues for f in sorted((sub / "proteomes").iterdir()))


def scaling(args: argparse.Namespace) -> pd.DataFrame:
    work = Path(tempfile.mkdtemp(prefix="bench_mimicry_scaling_"))
    make_data(work, 10_000_000, max(e for _, e in SCALING), args.seed)
    rows = []
    for n_files, n_epitopes in SCALING:
        sub = _subset(work, n_files, n_epitopes)
        residues = _residues(sub)
        for mode in ("blosum", "mm2"):
            runs = [measure(sub, "gutlink", mode, args.n_jobs, args.timeout) for _ in range(args.repeats)]
            secs = [r.get("seconds", float("nan")) for r in runs]
            row = {"residues": residues, "epitopes": n_epitopes, "mode": mode, "median_s": float(np.median(secs)),
                   "min_s": float(np.min(secs)), "peak_mb": max(r.get("peak_mb", float("nan")) for r in runs),
                   "hits": runs[-1].get("n_hits"), "status": ",".join(sorted({r["status"] for r in runs}))}
            row["residues_per_s_per_core"] = residues / row["median_s"] / max(args.n_jobs, 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return pd.DataFrame(rows)


MEMORY_EPITOPES = (500, 2000, 5000)


def memory_child(args: argparse.Namespace) -> None:
    """One tracemalloc-measured scan (BLOSUM62 >= 0.7 x self-score) of the first --epitopes epitopes."""
    import hashlib
    import tracemalloc

    from gutlink.mimicry import load_epitopes, scan

    work = Path(args.work)
    eps = load_epitopes(work / "epitopes.tsv").iloc[:args.epitopes]
    files = sorted((work / "proteomes").iterdir())
    kw = {"min_fraction": 0.7} if args.mode == "blosum" else {"max_mismatches": int(args.mode[2:])}
    tracemalloc.start()
    t = time.perf_counter()
    hits = scan(files, eps, n_jobs=1, **kw).hits
    seconds = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    digest = hashlib.sha256(hits.to_csv(sep="\t", index=False).encode()).hexdigest()[:16]
    print(json.dumps({"epitopes": args.epitopes, "mode": args.mode, "seconds": seconds,
                      "traced_peak_mb": peak / 2 ** 20, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                      / 1024, "hits": len(hits), "hits_sha256_16": digest}))


def memory(args: argparse.Namespace) -> pd.DataFrame:
    work = Path(tempfile.mkdtemp(prefix="bench_mimicry_memory_"))
    make_data(work, 1, max(MEMORY_EPITOPES), args.seed)  # one file: the real proteome itself
    rows = []
    for n in MEMORY_EPITOPES:
        for mode in ("blosum", "mm2"):
            out = subprocess.run([sys.executable, __file__, "--child", "memory", "--work", str(work), "--mode", mode,
                                  "--epitopes", str(n)], capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(json.dumps(row), flush=True)
    return pd.DataFrame(rows)


def write_memory(path: Path, table: pd.DataFrame) -> None:
    lines = ["<!-- generated by: python benchmarks/bench_mimicry.py --memory -->", "", "```",
             table.to_string(index=False), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_name(path.stem + "_memory.raw.md").write_text("\n".join(lines))  # mimicry.md is curated from it


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--residues", type=int, default=10_000_000)
    ap.add_argument("--epitopes", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--peers", default="brute,pepmatch,blast,diamond")
    ap.add_argument("--out", default=None, help="write the Markdown table here")
    ap.add_argument("--scaling", action="store_true", help="time gutlink alone vs proteome size and epitope count")
    ap.add_argument("--repeats", type=int, default=3, help="runs per configuration in --scaling")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="blosum", help=argparse.SUPPRESS)
    ap.add_argument("--work", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--memory", action="store_true", help="tracemalloc peak of the scan vs epitope count")
    args = ap.parse_args()
    if args.child == "memory":
        return memory_child(args)
    if args.memory:
        table = memory(args)
        print(table.to_string())
        if args.out:
            write_memory(Path(args.out), table)
        return
    if args.child:
        args.method = args.child
        return child(args)
    if args.scaling:
        table = scaling(args)
        print(table.to_string())
        if args.out:
            write_scaling(Path(args.out), table, args)
        return
    work = Path(tempfile.mkdtemp(prefix="bench_mimicry_"))
    data = make_data(work, args.residues, args.epitopes, args.seed)
    peers = set(args.peers.split(","))
    plan = [("gutlink", "blosum"), ("gutlink", "mm2"), ("gutlink", "mm3")]
    plan += [("brute", "blosum"), ("brute", "mm2")] if "brute" in peers else []
    plan += [("pepmatch", "mm2"), ("pepmatch", "mm3")] if "pepmatch" in peers else []
    plan += [("blast", "blosum")] if "blast" in peers else []
    plan += [("diamond", "blosum")] if "diamond" in peers else []
    rows = []
    for method, mode in plan:
        row = measure(work, method, mode, args.n_jobs, args.timeout)
        rows.append(row)
        print(json.dumps(row), flush=True)
    truth = {m: pd.read_csv(work / f"hits_gutlink_{m}.tsv", sep="\t", dtype={"protein": str})
             for m in ("blosum", "mm2", "mm3")}
    for row in rows:
        row["recall"] = recall(work, row["method"], row["mode"], truth[row["mode"]])
        if row["method"] == "brute":
            row["extrapolated_s"] = row.get("seconds", np.nan) * args.epitopes / BRUTE_SUBSET
    table = pd.DataFrame(rows)
    print(table.to_string())
    if args.out:
        write_report(Path(args.out), table, data, args)


def write_report(path: Path, table: pd.DataFrame, data: dict, args: argparse.Namespace) -> None:
    cmd = f"python benchmarks/bench_mimicry.py --residues {args.residues} --epitopes {args.epitopes} " \
          f"--n-jobs {args.n_jobs} --peers {args.peers} --out {path}"
    lines = [f"<!-- generated by: {cmd} -->", "", "```", table.to_string(index=False), "```", "",
             f"data: {json.dumps(data)}", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".raw.md").write_text("\n".join(lines))  # raw table; mimicry.md is curated from it


def write_scaling(path: Path, table: pd.DataFrame, args: argparse.Namespace) -> None:
    cmd = f"python benchmarks/bench_mimicry.py --scaling --repeats {args.repeats} --n-jobs {args.n_jobs} --out {path}"
    lines = [f"<!-- generated by: {cmd} -->", "", "```", table.to_string(index=False), "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_name(path.stem + "_scaling.raw.md").write_text("\n".join(lines))  # mimicry.md is curated from it


if __name__ == "__main__":
    main()
