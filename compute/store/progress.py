"""`progress.json` of a store: what the precompute writing it is doing (genes done, failed and
left, rate, ETA, device, when it started, by which command, genes per node), rewritten
atomically after every gene, so that the dashboard and `status` can show a run as it goes.

The shards of a job array (`precompute --shard I/N`) each write their own record,
`progress/shard-I-of-N.json` (no two writers of one file); `read_progress` merges them into one
record of the whole run, its genes done, failed and left counted from the store itself, and the
finalize at the end writes that merged record as `progress.json` and removes the shards' own."""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

from compute.store import write_json_atomic
from compute.store.files import landed_genes

PROGRESS_FILE = "progress.json"
SHARDS_DIR = "progress"  # the shards' own records
ACTIVE_STATES = ("running", "finalizing")  # a process is writing the store


class RunProgress:
    """The record of one precompute run; `gene()` after each gene, `finish()` at the end."""

    def __init__(self, store_path: str | Path, *, planned: int, done: int, failed: int,
                 device: str, backend: str, command: str, shard: tuple[int, int] | None = None):  # fmt: skip
        self.path = Path(store_path) / PROGRESS_FILE
        if shard is not None:
            self.path = Path(store_path) / SHARDS_DIR / f"shard-{shard[0]}-of-{shard[1]}.json"
        self.started = time.time()
        self.record: dict[str, Any] = {
            "state": "running", "command": command, "device": device, "backend": backend,
            "host": socket.gethostname(), "pid": os.getpid(), "started": self.started,
            "planned": planned, "done": done, "failed": failed, "done_this_run": 0,
            "left": planned - done - failed, "rate_per_hour": None, "eta_s": None,
            "nodes": {}, "last_gene": None, "shard": None if shard is None else f"{shard[0]}/{shard[1]}",
        }  # fmt: skip
        self._nodes: Counter[str] = Counter()
        self._write()

    def gene(self, gene_id: str, failed: bool, node: str = "") -> None:
        record = self.record
        record["failed" if failed else "done"] += 1
        record["done_this_run"] += 1
        record["left"] = max(record["planned"] - record["done"] - record["failed"], 0)
        elapsed = max(time.time() - self.started, 1e-9)
        rate = record["done_this_run"] / elapsed
        record["rate_per_hour"] = rate * 3600
        record["eta_s"] = record["left"] / rate if rate > 0 else None
        record["last_gene"] = gene_id
        if node:
            self._nodes[node] += 1
            record["nodes"] = dict(self._nodes)
        self._write()

    def state(self, state: str) -> None:
        self.record["state"] = state
        self._write()

    def finish(self, state: str = "finished") -> None:
        self.record.update(state=state, finished=time.time(), eta_s=None)
        self._write()

    def _write(self) -> None:
        self.record["updated"] = time.time()
        self.path.parent.mkdir(exist_ok=True)  # a shard's records folder, removed by a finalize
        write_json_atomic(self.path, self.record)


def read_progress(store_path: str | Path) -> dict[str, Any] | None:
    """The last run's record, with `state` 'stopped' when it says active but its process is gone:
    the shards' merged record while they are newer than progress.json, else progress.json."""
    record = _read_record(Path(store_path) / PROGRESS_FILE)
    shards = [r for p in _shard_files(store_path) if (r := _read_record(p)) is not None]
    if shards and (record is None or max(r.get("updated", 0) for r in shards) >= record.get("updated", 0)):
        return merge_shards(store_path, shards)
    return record


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if record.get("state") in ACTIVE_STATES and record.get("host") == socket.gethostname():
        if not pid_alive(record.get("pid")):
            record["state"] = "stopped"
    return record


def _shard_files(store_path: str | Path) -> list[Path]:
    return sorted((Path(store_path) / SHARDS_DIR).glob("shard-*.json"))


def merge_shards(store_path: str | Path, shards: list[dict[str, Any]]) -> dict[str, Any]:
    """One record of a job array's shards: running while any runs; genes done and failed counted in
    the store (each shard knows only its own); rates added up; genes per node and per shard."""
    store = Path(store_path)
    states = {r.get("state") for r in shards}
    state = next((s for s in (*ACTIVE_STATES, "stopped") if s in states), "finished")
    planned = max(int(r.get("planned") or 0) for r in shards)
    done = len(landed_genes(store))
    failed = len(list((store / "failed").glob("*.json")))
    left = max(planned - done - failed, 0)
    rate = sum(r.get("rate_per_hour") or 0 for r in shards if r.get("state") == "running") or None
    nodes: Counter[str] = Counter()
    for r in shards:
        nodes.update(r.get("nodes") or {})
    first = min(shards, key=lambda r: r.get("started", 0))
    last = max(shards, key=lambda r: r.get("updated", 0))
    return {
        "state": state, "command": f"{len(shards)} shard{'s' * (len(shards) > 1)}, such as: "
        f"{first.get('command')}",
        "device": ", ".join(sorted({str(r.get("device")) for r in shards})), "backend": first.get("backend"),
        "host": first.get("host"), "pid": None, "started": first.get("started"),
        "updated": last.get("updated"),
        "planned": planned, "done": min(done, planned), "failed": failed, "left": left,
        "done_this_run": sum(int(r.get("done_this_run") or 0) for r in shards),
        "rate_per_hour": rate, "eta_s": left / rate * 3600 if rate else None, "nodes": dict(nodes),
        "last_gene": last.get("last_gene"),
        "shards": [{k: r.get(k) for k in ("shard", "host", "pid", "state", "done_this_run")} for r in shards],
    }  # fmt: skip


def settle_shards(store_path: str | Path) -> None:
    """At the finalize of a job array: the shards' merged record becomes progress.json, finished,
    and their own records go (a later run of the store starts without them)."""
    files = _shard_files(store_path)
    shards = [r for p in files if (r := _read_record(p)) is not None]
    if not shards:
        return
    record = merge_shards(store_path, shards)
    now = time.time()
    record.update(state="finished", finished=now, updated=now, eta_s=None)
    write_json_atomic(Path(store_path) / PROGRESS_FILE, record)
    for path in files:
        path.unlink(missing_ok=True)


def run_active(store_path: str | Path) -> bool:
    """Whether a precompute is writing the store now (its record says so and its process lives)."""
    record = read_progress(store_path)
    return record is not None and record.get("state") in ACTIVE_STATES


def pid_alive(pid: object) -> bool:
    """Whether a process with this id runs on this machine."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an exited child its parent has not reaped yet still has a pid: state Z
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True
