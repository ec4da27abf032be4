"""Per-gene view data, computed once and shared by the threads of a server process and by all its
worker processes.

Two layers: a small LRU in this process's memory (bounded in bytes), in front of one diskcache
directory that every worker of a server opens (bounded by `size_limit`, the least recently
stored entries evicted first). A key says what its value was computed from; `Datasets.cached`
prefixes the store's path, its version tag and the dashboard code's hash, so a store that
changed (a gene landed, a finalize, a table rewritten) or a new version of the code is never
answered from old entries: they are simply never asked for again and age out.

While one thread or process computes a key, the others asking for it wait for its answer instead
of computing it again (a gene switch in the browser sends a dozen requests at once, which land
on different workers). A cache that no other process fills (`shared=False`: a server of one
process) needs no lock between processes and is written behind, by one thread, so a request
never waits for the disk. A cache that fails (a full disk, a locked database) only costs the
computation: a request never fails because of it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import diskcache
import numpy as np
import pandas as pd
from dash.development.base_component import Component

log = logging.getLogger(__name__)
T = TypeVar("T")
SIZE_LIMIT = 1 << 30  # bytes on disk, all workers together
MEMORY_LIMIT = 128 << 20  # bytes per process (an estimate: arrays, frames and strings counted)
LOCK_SECONDS = 10.0  # a worker that died while computing holds its key at most this long
WAIT_SECONDS = 5.0  # then the others compute it themselves
WRITE_BEHIND = 32  # values waiting for the disk at most (a busier moment skips writing the rest)
_MISSING = object()


# The code behind every view: the dashboard's and the compute layers it calls (the layers below
# compute.engine, tests/test_layers.py: errors, stats such as the LD of compute/stats/ld.py, cohort,
# store, jobs), so a fix to any of them is never answered from entries made before it.
DASHBOARD_CODE = ("components", "compute/__init__.py", "compute/errors.py", "compute/stats", "compute/cohort",
                  "compute/store", "compute/jobs")  # fmt: skip
ROOT = Path(__file__).resolve().parent.parent


def code_tag(root: Path = ROOT) -> str:
    """A hash of the code behind the views (DASHBOARD_CODE): an entry made by other code is never
    read back."""
    digest = hashlib.sha1()
    for part in DASHBOARD_CODE:
        path = root / part
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            digest.update(file.relative_to(root).as_posix().encode() + file.read_bytes())
    return digest.hexdigest()[:12]


def size_of(value: object, depth: int = 0) -> int:
    """A rough size in bytes, for the in-memory bound: numpy and pandas buffers and strings are
    counted, long containers from their first items, anything deeper or unknown as 1 KB (cheap:
    it runs on every value kept)."""
    if isinstance(value, np.ndarray):
        return value.nbytes if value.dtype != object else 64 * value.size
    if isinstance(value, pd.DataFrame | pd.Series):  # 16 bytes a cell, index too: numbers, short strings
        return 16 * (value.size + len(value.index)) + 100  # (nbytes of arrow strings is slow)
    if isinstance(value, str | bytes):
        return len(value) + 50
    if depth > 4 or isinstance(value, Component):  # a rendered card: a few KB
        return 1024
    if isinstance(value, dict):
        value = list(value.values())
    elif hasattr(value, "__dict__"):
        value = list(vars(value).values())
    if isinstance(value, list | tuple):  # a long one is measured on its first items
        head = value[:16]
        return 100 + sum(size_of(v, depth + 1) for v in head) * max(len(value), 1) // max(len(head), 1)
    return 64


class _Disk(diskcache.Disk):
    """diskcache's Disk, writing a value's file in one call: it hands `_write` a BytesIO, and
    iterating a BytesIO yields its lines, so a pickled figure or gene (0.3-0.7 MB of binary, a
    newline byte in every ~256) was written in thousands of small writes, a few ms of CPU each."""

    def _write(self, full_path, iterator, mode, encoding=None):
        if isinstance(iterator, io.BytesIO):
            iterator = [iterator.getvalue()]
        return super()._write(full_path, iterator, mode, encoding)


class ViewCache:
    """get(key, compute): the cached value of `key`, computed once by whoever asks first.

    `directory=None` keeps values in this process's memory only (tests, one-off scripts);
    `shared=False` where no other process uses the directory at the same time."""

    def __init__(
        self,
        directory: str | Path | None = None,
        size_limit: int = SIZE_LIMIT,
        memory_limit: int = MEMORY_LIMIT,
        shared: bool = True,
    ):
        self.directory = Path(directory) if directory is not None else None
        self.disk: diskcache.Cache | None = None
        if self.directory is not None:
            # 0700: the views are rendered from controlled-access data (diskcache would make it 0755)
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.disk = diskcache.Cache(str(self.directory), size_limit=size_limit, timeout=5, disk=_Disk)
        self.memory_limit = memory_limit
        self._memory: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._memory_bytes = 0
        self._lock = threading.Lock()
        self._computing: dict[str, list] = {}  # key -> [its lock, threads holding or waiting]
        self.counts = {"memory": 0, "disk": 0, "computed": 0}
        self.shared = shared
        self._pending: queue.Queue | None = None  # (key, value) to write behind, when not shared

    def after_fork(self) -> None:
        """In a forked process: its own locks and writer thread (a thread does not survive a fork)."""
        self._lock = threading.Lock()
        self._computing = {}
        self._pending = None

    def get(self, key: Sequence, compute: Callable[[], T], *, disk: bool = True, wait: bool = True) -> T:
        """The value of `key`; `disk=False` for values only worth keeping in this process (large
        and quick to remake from other cached values, or not picklable); `wait=False` for values
        one request asks for (a rendered view): other processes do not wait for it, and it is
        written behind."""
        name = "|".join(map(str, key))
        found = self._remembered(name)
        if found is _MISSING and disk:
            found = self._read(name)
        if found is not _MISSING:
            return found
        with self._key_lock(name):  # one thread of this process computes it
            found = self._remembered(name)
            if found is _MISSING and disk and self.disk is not None and self.shared and wait:
                with self._process_lock(name):  # and one process of the server
                    found = self._read(name)
                    if found is _MISSING:
                        found = self._compute(name, compute)
                        self._write(name, found)
            elif found is _MISSING and disk and self.disk is not None:
                found = self._compute(name, compute)
                self._write_behind(name, found)
            elif found is _MISSING:
                found = self._compute(name, compute)
            self._remember(name, found)
            return found

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until the values written behind are on disk (tests; a server never needs to)."""
        deadline = time.monotonic() + timeout
        while self._pending is not None and self._pending.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()
            self._memory_bytes = 0

    # ----- memory ---------------------------------------------------------------------

    def _remembered(self, name: str) -> object:
        with self._lock:
            entry = self._memory.get(name)
            if entry is None:
                return _MISSING
            self._memory.move_to_end(name)
            self.counts["memory"] += 1
            return entry[0]

    def _remember(self, name: str, value: object) -> None:
        size = size_of(value)
        if size > self.memory_limit // 4:
            return  # one value never takes most of the budget
        with self._lock:
            old = self._memory.pop(name, None)
            if old is not None:
                self._memory_bytes -= old[1]
            self._memory[name] = (value, size)
            self._memory_bytes += size
            while self._memory_bytes > self.memory_limit and self._memory:
                _, (_, dropped) = self._memory.popitem(last=False)
                self._memory_bytes -= dropped

    def _key_lock(self, name: str) -> _KeyLock:
        return _KeyLock(self, name)

    def _compute(self, name: str, compute: Callable[[], T]) -> T:
        value = compute()
        with self._lock:
            self.counts["computed"] += 1
        return value

    # ----- disk -----------------------------------------------------------------------

    def _read(self, name: str) -> object:
        if self.disk is None:
            return _MISSING
        try:
            found = self.disk.get(name, default=_MISSING, retry=True)
        except Exception:  # a cache that fails only costs the computation
            log.warning("view cache: cannot read %.120s", name, exc_info=True)
            return _MISSING
        if found is not _MISSING:
            with self._lock:
                self.counts["disk"] += 1
            self._remember(name, found)
        return found

    def _write(self, name: str, value: object) -> None:
        try:
            self.disk.set(name, value, retry=True)
        except Exception:
            log.warning("view cache: cannot keep %.120s", name, exc_info=True)

    def _write_behind(self, name: str, value: object) -> None:
        with self._lock:
            if self._pending is None:
                self._pending = queue.Queue(WRITE_BEHIND)
                threading.Thread(target=self._writer, name="view-cache-writer", daemon=True).start()
        try:
            self._pending.put_nowait((name, value))
        except queue.Full:
            pass  # computed again if it is asked for once memory forgot it

    def _writer(self) -> None:
        while True:
            name, value = self._pending.get()
            try:
                self._write(name, value)
            finally:
                self._pending.task_done()

    def _process_lock(self, name: str) -> _ProcessLock:
        return _ProcessLock(self.disk, f"lock|{name}")


class _KeyLock:
    """A lock per key among the threads of this process (dropped when nobody holds it)."""

    def __init__(self, cache: ViewCache, name: str):
        self.cache, self.name = cache, name

    def __enter__(self) -> None:
        with self.cache._lock:
            self.entry = self.cache._computing.setdefault(self.name, [threading.Lock(), 0])
            self.entry[1] += 1
        self.entry[0].acquire()

    def __exit__(self, *_) -> None:
        self.entry[0].release()
        with self.cache._lock:
            self.entry[1] -= 1
            if self.entry[1] == 0:
                del self.cache._computing[self.name]


class _ProcessLock:
    """A lock per key among processes: an entry added atomically, expiring after LOCK_SECONDS;
    waited for at most WAIT_SECONDS (then the waiter computes the value itself)."""

    def __init__(self, disk: diskcache.Cache, key: str):
        self.disk, self.key, self.held = disk, key, False

    def __enter__(self) -> None:
        deadline, pause = time.monotonic() + WAIT_SECONDS, 0.002
        while True:
            try:
                self.held = self.disk.add(self.key, os.getpid(), expire=LOCK_SECONDS, retry=True)
                if self.held or time.monotonic() > deadline:
                    return
                # while another process holds it: look (a read), do not try again (a write)
                while self.key in self.disk and time.monotonic() < deadline:
                    time.sleep(pause)
                    pause = min(2 * pause, 0.016)
            except Exception:
                return

    def __exit__(self, *_) -> None:
        if self.held:
            try:
                self.disk.delete(self.key, retry=True)
            except Exception:
                log.warning("view cache: cannot release %.120s", self.key, exc_info=True)
