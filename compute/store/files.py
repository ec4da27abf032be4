"""Files of a store written whole or not at all (a temporary file renamed into place), their
digests, and the gene IDs that may name them."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from compute.errors import InputError
from compute.store.schemas import arrow_table

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def safe_gene_id(gene_id: str) -> str:
    """Return gene_id if it is safe as a file name, else raise InputError.

    Gene IDs become directory names under parts/, so nothing with a path
    separator, a leading dot or odd characters gets near the filesystem.
    """
    if not isinstance(gene_id, str) or not _SAFE_ID.match(gene_id):
        raise InputError(
            f"gene ID {gene_id!r} cannot name a result: expected letters, digits, '.', '_' or '-'"
        )
    return gene_id


def _umask() -> int:
    """The process umask, read without setting it (os.umask would race with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def publish(tmp: str | Path, path: Path, mode: int = 0o666) -> None:
    """Rename a finished temporary file (or directory, mode 0o777) into place with the mode a new
    one would get: mkstemp and mkdtemp make private ones, and a store is read by other users."""
    os.chmod(tmp, mode & ~_umask())
    os.replace(tmp, path)


def _json_beside(path: Path, data: Any) -> str:
    """JSON written whole (flushed to disk) to a temporary file beside `path`; its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, default=json_default)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    tmp = _json_beside(path, data)
    try:
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_json(path: Path, data: Any) -> bool:
    """Write JSON to `path` only if nothing is there yet, whole: True when this call made the file,
    False when it existed. A complete temporary file is hard-linked to the name, which fails when
    the name exists (atomic also on NFS; several processes may race, as job-array shards do)."""
    path = Path(path)
    tmp = _json_beside(path, data)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def landed_genes(store_path: str | Path) -> set[str]:
    """Genes whose part has landed in a store's parts/ (a part is renamed into place whole; one in
    flight has a hidden name)."""
    parts = Path(store_path) / "parts"
    if not parts.is_dir():
        return set()
    return {p.name for p in parts.iterdir() if p.is_dir() and not p.name.startswith(".")}


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_parquet_atomic(
    path: Path, frame: pd.DataFrame, row_group_rows: int = 1 << 16, table_name: str | None = None
) -> None:
    """Write a DataFrame as Parquet through a temporary file and a rename; `table_name` gives its
    columns the declared types of that store table (compute/store/schemas.py)."""
    path = Path(path)
    table = arrow_table(table_name or "", frame)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp, row_group_size=row_group_rows, compression="zstd")
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
