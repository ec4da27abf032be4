"""Genes a user asked for first: `priority.json` in a store, read by a running precompute
between genes (compute/run/queue.py) and written by the dashboard's "compute next"."""

from __future__ import annotations

import json
from pathlib import Path

from compute.store import safe_gene_id, write_json_atomic

PRIORITY_FILE = "priority.json"


def read_priority(store_path: str | Path) -> list[str]:
    """The asked-for genes, first asked first; [] when there is no file or it is unreadable
    (a half-written file cannot be seen: it is replaced atomically)."""
    try:
        genes = json.loads((Path(store_path) / PRIORITY_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [g for g in genes if isinstance(g, str)] if isinstance(genes, list) else []


def ask_first(store_path: str | Path, gene_id: str) -> list[str]:
    """Put `gene_id` at the front of the store's priority list; returns the new list."""
    safe_gene_id(gene_id)
    genes = [gene_id] + [g for g in read_priority(store_path) if g != gene_id]
    write_json_atomic(Path(store_path) / PRIORITY_FILE, genes)
    return genes
