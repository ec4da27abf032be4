"""Import the published results of Sasse et al. 2023 into a results store.

The paper's code and data release (`mostafavilabuw/EnformerAssessment`, GPL-3.0)
holds per-gene statistics of Enformer (track 4980, `CAGE:brain, adult`) across
839 ROSMAP people and the driver SNVs behind them, but no per-person data, no
null draws and no SNVs other than drivers. `import_published` turns that folder
into the store layout of docs/architecture.md: genes.parquet from Supplementary
Table 1, variants.parquet (drivers only) from Supplementary Table 2, empty
people.parquet and null.parquet, and a manifest saying what is missing. The
published numbers are kept as published; the source files travel with the store
in `source/`, unmodified, with their citation and licence.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from compute.errors import InputError
from compute.store import (
    NULL_COLUMNS,
    PEOPLE_COLUMNS,
    ResultsStore,
    file_digest,
    safe_gene_id,
    write_parquet_atomic,
)

TABLE1 = "SupplementaryTable1.tsv"
TABLE2 = "SupplementaryTable2.tsv"
TABLE3 = "SupplementaryTable3.txt"
REF_SCORES = "MeanGeXPredFineTuned.txt"
TEST_SET = "enformer_test_set_genes.txt"
TSS_ATTRIBUTION = "tss_attribution_stats.txt"
# Every file of the published folder: all travel with the store; the ones above are read.
SOURCE_FILES = [
    "SOURCE.md",
    TABLE1,
    TABLE2,
    TABLE3,
    "Prediction_correlationsCageAdultBrain_Allstats.txt",
    "PrediXcanCorrelationWithExpressionENSG.tsv",
    REF_SCORES,
    "GTExWeights.csv",
    TEST_SET,
    TSS_ATTRIBUTION,
]

N_PEOPLE = 839
NULL_DRAWS = 50
MISSING = {"", "NA", "NaN", "nan"}
CITATION = (
    "Sasse A., Ng B., Spiro A. E., Tasaki S., Bennett D. A., Gaiteri C., De Jager P. L., "
    "Chikina M., Mostafavi S. Benchmarking of deep neural networks for predicting personal gene "
    "expression from DNA sequence highlights shortcomings. Nature Genetics 55, 2060-2064 (2023). "
    "doi:10.1038/s41588-023-01524-6"
)

TABLE1_COLUMNS = [
    "gene_name", "gene_id", "chr_hg38", "start_hg38", "end_hg38", "strand_hg38", "tss_hg38",
    "MeanObs", "StdObs", "PearsonRfineTuned", "PvalueRfineTuned", "MeanFineTuned", "StdFineTuned",
    "PearsonRCAGE,adult,brain", "PvalueRCAGE,adult,brain", "MeanCAGE,adult,brain",
    "StdCAGE,adult,brain", "RmeanRandom", "Rstdrandom", "TstatCAGE,adult,brain",
    "Log10PvalueTstatCAGE,adult,brain", "Log10BHPvalueTstatCAGE,adult,brain", "PrediXcanR",
    "SuSieCausalBrainhg38", "SusieCausalCortexhg38",
]  # fmt: skip
TABLE1_INTEGERS = ["start_hg38", "end_hg38", "tss_hg38"]
TABLE1_TEXT = ["gene_name", "gene_id", "chr_hg38", "strand_hg38", "SuSieCausalBrainhg38",
               "SusieCausalCortexhg38"]  # fmt: skip
# Table 1 columns that always have a value (the others may be NaN / NA).
TABLE1_REQUIRED = ["gene_name", "gene_id", "chr_hg38", "strand_hg38", *TABLE1_INTEGERS,
                   "RmeanRandom", "Rstdrandom", "Log10BHPvalueTstatCAGE,adult,brain"]  # fmt: skip

TABLE2_COLUMNS = [
    "gene_name", "gene_id", "chr_hg38", "start_hg38", "end_hg38", "strand_hg38", "tss_hg38",
    "LociDriverhg38", "DisttoTSS", "ISM", "SumISMPearsonRtoCAGE,adult,brain",
    "DriverPearsonRtoCAGE,adult,brain", "DecreasedFractionofSumPearsonRWithoutDrivertoCAGE,adult,brain",
    "IncreasedFractionofSumPearonRbyrankedDrivertoCAGE,adult,brain", "NIndividualsWithSNV",
    "FractionIndividualsWithSNV", "IsMainDriver", "ISMFractionofISMmaxinSNV", "eQTL", "maxeQTLgene",
    "PearsonRGenotypetoObs", "RefseqforwardCAGE,adult,brain", "MaxISM+-1000TSS", "StdISM+-1000ISM",
]  # fmt: skip
TABLE2_INTEGERS = ["start_hg38", "end_hg38", "tss_hg38", "LociDriverhg38", "DisttoTSS",
                   "NIndividualsWithSNV"]  # fmt: skip
TABLE2_TEXT = ["gene_name", "gene_id", "chr_hg38", "strand_hg38", "IsMainDriver"]
TABLE2_OPTIONAL = ["PearsonRGenotypetoObs"]  # NaN where no person with expression carries the SNV

# Supplementary Table 3: ISM around each main driver, in the reference and the variant sequence.
_TABLE3_PATTERNS = [
    (r"MeanISMatLoci_in_(ref|var)seq/MaxISM", "locus_{0}_ism_over_max"),
    (r"[nN][bB]patLociwith>(\d+)%_in_(ref|var)", "locus_{1}_n_bp_over_{0}pct"),
    (r"DistToBpwith>(\d+)%_in_(ref|var)", "locus_{1}_dist_to_bp_over_{0}pct"),
    (r"MeanISMatDistToBPwith>(\d+)%_in_(ref|var)seq/MaxISM", "locus_{1}_ism_at_bp_over_{0}pct_over_max"),
]


@dataclass
class _Table:
    """A delimited text file read as strings, with each row's line number for errors."""

    path: Path
    frame: pd.DataFrame  # all str; column "_line" holds the 1-based line number

    def line(self, row: int) -> int:
        return int(self.frame["_line"].iloc[row])

    def where(self, row: int) -> str:
        return f"{self.path}, line {self.line(row)}"

    def numbers(self, column: str, *, integer: bool = False, required: bool = True) -> pd.Series:
        """Parse one column as numbers; missing tokens become NaN unless `required`."""
        values = self.frame[column]
        missing = values.isin(MISSING)
        parsed = pd.to_numeric(values.where(~missing), errors="coerce")
        bad = parsed.isna() & ~missing
        if required:
            bad |= missing
        if integer:
            bad |= parsed.notna() & (parsed != parsed.round())
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            kind = "an integer" if integer else "a number"
            raise InputError(
                f"{self.where(row)}: column {column!r}: expected {kind}, found {values.iloc[row]!r}"
            )
        return parsed.astype("int64") if integer else parsed.astype("float64")

    def text(self, column: str) -> pd.Series:
        """One column as strings, missing tokens as NA."""
        values = self.frame[column]
        return values.where(~values.isin(MISSING))


def _read_delimited(path: Path, *, sep: str | None, columns: list[str], header: str) -> _Table:
    """Read a small delimited file, checking the header and every row's field count.

    `sep=None` splits on runs of spaces. `header` is "hash" (first line `# ` plus
    the column names), "plain" (first line is the column names, checked) or "none".
    """
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not a text file ({err.reason})") from None
    start = 0
    if header != "none":
        if not lines:
            raise InputError(f"{path}: empty file, expected a header line")
        first = lines[0]
        if header == "hash":
            if not first.startswith("# "):
                raise InputError(
                    f"{path}, line 1: expected a header line starting with '# ', found {first[:40]!r}"
                )
            first = first[2:]
        found = first.split(sep)
        if found != columns:
            raise InputError(f"{path}, line 1: expected the {len(columns)} columns {columns}, found {found}")
        start = 1
    rows, numbers = [], []
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        fields = line.split(sep)
        if len(fields) != len(columns):
            separator = "tabs" if sep == "\t" else "spaces"
            raise InputError(
                f"{path}, line {number}: expected {len(columns)} fields separated by {separator}, "
                f"found {len(fields)}"
            )
        rows.append(fields)
        numbers.append(number)
    if not rows:
        raise InputError(f"{path}: no data rows")
    frame = pd.DataFrame(rows, columns=columns, dtype="str")
    frame["_line"] = numbers
    return _Table(path, frame)


def _check_gene_ids(table: _Table, column: str = "gene_id", unique: bool = True) -> None:
    for row, gene_id in enumerate(table.frame[column]):
        try:
            safe_gene_id(gene_id)
        except InputError:
            raise InputError(
                f"{table.where(row)}: expected a gene ID (letters, digits, '.', '_', '-'), found {gene_id!r}"
            ) from None
    duplicated = table.frame[column].duplicated()
    if unique and duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise InputError(f"{table.where(row)}: gene {table.frame[column].iloc[row]} appears twice")


def _check_strand(table: _Table) -> None:
    bad = ~table.frame["strand_hg38"].isin(["+", "-"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        found = table.frame["strand_hg38"].iloc[row]
        raise InputError(f"{table.where(row)}: expected strand '+' or '-', found {found!r}")


# ----- reading the published files ----------------------------------------------------


def read_table1(path: Path) -> pd.DataFrame:
    """Supplementary Table 1 as typed columns, one row per gene, in file order."""
    table = _read_delimited(path, sep="\t", columns=TABLE1_COLUMNS, header="hash")
    _check_gene_ids(table)
    _check_strand(table)
    out = pd.DataFrame(index=table.frame.index)
    for column in TABLE1_COLUMNS:
        if column in TABLE1_TEXT:
            out[column] = table.text(column)
            if column in TABLE1_REQUIRED and out[column].isna().any():
                row = int(np.flatnonzero(out[column].isna().to_numpy())[0])
                raise InputError(f"{table.where(row)}: column {column!r} is empty")
        else:
            out[column] = table.numbers(
                column, integer=column in TABLE1_INTEGERS, required=column in TABLE1_REQUIRED
            )
    out["_line"] = table.frame["_line"]
    return out


def read_table2(path: Path, genes: pd.DataFrame) -> pd.DataFrame:
    """Supplementary Table 2 (one row per driver), checked against Table 1's genes."""
    table = _read_delimited(path, sep="\t", columns=TABLE2_COLUMNS, header="hash")
    _check_gene_ids(table, unique=False)  # one row per driver: genes repeat
    _check_strand(table)
    out = pd.DataFrame(index=table.frame.index)
    for column in TABLE2_COLUMNS:
        if column in TABLE2_TEXT:
            out[column] = table.text(column)
        else:
            out[column] = table.numbers(
                column, integer=column in TABLE2_INTEGERS, required=column not in TABLE2_OPTIONAL
            )
    bad = ~out["IsMainDriver"].isin(["True", "False"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        found = out["IsMainDriver"].iloc[row]
        raise InputError(f"{table.where(row)}: IsMainDriver: expected True or False, found {found!r}")
    out["IsMainDriver"] = out["IsMainDriver"] == "True"

    known = genes.set_index("gene_id")
    for row, gene_id in enumerate(out["gene_id"]):
        if gene_id not in known.index:
            raise InputError(f"{table.where(row)}: gene {gene_id} is not in {TABLE1}")
        gene = known.loc[gene_id]
        for column in ("chr_hg38", "strand_hg38", "tss_hg38"):
            if out[column].iloc[row] != gene[column]:
                raise InputError(
                    f"{table.where(row)}: {column} of {gene_id} is {out[column].iloc[row]!r} here "
                    f"but {gene[column]!r} in {TABLE1}"
                )
        if out["LociDriverhg38"].iloc[row] - out["tss_hg38"].iloc[row] != out["DisttoTSS"].iloc[row]:
            raise InputError(f"{table.where(row)}: DisttoTSS is not LociDriverhg38 - tss_hg38")
    repeated = out.duplicated(["gene_id", "LociDriverhg38"])
    if repeated.any():
        row = int(np.flatnonzero(repeated.to_numpy())[0])
        raise InputError(f"{table.where(row)}: driver {out['LociDriverhg38'].iloc[row]} appears twice")
    mains = out.groupby("gene_id", sort=False)["IsMainDriver"].sum()
    if (mains != 1).any():
        gene_id = mains.index[np.flatnonzero((mains != 1).to_numpy())[0]]
        raise InputError(f"{path}: gene {gene_id} has {mains[gene_id]} main drivers, expected exactly 1")
    out["_line"] = table.frame["_line"]
    return out


def read_table3(path: Path) -> pd.DataFrame:
    """Supplementary Table 3: ISM statistics around each main driver, snake_case columns."""
    try:
        with open(path) as fh:
            names = fh.readline().split()
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not a text file ({err.reason})") from None
    if names[:2] != ["gene_id", "MainDriverLoci"]:
        raise InputError(
            f"{path}, line 1: expected columns starting 'gene_id MainDriverLoci', found {names[:2]}"
        )
    renamed = {"gene_id": "gene_id", "MainDriverLoci": "pos"}
    for name in names[2:]:
        for pattern, template in _TABLE3_PATTERNS:
            match = re.fullmatch(pattern, name)
            if match:
                renamed[name] = template.format(*match.groups())
                break
        else:
            raise InputError(f"{path}, line 1: unexpected column {name!r}")
    table = _read_delimited(path, sep=None, columns=names, header="plain")
    _check_gene_ids(table)
    out = pd.DataFrame({"gene_id": table.frame["gene_id"]})
    for name in names[1:]:
        out[renamed[name]] = table.numbers(name, integer=name == "MainDriverLoci")
    return out


def read_ref_scores(path: Path) -> pd.DataFrame:
    """Mean observed expression and the reference-sequence prediction of the fine-tuned model."""
    columns = ["", "mean gene expression", "Enf prediction, Reference, fine-tuned"]
    table = _read_delimited(path, sep="\t", columns=columns, header="plain")
    _check_gene_ids(table, column="")
    return pd.DataFrame(
        {
            "gene_id": table.frame[""],
            "ref_mean_observed": table.numbers("mean gene expression"),
            "ref_score": table.numbers("Enf prediction, Reference, fine-tuned"),
        }
    )


def read_tss_attribution(path: Path) -> pd.DataFrame:
    """Per gene: reference prediction (CAGE brain), max |ISM| and ISM spread within 1 kb of the TSS."""
    columns = ["gene_id", "ref_score_cage", "tss_max_abs_ism_1kb", "tss_std_ism_1kb"]
    table = _read_delimited(path, sep=None, columns=columns, header="none")
    _check_gene_ids(table)
    out = pd.DataFrame({"gene_id": table.frame["gene_id"]})
    for column in columns[1:]:
        out[column] = table.numbers(column)
    return out


def read_gene_list(path: Path) -> set[str]:
    """One gene ID a line (repeats allowed: the published list repeats some)."""
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not a text file ({err.reason})") from None
    genes = set()
    for number, line in enumerate(lines, start=1):
        gene_id = line.strip()
        if not gene_id:
            continue
        if not re.fullmatch(r"ENSG\d{11}(\.\d+)?", gene_id):
            raise InputError(f"{path}, line {number}: expected an Ensembl gene ID, found {gene_id!r}")
        genes.add(gene_id)
    return genes


# ----- building the store tables ------------------------------------------------------


def genes_table(
    t1: pd.DataFrame,
    t2: pd.DataFrame,
    ref_scores: pd.DataFrame,
    tss_attribution: pd.DataFrame,
    test_set: set[str],
) -> pd.DataFrame:
    """genes.parquet: the store's gene columns from Table 1 plus the published extras."""
    log10_p = t1["Log10PvalueTstatCAGE,adult,brain"]
    log10_q = t1["Log10BHPvalueTstatCAGE,adult,brain"]
    q_bh = 10.0**-log10_q
    # Gene-level columns repeated on every driver row of Table 2.
    per_gene = t2.groupby("gene_id", sort=False).agg(
        n_drivers=("LociDriverhg38", "size"),
        linear_r=("SumISMPearsonRtoCAGE,adult,brain", "first"),
        max_abs_eqtl_slope=("maxeQTLgene", "first"),
    )
    genes = pd.DataFrame(
        {
            "gene_id": t1["gene_id"],
            "gene_name": t1["gene_name"],
            "chrom": t1["chr_hg38"],
            "tss": t1["tss_hg38"],
            "strand": t1["strand_hg38"],
            "n_people": np.int64(N_PEOPLE),
            "n_snvs": np.nan,  # the number of SNVs per window is not published
            "r": t1["PearsonRCAGE,adult,brain"],
            "p_r": t1["PvalueRCAGE,adult,brain"],
            "null_mean": t1["RmeanRandom"],
            "null_std": t1["Rstdrandom"],
            "t_null": t1["TstatCAGE,adult,brain"],
            "p_null": 10.0**-log10_p,
            "q_bh": q_bh,
            "significant": q_bh < 0.05,
            "predixcan_r": t1["PrediXcanR"],
            "mean_observed": t1["MeanObs"],
            "std_observed": t1["StdObs"],
            "mean_predicted": t1["MeanCAGE,adult,brain"],
            "std_predicted": t1["StdCAGE,adult,brain"],
            "gene_start": t1["start_hg38"],
            "gene_end": t1["end_hg38"],
            "r_fine_tuned": t1["PearsonRfineTuned"],
            "p_r_fine_tuned": t1["PvalueRfineTuned"],
            "mean_predicted_fine_tuned": t1["MeanFineTuned"],
            "std_predicted_fine_tuned": t1["StdFineTuned"],
            "susie_brain_variant": t1["SuSieCausalBrainhg38"],
            "susie_cortex_variant": t1["SusieCausalCortexhg38"],
            "in_enformer_test_set": t1["gene_id"].isin(test_set),
        }
    )
    genes = genes.merge(per_gene, left_on="gene_id", right_index=True, how="left")
    genes["n_drivers"] = genes["n_drivers"].fillna(0).astype("int64")
    genes = genes.merge(ref_scores, on="gene_id", how="left")
    genes = genes.merge(tss_attribution, on="gene_id", how="left")
    return genes


def variants_table(t2: pd.DataFrame, t1: pd.DataFrame, t3: pd.DataFrame) -> pd.DataFrame:
    """variants.parquet: one row per published driver SNV."""
    strand_sign = np.where(t2["strand_hg38"] == "-", -1, 1)
    eqtl = t2["eQTL"].copy()
    # eQTL = 0 exactly with no genotype-expression correlation: no person with
    # expression carries the SNV, so the slope is undefined rather than zero.
    undefined = (eqtl == 0) & t2["PearsonRGenotypetoObs"].isna()
    eqtl[undefined] = np.nan
    supported = pd.Series(np.sign(t2["ISM"]) == np.sign(eqtl), dtype="boolean")
    supported[undefined] = pd.NA
    susie = t1.set_index("gene_id")[["SuSieCausalBrainhg38", "SusieCausalCortexhg38"]]

    def is_susie(column: str) -> pd.Series:
        variant = t2["gene_id"].map(susie[column])
        position = pd.to_numeric(variant.str.split("_").str[1], errors="coerce")
        return pd.Series(position.to_numpy() == t2["LociDriverhg38"].to_numpy(), dtype="bool")

    variants = pd.DataFrame(
        {
            "gene_id": t2["gene_id"],
            "variant_id": "chr" + t2["chr_hg38"] + ":" + t2["LociDriverhg38"].astype(str),
            "chrom": t2["chr_hg38"],
            "pos": t2["LociDriverhg38"],
            "ref": pd.Series(pd.NA, index=t2.index, dtype="str"),
            "alt": pd.Series(pd.NA, index=t2.index, dtype="str"),
            "alt_freq": np.nan,
            "maf": np.nan,
            "tss_distance": t2["DisttoTSS"],
            "tss_distance_stranded": t2["DisttoTSS"] * strand_sign,
            "ism": t2["ISM"],
            "grad_x_input": np.nan,
            "eqtl_slope": eqtl,
            "eqtl_p": np.nan,
            "is_driver": True,
            "is_main_driver": t2["IsMainDriver"],
            "driver_gain": t2["IncreasedFractionofSumPearonRbyrankedDrivertoCAGE,adult,brain"],
            "supported": supported,
            "n_carriers": t2["NIndividualsWithSNV"],
            "carrier_fraction": t2["FractionIndividualsWithSNV"] / 100.0,
            "driver_r": t2["DriverPearsonRtoCAGE,adult,brain"],
            "driver_loss": t2["DecreasedFractionofSumPearsonRWithoutDrivertoCAGE,adult,brain"],
            "ism_fraction_of_max": t2["ISMFractionofISMmaxinSNV"],
            "genotype_expression_r": t2["PearsonRGenotypetoObs"],
            "is_susie_brain": is_susie("SuSieCausalBrainhg38"),
            "is_susie_cortex": is_susie("SusieCausalCortexhg38"),
        }
    )
    # Table 3 describes the main driver of each gene; other drivers get NaN there.
    variants = variants.merge(t3, on=["gene_id", "pos"], how="left")
    missing = variants["is_main_driver"] & variants["locus_ref_ism_over_max"].isna()
    if missing.any() or len(t3) != int(variants["is_main_driver"].sum()):
        raise InputError(f"{TABLE3}: its MainDriverLoci do not match the main drivers of {TABLE2}")
    return variants


def population_table(ref_scores: pd.DataFrame, test_set: set[str]) -> pd.DataFrame:
    """population.parquet: every gene with a reference-sequence prediction (more than Table 1 holds).

    The paper's population-average r (0.58 all genes, 0.51 test-set genes) is taken
    over these 12,702 genes, not only the 6,820 of Table 1.
    """
    table = pd.DataFrame(
        {
            "gene_id": ref_scores["gene_id"],
            "ref_score": ref_scores["ref_score"],
            "mean_observed": ref_scores["ref_mean_observed"],
            "in_enformer_test_set": ref_scores["gene_id"].isin(test_set),
        }
    )
    return table.sort_values("gene_id", kind="stable").reset_index(drop=True)


def empty_table(columns: list[str], dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "float64")) for c in columns})


def manifest(src_dir: Path, genes: pd.DataFrame, variants: pd.DataFrame) -> dict:
    """What the store holds, where it came from, and what it lacks."""
    return {
        "dataset": "published",
        "kind": "published",
        "title": "Sasse et al. 2023: Enformer across 839 ROSMAP individuals (published results)",
        "citation": CITATION,
        "doi": "10.1038/s41588-023-01524-6",
        "licence": "GPL-3.0",
        "source_repository": "https://github.com/mostafavilabuw/EnformerAssessment (Data/)",
        "sources": {
            name: {"sha256": file_digest(src_dir / name), "bytes": (src_dir / name).stat().st_size}
            for name in SOURCE_FILES
        },
        "has_people": False,
        "has_null_draws": False,
        "has_all_variants": False,
        "model": {
            "name": "Enformer (Avsec et al. 2021), published weights",
            "track_index": 4980,
            "track": "CAGE:brain, adult",
            "demo": False,
            "fine_tuned": "elastic net over all 5,313 tracks (GTExWeights.csv): the *_fine_tuned columns",
        },
        "cohort": {
            "name": "ROSMAP",
            "n_people": N_PEOPLE,
            "genome": "hg38",
            "carriers_denominator": "n_carriers / carrier_fraction is about 1,161 people (all genotyped)",
        },
        "statistics": {
            "null_convention": "published",
            "null_draws": NULL_DRAWS,
            "t_null": "(|r| - null_mean) / sqrt(null_std / 50)",
            "p_null": "scipy.stats.t.sf(|t|, 49); 1 where t < 0 (published, from -log10 p)",
            "q_bh": "Benjamini-Hochberg over all genes, genes without p counted as p = 1 (published)",
            "significant": "q_bh < 0.05",
            "p_r": "two-sided Pearson p of r (published, rounded to 3 decimals)",
            "supported": "sign(ism) == sign(eqtl_slope); NA where the eQTL slope is undefined",
            "tss_distance": "pos - tss; tss_distance_stranded multiplies by -1 on the '-' strand",
        },
        "columns": {
            "linear_r": "published SumISMPearsonR: r of sum_v ISM_v g_iv with the prediction (driver genes)",
            "ref_score": "reference-sequence prediction of the fine-tuned model (MeanGeXPredFineTuned.txt)",
            "ref_mean_observed": "mean expression paired with ref_score in MeanGeXPredFineTuned.txt",
            "ref_score_cage": "reference-sequence prediction of track 4980 (tss_attribution_stats.txt)",
            "driver_gain": "published increase of the fraction of the summed-ISM r by the ranked driver",
            "carrier_fraction": "fraction of genotyped people carrying the SNV (not an allele frequency)",
            "eqtl_slope": "published eQTL; NaN where published 0 with no genotype-expression r",
            "locus_*": "Supplementary Table 3 (ISM around the main driver), main drivers only",
            "r_fine_tuned": "r of the all-track elastic net (GTExWeights.csv) vs observed: the all-track r",
            "susie_*_variant": "SuSiE fine-mapped causal variant of the gene (brain, cortex), if any",
            "in_enformer_test_set": "TSS in a region Enformer did not train on (enformer_test_set_genes.txt)",
        },
        "tables": {
            "population": "population.parquet: gene_id, ref_score, mean_observed, in_enformer_test_set "
            "for all 12,702 genes of MeanGeXPredFineTuned.txt (population-average r)",
        },
        "summary": {
            "genes": len(genes),
            "significant": int(genes["significant"].sum()),
            "drivers": len(variants),
            "driver_genes": int((genes["n_drivers"] > 0).sum()),
        },
    }


def _copy_sources(src_dir: Path, dest: Path) -> None:
    """Copy the published files unmodified beside the store (skipped when already there)."""
    if dest.exists() and dest.resolve() == src_dir.resolve():
        return
    dest.mkdir(parents=True, exist_ok=True)
    for name in SOURCE_FILES:
        shutil.copyfile(src_dir / name, dest / name)


def import_published(src_dir: str | Path, out_dir: str | Path) -> ResultsStore:
    """Turn the published folder into a results store at `out_dir` (sources in `out_dir/source`)."""
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    if not src_dir.is_dir():
        raise InputError(f"{src_dir}: no such folder (expected the published Sasse 2023 files)")
    for name in SOURCE_FILES:
        if not (src_dir / name).is_file():
            raise InputError(f"{src_dir}: missing {name} (expected the files listed in SOURCE.md)")

    t1 = read_table1(src_dir / TABLE1)
    t2 = read_table2(src_dir / TABLE2, t1)
    t3 = read_table3(src_dir / TABLE3)
    ref_scores = read_ref_scores(src_dir / REF_SCORES)
    tss_attribution = read_tss_attribution(src_dir / TSS_ATTRIBUTION)
    test_set = read_gene_list(src_dir / TEST_SET)

    genes = genes_table(t1, t2, ref_scores, tss_attribution, test_set)
    variants = variants_table(t2, t1, t3)
    people = empty_table(PEOPLE_COLUMNS, {"gene_id": "str", "person_id": "str"})
    null = empty_table(NULL_COLUMNS, {"gene_id": "str", "draw": "int64"})

    info = manifest(src_dir, genes, variants)
    store = ResultsStore.create(out_dir, {"dataset": "published", "model": info["model"]})
    for name, frame in (("genes", genes), ("variants", variants), ("people", people), ("null", null)):
        store.write_table(name, frame)
    write_parquet_atomic(out_dir / "population.parquet", population_table(ref_scores, test_set))
    # create() keeps an old manifest's keys; this import owns the whole manifest.
    store.update_manifest(**info, genes_done=len(genes), genes_failed=0, finalized=True)
    _copy_sources(src_dir, out_dir / "source")
    for empty in ("parts", "failed"):  # per-gene work folders: an import has none
        folder = out_dir / empty
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return store
