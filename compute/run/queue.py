"""The order genes run in: as planned, except genes asked for first (compute/store/priority.py),
which both backends take between genes; a job-array shard's genes are those it can claim."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from compute.store.claims import GeneClaims
from compute.store.priority import PRIORITY_FILE, read_priority


class GeneQueue:
    """Genes left to run; `pop()` gives the first asked-for gene still left, else the next planned.

    store_path None: a plain queue in the planned order (no file is read)."""

    def __init__(self, gene_ids: Sequence[str], store_path: str | Path | None = None):
        self._left = dict.fromkeys(gene_ids)  # ordered set
        self._priority_path = None if store_path is None else Path(store_path) / PRIORITY_FILE
        self._seen_mtime: int | None = None
        self._priority: list[str] = []

    def __len__(self) -> int:
        return len(self._left)

    def __bool__(self) -> bool:
        return bool(self._left)

    def pop(self) -> str:
        for gene_id in self._asked():
            if gene_id in self._left:
                del self._left[gene_id]
                return gene_id
        gene_id = next(iter(self._left))
        del self._left[gene_id]
        return gene_id

    def push_front(self, gene_id: str) -> None:
        """Put a gene back as the next planned one (a gene whose worker was lost runs again first;
        genes asked for in the priority file still come before it)."""
        left = dict.fromkeys([gene_id])
        left.update((g, None) for g in self._left if g != gene_id)
        self._left = left

    def _asked(self) -> list[str]:
        if self._priority_path is None:
            return []
        try:
            mtime = os.stat(self._priority_path).st_mtime_ns
        except OSError:
            return []
        if mtime != self._seen_mtime:  # re-read only when the file was replaced
            self._seen_mtime = mtime
            self._priority = read_priority(self._priority_path.parent)
        return self._priority


class ClaimingQueue(GeneQueue):
    """A job-array shard's genes (precompute --shard I/N): `pop()` gives only a gene this process
    has claimed (compute/store/claims.py), skipping genes landed meanwhile and genes another live
    shard holds or finished. Truth is tested by claiming the next gene, so the backends' loops
    (`while queue: queue.pop()`) stop when nothing is left to claim."""

    def __init__(self, gene_ids: Sequence[str], store_path: str | Path, claims: GeneClaims):
        super().__init__(gene_ids, store_path)
        self._parts = Path(store_path) / "parts"
        self._claims = claims
        self._next: str | None = None  # claimed, not popped yet

    def __len__(self) -> int:  # at most this many genes left to claim
        return len(self._left) + (self._next is not None)

    def __bool__(self) -> bool:
        return self._claim_next() is not None

    def pop(self) -> str:
        gene_id = self._claim_next()
        if gene_id is None:
            raise IndexError("no gene left to claim")
        self._next = None
        return gene_id

    def push_front(self, gene_id: str) -> None:
        if self._next is not None:  # still claimed by this process: it runs after `gene_id`
            super().push_front(self._next)
            self._next = None
        super().push_front(gene_id)

    def _claim_next(self) -> str | None:
        while self._next is None and self._left:
            gene_id = super().pop()
            if not (self._parts / gene_id).is_dir() and self._claims.claim(gene_id):
                self._next = gene_id
        return self._next
