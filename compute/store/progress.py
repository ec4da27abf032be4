"""`progress.json` of a store: what the precompute writing it is doing (genes done, failed and
left, rate, ETA, device, when it started, by which command, genes per node), rewritten
atomically after every gene, so that the dashboard and `status` can show a run as it goes."""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

from compute.store import write_json_atomic

PROGRESS_FILE = "progress.json"
ACTIVE_STATES = ("running", "finalizing")  # a process is writing the store


class RunProgress:
    """The record of one precompute run; `gene()` after each gene, `finish()` at the end."""

    def __init__(self, store_path: str | Path, *, planned: int, done: int, failed: int,
                 device: str, backend: str, command: str):  # fmt: skip
        self.path = Path(store_path) / PROGRESS_FILE
        self.started = time.time()
        self.record: dict[str, Any] = {
            "state": "running", "command": command, "device": device, "backend": backend,
            "host": socket.gethostname(), "pid": os.getpid(), "started": self.started,
            "planned": planned, "done": done, "failed": failed, "done_this_run": 0,
            "left": planned - done - failed, "rate_per_hour": None, "eta_s": None,
            "nodes": {}, "last_gene": None,
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
        write_json_atomic(self.path, self.record)


def read_progress(store_path: str | Path) -> dict[str, Any] | None:
    """The last run's record, with `state` 'stopped' when it says active but its process is gone."""
    try:
        record = json.loads((Path(store_path) / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    if record.get("state") in ACTIVE_STATES and record.get("host") == socket.gethostname():
        if not pid_alive(record.get("pid")):
            record["state"] = "stopped"
    return record


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
