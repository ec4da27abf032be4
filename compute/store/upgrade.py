"""The one way an older store becomes one this code reads: `python -m compute upgrade STORE`.

Format 1 (stores written before the format was raised): drivers.parquet could be missing (the
driver rows were then scanned out of the whole variants table) and genotypes.parquet could be the
first, long dosage table (not phased, not packed). Format 2 has drivers.parquet whenever it has a
variants table, and genotypes.parquet only as the packed table (compute/store/genotypes.py).
Readers rely on that and check nothing else (ResultsStore reads only stores of FORMAT).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from compute.errors import InputError
from compute.store.files import write_json_atomic, write_parquet_atomic
from compute.store.genotypes import GENOTYPE_COLUMNS, GENOTYPES_TABLE
from compute.store.schemas import DRIVERS_TABLE, FORMAT, ROW_GROUP_ROWS


def upgrade_store(path: str | Path) -> list[str]:
    """Bring a store to FORMAT; returns what was done, one line each (nothing for a current one)."""
    path = Path(path)
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise InputError(f"{path}: not a results store (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    found = manifest.get("format", 1)
    if not isinstance(found, int) or found > FORMAT:
        raise InputError(f"{manifest_path}: store format {found!r} is newer than this version's {FORMAT}")
    done: list[str] = []
    if found < 2:
        variants, drivers = path / "variants.parquet", path / f"{DRIVERS_TABLE}.parquet"
        if variants.is_file() and not drivers.is_file():
            rows = pd.read_parquet(variants, filters=[("is_driver", "==", True)])
            rows = rows.reset_index(drop=True)
            write_parquet_atomic(drivers, rows, ROW_GROUP_ROWS["variants"], DRIVERS_TABLE)
            done.append(f"{drivers.name}: {len(rows):,} driver rows from variants.parquet")
        genotypes = path / f"{GENOTYPES_TABLE}.parquet"
        if genotypes.is_file() and not set(GENOTYPE_COLUMNS) <= set(pq.read_schema(genotypes).names):
            genotypes.unlink()
            done.append(
                f"{genotypes.name}: the old dosage table removed (not phased); "
                f"`python -m compute genotypes {path}` writes the packed one from the store's VCF"
            )
    if found < FORMAT:
        manifest["format"] = FORMAT
        write_json_atomic(manifest_path, manifest)
        done.append(f"manifest.json: format {found} -> {FORMAT}")
    return done
