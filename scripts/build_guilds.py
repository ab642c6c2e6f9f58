"""Build gutlink's barrier / immune guild knowledge base from the trait tables in ``../shared/data/traits``.

Run from the repository root::

    python scripts/build_guilds.py [--traits ../shared/data/traits] [--out src/gutlink/guilds/data]

Writes three files (the same inputs always give the same bytes):

``guilds.tsv``
    One row per (guild, taxon): ``guild, taxon, rank, consensus, n_species, value, rule, evidence, source, note``.
    ``consensus`` is the fraction of the taxon's species that carry the guild (1 / 0 for rules and curated
    claims; the genus majority for traits condensed from species records).
``lineages.tsv``
    Genus → family, order, class, phylum, kingdom (so that a genus-only 16S table gets its lineage rules).
``taxids.tsv``
    NCBI taxid → species name (tables keyed by taxid, such as GMrepo's ``ncbi_<taxid>`` columns).
``seed_review.tsv``
    Every row of the curated seed with what was done with it (kept, corrected, contested, dropped, unmappable)
    and why. Dropped and unmappable rows do not enter ``guilds.tsv``.
``provenance.json``
    Version, inputs with sha256, sources and licences, rows per guild.

The LPS call follows the outer-membrane lineage rule, never the Gram-stain field: diderm lineages with
lipopolysaccharide (Bacteroidota, Pseudomonadota, Fusobacteriota, Verrucomicrobiota, Desulfobacterota,
Campylobacterota, the Negativicutes of the Firmicutes, …) are LPS producers; Gram stain reads wrongly for
*Faecalibacterium prausnitzii* and *Subdoligranulum* (stain-negative monoderms) and *Parabacteroides*
(recorded stain-positive, diderm).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

VERSION = "2026.12.2"
ROOT = Path(__file__).resolve().parents[1]
RANKS = ("kingdom", "phylum", "class", "order", "family", "genus")
COLUMNS = ["guild", "taxon", "rank", "consensus", "n_species", "value", "rule", "evidence", "source", "note"]

VATANEN = "Vatanen et al. 2016 Cell 165:842, doi:10.1016/j.cell.2016.04.007"
CLASEN = "Clasen et al. 2023 Sci Immunol 8:eabq7001, doi:10.1126/sciimmunol.abq7001"
ANDERSEN = "Andersen-Nissen et al. 2005 PNAS 102:9247, doi:10.1073/pnas.0502040102"
MADIN = "Madin et al. 2020 Sci Data 7:170 (condensed with ProTraits, Microbe Directory, IJSEM, FAPROTAX)"
LOUIS = "Louis & Flint 2009 FEMS Microbiol Lett 294:1, doi:10.1111/j.1574-6968.2009.01514.x"
CARBONERO = "Carbonero et al. 2012 Front Physiol 3:448, doi:10.3389/fphys.2012.00448"
DERRIEN = "Derrien et al. 2004 IJSEM 54:1469, doi:10.1099/ijs.0.02873-0"
DEVKOTA = "Devkota et al. 2012 Nature 487:104, doi:10.1038/nature11225"
LINEAGE_SOURCE = "outer-membrane lineage rule (diderm lineages with LPS); lineages from MetaPhlAn / NCBI"

#: Outer-membrane call per lineage: (rank, names in NCBI-old / NCBI-2021 / GTDB spellings) → has LPS.
#: The most specific rank wins, so the Negativicutes (diderm) override their phylum Firmicutes (monoderm).
LPS_LINEAGES: list[tuple[str, tuple[str, ...], float, str]] = [
    ("phylum", ("Bacteroidetes", "Bacteroidota"), 1.0, "diderm"),
    ("phylum", ("Proteobacteria", "Pseudomonadota"), 1.0, "diderm"),
    ("phylum", ("Fusobacteria", "Fusobacteriota"), 1.0, "diderm"),
    ("phylum", ("Verrucomicrobia", "Verrucomicrobiota"), 1.0, "diderm"),
    ("phylum", ("Desulfobacterota",), 1.0, "diderm (GTDB split of the Deltaproteobacteria)"),
    ("phylum", ("Campylobacterota",), 1.0, "diderm (GTDB split of the Epsilonproteobacteria)"),
    ("phylum", ("Synergistetes", "Synergistota"), 1.0, "diderm"),
    ("phylum", ("Lentisphaerae", "Lentisphaerota"), 1.0, "diderm"),
    ("phylum", ("Cyanobacteria", "Cyanobacteriota"), 1.0, "diderm"),
    ("phylum", ("Elusimicrobia", "Elusimicrobiota"), 1.0, "diderm"),
    ("phylum", ("Chlorobi", "Chlorobiota"), 1.0, "diderm"),
    ("phylum", ("Deferribacteres", "Deferribacterota"), 1.0, "diderm"),
    ("phylum", ("Acidobacteria", "Acidobacteriota"), 1.0, "diderm"),
    ("phylum", ("Chlamydiae", "Chlamydiota"), 1.0, "diderm, atypical LPS"),
    ("phylum", ("Spirochaetes", "Spirochaetota"), 1.0, "diderm; LPS atypical or absent in some genera (Borrelia)"),
    ("class", ("Negativicutes",), 1.0, "diderm Firmicutes (Veillonella, Dialister, Megasphaera, Selenomonas …)"),
    ("phylum", ("Firmicutes", "Bacillota"), 0.0, "monoderm"),
    ("phylum", ("Actinobacteria", "Actinomycetota", "Actinobacteriota"), 0.0, "monoderm"),
    ("phylum", ("Tenericutes", "Mycoplasmatota"), 0.0, "wall-less, no LPS"),
    ("phylum", ("Chloroflexi", "Chloroflexota"), 0.0, "monoderm"),
    ("kingdom", ("Archaea",), 0.0, "archaea have no LPS"),
    ("kingdom", ("Eukaryota", "Viruses"), 0.0, "no bacterial outer membrane: fungi, protists and viruses make no LPS"),
]
#: Lipid-A acylation by order (Vatanen et al. 2016): hexa-acylated Enterobacterales, under-acylated Bacteroidales.
LIPID_A = {"lps_hexa_acylated": ("Enterobacteriales", "Enterobacterales"),
           "lps_under_acylated": ("Bacteroidales",)}
#: Flagellin classes by lineage, applied to flagellated taxa only.
FLAGELLIN = [
    ("flagellin_tlr5_stimulatory", "class", ("Gammaproteobacteria", "Betaproteobacteria"), "lineage_tendency",
     "Salmonella-type flagellins of the Gamma/Betaproteobacteria activate TLR5 (the reference agonist)", CLASEN),
    ("flagellin_tlr5_evasive", "class", ("Epsilonproteobacteria", "Campylobacteria"), "lineage_tendency",
     "Campylobacter / Helicobacter flagellins are not recognised by TLR5", ANDERSEN),
    ("flagellin_tlr5_silent", "family", ("Lachnospiraceae",), "family_tendency",
     "silent flagellins (bind TLR5, weak activation) come mostly from Lachnospiraceae; not every Lachnospiraceae "
     "flagellin is silent, so this is a family tendency", CLASEN),
]
#: Genera whose every cultured species named in the cited review produces butyrate (conservative genus rows).
BUTYRATE_GENERA = ("Faecalibacterium", "Roseburia", "Agathobacter", "Anaerostipes", "Coprococcus", "Butyrivibrio",
                   "Anaerobutyricum")
SULFATE_REDUCER_GENERA = {"Desulfovibrio": CARBONERO, "Bilophila": DEVKOTA}
AEROTOLERANT = {"aerobic": 1.0, "obligate aerobic": 1.0, "facultative": 1.0, "microaerophilic": 1.0,
                "anaerobic": 0.0, "obligate anaerobic": 0.0}
GENUS_SYNONYMS = {"Agathobacter": "Eubacterium", "Anaerobutyricum": "Eubacterium"}  # genus of the old names

#: What was done with curated seed rows that are not kept as they are: (guild, species) → (status, reason).
SEED_REVIEW: dict[tuple[str, str], tuple[str, str]] = {
    ("treg_inducer", "Faecalibacterium prausnitzii"): (
        "dropped", "Sokol et al. 2008 show IL-10 induction / IL-12 suppression in PBMC and protection in TNBS colitis, "
        "not induction of regulatory T cells; the claim is not what the cited paper tested"),
    ("treg_inducer", "Clostridium butyricum"): (
        "dropped", "Furusawa et al. 2013 show that butyrate (butyrylated starch) induces colonic Treg; they did not test "
        "C. butyricum, so a species-level Treg claim does not follow from the citation"),
    ("treg_inducer", "Clostridia_clusters_IV_XIVa_XVIII"): (
        "unmappable", "17 strains of clusters IV / XIVa / XVIII (VE202); a strain consortium, not a taxon a table names"),
    ("flagellin_antigen_crohn", "Lachnospiraceae (CBir1 flagellin)"): (
        "unmappable", "an antibody target in Crohn disease, not a guild membership of a taxon"),
    ("flagellin_tlr5", "Roseburia intestinalis"): (
        "contested", "Neville et al. 2013 found Roseburia flagellins pro-inflammatory in epithelial cell lines, but "
        "Clasen et al. 2023 find Lachnospiraceae flagellins mostly silent (bind TLR5, weak agonists); kept as "
        "flagellated, not counted as TLR5-stimulatory"),
    ("flagellin_tlr5", "Roseburia hominis"): (
        "contested", "as Roseburia intestinalis: conflicting evidence on TLR5 activation; kept as flagellated only"),
    ("flagellin_tlr5_silent", "Eubacterium rectale"): (
        "corrected", "Clasen et al. 2023 make the silent call for Lachnospiraceae flagellins as a class, not for this "
        "species; kept with evidence 'family_tendency'"),
    ("butyrate_producer", "Intestinimonas butyriciproducens"): (
        "corrected", "the cited paper (Vital et al. 2014) is a genome survey; evidence set to 'genomic'"),
    ("th17_inducer", "Escherichia coli"): (
        "corrected", "strain-dependent (adhesive strains such as EHEC O157 in Atarashi et al. 2015); evidence "
        "'strain_dependent'"),
    ("pathobiont", "Bacteroides fragilis"): (
        "corrected", "enterotoxigenic (bft) strains only; evidence 'strain_dependent'"),
    ("pathobiont", "Lactobacillus reuteri"): (
        "corrected", "one strain in lupus-prone mice; other strains are used as probiotics; evidence 'strain_dependent'"),
    ("pathobiont", "Escherichia coli"): (
        "corrected", "adherent-invasive strains (AIEC); evidence 'strain_dependent'"),
}
#: Guild names of the seed mapped onto the shipped guilds (value = sub-class kept in the ``value`` column).
SEED_GUILDS = {"bile_salt_hydrolase": ("bile_acid_transformer", "bile_salt_hydrolase"),
               "bile_acid_7a_dehydroxylation": ("bile_acid_transformer", "7a_dehydroxylation"),
               "lps_hexaacylated_tlr4_agonist": ("lps_hexa_acylated", ""),
               "lps_underacylated_tlr4_weak": ("lps_under_acylated", ""),
               "flagellin_tlr5": ("flagellin_tlr5_stimulatory", ""),
               "flagellin_tlr5_silent": ("flagellin_tlr5_silent", "")}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _row(guild: str, taxon: str, rank: str, consensus: float, *, n: int = 0, value: str = "", rule: str,
         evidence: str, source: str, note: str = "") -> dict:
    return {"guild": guild, "taxon": taxon, "rank": rank, "consensus": round(float(consensus), 3), "n_species": n,
            "value": value, "rule": rule, "evidence": evidence, "source": source, "note": note}


def _species_table(traits: Path) -> pd.DataFrame:
    """The MetaPhlAn species map: one row per binomial species with its lineage and traits."""
    m = pd.read_csv(traits / "metaphlan_species_trait_map.csv", low_memory=False)
    m = m[m["kingdom"].isin(["Bacteria", "Archaea"]) & ~m["unclassified"].astype(bool)].copy()
    m["species"] = m["metaphlan_name"].str.removeprefix("s__")
    m["genus"] = m["genus"].fillna(m["genus_mpa"])
    m = m[~m["species"].str.contains(r"_sp_|_sp$|_bacterium_|_bacterium$|_noname|_unclassified", regex=True)]
    return m.drop_duplicates("species").reset_index(drop=True)


def lps_call(lineage: pd.DataFrame) -> pd.Series:
    """Outer-membrane LPS call (1 / 0 / NaN) of each row of a lineage table, most specific rank first."""
    out = pd.Series(np.nan, index=lineage.index)
    for rank in ("genus", "family", "order", "class", "phylum", "kingdom"):
        for r, names, value, _ in LPS_LINEAGES:
            if r == rank and rank in lineage:
                hit = lineage[rank].isin(names) & out.isna()
                out[hit] = value
    return out


def _lineage_rows() -> list[dict]:
    rows = []
    for rank, names, value, why in LPS_LINEAGES:
        for name in names:
            rows.append(_row("lps_producer", name, rank, value, rule="outer_membrane_lineage", evidence="lineage_rule",
                             source=LINEAGE_SOURCE, note=why))
    for guild, orders in LIPID_A.items():
        for name in orders:
            rows.append(_row(guild, name, "order", 1.0, rule="lipid_a_acylation_by_order", evidence="lineage_rule",
                             source=VATANEN, value="hexa" if "hexa" in guild else "under"))
    for guild, rank, names, evidence, note, source in FLAGELLIN:
        for name in names:
            rows.append(_row(guild, name, rank, 1.0, rule="flagellin_class_by_lineage_if_flagellated",
                             evidence=evidence, source=source, note=note))
    return rows


def _genus_consensus(species: pd.DataFrame, column: str, guild: str, *, rule: str, source: str,
                     evidence: str) -> list[dict]:
    """Species rows of a 0/1 trait column and genus rows with the fraction of assessed species carrying it."""
    known = species[species[column].notna()]
    rows = [_row(guild, s, "species", v, n=1, rule=rule, evidence=evidence, source=source)
            for s, v in zip(known["species"], known[column])]
    for genus, vals in known.groupby("genus")[column]:
        rows.append(_row(guild, genus, "genus", vals.mean(), n=int(vals.size), rule=rule + "_genus_consensus",
                         evidence=evidence, source=source))
    return rows


def _trait_rows(species: pd.DataFrame) -> list[dict]:
    sp = species.copy()
    sp["lps"] = lps_call(sp[list(RANKS)])
    rows = _genus_consensus(sp[sp["genus"].notna()], "lps", "lps_producer", rule="outer_membrane_lineage",
                            source=LINEAGE_SOURCE, evidence="lineage_rule")
    rows = [r for r in rows if r["rank"] == "genus"]  # species rows add nothing to their genus' lineage call
    flag = sp["motile_or_flagellated"].map({"yes": 1.0, "no": 0.0})
    sp["flagellated"] = flag
    rows += _genus_consensus(sp, "flagellated", "flagellated", rule="motility_or_flagella_trait", source=MADIN,
                             evidence="phenotype_database")
    sp["aerotolerant"] = sp["metabolism"].map(AEROTOLERANT)
    rows += _genus_consensus(sp, "aerotolerant", "aerotolerant", rule="oxygen_tolerance_trait", source=MADIN,
                             evidence="phenotype_database")
    sp["h2s"] = sp["h2s_evidence"].map({"yes": 1.0})
    rows += [r for r in _genus_consensus(sp, "h2s", "h2s_producer", rule="h2s_production_assay", source=MADIN,
                                         evidence="phenotype_assay") if r["rank"] == "species"]
    rows += _flagellin_genus_rows(sp)
    return rows


def _flagellin_genus_rows(sp: pd.DataFrame) -> list[dict]:
    """Genus rows of the flagellin classes: flagellated genera (consensus ≥ 0.5) inside each class's lineage."""
    rows = []
    by_genus = sp[sp["flagellated"].notna()].groupby("genus").agg(flag=("flagellated", "mean"),
                                                                  n=("flagellated", "size"),
                                                                  cls=("class", "first"), fam=("family", "first"))
    for guild, rank, names, evidence, note, source in FLAGELLIN:
        col = "cls" if rank == "class" else "fam"
        hit = by_genus[by_genus[col].isin(names)]
        for genus, r in hit.iterrows():
            rows.append(_row(guild, genus, "genus", r["flag"], n=int(r["n"]), rule="flagellated_genus_in_lineage",
                             evidence=evidence, source=source, note=note))
    return rows


def _curated_rows(seed: pd.DataFrame) -> tuple[list[dict], pd.DataFrame]:
    rows, review = [], []
    for s in seed.itertuples():
        status, reason = SEED_REVIEW.get((s.guild, s.species), ("kept", "claim matches the cited paper"))
        review.append({"guild": s.guild, "species": s.species, "citation": s.citation, "doi": s.doi,
                       "status": status, "reason": reason})
        if status in ("dropped", "unmappable"):
            continue
        guild, value = SEED_GUILDS.get(s.guild, (s.guild, ""))
        if status == "contested" and guild == "flagellin_tlr5_stimulatory":
            continue
        evidence = s.evidence
        if status == "corrected":
            evidence = ("genomic" if "genome survey" in reason else "family_tendency" if "family" in reason
                        else "strain_dependent")
        name = s.species.replace(" ", "_")
        rank = "genus" if name.startswith("Candidatus_") else "species"
        note = "; ".join(x for x in (str(s.note) if isinstance(s.note, str) else "",
                                     reason if status != "kept" else "") if x)
        rows.append(_row(guild, name, rank, 1.0, n=1, value=value, rule="curated_literature", evidence=evidence,
                         source=f"{s.citation}, doi:{s.doi}", note=note))
    return rows, pd.DataFrame(review)


def _genus_rule_rows() -> list[dict]:
    rows = [_row("butyrate_producer", g, "genus", 1.0, rule="genus_of_butyrate_producers", evidence="genus_rule",
                 source=LOUIS, note="every species of the genus named in the review produces butyrate")
            for g in BUTYRATE_GENERA]
    rows += [_row("h2s_producer", g, "genus", 1.0, value="sulfate_or_sulfite_reduction",
                  rule="dissimilatory_sulfite_reducer_genus", evidence="genus_rule", source=src)
             for g, src in SULFATE_REDUCER_GENERA.items()]
    rows.append(_row("mucin_degrader", "Akkermansia", "genus", 1.0, rule="mucin_specialist_genus",
                     evidence="genus_rule", source=DERRIEN, note="A. muciniphila, the genus' gut species"))
    return rows


def _lineages(species: pd.DataFrame) -> pd.DataFrame:
    lin = species[list(RANKS)].dropna(subset=["genus"])
    lin = lin.groupby("genus", sort=True).agg(lambda x: x.mode().iloc[0] if x.notna().any() else "")
    return lin[["family", "order", "class", "phylum", "kingdom"]].reset_index()


def _taxids(species: pd.DataFrame) -> pd.DataFrame:
    """NCBI taxid → species name, for tables keyed by taxid (GMrepo ``ncbi_<taxid>``); a taxid seen under two
    species is left out."""
    ids = species[["species", "ncbi_tax_ids_seen"]].dropna()
    long = ids.assign(taxid=ids["ncbi_tax_ids_seen"].astype(str).str.split(";")).explode("taxid")
    long["taxid"] = long["taxid"].str.strip()
    long = long[long["taxid"].str.fullmatch(r"\d+")]
    unique = long.groupby("taxid")["species"].nunique()
    long = long[long["taxid"].isin(unique.index[unique == 1])].drop_duplicates("taxid")
    long = long.assign(_n=long["taxid"].astype(int)).sort_values("_n")
    return long[["taxid", "species"]].reset_index(drop=True)


def build(traits: Path) -> dict[str, object]:
    """All output tables and the provenance document, from the trait folder."""
    species = _species_table(traits)
    seed = pd.read_csv(traits / "gutlink_curated_guilds_seed.csv")
    curated, review = _curated_rows(seed)
    rows = _lineage_rows() + _trait_rows(species) + curated + _genus_rule_rows()
    table = pd.DataFrame(rows, columns=COLUMNS)
    table = table.drop_duplicates(["guild", "taxon", "rank"], keep="last")  # curated claims override trait rows
    table = table.sort_values(["guild", "rank", "taxon"], kind="mergesort").reset_index(drop=True)
    inputs = {name: _sha256(traits / name) for name in
              ("metaphlan_species_trait_map.csv", "gutlink_curated_guilds_seed.csv")}
    prov = {"version": VERSION, "built_by": "scripts/build_guilds.py", "inputs": inputs,
            "rows": int(len(table)), "rows_per_guild": {str(k): int(v) for k, v in
                                                         table["guild"].value_counts().sort_index().items()},
            "seed_review": {str(k): int(v) for k, v in review["status"].value_counts().sort_index().items()},
            "sources": [
                {"name": "Madin et al. 2020 condensed species traits", "doi": "10.1038/s41597-020-0497-4",
                 "licence": "CC0 (bacteria-archaea-traits)"},
                {"name": "ProTraits (Brbić et al. 2016 Nucleic Acids Res 44:10074)", "licence": "free for research"},
                {"name": "The Microbe Directory (Shaaban et al. 2018 Gates Open Res 2:3)", "licence": "CC BY 4.0"},
                {"name": "IJSEM phenotype database (Barberán et al. 2017 mSphere 2:e00237)", "licence": "CC BY 4.0"},
                {"name": "FAPROTAX (Louca et al. 2016 Science 353:1272)", "licence": "BSD-style notice in its header"},
                {"name": "curated guild seed (66 literature rows, each with its citation)",
                 "licence": "citations only; each claim reviewed in seed_review.tsv"}],
            "guild_rules": {"lps_producer": "outer-membrane lineage rule, most specific rank first",
                            "consensus": "genus rows: fraction of assessed species carrying the guild; a feature "
                                         "matched only at genus level is a member at consensus >= threshold, a "
                                         "non-member at <= 1 - threshold, ambiguous between"}}
    return {"guilds.tsv": table, "lineages.tsv": _lineages(species), "taxids.tsv": _taxids(species),
            "seed_review.tsv": review,
            "provenance.json": prov}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traits", default=str(ROOT.parent / "shared" / "data" / "traits"))
    parser.add_argument("--out", default=str(ROOT / "src" / "gutlink" / "guilds" / "data"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, obj in build(Path(args.traits)).items():
        if isinstance(obj, pd.DataFrame):
            obj.to_csv(out / name, sep="\t", index=False, lineterminator="\n")
        else:
            (out / name).write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
