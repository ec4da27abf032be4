"""Jobs the dashboard asks for (a gene computed on demand, a whole precompute of a store's
cohort), kept in a diskcache on disk so that they outlive a page reload and a server restart.

The web process only records jobs and starts `python -m compute jobs run JOB` processes (in
their own session, so they outlive the server); the job process imports the model, writes
into the store and reports its progress here. At most one job runs per device; later ones
queue. A job whose process vanished without finishing (killed, machine restarted) is started
again by the next `tick()`: it resumes, since a store never holds half a gene.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import diskcache

from compute.store.progress import pid_alive

KINDS = ("gene", "precompute")
ACTIVE = ("queued", "running")
MAX_ATTEMPTS = 3  # starts of one job (a vanished process is restarted at most twice)
SIZE_LIMIT = 64 * 1024**2  # the job records are small; old finished ones are evicted first
KEEP_FINISHED = 50


@dataclass
class Job:
    id: str
    kind: str  # "gene" or "precompute"
    store: str  # a results store directory given on the server's command line, never by a page
    genes: list[str] = field(default_factory=list)
    device: str = "auto"
    state: str = "queued"  # queued, running, done, failed, cancelled
    submitted: float = 0.0
    started: float | None = None
    finished: float | None = None
    pid: int | None = None
    attempts: int = 0
    progress: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class JobBoard:
    """The job records of one directory; every change is a diskcache transaction."""

    def __init__(self, directory: str | Path, runner: Sequence[str] | None = None):
        """runner: the command that runs one job, given `--board DIR JOB` (the dashboard names
        `python -m compute jobs run`); kept with the board, so that a job process that ends
        starts the next one the same way. A board opened without one only reads and updates."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.logs = self.directory / "logs"
        self.logs.mkdir(exist_ok=True)
        self.cache = diskcache.Cache(str(self.directory / "cache"), size_limit=SIZE_LIMIT)
        if runner is not None:
            self.cache.set("runner", [str(part) for part in runner])
        self._children: dict[int, subprocess.Popen] = {}  # job processes this process started

    # ----- records ------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        data = self.cache.get(f"job:{job_id}")
        return Job(**data) if isinstance(data, dict) else None

    def jobs(self, store: str | Path | None = None) -> list[Job]:
        """Jobs, oldest first (of one store when given)."""
        ids = self.cache.get("order", [])
        found = [job for job in map(self.get, ids) if job is not None]
        if store is not None:
            found = [job for job in found if job.store == str(Path(store).resolve())]
        return found

    def _put(self, job: Job) -> None:
        self.cache.set(f"job:{job.id}", asdict(job))

    def update(self, job_id: str, **fields: Any) -> Job | None:
        with self.cache.transact():
            job = self.get(job_id)
            if job is None:
                return None
            for key, value in fields.items():
                setattr(job, key, value)
            self._put(job)
            return job

    def submit(
        self, kind: str, store: str | Path, genes: list[str] | None = None, device: str = "auto"
    ) -> Job:
        """A new queued job, or the active one that already does the same; started by tick()."""
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}")
        genes, store = list(genes or []), Path(store).resolve()
        with self.cache.transact():
            for job in self.jobs(store):
                if job.active and job.kind == kind and (kind == "precompute" or job.genes == genes):
                    return job
            job = Job(uuid.uuid4().hex[:12], kind, str(store), genes, device, submitted=time.time())
            self._put(job)
            order = [*self.cache.get("order", []), job.id]
            self.cache.set("order", self._trim(order))
        self.tick()
        return self.get(job.id) or job

    def _trim(self, order: list[str]) -> list[str]:
        """Forget the oldest finished jobs beyond KEEP_FINISHED."""
        finished = [i for i in order if (job := self.get(i)) is not None and not job.active]
        drop = set(finished[: max(len(finished) - KEEP_FINISHED, 0)])
        for job_id in drop:
            self.cache.delete(f"job:{job_id}")
        return [i for i in order if i not in drop]

    def cancel(self, job_id: str) -> Job | None:
        """Stop a job: a queued one never starts; a running one's process group gets SIGTERM
        (the gene in flight is dropped whole: a store never holds half a gene)."""
        with self.cache.transact():
            job = self.get(job_id)
            if job is None or not job.active:
                return job
            if job.state == "running" and job.pid:
                _signal_group(job.pid, signal.SIGTERM)
            job.state, job.finished = "cancelled", time.time()
            self._put(job)
        self.tick()
        return self.get(job_id)

    # ----- running ------------------------------------------------------------------

    def tick(self) -> None:
        """Notice jobs whose process vanished (start them again, or fail them after MAX_ATTEMPTS)
        and start the first queued job of every device that runs none."""
        for pid, process in list(self._children.items()):  # collect the exited ones (no zombies)
            if process.poll() is not None:
                del self._children[pid]
        with self.cache.transact():
            jobs = self.jobs()
            for job in jobs:
                if job.state == "running" and not pid_alive(job.pid):
                    if job.attempts >= MAX_ATTEMPTS:
                        job.state, job.finished = "failed", time.time()
                        job.error = job.error or f"its process stopped {job.attempts} times without finishing"
                    else:
                        job.state, job.pid = "queued", None  # resumes where it stopped
                    self._put(job)
            busy = {job.device for job in jobs if job.state == "running"}
            for job in jobs:
                if job.state == "queued" and job.device not in busy:
                    self._start(job)
                    busy.add(job.device)

    def _start(self, job: Job) -> None:
        log = open(self.logs / f"{job.id}.log", "ab")  # noqa: SIM115 (the child keeps it open)
        runner = self.cache.get("runner")
        if not runner:
            raise RuntimeError(f"{self.directory}: no job runner recorded (open the board with runner=...)")
        command = [*runner, "--board", str(self.directory), job.id]
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=str(Path(__file__).resolve().parents[2]),
        )  # fmt: skip
        log.close()
        self._children[process.pid] = process
        job.state, job.pid, job.started = "running", process.pid, job.started or time.time()
        job.attempts += 1
        job.progress = {"stage": "starting", "fraction": job.progress.get("fraction", 0.0)}
        self._put(job)

    def log_tail(self, job_id: str, chars: int = 2000) -> str:
        path = self.logs / f"{Path(job_id).name}.log"
        try:
            with open(path, "rb") as handle:
                handle.seek(max(path.stat().st_size - chars, 0))
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the job process leads its own session and group
    except (ProcessLookupError, PermissionError):
        pass

