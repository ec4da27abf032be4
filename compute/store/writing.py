"""Writing whole tables of a store: the genotypes table a gene at a time, and frames gathered
from the genes' parts."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from compute.store.files import publish
from compute.store.genotypes import GENOTYPE_COLUMNS, GENOTYPES_TABLE
from compute.store.schemas import ROW_GROUP_ROWS, schema_of


class GenotypesWriter:
    """Writes genotypes.parquet one gene's row at a time, in gene_id order, a row group per few
    genes (the full study's table is a few GB: never all in memory), through a temporary file
    renamed into place on a clean exit."""

    def __init__(self, store_path: Path):
        self.path = Path(store_path) / f"{GENOTYPES_TABLE}.parquet"
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        os.close(fd)
        self._writer: pq.ParquetWriter | None = None
        self._rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) == ROW_GROUP_ROWS[GENOTYPES_TABLE]:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        table = pa.Table.from_pandas(
            pd.DataFrame(self._rows)[GENOTYPE_COLUMNS],
            schema=schema_of(GENOTYPES_TABLE, GENOTYPE_COLUMNS),
            preserve_index=False,
        )  # declared types: a first gene without SNVs has empty lists, which alone read as null
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.tmp, table.schema, compression="zstd")
        self._writer.write_table(table)
        self._rows = []

    def __enter__(self) -> GenotypesWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self._flush()
        if self._writer is not None:
            self._writer.close()
        if kind is None and self._writer is not None:
            publish(self.tmp, self.path)
        else:
            Path(self.tmp).unlink(missing_ok=True)


def concat_frames(frames: Iterable[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    return pd.concat(frames, ignore_index=True)
