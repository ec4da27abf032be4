"""Genes of the demo: RefSeq TSS on chr22 (Debian subread-data) named from org.Hs.eg.db.

The TSS of a gene is its most upstream exon base over all its RefSeq
transcripts: the smallest exon start on `+`, the largest exon end on `-`
(the subread annotation is 1-based, inclusive). gene_id is the gene's Ensembl
ID (the smallest one if org.Hs.eg.db lists several) or the Entrez ID where it
has none; gene_name is the symbol. Entrez IDs that org.Hs.eg.db no longer
lists (discontinued records) have no symbol and are left out, and counted.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from compute.errors import InputError

GENE_COLUMNS = ["gene_id", "gene_name", "chrom", "tss", "strand"]
_EXON_COLUMNS = ["GeneID", "Chr", "Start", "End", "Strand"]


@dataclass(frozen=True)
class DemoGenes:
    table: pd.DataFrame  # GENE_COLUMNS plus entrez_id, sorted by tss
    n_discontinued: int  # genes with a TSS in the region but no current Entrez record


def refseq_tss(exon_path: Path, chrom: str = "chr22") -> pd.DataFrame:
    """One row per Entrez gene on chrom: entrez_id, tss (1-based), strand."""
    exons = pd.read_csv(exon_path, sep="\t", dtype={"GeneID": str, "Chr": str, "Strand": str})
    if list(exons.columns) != _EXON_COLUMNS:
        raise InputError(
            f"{exon_path}: line 1: expected columns {_EXON_COLUMNS}, found {list(exons.columns)}"
        )
    exons = exons[exons["Chr"] == chrom]
    strands = exons.groupby("GeneID")["Strand"].nunique()
    if (strands > 1).any():
        gene = strands[strands > 1].index[0]
        raise InputError(f"{exon_path}: gene {gene}: expected one strand on {chrom}, found both")
    genes = exons.groupby("GeneID").agg(
        start=("Start", "min"), end=("End", "max"), strand=("Strand", "first")
    )
    genes["tss"] = genes["start"].where(genes["strand"] == "+", genes["end"])
    return genes.reset_index(names="entrez_id")[["entrez_id", "tss", "strand"]]


def entrez_names(sqlite_path: Path) -> pd.DataFrame:
    """entrez_id, symbol, ensembl_id (smallest of the gene's Ensembl IDs, or missing)."""
    with sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True) as db:
        symbols = pd.read_sql_query(
            "SELECT g.gene_id AS entrez_id, i.symbol FROM genes g JOIN gene_info i USING (_id)", db
        )
        ensembl = pd.read_sql_query(
            "SELECT g.gene_id AS entrez_id, MIN(e.ensembl_id) AS ensembl_id "
            "FROM genes g JOIN ensembl e USING (_id) GROUP BY g.gene_id",
            db,
        )
    return symbols.merge(ensembl, on="entrez_id", how="left")


def demo_genes(exon_path: Path, sqlite_path: Path, start: int, end: int, chrom: str = "22") -> DemoGenes:
    """Genes with a TSS in chrom:start-end (1-based, inclusive), as the genes TSV of DESIGN §3."""
    tss = refseq_tss(exon_path, chrom=f"chr{chrom}")
    tss = tss[(tss["tss"] >= start) & (tss["tss"] <= end)]
    named = tss.merge(entrez_names(sqlite_path), on="entrez_id", how="left")
    discontinued = named["symbol"].isna()
    named = named[~discontinued].copy()
    named["gene_id"] = named["ensembl_id"].fillna(named["entrez_id"])
    named["gene_name"] = named["symbol"]
    named["chrom"] = chrom
    table = named.sort_values(["tss", "gene_id"]).reset_index(drop=True)
    if table["gene_id"].duplicated().any():
        dup = table.loc[table["gene_id"].duplicated(), "gene_id"].iloc[0]
        raise InputError(f"{sqlite_path}: gene {dup}: expected one Entrez gene per Ensembl ID, found several")
    return DemoGenes(table=table[GENE_COLUMNS + ["entrez_id"]], n_discontinued=int(discontinued.sum()))


def write_genes(genes: pd.DataFrame, out: Path) -> Path:
    genes[GENE_COLUMNS].to_csv(out, sep="\t", index=False)
    return out
