"""Claims of genes by the shards of a job array (`precompute --shard I/N`): several processes,
each maybe on its own node, write one store on a shared file system, and each gene is computed by
one of them at a time.

A claim is a file `claims/<gene_id>/<n>` holding the claimer's host, pid, shard and start time,
made by an atomic create: a complete temporary file hard-linked to that name, which fails when the
name exists (link is atomic on NFS too, where O_EXCL was not always). The latest attempt `n` is the
claim in force. A claim is taken over by creating attempt n + 1, so of two processes taking over
the same dead claim one wins, and a claim taken over cannot be taken over again by a process that
saw the older one. A claim is free to take over when its holder
- ran on this host and its pid is not alive, or
- has not refreshed it (its mtime, touched every HEARTBEAT_S while the gene runs) for LEASE_S:
  the only sign left of a process on another node that died. Node clocks must agree to well
  within the lease (NTP does).
A holder marks its claim finished when the gene is written (or recorded as failed), so no other
shard of the same array tries that gene again; `finalize` removes claims/, and a later run starts
afresh (failed genes are tried again, as a rerun of precompute does).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from compute.store import safe_gene_id, write_json_atomic
from compute.store.files import create_json
from compute.store.progress import pid_alive

CLAIMS_DIR = "claims"
LEASE_S = 600.0  # a claim not refreshed for 10 minutes is a dead holder's (a gene's own time does not count)
HEARTBEAT_S = 30.0  # how often a holder refreshes its claims, well inside the lease
FINALIZE = ".finalize"  # the claim of the shard that finalizes (not a gene ID: those never start with '.')


def shard_order(gene_ids: list[str], index: int, count: int) -> list[str]:
    """The planned genes as shard `index` of `count` takes them: from its own start in the list,
    wrapping round, so shards begin far apart and a fast one goes on into the others' share."""
    start = index * len(gene_ids) // count
    return gene_ids[start:] + gene_ids[:start]


class GeneClaims:
    """This process's claims on a store's genes, refreshed by a heartbeat thread until `close()`."""

    def __init__(self, store_path: str | Path, shard: str):
        self.dir = Path(store_path) / CLAIMS_DIR
        self.dir.mkdir(exist_ok=True)
        self.host, self.pid, self.shard = socket.gethostname(), os.getpid(), shard
        self.taken_over: list[str] = []  # genes whose dead holder's claim this process took
        self._held: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name="claims-heartbeat", daemon=True)
        self._heartbeat.start()

    def claim(self, gene_id: str) -> bool:
        """Claim a gene; False when another live process holds it or has finished it."""
        if gene_id in self._held:
            return True
        if gene_id != FINALIZE:
            safe_gene_id(gene_id)
        gene_dir = self.dir / gene_id
        gene_dir.mkdir(parents=True, exist_ok=True)
        latest = latest_claim(gene_dir)
        attempt = 1
        if latest is not None:
            attempt, record, mtime = latest
            if record.get("finished") or not (record.get("released") or claim_dead(record, mtime)):
                return False
            attempt += 1
        record = {"gene_id": gene_id, "host": self.host, "pid": self.pid, "shard": self.shard,
                  "started": time.time()}  # fmt: skip
        path = gene_dir / str(attempt)
        if not create_json(path, record):
            return False  # another process made this attempt first
        if latest is not None and not latest[1].get("released"):
            self.taken_over.append(gene_id)
        with self._lock:
            self._held[gene_id] = path
        return True

    def holds(self, gene_id: str) -> bool:
        """Whether this process's claim is still the one in force (not taken over meanwhile)."""
        path = self._held.get(gene_id)
        latest = None if path is None else latest_claim(path.parent)
        return latest is not None and path is not None and latest[0] == int(path.name)

    def finish(self, gene_id: str) -> None:
        """The gene is written (or recorded as failed): no shard of this run tries it again."""
        self._settle(gene_id, finished=time.time())

    def release(self, gene_id: str) -> None:
        """Give the gene back unfinished (this process stops): any shard may take it at once."""
        self._settle(gene_id, released=time.time())

    def close(self) -> None:
        """Give back the genes still held and stop the heartbeat."""
        for gene_id in list(self._held):
            self.release(gene_id)
        self._stop.set()

    def _settle(self, gene_id: str, **state: float) -> None:
        with self._lock:
            path = self._held.pop(gene_id, None)
        if path is None or not path.exists():
            return
        try:
            record = json.loads(path.read_text())
            write_json_atomic(path, {**record, **state})
        except (OSError, ValueError):  # claims/ removed by a finalize: nothing to mark
            pass

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                paths = list(self._held.values())
            for path in paths:
                try:
                    os.utime(path)
                except OSError:
                    pass


def latest_claim(gene_dir: Path) -> tuple[int, dict[str, Any], float] | None:
    """(attempt, record, mtime) of a gene's claim in force; None when it has none."""
    try:
        attempts = sorted((int(p.name) for p in gene_dir.iterdir() if p.name.isdigit()), reverse=True)
    except OSError:
        return None
    for attempt in attempts:
        path = gene_dir / str(attempt)
        try:
            mtime = os.stat(path).st_mtime
            record = json.loads(path.read_text())
        except (OSError, ValueError):  # removed meanwhile (a finalize)
            continue
        return attempt, record, mtime
    return None


def claim_dead(record: dict[str, Any], mtime: float) -> bool:
    """Whether a claim's holder is gone: a dead pid on this host, or no heartbeat for LEASE_S."""
    if record.get("host") == socket.gethostname() and not pid_alive(record.get("pid")):
        return True
    return time.time() - mtime > LEASE_S


def live_claims(store_path: str | Path, gene_ids: Iterable[str]) -> list[str]:
    """The genes among `gene_ids` that a live process is computing now."""
    claims = Path(store_path) / CLAIMS_DIR
    out = []
    for gene_id in gene_ids:
        latest = latest_claim(claims / gene_id)
        if latest is None:
            continue
        _, record, mtime = latest
        if not (record.get("finished") or record.get("released") or claim_dead(record, mtime)):
            out.append(gene_id)
    return out


def remove_claims(store_path: str | Path) -> None:
    """Forget every claim (at finalize: the array's run is over)."""
    shutil.rmtree(Path(store_path) / CLAIMS_DIR, ignore_errors=True)
