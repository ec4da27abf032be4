"""The declared Arrow type of every column the store writes, so a table's schema never depends on
the rows of whichever gene came first (a gene without SNVs has empty lists and zero variant rows,
which pandas alone would write as `null` columns that no later gene's table matches)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from compute.store.genotypes import GENOTYPE_COLUMNS, GENOTYPES_TABLE

FORMAT = 2  # the store layout this code writes and reads (compute/store/upgrade.py brings older ones)

GENE_COLUMNS = [
    "gene_id", "gene_name", "chrom", "tss", "strand", "n_people", "n_snvs",
    "r", "p_r", "null_mean", "null_std", "t_null", "p_null", "q_bh", "significant",
    "linear_r", "n_drivers", "predixcan_r", "mean_observed", "std_observed",
    "mean_predicted", "std_predicted", "ref_score",
]  # fmt: skip
PEOPLE_COLUMNS = ["gene_id", "person_id", "hap1", "hap2", "predicted", "observed"]
VARIANT_COLUMNS = [
    "gene_id", "variant_id", "chrom", "pos", "ref", "alt", "alt_freq", "maf",
    "tss_distance", "tss_distance_stranded", "ism", "grad_x_input", "eqtl_slope", "eqtl_p",
    "is_driver", "is_main_driver", "driver_gain", "supported",
]  # fmt: skip
NULL_COLUMNS = ["gene_id", "draw", "r"]

TABLES = {
    "genes": GENE_COLUMNS,
    "people": PEOPLE_COLUMNS,
    "variants": VARIANT_COLUMNS,
    "null": NULL_COLUMNS,
}
DRIVERS_TABLE = "drivers"  # the driver rows of variants, written with it
# Written when the run had genotypes (every computed store since genotypes were packed;
# `python -m compute genotypes STORE` adds them to an older one).
OPTIONAL_TABLES = {GENOTYPES_TABLE: GENOTYPE_COLUMNS}
# Rows per Parquet row group: a reader decodes whole groups, so one gene's rows should fill
# most of the one or two it reads (at full scale a gene has ~3,000 variant rows, 839 people
# rows and one genotypes row of ~0.6 MB); a group costs ~2 KB of footer on disk and ~18 KB in
# the memory of each process that reads the table (90 MB for 20 M variant rows).
ROW_GROUP_ROWS = {
    "genes": 1 << 16,
    "people": 1 << 11,
    "variants": 1 << 12,
    "null": 1 << 12,
    GENOTYPES_TABLE: 1,
}  # fmt: skip


STRING = pa.large_string()  # what pandas' string dtype becomes: the type every store has used
_FLOAT, _INT, _BOOL = pa.float64(), pa.int64(), pa.bool_()

_VARIANT_TYPES = {
    "gene_id": STRING, "variant_id": STRING, "chrom": STRING, "pos": _INT, "ref": STRING, "alt": STRING,
    "alt_freq": _FLOAT, "maf": _FLOAT, "tss_distance": _INT, "tss_distance_stranded": _INT,
    "ism": _FLOAT, "grad_x_input": _FLOAT, "eqtl_slope": _FLOAT, "eqtl_p": _FLOAT,
    "is_driver": _BOOL, "is_main_driver": _BOOL, "driver_gain": _FLOAT, "supported": _BOOL,
}  # fmt: skip

COLUMN_TYPES: dict[str, dict[str, pa.DataType]] = {
    "genes": {
        "gene_id": STRING, "gene_name": STRING, "chrom": STRING, "tss": _INT, "strand": STRING,
        "n_people": _INT, "n_snvs": _INT, "r": _FLOAT, "p_r": _FLOAT, "null_mean": _FLOAT,
        "null_std": _FLOAT, "t_null": _FLOAT, "p_null": _FLOAT, "q_bh": _FLOAT, "significant": _BOOL,
        "linear_r": _FLOAT, "n_drivers": _INT, "predixcan_r": _FLOAT, "mean_observed": _FLOAT,
        "std_observed": _FLOAT, "mean_predicted": _FLOAT, "std_predicted": _FLOAT, "ref_score": _FLOAT,
        "reason": STRING,
    },
    "people": {"gene_id": STRING, "person_id": STRING, "hap1": _FLOAT, "hap2": _FLOAT,
               "predicted": _FLOAT, "observed": _FLOAT, "observed_raw": _FLOAT},
    "variants": _VARIANT_TYPES,
    "drivers": _VARIANT_TYPES,
    "null": {"gene_id": STRING, "draw": _INT, "r": _FLOAT},
    "genotypes": {"gene_id": STRING, "n_people": _INT, "n_snvs": _INT, "person_ids": pa.list_(pa.string()),
                  "variant_ids": pa.list_(pa.string()), "bits": pa.binary()},
}  # fmt: skip


def arrow_table(name: str, frame: pd.DataFrame) -> pa.Table:
    """`frame` as an Arrow table whose columns without a value to type them (no rows, all
    missing, empty lists) take the declared type of table `name` (a string where none is
    declared); the others keep what pandas gives them."""
    declared = COLUMN_TYPES.get(name, {})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = [
        field.with_type(declared.get(field.name, _untyped_default(field.type)))
        if _untyped(field.type)
        else field
        for field in table.schema
    ]
    schema = pa.schema(fields, metadata=table.schema.metadata)
    return table if schema.equals(table.schema) else table.cast(schema)


def _untyped(kind: pa.DataType) -> bool:
    return pa.types.is_null(kind) or (pa.types.is_list(kind) and pa.types.is_null(kind.value_type))


def _untyped_default(kind: pa.DataType) -> pa.DataType:
    return pa.list_(pa.string()) if pa.types.is_list(kind) else STRING


def schema_of(name: str, columns: list[str]) -> pa.Schema:
    """The Arrow schema of `columns` of table `name` (each declared)."""
    return pa.schema([pa.field(c, COLUMN_TYPES[name][c]) for c in columns])
