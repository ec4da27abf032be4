"""Reading one gene's rows of a store table without reading the rest: the row groups that hold
it, found from the Parquet statistics."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


@dataclass
class GeneIndex:
    """Which row groups of one table hold which gene, from Parquet statistics. Safe to read from
    several threads: pyarrow's reads of one open file from two threads at once can fail
    ("ReadRangeCache did not find matching cache entry"), so they take turns on this file only
    (another table, or the same table in another process, is read meanwhile)."""

    file: pq.ParquetFile
    groups: list[tuple[str, str]] = field(default_factory=list)  # (min gene_id, max gene_id)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sorted: bool = field(init=False)  # groups in gene order, not overlapping: found by bisection

    def __post_init__(self) -> None:
        lows, self._highs = [g[0] for g in self.groups], [g[1] for g in self.groups]
        self.sorted = all(a <= b for a, b in zip(lows, self._highs, strict=True)) and all(
            h <= lo for h, lo in zip(self._highs, lows[1:], strict=False)
        )

    @classmethod
    def open(cls, path: Path) -> GeneIndex:
        file = pq.ParquetFile(path)
        column = file.schema_arrow.get_field_index("gene_id")
        groups = []
        for i in range(file.metadata.num_row_groups):
            stats = file.metadata.row_group(i).column(column).statistics
            known = stats is not None and stats.has_min_max
            groups.append((stats.min, stats.max) if known else ("", "\uffff"))
        return cls(file, groups)

    def groups_of(self, gene_id: str) -> list[int]:
        """The row groups that may hold the gene (a table of 20 M rows has ~5,000 groups)."""
        if not self.sorted:
            return [i for i, (lo, hi) in enumerate(self.groups) if lo <= gene_id <= hi]
        wanted = []
        for i in range(bisect.bisect_left(self._highs, gene_id), len(self.groups)):
            if self.groups[i][0] > gene_id:
                break
            wanted.append(i)
        return wanted

    def read(self, gene_id: str) -> pd.DataFrame:
        return self.read_table(gene_id).to_pandas(use_threads=False)

    def read_table(self, gene_id: str) -> pa.Table:
        """The gene's rows as Arrow (`read` makes them a frame)."""
        wanted = self.groups_of(gene_id)
        if not wanted:
            return self.file.schema_arrow.empty_table()
        # one gene's groups are small: decoding them on this thread costs a fifth less CPU than
        # handing them to pyarrow's pool, and a server reads many genes at once on its own threads
        with self.lock:
            table = self.file.read_row_groups(wanted, use_threads=False)
        ids = table["gene_id"]
        mask = pc.equal(ids, gene_id)
        first, count = pc.index(ids, gene_id).as_py(), pc.sum(mask).as_py() or 0
        if first >= 0 and pc.all(mask.slice(first, count)).as_py():
            table = table.slice(first, count)  # the gene's rows are together: no copy
        else:
            table = table.filter(mask)
        return table
