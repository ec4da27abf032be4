"""The declared Arrow type of every column the store writes, so a table's schema never depends on
the rows of whichever gene came first (a gene without SNVs has empty lists and zero variant rows,
which pandas alone would write as `null` columns that no later gene's table matches)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

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
               "predicted": _FLOAT, "observed": _FLOAT},
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
