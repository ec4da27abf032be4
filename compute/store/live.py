"""A store while it is written: genes that have landed in parts/ but are not in the finalized
tables yet (a running precompute, or a gene computed on demand from the dashboard).

Readers see them beside the finalized genes. A part is renamed into place whole
(ResultsStore.write_gene), so a listed part is always complete; temporary parts start
with a dot and are never listed. Cross-gene columns over such a store are provisional.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from compute.store.genotypes import GENOTYPES_TABLE


class LiveParts:
    """The parts of genes not (yet) in the finalized tables, read one file per gene and table."""

    def __init__(self, store_path: Path, done: set[str], finalized: set[str]):
        self.parts = store_path / "parts"
        self.ids = sorted(done - finalized)
        self._set = frozenset(self.ids)

    def __bool__(self) -> bool:
        return bool(self.ids)

    def __contains__(self, gene_id: object) -> bool:
        return gene_id in self._set

    def path(self, gene_id: str, name: str) -> Path:
        return self.parts / gene_id / f"{name}.parquet"

    def gene_rows(self, name: str, gene_id: str, columns: list[str]) -> pd.DataFrame:
        path = self.path(gene_id, name)
        return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=columns)

    def table(self, name: str, columns: list[str] | None = None, drivers_only: bool = False) -> pd.DataFrame:
        """One table over every live gene (the genes rows, or the driver rows of variants)."""
        frames = []
        for gene_id in self.ids:
            path = self.path(gene_id, name)
            if not path.is_file():
                continue
            frame = pd.read_parquet(path)
            if drivers_only:
                frame = frame.loc[frame["is_driver"].astype("boolean").fillna(False).to_numpy(bool)]
            frames.append(frame if columns is None else frame[[c for c in columns if c in frame.columns]])
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns or [])

    def has_genotypes(self) -> bool:
        return any(self.path(g, GENOTYPES_TABLE).is_file() for g in self.ids)
