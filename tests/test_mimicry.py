"""Mimicry scan: exact equality with brute force, published iMSMS scores, planted epitopes, real proteomes, bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gutlink.errors import DesignError, InputFormatError
from gutlink.mimicry import (
    Proteome,
    brute_force,
    build_queries,
    load_epitopes,
    read_proteome,
    scan,
    substitution_matrix,
)
from gutlink.mimicry.alphabet import AMINO_ACIDS
from gutlink.mimicry.kernel import scan_codes
from gutlink.mimicry.queries import mismatch_matrix

DATA = Path(__file__).parent / "data" / "mimicry"
FAA = DATA / "938293.PRJEB85.HG003687.faa.gz"
FNA = DATA / "GCF_001457455.1_NCTC11397_genomic_100kb.fna.gz"
AA = np.array(list(AMINO_ACIDS))


def _blosum(a: str, b: str, name: str = "BLOSUM62") -> float:
    """Independent scorer: Biopython's matrix looked up letter by letter (as the iMSMS script does)."""
    from Bio.Align import substitution_matrices

    m = substitution_matrices.load(name)
    return float(sum(m[x][y] for x, y in zip(a, b)))


def _kernel_frame(prot: Proteome, queries) -> pd.DataFrame:
    s, q, sc = scan_codes(prot.codes, queries.compiled)
    return pd.DataFrame({"offset": s, "query": q, "score": sc}).sort_values(["query", "offset"]) \
        .reset_index(drop=True).astype(np.int64)


def _same_as_brute_force(prot: Proteome, queries) -> int:
    mine = _kernel_frame(prot, queries)
    ref = brute_force(prot, queries).sort_values(["query", "offset"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, ref)
    return len(ref)


def _random_proteome(rng: np.random.Generator, n_proteins: int = 40, noise: bool = True) -> Proteome:
    records = []
    for i in range(n_proteins):
        seq = rng.choice(AA, int(rng.integers(0, 400)))
        if noise and seq.size:
            for ch in "XBZ*U":
                seq[rng.integers(0, seq.size)] = ch if rng.random() < 0.3 else seq[0]
        records.append((f"p{i}", "".join(seq)))
    return Proteome.from_records("rand", records)


def _epitopes_from(rng: np.random.Generator, prot: Proteome, n: int, k: int) -> pd.DataFrame:
    """Epitopes: windows of the proteome with 0-4 substitutions (so near-hits exist) and random ones."""
    seqs = []
    letters = "".join(AA)
    text = "".join(np.array(list(letters + "X"))[prot.codes].tolist())
    for i in range(n):
        start = int(rng.integers(0, max(1, len(text) - k)))
        w = list(text[start:start + k]) if i % 2 == 0 else list(rng.choice(AA, k))
        w = [c if c in letters else "A" for c in w] + ["A"] * (k - len(w))
        for j in rng.choice(k, min(k, int(rng.integers(0, 5))), replace=False):
            w[j] = str(rng.choice(AA))
        seqs.append("".join(w))
    return pd.DataFrame({"epitope_id": [f"e{i}" for i in range(n)], "sequence": seqs})


# ----------------------------------------------------------------------------- published scores (hand-checkable)
@pytest.mark.parametrize("window, expected", [("VHFFKNIVT", 48), ("VHFFQNVIT", 42), ("VHWFKNIIT", 42)])
def test_imsms_mbp_scores_reproduced(window, expected):
    prot = Proteome.from_records("x", [("p", "MK" + window + "GG")])
    res = scan([prot], load_epitopes("builtin:MS"), min_score=40)
    hit = res.table[res.table["epitope_id"] == "MS_MBP_85-99"]
    assert hit[["start", "window", "score", "self_score"]].values.tolist() == [[3, window, expected, 48]]
    assert _blosum("VHFFKNIVT", window) == expected


def _best_over_cores(mimics: list[str], cores: list[str]) -> np.ndarray:
    eps = pd.DataFrame({"epitope_id": cores, "sequence": cores})
    prot = Proteome.from_records("m", [(f"m{i}", s) for i, s in enumerate(mimics)])
    hits = scan([prot], eps, min_score=-1000).table
    best = hits.groupby("protein")["score"].max()
    return best.loc[[f"m{i}" for i in range(len(mimics))]].to_numpy()


MOG = ["IRALVGDEV", "VHLYRNGKD"]
PLP1 = ["IETYFSKNY", "VLPWNAFPG", "IAAFVGAAA"]


@pytest.mark.realdata
@pytest.mark.parametrize("name, cores", [("imsms_mog_mimics40.csv", MOG), ("imsms_plp1mimics42.csv", PLP1)])
def test_imsms_published_mimic_tables_reproduced_exactly(shared_data, name, cores):
    table = pd.read_csv(shared_data / "mimicry" / name)
    got = _best_over_cores(table["epitope"].tolist(), cores)
    np.testing.assert_array_equal(got, table["blosum"].to_numpy(dtype=float))


@pytest.mark.realdata
@pytest.mark.parametrize("name, floor", [("imsms_mog_table30.csv", 30), ("imsms_mog_table35.csv", 35)])
def test_imsms_mog_threshold_tables_consistent(shared_data, name, floor):
    table = pd.read_csv(shared_data / "mimicry" / name, header=None, dtype=str).fillna("")
    mimics = sorted({m for cell in table.iloc[:, -1] for m in str(cell).split(";") if len(m) == 9})
    got = _best_over_cores(mimics, MOG)
    assert len(mimics) > 50 and (got >= floor).all()


def test_catalogue_cores_score_their_published_self_scores():
    cat = load_epitopes("builtin:MS")
    mbp = cat.set_index("epitope_id").loc["MS_MBP_85-99"]
    assert mbp["core"] in mbp["sequence"] and _blosum(mbp["core"], mbp["core"]) == 48
    assert {"IRALVGDEV", "VHLYRNGKD", "IETYFSKNY", "VLPWNAFPG", "IAAFVGAAA"} <= set(cat["core"])


# ----------------------------------------------------------------------------- exactness vs brute force
@pytest.mark.parametrize("seed", range(6))
def test_kernel_equals_brute_force_random(seed):
    rng = np.random.default_rng(seed)
    k = [9, 9, 5, 10, 13, 3][seed]
    prot = _random_proteome(rng)
    eps = _epitopes_from(rng, prot, 12, k)
    matrix = ["BLOSUM62", "PAM30", "BLOSUM45", "BLOSUM62", "PAM250", "BLOSUM80"][seed]
    for min_score in (None, 0, 3 * k, 4 * k):
        q = build_queries(eps, k=k, matrix=matrix, min_score=min_score)
        _same_as_brute_force(prot, q)


def test_kernel_equals_brute_force_weights_and_float_matrix():
    rng = np.random.default_rng(11)
    prot = _random_proteome(rng)
    eps = _epitopes_from(rng, prot, 10, 9)
    w = [0.5, 1, 1.5, 1, 2, 1, 1.25, 1, 0.5]
    for matrix in ("BLOSUM62", "GONNET1992"):
        q = build_queries(eps, k=9, matrix=matrix, weights=w, min_fraction=0.5)
        assert q.scale == 10 ** 6
        _same_as_brute_force(prot, q)
    seq = eps["sequence"][0]
    q = build_queries(eps.iloc[:1], k=9, weights=w, min_score=-1000)
    hits = scan([Proteome.from_records("s", [("a", seq[::-1])])], eps.iloc[:1], weights=w, min_score=-1000).table
    m = substitution_matrix("BLOSUM62")
    idx = [AMINO_ACIDS.index(c) for c in seq]
    rev = idx[::-1]
    assert hits["score"][0] == pytest.approx(sum(wj * m[a, b] for wj, a, b in zip(w, idx, rev)), abs=1e-5)
    assert q.table["self_score"][0] == pytest.approx(sum(wj * m[a, a] for wj, a in zip(w, idx)), abs=1e-5)


@pytest.fixture(scope="module")
def real() -> Proteome:
    return read_proteome(FAA)


def test_kernel_equals_brute_force_real_proteome(real):
    rng = np.random.default_rng(5)
    eps = _epitopes_from(rng, real, 16, 9)
    total = sum(_same_as_brute_force(real, build_queries(eps, k=9, min_score=s)) for s in (24, 32))
    assert total > 16  # the planted near-copies are found


@pytest.mark.parametrize("batch_size", [1, 3, 7, 40])
def test_batched_queries_give_exactly_the_same_hits(real, batch_size):
    """Queries compiled in batches (bounded memory) give the same hits as the brute force and as one batch."""
    rng = np.random.default_rng(21)
    eps = _epitopes_from(rng, real, 20, 9)
    one = build_queries(eps, k=9, min_score=24, batch_size=20)
    batched = build_queries(eps, k=9, min_score=24, batch_size=batch_size)
    assert len(batched.compiled.bounds) == -(-20 // batch_size) and one.compiled.bounds == [(0, 20)]
    pd.testing.assert_frame_equal(_kernel_frame(real, batched), _kernel_frame(real, one))
    assert _same_as_brute_force(real, batched) > 20


def test_memory_budget_bounds_the_compiled_batches_and_keeps_results():
    """A budget too small to keep compiled batches recompiles them per partition; hits stay identical."""
    rng = np.random.default_rng(4)
    prots = [_random_proteome(rng, n_proteins=15, noise=False) for _ in range(3)]
    prots = [Proteome.from_records(f"g{i}", [(f"g{i}_{j}", "".join(np.array(list(AMINO_ACIDS + "X"))[
        p.codes[s:s + n]])) for j, (s, n) in enumerate(zip(p.starts, p.lengths))]) for i, p in enumerate(prots)]
    eps = _epitopes_from(rng, prots[0], 30, 9)
    q = build_queries(eps, k=9, min_fraction=0.6, memory=8 * 2 ** 20)  # 8 MB: a few queries per batch
    assert 1 < q.compiled.batch_size < 30
    for i in range(len(q.compiled.bounds)):
        q.compiled.batch(i)
    kept = sum(sum(a.nbytes for a in (*c.blocks, *c.order, *c.levels)) for c in q.compiled._cache.values())
    assert kept <= 4 * 2 ** 20 and 0 < len(q.compiled._cache) < len(q.compiled.bounds)
    import pickle

    assert pickle.loads(pickle.dumps(q.compiled))._cache == {}  # workers get the tables, not compiled batches
    small = scan(prots, eps, min_fraction=0.6, query_memory=8 * 2 ** 20, partition_residues=1)
    big = scan(prots, eps, min_fraction=0.6)
    pd.testing.assert_frame_equal(small.table, big.table)
    assert len(big.table) > 0


def test_every_window_reported_without_threshold():
    prot = Proteome.from_records("x", [("a", "ACDEFGHIK"), ("b", "LMNPQ"), ("c", "RSTVWYAXCC")])
    q = build_queries(pd.DataFrame({"epitope_id": ["e"], "sequence": ["ACD"]}), k=3)
    got = _kernel_frame(prot, q)
    assert len(got) == 7 + 3 + 5  # windows with X or crossing proteins are never reported
    assert _same_as_brute_force(prot, q) == 15


# ----------------------------------------------------------------------------- planted epitopes, real data
def test_planted_epitope_found_at_its_position(real):
    i = 100
    pid, seq = real.ids[i], "".join(np.array(list(AMINO_ACIDS + "X"))[real.codes[real.starts[i]:real.starts[i]
                                                                                       + real.lengths[i]]])
    planted = seq[:50] + "VHFFKNIVT" + seq[59:]
    others = [(real.ids[j], "") for j in range(3)]
    prot = Proteome.from_records("planted", [(pid, planted)] + others[1:])
    hits = scan([prot], "builtin:MS", min_score=45).table
    assert hits[["protein", "start", "end", "window", "score", "identity", "mismatches"]].values.tolist() == \
        [[pid, 51, 59, "VHFFKNIVT", 48.0, 1.0, 0]]


def test_genome_genes_called_and_scanned_end_to_end():
    import pyrodigal  # noqa: F401  (the optional dependency this path needs)

    genome = read_proteome(FNA)
    assert genome.genes_called and genome.n_proteins > 50
    i = 7
    start = int(genome.starts[i]) + 20
    window = "".join(np.array(list(AMINO_ACIDS + "X"))[genome.codes[start:start + 9]])
    eps = pd.DataFrame({"epitope_id": ["self"], "sequence": [window]})
    hits = scan([FNA], eps, min_fraction=1.0).table
    top = hits[hits["protein"] == genome.ids[i]]
    assert top[["start", "window", "identity"]].values.tolist()[0] == [21, window, 1.0]


def test_real_proteome_rules_x_and_stop(real):
    text = gzip.decompress(FAA.read_bytes()).decode()
    assert real.n_proteins == text.count(">")
    assert real.n_residues == sum(len(line) for line in text.splitlines() if not line.startswith(">")) - \
        text.count("*")  # every record ends in '*', which is dropped
    res = scan([FAA], "builtin:MS", min_score=30)
    info = res.proteomes.iloc[0]
    assert info["n_windows_skipped"] > 0 and info["n_windows"] + info["n_windows_skipped"] == \
        int(np.clip(real.lengths - 8, 0, None).sum())


# ----------------------------------------------------------------------------- mismatch mode
def _hamming_reference(prot: Proteome, eps: pd.DataFrame, m: int, conservative: bool) -> set[tuple[int, int]]:
    blosum = substitution_matrix("BLOSUM62")
    codes = prot.codes
    out = set()
    for qi, seq in enumerate(eps["sequence"]):
        q = np.array([AMINO_ACIDS.index(c) for c in seq])
        for s in range(codes.size - len(q) + 1):
            w = codes[s:s + len(q)].astype(int)
            if (w == 20).any():
                continue
            diff = w != q
            if diff.sum() <= m and (not conservative or (blosum[q[diff], w[diff]] > 0).all()):
                out.add((s, qi))
    return out


@pytest.mark.parametrize("m, conservative", [(0, False), (1, False), (2, True), (3, False)])
def test_mismatch_mode_equals_hamming_reference(m, conservative):
    rng = np.random.default_rng(m)
    prot = _random_proteome(rng, n_proteins=15)
    eps = _epitopes_from(rng, prot, 8, 9)
    q = build_queries(eps, k=9, matrix=mismatch_matrix(m, 9, conservative=conservative), min_score=-m)
    got = _kernel_frame(prot, q)
    assert set(zip(got["offset"], got["query"])) == _hamming_reference(prot, eps, m, conservative)
    res = scan([prot], eps, max_mismatches=m, conservative=conservative).table
    assert len(res) == len(got) and (res["mismatches"] <= m).all()
    assert (res["score"] == [_blosum(a, b) for a, b in zip(res["query"], res["window"])]).all()


# ----------------------------------------------------------------------------- parallel
def test_n_jobs_gives_the_same_hits(tmp_path):
    rng = np.random.default_rng(3)
    paths = []
    for i in range(3):
        prot = _random_proteome(rng, n_proteins=10, noise=False)
        text = "".join(f">g{i}_{pid}\n{''.join(np.array(list(AMINO_ACIDS + 'X'))[prot.codes[s:s + n]])}\n"
                       for pid, s, n in zip(prot.ids, prot.starts, prot.lengths))
        paths.append(tmp_path / f"g{i}.faa")
        paths[-1].write_text(text)
    eps = _epitopes_from(rng, prot, 6, 9)
    one = scan(paths, eps, min_score=15)
    two = scan(paths, eps, min_score=15, n_jobs=2)
    small = scan(paths, eps, min_score=15, partition_residues=50)  # one proteome per kernel call
    pd.testing.assert_frame_equal(one.table, two.table)
    pd.testing.assert_frame_equal(one.table, small.table)
    pd.testing.assert_frame_equal(one.proteomes, small.proteomes)
    assert len(one.table) > 0 and one.table["proteome"].unique().tolist() == ["g0", "g1", "g2"]


def test_dask_local_cluster_gives_the_same_hits():
    distributed = pytest.importorskip("distributed")
    prots = [Proteome.from_records(f"g{i}", [(f"g{i}_a", "MKVHFFKNIVTAAVHFFQNVITW")]) for i in range(2)]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") \
            as cluster, distributed.Client(cluster) as client:
        res = scan(prots, "builtin:MS", min_score=40, scheduler=client)
        by_address = scan(prots, "builtin:MS", min_score=40, scheduler=cluster.scheduler_address)
    local = scan(prots, "builtin:MS", min_score=40)
    pd.testing.assert_frame_equal(res.table, local.table)
    pd.testing.assert_frame_equal(by_address.table, local.table)
    assert res.table["score"].tolist() == [48.0, 42.0, 48.0, 42.0]


# ----------------------------------------------------------------------------- bad input
def test_non_amino_acid_character_names_record_and_position(tmp_path):
    f = tmp_path / "bad.faa"
    f.write_text(">ok\nMKV\n>broken desc\nMKV\nHF-F\n")
    with pytest.raises(InputFormatError) as err:
        read_proteome(f)
    assert err.value.path == str(f) and "'broken'" in err.value.message and "residue 6" in err.value.message


def test_empty_and_truncated_files(tmp_path):
    empty = tmp_path / "empty.faa"
    empty.write_bytes(b"")
    with pytest.raises(InputFormatError, match="empty"):
        read_proteome(empty)
    trunc = tmp_path / "trunc.faa.gz"
    trunc.write_bytes(FAA.read_bytes()[:5000])
    with pytest.raises(InputFormatError, match="truncated or corrupt") as err:
        read_proteome(trunc)
    assert err.value.path == str(trunc)
    with pytest.raises(InputFormatError, match="does not exist"):
        read_proteome(tmp_path / "missing.faa")
    notfasta = tmp_path / "x.faa"
    notfasta.write_text("MKV\n")
    with pytest.raises(InputFormatError, match="not a FASTA"):
        read_proteome(notfasta)


def test_duplicate_record_ids(tmp_path):
    with pytest.raises(InputFormatError, match="duplicate record"):
        Proteome.from_records("x", [("a", "MK"), ("a", "MV")])
    (tmp_path / "g1.faa").write_text(">shared\nMKVHFFKNIVT\n")
    (tmp_path / "g2.faa").write_text(">shared\nMKV\n")
    with pytest.raises(InputFormatError, match="occurs in proteome 'g1' and in 'g2'") as err:
        scan(tmp_path, "builtin:MS")
    assert err.value.path == str(tmp_path / "g2.faa")


def test_epitope_shorter_than_k_and_unknown_matrix():
    short = pd.DataFrame({"epitope_id": ["tiny"], "sequence": ["ACDEF"]})
    with pytest.raises(InputFormatError, match="'tiny' has 5 residues, fewer than k=9"):
        build_queries(short, k=9)
    with pytest.raises(InputFormatError, match="unknown substitution matrix 'BLOSUM63'") as err:
        scan([Proteome.from_records("x", [("a", "MK")])], "builtin:MS", matrix="BLOSUM63")
    assert "BLOSUM62" in err.value.hint
    with pytest.raises(InputFormatError, match="not a protein matrix"):
        substitution_matrix("NUC.4.4")
    with pytest.raises(DesignError, match="weights"):
        build_queries(short, k=5, weights=[1, 2])
    with pytest.raises(DesignError, match="mismatch mode"):
        scan([Proteome.from_records("x", [("a", "MK")])], short, k=5, max_mismatches=1, min_score=3)


def test_user_epitopes_tsv_and_fasta(tmp_path):
    tsv = tmp_path / "eps.tsv"
    tsv.write_text("epitope_id\tsequence\tcore\tdisease\nmine\tAAVHFFKNIVTAA\tVHFFKNIVT\tMS\n")
    fasta = tmp_path / "eps.fasta"
    fasta.write_text(">mine disease=MS core=VHFFKNIVT\nAAVHFFKNIVTAA\n>other\nWWWWWWWWW\n")
    a, b = load_epitopes(tsv), load_epitopes(fasta)
    assert a.loc[0, ["epitope_id", "core", "disease", "kind"]].tolist() == ["mine", "VHFFKNIVT", "MS", "autoantigen"]
    assert b["epitope_id"].tolist() == ["mine", "other"] and b.loc[0, "core"] == "VHFFKNIVT"
    bad = tmp_path / "bad.tsv"
    bad.write_text("epitope_id\tsequence\tcore\nx\tAAAAAAAAA\tWWW\n")
    with pytest.raises(InputFormatError, match="does not occur in its sequence"):
        load_epitopes(bad)
    with pytest.raises(InputFormatError, match="no disease"):
        load_epitopes("builtin:nonsense")
