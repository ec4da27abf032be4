"""Read and validate the cohort inputs (DESIGN §3): reference FASTA, phased VCF/BCF,
genes table (TSV or GTF) and expression matrix (TSV, CSV or Parquet).

Every problem found becomes an `InputError` naming the file, the line or record,
what was expected and what was found, raised by `load_cohort` before any model work.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from compute.cohort.haplotypes import (
    REF_MISMATCH_LIMIT,
    WindowCounts,
    WindowVariants,
    is_vcf_template,
    iter_snv_chunks,
    open_vcf,
    vcf_for,
    window_variants,
    window_variants_of,
)
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
    genes = _read_gtf(path) if is_gtf(name) else _read_genes_tsv(path)
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


def _gtf_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, tab-separated fields) of every record of a GTF, plain or gzipped."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.startswith("#") and line.strip():
                yield line_no, line.rstrip("\n").split("\t")


def _read_gtf(path: Path) -> pd.DataFrame:
    """Gene records of a GTF: TSS = start on '+', end on '-'."""
    rows = []
    for line_no, parts in _gtf_lines(path):
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


def is_gtf(path: str | Path) -> bool:
    return Path(path).name.lower().endswith((".gtf", ".gtf.gz", ".gff2"))


def read_exons(path: str | Path | None) -> dict[str, np.ndarray]:
    """The exons of every gene of a GTF, merged across its transcripts (as borzoi-pytorch's Gene
    does): gene_id -> int64 (k, 2) of 0-based half-open chromosome intervals, sorted.

    The `exons` readout (Borzoi, AlphaGenome rna_seq) reads a gene over these; a genes TSV has no
    exons, so it is refused here with what to give instead."""
    if path is None:
        raise InputError(
            "--genes not given: the exons readout needs each gene's exons, give --genes as a GTF with 'exon' "
            "records (e.g. GENCODE's), or use --readout tss"
        )
    path = Path(path)
    if not is_gtf(path):
        raise InputError(
            f"{path}: the exons readout needs each gene's exons: give --genes as a GTF with 'exon' records "
            "(e.g. GENCODE's), or use --readout tss"
        )
    spans: dict[str, list[tuple[int, int]]] = {}
    for line_no, parts in _gtf_lines(path):
        if len(parts) != 9 or parts[2] != "exon":
            continue
        gene_id = dict(_ATTR.findall(parts[8])).get("gene_id")
        if gene_id is None or not (parts[3].isdigit() and parts[4].isdigit()):
            raise InputError(f"{path}: line {line_no}: expected an exon's gene_id and integer start/end")
        # GTF: 1-based closed; here 0-based half-open
        spans.setdefault(gene_id, []).append((int(parts[3]) - 1, int(parts[4])))
    if not spans:
        raise InputError(
            f"{path}: expected GTF records with feature 'exon' (column 3) for the exons readout, found none"
        )
    out = {}
    for gene_id, intervals in spans.items():
        merged: list[list[int]] = []
        for lo, hi in sorted(intervals):
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        out[gene_id] = np.array(merged, dtype=np.int64)
    return out


# ---------------------------------------------------------------------------
# Expression


def _text_opener(path: Path):
    return gzip.open(path, "rt") if path.name.lower().endswith(".gz") else open(path)


EXPRESSION_FORMATS = (
    "a genes x samples table (TSV or CSV, gene ID first), a tensorQTL/FastQTL phenotype BED "
    "(#chr start end phenotype_id, then one column per sample), a GCT, or Parquet"
)


def expression_format(path: Path) -> str:
    """'parquet', 'gct', 'bed', 'tsv' or 'csv', told by the content (a renamed file is read as what
    it holds); InputError for anything else."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1":
        return "parquet"
    try:
        with _text_opener(path) as fh:
            first = fh.readline().lstrip("\ufeff").rstrip("\r\n")
            second = fh.readline().rstrip("\r\n")
    except (UnicodeDecodeError, OSError, EOFError, gzip.BadGzipFile) as err:
        raise InputError(
            f"{path}: cannot be read as an expression matrix ({err}); expected {EXPRESSION_FORMATS}"
        ) from None
    if first.startswith("#1.") and second.count("\t") >= 1:
        return "gct"
    fields = first.split("\t")
    if first.startswith("#") and [f.lower() for f in fields[1:3]] == ["start", "end"]:
        return "bed"
    if "\t" in first:
        return "tsv"
    if "," in first:
        return "csv"
    raise InputError(f"{path}: line 1: expected {EXPRESSION_FORMATS}; found {first[:80]!r}")


def read_expression(path: str | Path) -> pd.DataFrame:
    """Genes x people matrix, float64, index gene_id, columns the sample IDs (NaN where a value is
    missing). Reads the formats of EXPRESSION_FORMATS, told apart by content; a gzipped text file too.

    A phenotype BED's gene ID is its fourth column (`read_bed_positions` reads its positions)."""
    path = Path(path)
    require_file(path, "expression matrix")
    kind = expression_format(path)
    try:
        if kind == "parquet":
            raw = pd.read_parquet(path)
            if not isinstance(raw.index, pd.RangeIndex):  # written with the gene ID as the index
                raw = raw.reset_index()
            raw = raw.astype(str).where(raw.notna(), "")
            header, line_offset, where = [str(c) for c in raw.columns], 0, "row"
        else:
            sep = "," if kind == "csv" else "\t"
            skip = 2 if kind == "gct" else 0
            _check_field_counts(path, sep, skip)
            # the header as a row: pandas would rename a duplicate sample ID, which must be refused
            table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, skiprows=skip, header=None,
                                encoding="utf-8-sig", index_col=False)  # fmt: skip
            # the gene ID, then the samples: GCT's Name (its Description dropped), BED's phenotype_id
            # (its #chr, start and end dropped)
            gene_column = {"gct": 0, "bed": 3}.get(kind, 0)
            first_sample = {"gct": 2, "bed": 4}.get(kind, 1)
            keep = [gene_column, *range(first_sample, table.shape[1])]
            raw = table.iloc[1:, keep].reset_index(drop=True)
            header, line_offset, where = [str(c).strip() for c in table.iloc[0, keep]], skip + 2, "line"
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError, OSError, ValueError) as err:
        raise InputError(
            f"{path}: cannot be read as an expression matrix ({err}); expected {EXPRESSION_FORMATS}"
        ) from None
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
        raise InputError(f"{path}: duplicate gene ID {first!r} on {where}s {rows}; expected each gene once")
    values = raw.iloc[:, 1:]
    # every value as one column of text (a column at a time costs ~1 ms each: a second per 800 people)
    text = pd.Series(values.to_numpy().ravel(), dtype="str").str.strip()
    shape = values.shape
    numeric = pd.DataFrame(
        pd.to_numeric(text, errors="coerce").to_numpy(np.float64).reshape(shape), columns=values.columns
    )
    missing = text.str.lower().isin(MISSING_VALUES).to_numpy().reshape(shape)
    bad = ~np.isfinite(numeric.to_numpy()) & ~missing
    if bad.any():
        i, j = (int(x[0]) for x in np.nonzero(bad))
        raise InputError(
            f"{path}: {where} {i + line_offset}, gene {gene_ids.iat[i]}, sample {samples[j]}: expected a "
            f"finite number or NA, found {values.iat[i, j]!r} ({int(bad.sum())} such values in all)"
        )
    numeric = numeric.mask(missing)
    numeric.index = pd.Index(gene_ids.to_numpy(), name="gene_id")
    numeric.columns = samples
    return numeric


def _check_field_counts(path: Path, sep: str, skip: int) -> None:
    """The first data line has as many fields as the header (a header without the gene ID column
    is the usual slip), said with the line number before any parsing error can hide it."""
    import csv

    with _text_opener(path) as fh:
        rows = csv.reader(fh, delimiter=sep)
        for _ in range(skip):
            next(rows, None)
        header, first = next(rows, None), next(rows, None)
    if header and first and len(first) != len(header):
        raise InputError(
            f"{path}: line {skip + 2}: expected {len(header)} fields like the header (gene_id, then one "
            f"per sample), found {len(first)}"
        )


def read_bed_positions(path: str | Path) -> pd.DataFrame:
    """Each phenotype's position from a tensorQTL/FastQTL phenotype BED (`#chr start end
    phenotype_id`, then the samples): chrom, TSS = `end` (1-based; the BED's 0-based `start` + 1),
    gene_name = gene_id = phenotype_id, strand '+' (a BED has none), and `line`, as `read_genes`
    returns them. A row whose start/end are not integers or whose end is not start + 1 is refused,
    naming the line."""
    import csv

    path = Path(path)
    rows = []
    with _text_opener(path) as fh:
        for line_no, fields in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if line_no == 1 or not fields or fields[0].startswith("#"):
                continue  # the header (#chr start end phenotype_id ...)
            if len(fields) < 4:
                raise InputError(f"{path}: line {line_no}: expected #chr, start, end, phenotype_id and the "
                                 f"samples, found {len(fields)} fields")  # fmt: skip
            chrom, start, end, gene_id = (f.strip() for f in fields[:4])
            if not (start.isdigit() and end.isdigit()):
                raise InputError(
                    f"{path}: line {line_no} (gene {gene_id}): expected integer start and end (0-based "
                    f"start, end = start + 1 = the TSS), found {start!r} and {end!r}"
                )
            if int(end) != int(start) + 1:
                raise InputError(
                    f"{path}: line {line_no} (gene {gene_id}): expected end = start + 1 (a phenotype BED "
                    f"gives each gene's TSS as one base), found start {start}, end {end}"
                )
            if not chrom or not gene_id:
                raise InputError(f"{path}: line {line_no}: expected a chromosome and a phenotype_id, found "
                                 f"{chrom!r} and {gene_id!r}")  # fmt: skip
            rows.append((gene_id, gene_id, chrom, int(end), "+", line_no))
    if not rows:
        raise InputError(f"{path}: expected at least one phenotype row after the header, found none")
    genes = pd.DataFrame(rows, columns=[*GENE_COLUMNS, "line"])
    genes["tss"] = genes["tss"].astype(np.int64)
    return genes


def gene_positions(genes: str | Path | None, expression: str | Path) -> str:
    """Where each gene's chrom, TSS and strand come from: 'genes' (the genes table, when given) or
    'bed' (the expression, a phenotype BED); InputError, in one line, when neither can give them."""
    if genes is not None:
        return "genes"
    expression = Path(expression)
    require_file(expression, "expression matrix")
    kind = expression_format(expression)
    if kind != "bed":
        raise InputError(
            f"--genes not given, and {expression} is a {kind.upper()} expression matrix without gene "
            "positions: expected --genes (a TSV of gene_id, gene_name, chrom, tss, strand, or a GTF), which "
            "may be left out only when the expression is a tensorQTL/FastQTL phenotype BED (#chr start end "
            "phenotype_id)"
        )
    return "bed"


NORMALIZE = ("none", "inverse-normal")


# Values read as missing: that person is left out of that gene's statistics (counted and reported);
# anything else that is not a finite number is an error naming its place.
MISSING_VALUES = {"", "na", "nan", "n/a", "none", "null", "."}


# ---------------------------------------------------------------------------
# The cohort


@dataclass
class Cohort:
    """Validated cohort inputs, restricted to the people and genes present everywhere.

    `expression` has rows in `genes` order and columns = `people`, which are in VCF order; NaN where
    the input had NA (that person left out of that gene's statistics, `missing_expression`).
    `genes` has gene_id, gene_name, chrom, tss, strand, line, n_snvs (SNVs in the gene's window).
    """

    reference: Reference
    vcf: Path  # one file, or a path with {chrom}: one file per chromosome (compute.cohort.haplotypes.vcf_for)
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
    versions_matched: dict[str, str] = field(default_factory=dict)  # expression ID -> genes-table ID
    samples_mapped: int = 0  # expression samples renamed to their VCF sample by the sample map
    ref_mismatch: str = "skip"  # records whose REF disagrees with the FASTA: skipped or an error
    covariates: pd.DataFrame | None = None  # people x covariates, rows in `people` order
    without_covariates: list[str] = field(default_factory=list)  # people left out: no covariates
    normalize: str = "none"  # of each gene's expression before the covariates: none | inverse-normal
    # where chrom, TSS and strand came from: {"source": "genes table" | "expression BED", "file", "strand"}
    positions: dict[str, str] = field(default_factory=dict)

    def window_variants(self, chrom: str, start0: int, end0: int) -> WindowVariants:
        """The SNVs of a window for the cohort's people, read with the cohort's policies (missing
        calls, REF mismatches) as its validation read them."""
        path = vcf_for(self.vcf, chrom)
        if is_vcf_template(self.vcf) and not path.is_file():
            return window_variants_of([], self.people)  # no file for this chromosome: no SNV
        return window_variants(path, chrom, start0, end0, self.people, missing=self.missing,
                               reference=self.reference, ref_mismatch=self.ref_mismatch)  # fmt: skip

    def observed_raw(self, gene_id: str) -> np.ndarray:
        """One gene's expression as the input has it, float64, in the order of `people` (NaN where
        the input has NA for a person)."""
        return self.expression.loc[gene_id, self.people].to_numpy(float)

    def observed(self, gene_id: str) -> np.ndarray:
        """The expression every statistic uses, in the order of `people`: the input, normalised
        (rank-based inverse normal, when asked), then residualised on [1, covariates] (when the
        cohort has covariates), as eQTL studies do, both over the gene's people with a value; NaN
        for the others (left out of this gene's statistics)."""
        from compute.stats import inverse_normal, residualize

        values = self.observed_raw(gene_id)
        has = ~np.isnan(values)
        kept = values[has]
        if self.normalize == "inverse-normal":
            kept = inverse_normal(kept)
        if self.covariates is not None:
            kept = residualize(kept, self.covariate_matrix[has])
        out = np.full(values.shape, np.nan)
        out[has] = kept
        return out

    def missing_expression(self) -> pd.Series:
        """People without an expression value, per gene (genes with none left out), in gene order."""
        counts = self.expression.isna().sum(axis=1).astype(np.int64)
        return counts[counts > 0]

    def missing_examples(self, examples: int = 5, people: int = 3) -> list[str]:
        """The first genes with people left out: 'GENE: N of M people (P1, P2, ...)'."""
        out = []
        for gene_id in self.missing_expression().index[:examples]:
            row = self.expression.loc[gene_id]
            who = row.index[row.isna().to_numpy()].tolist()
            more = ", ..." if len(who) > people else ""
            out.append(f"{gene_id}: {len(who)} of {len(row)} people ({', '.join(who[:people])}{more})")
        return out

    def refuse_missing_expression(self, command: str) -> None:
        """For the commands that train on expression (finetune, cnn-baseline): NA refused, naming
        the first gene and people, since they use every person of every gene."""
        missing = self.missing_expression()
        if len(missing):
            raise InputError(
                f"{command}: expression is missing for {int(missing.sum())} person-gene pairs in "
                f"{len(missing)} genes, e.g. {self.missing_examples(1)[0]}; this command needs a value for "
                "every person of every gene (precompute leaves such a person out of that gene only)"
            )

    @property
    def covariate_matrix(self) -> np.ndarray | None:
        """people x covariates, float64 (None without covariates)."""
        return None if self.covariates is None else self.covariates.to_numpy(np.float64)

    def report(self, examples: int = 5) -> dict:
        """What was read, left out and changed on the way in: counts and the first examples of each
        reason (recorded in the store's manifest as `input_report`)."""
        people, lacking = set(self.people), set(self.without_covariates)  # each person under one reason

        def listed(items: list[str]) -> dict:
            return {"count": len(items), "examples": list(items[:examples])}

        no_snv = self.genes.loc[self.genes["n_snvs"].to_numpy() == 0, "gene_id"].tolist()
        missing = self.missing_expression()
        return {
            "people": {
                "used": len(self.people),
                "only_in_vcf": listed([s for s in self.vcf_samples if s not in people and s not in lacking]),
                "only_in_expression": listed([s for s in self.expression_samples if s not in people]),
                "without_covariates": listed(self.without_covariates),
            },
            "expression": {
                "normalize": self.normalize,
                "covariates": [] if self.covariates is None else [str(c) for c in self.covariates.columns],
                # NA: that person left out of that gene's statistics only
                "missing_values": {"count": int(missing.sum()), "genes": len(missing),
                                   "examples": self.missing_examples(examples)},  # fmt: skip
            },
            "genes": {
                "used": len(self.genes),
                "positions": dict(self.positions),
                "without_expression": listed(self.genes_without_expression),
                "expression_without_tss": listed(self.expression_without_gene),
                "without_snvs": listed(no_snv),
                "matched_without_version": listed([f"{a} -> {b}" for a, b in self.versions_matched.items()]),
            },
            "records": {
                "indels_skipped": self.counts.indels,
                "multiallelic": self.counts.multiallelic,
                "ref_mismatch_skipped": {"count": self.counts.ref_mismatch,
                                         "examples": list(self.counts.ref_mismatch_examples)},
                "missing_or_unphased_read_as_ref": self.counts.missing,
                "haploid_calls": self.counts.haploid,
                "missing_policy": self.missing,
            },
        }

    def summary(self) -> str:
        used, lacking = set(self.people), set(self.without_covariates)
        only_vcf = [s for s in self.vcf_samples if s not in used and s not in lacking]
        only_expr = [s for s in self.expression_samples if s not in used]
        n = self.genes["n_snvs"].to_numpy()
        lines = [
            f"people: {len(self.people)} in both files "
            f"(VCF {len(self.vcf_samples)}, expression {len(self.expression_samples)})",
        ]
        if only_vcf:
            lines.append(f"  {len(only_vcf)} only in the VCF, e.g. {', '.join(only_vcf[:3])}")
        if only_expr:
            lines.append(f"  {len(only_expr)} only in the expression matrix, e.g. {', '.join(only_expr[:3])}")
        if self.samples_mapped:
            lines.append(f"  {self.samples_mapped} expression samples named by their VCF sample (sample map)")
        if self.covariates is not None:
            lines.append(
                f"covariates: {self.covariates.shape[1]} ({', '.join(map(str, self.covariates.columns[:5]))}"
                f"{', ...' if self.covariates.shape[1] > 5 else ''}); expression "
                + ("normalised (inverse normal), then " if self.normalize != "none" else "")
                + "residualised on them per gene"
            )
        elif self.normalize != "none":
            lines.append("expression normalised per gene (rank-based inverse normal)")
        if self.without_covariates:
            lines.append(f"  {len(self.without_covariates)} people left out without covariates, "
                         f"e.g. {', '.join(self.without_covariates[:3])}")  # fmt: skip
        missing = self.missing_expression()
        if len(missing):
            lines.append(
                f"expression missing (NA) for {int(missing.sum())} person-gene pairs in {len(missing)} "
                "genes: each such person is left out of that gene's statistics only, "
                f"e.g. {self.missing_examples(1)[0]}"
            )
        lines.append(f"genes: {len(self.genes)} with a TSS and expression")
        if self.positions.get("source") == "expression BED":
            lines.append(f"  gene positions from the phenotype BED {self.positions['file']} (TSS = its end), "
                         "strand + for every gene (no --genes given)")  # fmt: skip
        if self.versions_matched:
            first = next(iter(self.versions_matched.items()))
            lines.append(f"  {len(self.versions_matched)} matched without their version suffix, "
                         f"e.g. {first[0]} -> {first[1]}")  # fmt: skip
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
            f"REF alleles disagreeing with the FASTA: {self.counts.ref_mismatch} of "
            f"{self.counts.snv_records} SNV records (records skipped; policy: {self.ref_mismatch})",
            f"missing or unphased genotypes read as REF: {self.counts.missing} (policy: {self.missing})",
            f"haploid calls (both haplotypes carry the allele): {self.counts.haploid}",
        ]
        return "\n".join(lines)


def read_sample_map(path: str | Path) -> dict[str, str]:
    """Expression sample ID -> VCF sample ID from a two-column TSV (a first line naming the columns
    is allowed: it is skipped when neither of its fields is a sample of the map's other lines)."""
    path = Path(path)
    require_file(path, "sample map")
    rows = []
    with _text_opener(path) as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            fields = [f.strip() for f in line.rstrip("\r\n").split("\t")]
            if len(fields) != 2 or not all(fields):
                raise InputError(
                    f"{path}: line {line_no}: expected two tab-separated fields (expression sample ID, "
                    f"VCF sample ID), found {len(fields)}: {line.strip()[:80]!r}"
                )
            rows.append((line_no, *fields))
    if rows and rows[0][1].lower() in ("sample", "sample_id", "expression", "expression_sample", "sampid"):
        rows = rows[1:]  # the header line
    mapping: dict[str, str] = {}
    for line_no, sample, person in rows:
        if sample in mapping and mapping[sample] != person:
            raise InputError(
                f"{path}: line {line_no}: sample {sample} mapped twice ({mapping[sample]}, {person})"
            )
        mapping[sample] = person
    if not mapping:
        raise InputError(f"{path}: expected lines 'expression sample ID<TAB>VCF sample ID', found none")
    return mapping


def apply_sample_map(
    expression: pd.DataFrame, mapping: dict[str, str], path: Path
) -> tuple[pd.DataFrame, int]:
    """The matrix with its sample columns renamed to VCF sample IDs, and how many were renamed;
    two expression samples of one person are refused, naming them."""
    renamed = [mapping.get(s, s) for s in expression.columns]
    seen: dict[str, str] = {}
    for sample, person in zip(expression.columns, renamed, strict=True):
        if person in seen:
            raise InputError(
                f"{path}: expression samples {seen[person]} and {sample} both map to {person}; expected one "
                "expression sample per person (keep one, e.g. the tissue this cohort is about)"
            )
        seen[person] = sample
    count = sum(1 for s in expression.columns if s in mapping and mapping[s] != s)
    out = expression.copy()
    out.columns = pd.Index(renamed)
    return out, count


def read_covariates(
    path: str | Path, samples: set[str], mapping: dict[str, str] | None = None
) -> pd.DataFrame:
    """Covariates as a samples x covariates float frame, from tensorQTL's layout (ID column, then
    one column per sample) or its transpose, told apart by where `samples` (the expression's or
    the VCF's IDs) are; expression sample IDs are renamed by the sample map. A non-numeric value is
    refused naming the covariate."""
    path = Path(path)
    require_file(path, "covariates")
    sep = "," if expression_format(path) == "csv" else "\t"
    table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=0)
    table.index = table.index.astype(str).str.strip()
    table.columns = [str(c).strip() for c in table.columns]
    mapping = mapping or {}

    def named(ids) -> list[str]:
        return [mapping.get(i, i) for i in ids]

    if len(set(named(table.columns)) & samples) >= len(set(named(table.index)) & samples):
        table = table.T  # covariates x samples, tensorQTL's layout
    table.index = named(table.index)
    out = {}
    for column in table.columns:
        values = pd.to_numeric(table[column].str.strip(), errors="coerce")
        if values.isna().any():
            bad = table[column][values.isna()].iloc[0]
            raise InputError(
                f"{path}: covariate {column!r}: expected numbers (encode a category as 0/1 columns), "
                f"found {bad!r} for sample {values.index[values.isna()][0]}"
            )
        out[column] = values.to_numpy(np.float64)
    if not out:
        raise InputError(f"{path}: expected at least one covariate, found none")
    return pd.DataFrame(out, index=pd.Index(table.index, name="sample"))


_VERSION = re.compile(r"\.\d+$")


def match_gene_versions(gene_ids: pd.Series, expression: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The expression matrix with its gene IDs matched to the genes table's where they differ only
    by an Ensembl version suffix (ENSG00000013573.16 and ENSG00000013573, or two GENCODE releases),
    and the renames {expression ID: genes-table ID}. Only an unambiguous match is made: one ID of
    each side without an exact match shares the versionless ID."""
    known, expressed = set(gene_ids), set(expression.index)  # once: a set per gene is quadratic
    loose_expr = [g for g in expression.index if g not in known]
    loose_genes = [g for g in gene_ids if g not in expressed]
    if not loose_expr or not loose_genes:
        return expression, {}

    def by_base(ids: list[str]) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for gene_id in ids:
            groups.setdefault(_VERSION.sub("", gene_id), []).append(gene_id)
        return groups

    expr_bases, gene_bases = by_base(loose_expr), by_base(loose_genes)
    renames = {
        found[0]: gene_bases[base][0]
        for base, found in expr_bases.items()
        if len(found) == 1 and len(gene_bases.get(base, ())) == 1
    }
    if not renames:
        return expression, {}
    return expression.rename(index=renames), renames


def genotype_files(spec: str | Path, chroms: list[str]) -> dict[str | None, Path]:
    """The genotype files to read: {None: the one file}, or {chrom: its file} for a path with
    {chrom} (per-chromosome releases), those that exist; InputError when none does."""
    if not is_vcf_template(spec):
        require_file(Path(spec), "genotype file")
        return {None: Path(spec)}
    found = {c: vcf_for(spec, c) for c in chroms if vcf_for(spec, c).is_file()}
    if not found:
        example = vcf_for(spec, chroms[0]) if chroms else spec
        raise InputError(
            f"{spec}: no genotype file for any chromosome of the genes table (expected e.g. {example})"
        )
    return found


def read_vcf_headers(paths: list[Path]) -> tuple[list[str], set[str], dict[str, tuple[int, Path]]]:
    """Samples (the same in every file, or InputError naming the one that differs), chromosome
    names and ##contig lengths (with the file that gives each) of the genotype files."""
    samples: list[str] | None = None
    chroms: set[str] = set()
    lengths: dict[str, tuple[int, Path]] = {}
    for path in paths:
        handle = open_vcf(path)
        try:
            these = list(handle.samples)
            dup = pd.Index(these)[pd.Index(these).duplicated()]
            if len(dup):
                raise InputError(
                    f"{path}: header: duplicate sample IDs {list(dup[:5])}; expected each sample once"
                )
            if samples is None:
                samples = these
            elif these != samples:
                raise InputError(
                    f"{path}: its samples differ from {paths[0]}'s ({len(these)} against {len(samples)}"
                    f"{', another order' if set(these) == set(samples) else ''}); expected the same samples, "
                    "in the same order, in every per-chromosome file"
                )
            chroms |= set(handle.seqnames)
            try:
                lengths.update({c: (n, path) for c, n in zip(handle.seqnames, handle.seqlens, strict=True)})
            except (AttributeError, ValueError):  # no ##contig lines with lengths: nothing to compare
                pass
        finally:
            handle.close()
    return samples or [], chroms, lengths


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


READ_THROUGH = 1 << 12  # bp: windows closer than this are read as one span


def _read_spans(windows: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Merged windows grouped into spans read with one index query each: a query starts at the
    index's linear bin (16 kb in tabix and CSI), so a jump to each of many close windows would
    decompress and scan the records before it again and again (2,000 windows 512 bp apart took
    twice as long as one query over them all)."""
    spans: list[list[tuple[int, int]]] = []
    for window in windows:
        if spans and window[0] - spans[-1][-1][1] < READ_THROUGH:
            spans[-1].append(window)
        else:
            spans.append([window])
    return spans


def load_cohort(
    fasta: str | Path,
    vcf: str | Path,
    genes: str | Path | None,
    expression: str | Path,
    window: int = WINDOW,
    missing: str = "error",
    sample_map: str | Path | None = None,
    ref_mismatch: str = "skip",
    covariates: str | Path | None = None,
    normalize: str = "none",
    only_genes: Sequence[str] | None = None,
) -> Cohort:
    """Read and validate every input; genotypes are checked over all gene windows (each record once),
    in the one pass over the VCF before the first gene (it also counts each window's SNVs).

    genes None: each gene's chrom and TSS from the expression, a phenotype BED (`gene_positions`),
    strand '+'.
    only_genes: a cohort of these genes only (those of them the cohort has), whose windows alone are
    read: for genes added to a store whose run validated every window of these same files (checked
    unchanged by their sha256), so the REF-mismatch rate, judged over all windows there, is not
    judged again over these few."""
    if missing not in ("error", "reference"):
        raise InputError(f"missing genotype policy must be 'error' or 'reference', got {missing!r}")
    if window < 1:
        raise InputError(f"window must be a positive number of bases, got {window}")
    from_bed = gene_positions(genes, expression) == "bed"
    fasta, expr_path = Path(fasta), Path(expression)
    genes_path = expr_path if from_bed else Path(genes)
    inputs = ((fasta, "reference FASTA"), (genes_path, "genes table"), (expr_path, "expression matrix"))
    for path, what in inputs:
        require_file(path, what)
    reference = Reference(fasta)
    if from_bed:
        gene_table = read_bed_positions(expr_path)
        position_source = {"source": "expression BED", "file": str(expr_path), "tss": "end (1-based)",
                     "strand": "+ for every gene (no genes table or GTF given)"}  # fmt: skip
    else:
        gene_table = read_genes(genes_path)
        position_source = {"source": "genes table", "file": str(genes_path),
                     "strand": "GTF" if is_gtf(genes_path) else "genes table"}  # fmt: skip
    files = genotype_files(vcf, gene_table["chrom"].unique().tolist())
    vcf_samples, vcf_chroms, vcf_lengths = read_vcf_headers(list(files.values()))
    expr = read_expression(expr_path)
    if normalize not in NORMALIZE:
        raise InputError(f"--normalize {normalize!r}: expected one of {', '.join(NORMALIZE)}")
    mapped, mapping = 0, {}
    if sample_map is not None:
        mapping = read_sample_map(sample_map)
        expr, mapped = apply_sample_map(expr, mapping, Path(sample_map))
    covariate_table = None
    if covariates is not None:
        covariate_table = read_covariates(covariates, set(expr.columns) | set(vcf_samples), mapping)

    # Chromosome names and TSS positions against the FASTA, and against the VCF; the VCF's contig
    # lengths against the FASTA index (the cheap build check: hg19 and hg38 differ on every one).
    lengths = {c: reference.length(c) for c in reference.chromosomes}
    for chrom, (length, path) in vcf_lengths.items():
        if chrom in lengths and length > 0 and length != lengths[chrom]:
            raise InputError(
                f"{path}: ##contig {chrom} has length {length:,}, but {fasta} has {lengths[chrom]:,} for it: "
                "expected the VCF and the FASTA of one genome build (e.g. both GRCh38)"
            )
    for row in gene_table.itertuples():
        context = f"{genes_path}: line {row.line} (gene {row.gene_id})"
        check_chromosome(row.chrom, lengths, context, str(fasta))
        if vcf_chroms and row.chrom not in vcf_chroms:
            other = row.chrom[3:] if row.chrom.startswith("chr") else f"chr{row.chrom}"
            if other in vcf_chroms:
                check_chromosome(row.chrom, vcf_chroms, context, str(files.get(None, vcf)))
        if not 1 <= row.tss <= lengths[row.chrom]:
            raise InputError(
                f"{context}: TSS {row.chrom}:{row.tss} is outside the FASTA record {row.chrom!r} "
                f"of {fasta} (expected 1..{lengths[row.chrom]})"
            )

    # Genes and people present everywhere (Ensembl version suffixes ignored where unambiguous); a
    # samples x genes matrix (genes in the header) is read transposed.
    if not gene_table["gene_id"].isin(expr.index).any() and gene_table["gene_id"].isin(expr.columns).any():
        expr = expr.T
        expr.index.name = "gene_id"
    expr, versions_matched = match_gene_versions(gene_table["gene_id"], expr)
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
    if only_genes is not None:
        gene_table = gene_table[gene_table["gene_id"].isin(set(only_genes))].reset_index(drop=True)
    expression_ids = set(expr.columns)  # once: a set per sample made this quadratic (seconds at 1,000)
    people = [s for s in vcf_samples if s in expression_ids]
    without_covariates = []
    if covariate_table is not None:
        with_covariates = set(covariate_table.index)
        without_covariates = [p for p in people if p not in with_covariates]
        people = [p for p in people if p in with_covariates]
        if not people:
            raise InputError(
                f"{covariates}: no sample ID matches the people of the VCF and the expression "
                f"(covariates e.g. {list(covariate_table.index[:3])}, people e.g. {without_covariates[:3]})"
            )
    if not people:
        raise InputError(
            f"{expr_path}: no sample ID matches the VCF {vcf} (0 shared; expression has {expr.shape[1]}, "
            f"e.g. {list(expr.columns[:3])}; VCF has {len(vcf_samples)}, e.g. {vcf_samples[:3]})"
        )
    expression_samples = list(expr.columns)
    # NA (read_expression's MISSING_VALUES) leaves that person out of that gene's statistics only
    # (compute.stats.gene_statistics); counted per gene by Cohort.missing_expression.
    expr = expr.loc[gene_table["gene_id"], people]

    # Every SNV record inside any gene window, read once: REF vs FASTA, phasing, missing calls.
    counts = WindowCounts()
    n_snvs = np.zeros(len(gene_table), dtype=np.int64)
    order = np.arange(len(people))  # the subset keeps VCF order, which is the order of `people`
    for chrom, idx in gene_table.groupby("chrom", sort=False).indices.items():
        path = files.get(chrom, files.get(None))
        if path is None:
            continue  # no genotype file for this chromosome: its genes have no SNV (reported)
        starts, ends = np.array([gene_window(t, window) for t in gene_table["tss"].to_numpy()[idx]]).T
        positions = []
        vcf_handle = open_vcf(path, samples=people)
        try:
            for span in _read_spans(_merge_windows(starts, ends)):
                lo, hi = span[0][0], span[-1][1]
                chunks = iter_snv_chunks(path, vcf_handle, chrom, lo, hi, order, missing, counts, reference,
                                         ref_mismatch, windows=span)  # fmt: skip
                positions += [chunk.pos for chunk in chunks]
        finally:
            vcf_handle.close()
        pos = np.sort(np.concatenate([np.zeros(0, np.int64), *positions]))
        # SNVs with 1-based POS in [start0 + 1, end0].
        n_snvs[idx] = np.searchsorted(pos, ends, side="right") - np.searchsorted(pos, starts + 1)
    gene_table["n_snvs"] = n_snvs
    if only_genes is None and counts.ref_mismatch > REF_MISMATCH_LIMIT * max(counts.snv_records, 1):
        share = counts.ref_mismatch / counts.snv_records
        raise InputError(
            f"{vcf}: REF disagrees with {fasta} at {counts.ref_mismatch:,} of {counts.snv_records:,} SNV "
            f"records read ({share:.2%}; more than {REF_MISMATCH_LIMIT:.1%} means another genome build), "
            f"e.g. {counts.ref_mismatch_examples[0]}; expected a VCF called against this FASTA"
        )

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
        versions_matched=versions_matched,
        samples_mapped=mapped,
        ref_mismatch=ref_mismatch,
        covariates=None if covariate_table is None else covariate_table.loc[people],
        without_covariates=without_covariates,
        normalize=normalize,
        positions=position_source,
    )
