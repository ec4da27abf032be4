"""Read and validate the cohort inputs (DESIGN §3): reference FASTA, phased VCF/BCF,
genes table (TSV or GTF) and expression matrix (TSV, CSV or Parquet).

Every problem found becomes an `InputError` naming the file, the line or record,
what was expected and what was found, raised by `load_cohort` before any model work.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from compute.cohort.haplotypes import WindowCounts, iter_snv_records, open_vcf
from compute.cohort.reference import (
    WINDOW,
    Reference,
    check_chromosome,
    gene_window,
    require_file,
)
from compute.errors import InputError

GENE_COLUMNS = ["gene_id", "gene_name", "chrom", "tss", "strand"]


# ---------------------------------------------------------------------------
# Genes


def read_genes(path: str | Path) -> pd.DataFrame:
    """Genes table: TSV with gene_id, gene_name, chrom, tss (1-based), strand; or a GTF (gene records).

    Returns those columns (tss int64) plus `line`, the 1-based line of each gene in the file.
    """
    path = Path(path)
    require_file(path, "genes table")
    name = path.name.lower()
    genes = _read_gtf(path) if name.endswith((".gtf", ".gtf.gz", ".gff2")) else _read_genes_tsv(path)
    if genes.empty:
        raise InputError(f"{path}: expected at least one gene, found none")
    dup = genes["gene_id"].duplicated(keep=False)
    if dup.any():
        first = genes.loc[dup, "gene_id"].iloc[0]
        lines = genes.loc[genes["gene_id"] == first, "line"].tolist()
        raise InputError(
            f"{path}: duplicate gene ID {first!r} on lines {lines} "
            f"({int(genes['gene_id'].duplicated().sum())} duplicates in all); expected each gene once"
        )
    return genes.reset_index(drop=True)


def _read_genes_tsv(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise InputError(f"{path}: cannot be read as a tab-separated genes table ({err})") from err
    table.columns = [str(c).strip() for c in table.columns]
    absent = [c for c in GENE_COLUMNS if c not in table.columns]
    if absent:
        raise InputError(
            f"{path}: line 1: expected columns {GENE_COLUMNS} (tab-separated), "
            f"missing {absent}, found {list(table.columns)}"
        )
    table = table[GENE_COLUMNS].apply(lambda col: col.str.strip())
    table["line"] = np.arange(2, len(table) + 2)
    for row in table.itertuples():
        if not row.gene_id:
            raise InputError(f"{path}: line {row.line}: expected a gene_id, found an empty field")
        if not re.fullmatch(r"\d+", row.tss):
            raise InputError(
                f"{path}: line {row.line} (gene {row.gene_id}): expected tss as a positive integer "
                f"(1-based position), found {row.tss!r}"
            )
        if row.strand not in ("+", "-"):
            raise InputError(
                f"{path}: line {row.line} (gene {row.gene_id}): expected strand '+' or '-', "
                f"found {row.strand!r}"
            )
        if not row.chrom:
            raise InputError(f"{path}: line {row.line} (gene {row.gene_id}): expected a chrom, found none")
    table["tss"] = table["tss"].astype(np.int64)
    table["gene_name"] = table["gene_name"].where(table["gene_name"] != "", table["gene_id"])
    return table


_ATTR = re.compile(r'(\w+)\s+"([^"]*)"')


def _read_gtf(path: Path) -> pd.DataFrame:
    """Gene records of a GTF: TSS = start on '+', end on '-'."""
    rows = []
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt") as fh:
        for line_no, line in enumerate(fh, start=1):
            if line.startswith("#") or not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 9:
                raise InputError(
                    f"{path}: line {line_no}: expected 9 tab-separated GTF fields, found {len(parts)}"
                )
            if parts[2] != "gene":
                continue
            attrs = dict(_ATTR.findall(parts[8]))
            if "gene_id" not in attrs:
                raise InputError(f"{path}: line {line_no}: expected a gene_id attribute, found {parts[8]!r}")
            strand = parts[6]
            if strand not in ("+", "-"):
                raise InputError(
                    f"{path}: line {line_no} (gene {attrs['gene_id']}): expected strand '+' or '-', "
                    f"found {strand!r}"
                )
            field_ = parts[3] if strand == "+" else parts[4]
            if not field_.isdigit():
                raise InputError(
                    f"{path}: line {line_no} (gene {attrs['gene_id']}): expected integer start/end, "
                    f"found {parts[3]!r}-{parts[4]!r}"
                )
            rows.append((attrs["gene_id"], attrs.get("gene_name", attrs["gene_id"]), parts[0],
                         int(field_), strand, line_no))
    if not rows:
        raise InputError(f"{path}: expected GTF records with feature 'gene' (column 3), found none")
    genes = pd.DataFrame(rows, columns=[*GENE_COLUMNS, "line"])
    genes["tss"] = genes["tss"].astype(np.int64)
    return genes


# ---------------------------------------------------------------------------
# Expression


def _text_opener(path: Path):
    return gzip.open(path, "rt") if path.name.lower().endswith(".gz") else open(path)


def read_expression(path: str | Path) -> pd.DataFrame:
    """Genes x people matrix: first column gene_id, header = sample IDs. Returns float64, index gene_id."""
    path = Path(path)
    require_file(path, "expression matrix")
    name = path.name.lower().removesuffix(".gz")
    try:
        if name.endswith((".parquet", ".pq")):
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            header = list(table.column_names)
            raw = table.to_pandas()
            raw.columns = header
            line_offset = 1  # report row numbers as 1-based data rows
        elif name.endswith((".csv", ".tsv", ".txt")):
            sep = "," if name.endswith(".csv") else "\t"
            with _text_opener(path) as fh:
                header = [h.strip() for h in fh.readline().rstrip("\r\n").split(sep)]
                first = fh.readline().rstrip("\r\n")
            if first and len(first.split(sep)) != len(header):
                raise InputError(
                    f"{path}: line 2: expected {len(header)} fields like the header (gene_id, then one "
                    f"per sample), found {len(first.split(sep))}"
                )
            raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, index_col=False)
            raw.columns = header
            line_offset = 2  # header is line 1
        else:
            raise InputError(f"{path}: expected an expression matrix ending in .tsv, .csv or .parquet")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError, OSError) as err:
        raise InputError(f"{path}: cannot be read as an expression matrix ({err})") from err
    if len(header) < 2:
        raise InputError(f"{path}: expected a first column gene_id and one column per sample, found {header}")
    samples = pd.Index(header[1:])
    if samples.duplicated().any():
        dup = samples[samples.duplicated()].unique().tolist()
        raise InputError(f"{path}: header: duplicate sample IDs {dup[:5]}; expected each sample once")
    gene_ids = raw.iloc[:, 0].astype(str).str.strip()
    if gene_ids.duplicated().any():
        first = gene_ids[gene_ids.duplicated()].iloc[0]
        rows = (np.flatnonzero(gene_ids.to_numpy() == first) + line_offset).tolist()
        kind = "rows" if line_offset == 1 else "lines"
        raise InputError(f"{path}: duplicate gene ID {first!r} on {kind} {rows}; expected each gene once")
    values = raw.iloc[:, 1:]
    numeric = values.apply(pd.to_numeric, errors="coerce").astype(np.float64)
    bad = ~np.isfinite(numeric.to_numpy())
    if bad.any():
        i, j = (int(x[0]) for x in np.nonzero(bad))
        found = values.iat[i, j]
        where = f"{'row' if line_offset == 1 else 'line'} {i + line_offset}"
        raise InputError(
            f"{path}: {where}, gene {gene_ids.iat[i]}, sample {samples[j]}: expected a finite number, "
            f"found {found!r} ({int(bad.sum())} non-finite values in all)"
        )
    numeric.index = pd.Index(gene_ids.to_numpy(), name="gene_id")
    numeric.columns = samples
    return numeric


# ---------------------------------------------------------------------------
# The cohort


@dataclass
class Cohort:
    """Validated cohort inputs, restricted to the people and genes present everywhere.

    `expression` has rows in `genes` order and columns = `people`, which are in VCF order.
    `genes` has gene_id, gene_name, chrom, tss, strand, line, n_snvs (SNVs in the gene's window).
    """

    reference: Reference
    vcf: Path
    genes: pd.DataFrame
    expression: pd.DataFrame
    people: list[str]
    window: int
    missing: str
    counts: WindowCounts
    vcf_samples: list[str]
    expression_samples: list[str]
    genes_without_expression: list[str]
    expression_without_gene: list[str]

    def observed(self, gene_id: str) -> np.ndarray:
        """Observed expression of one gene, float64, in the order of `people`."""
        return self.expression.loc[gene_id, self.people].to_numpy(float)

    def summary(self) -> str:
        only_vcf = [s for s in self.vcf_samples if s not in set(self.people)]
        only_expr = [s for s in self.expression_samples if s not in set(self.people)]
        n = self.genes["n_snvs"].to_numpy()
        lines = [
            f"people: {len(self.people)} in both files "
            f"(VCF {len(self.vcf_samples)}, expression {len(self.expression_samples)})",
        ]
        if only_vcf:
            lines.append(f"  {len(only_vcf)} only in the VCF, e.g. {', '.join(only_vcf[:3])}")
        if only_expr:
            lines.append(f"  {len(only_expr)} only in the expression matrix, e.g. {', '.join(only_expr[:3])}")
        lines.append(f"genes: {len(self.genes)} with a TSS and expression")
        if self.genes_without_expression:
            lines.append(f"  {len(self.genes_without_expression)} in the genes table without expression, "
                         f"e.g. {', '.join(self.genes_without_expression[:3])}")
        if self.expression_without_gene:
            lines.append(f"  {len(self.expression_without_gene)} in the expression matrix without a TSS, "
                         f"e.g. {', '.join(self.expression_without_gene[:3])}")
        lines += [
            f"window: {self.window:,} bp around each TSS",
            f"SNVs per gene window: min {int(n.min())}, median {float(np.median(n)):g}, max {int(n.max())}",
        ]
        without = self.genes.loc[n == 0, "gene_id"].tolist()
        if without:
            more = ", ..." if len(without) > 5 else ""
            lines.append(
                f"genes with no SNV in their window: {len(without)} ({', '.join(without[:5])}{more}); "
                "they are stored with r NaN and that reason"
            )
        lines += [
            f"indels skipped: {self.counts.indels}",
            f"multi-allelic records: {self.counts.multiallelic} (most common ALT kept as the SNV)",
            f"missing or unphased genotypes read as REF: {self.counts.missing} (policy: {self.missing})",
        ]
        return "\n".join(lines)


def _merge_windows(starts: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]]:
    """Union of half-open intervals, so overlapping gene windows are read once."""
    order = np.argsort(starts, kind="stable")
    merged: list[tuple[int, int]] = []
    for s, e in zip(starts[order], ends[order], strict=True):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], int(e)))
        else:
            merged.append((int(s), int(e)))
    return merged


def load_cohort(
    fasta: str | Path,
    vcf: str | Path,
    genes: str | Path,
    expression: str | Path,
    window: int = WINDOW,
    missing: str = "error",
) -> Cohort:
    """Read and validate every input; genotypes are checked over all gene windows (each record once)."""
    if missing not in ("error", "reference"):
        raise InputError(f"missing genotype policy must be 'error' or 'reference', got {missing!r}")
    if window < 1:
        raise InputError(f"window must be a positive number of bases, got {window}")
    fasta, vcf, genes_path, expr_path = (Path(p) for p in (fasta, vcf, genes, expression))
    for path, what in ((fasta, "reference FASTA"), (vcf, "genotype file"), (genes_path, "genes table"),
                       (expr_path, "expression matrix")):
        require_file(path, what)
    reference = Reference(fasta)
    vcf_handle = open_vcf(vcf)
    vcf_samples = list(vcf_handle.samples)
    vcf_chroms = set(vcf_handle.seqnames)
    vcf_handle.close()
    dup = pd.Index(vcf_samples)[pd.Index(vcf_samples).duplicated()]
    if len(dup):
        raise InputError(f"{vcf}: header: duplicate sample IDs {list(dup[:5])}; expected each sample once")
    gene_table = read_genes(genes_path)
    expr = read_expression(expr_path)

    # Chromosome names and TSS positions against the FASTA, and against the VCF.
    lengths = {c: reference.length(c) for c in reference.chromosomes}
    for row in gene_table.itertuples():
        context = f"{genes_path}: line {row.line} (gene {row.gene_id})"
        check_chromosome(row.chrom, lengths, context, str(fasta))
        if vcf_chroms and row.chrom not in vcf_chroms:
            other = row.chrom[3:] if row.chrom.startswith("chr") else f"chr{row.chrom}"
            if other in vcf_chroms:
                check_chromosome(row.chrom, vcf_chroms, context, str(vcf))
        if not 1 <= row.tss <= lengths[row.chrom]:
            raise InputError(
                f"{context}: TSS {row.chrom}:{row.tss} is outside the FASTA record {row.chrom!r} "
                f"of {fasta} (expected 1..{lengths[row.chrom]})"
            )

    # Genes and people present everywhere.
    in_expr = gene_table["gene_id"].isin(expr.index)
    if not in_expr.any():
        raise InputError(
            f"{expr_path}: no gene ID matches the genes table {genes_path} "
            f"(expression e.g. {list(expr.index[:3])}, "
            f"genes table e.g. {gene_table['gene_id'].head(3).tolist()})"
        )
    genes_without_expression = gene_table.loc[~in_expr, "gene_id"].tolist()
    expression_without_gene = expr.index[~expr.index.isin(gene_table["gene_id"])].tolist()
    gene_table = gene_table[in_expr].reset_index(drop=True)
    people = [s for s in vcf_samples if s in set(expr.columns)]
    if not people:
        raise InputError(
            f"{expr_path}: no sample ID matches the VCF {vcf} (0 shared; expression has {expr.shape[1]}, "
            f"e.g. {list(expr.columns[:3])}; VCF has {len(vcf_samples)}, e.g. {vcf_samples[:3]})"
        )
    expression_samples = list(expr.columns)
    expr = expr.loc[gene_table["gene_id"], people]

    # Every SNV record inside any gene window, read once: REF vs FASTA, phasing, missing calls.
    counts = WindowCounts()
    n_snvs = np.zeros(len(gene_table), dtype=np.int64)
    vcf_handle = open_vcf(vcf, samples=people)
    try:
        order = np.arange(len(people))  # the subset keeps VCF order, which is the order of `people`
        for chrom, idx in gene_table.groupby("chrom", sort=False).indices.items():
            starts, ends = np.array([gene_window(t, window) for t in gene_table["tss"].to_numpy()[idx]]).T
            positions = []
            for lo, hi in _merge_windows(starts, ends):
                records = iter_snv_records(vcf, vcf_handle, chrom, lo, hi, order, missing, counts, reference)
                positions += [rec.pos for rec in records]
            pos = np.sort(np.asarray(positions, dtype=np.int64))
            # SNVs with 1-based POS in [start0 + 1, end0].
            n_snvs[idx] = np.searchsorted(pos, ends, side="right") - np.searchsorted(pos, starts + 1)
    finally:
        vcf_handle.close()
    gene_table["n_snvs"] = n_snvs

    return Cohort(
        reference=reference,
        vcf=vcf,
        genes=gene_table,
        expression=expr,
        people=people,
        window=window,
        missing=missing,
        counts=counts,
        vcf_samples=vcf_samples,
        expression_samples=expression_samples,
        genes_without_expression=genes_without_expression,
        expression_without_gene=expression_without_gene,
    )
