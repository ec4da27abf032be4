"""The body of a dashboard job (compute/jobs): `python -m compute jobs run --board DIR JOB`.

A gene job computes its genes into the store's parts/ (compute/run/on_demand.py); a
precompute job runs the store's whole cohort again with the settings its manifest records,
which skips the genes already done and finalizes the store at the end. Progress goes to
the job's record; SIGTERM (cancel) stops it between two Python steps, dropping the gene in
flight whole.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

from compute.errors import InputError
from compute.jobs import Job, JobBoard
from compute.run.gene import format_error
from compute.store import ResultsStore
from compute.store.progress import run_active


def run_job(board_dir: str | Path, job_id: str) -> int:
    """Run one job of a board to its end; returns the process exit status."""
    board = JobBoard(board_dir)
    job = board.get(job_id)
    if job is None:
        print(f"{board_dir}: no job {job_id}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    state, error = "done", None
    try:
        if job.kind == "gene":
            _run_genes(board, job)
        else:
            _run_precompute(board, job)
    except InputError as err:
        state, error = "failed", str(err)
    except Exception as err:
        state, error = "failed", format_error(err)
    except BaseException:  # SIGTERM (cancelled) or Ctrl-C: the board says what happened
        _finish(board, job, "cancelled", None)
        raise
    _finish(board, job, state, error)
    board.tick()  # the next queued job of this device starts without waiting for a page
    return 0 if state == "done" else 1


def _stop(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _finish(board: JobBoard, job: Job, state: str, error: str | None) -> None:
    """Record the end, unless the job was cancelled or restarted meanwhile (not ours any more)."""
    with board.cache.transact():
        current = board.get(job.id)
        if current is None or current.state != "running" or current.pid != job.pid:
            return
        fraction = 1.0 if state == "done" else current.progress.get("fraction", 0.0)
        board.update(job.id, state=state, error=error, finished=time.time(),
                     progress={**current.progress, "stage": state, "fraction": fraction})  # fmt: skip


def _reporter(board: JobBoard, job: Job):
    def report(progress: dict[str, Any]) -> None:
        board.update(job.id, progress={**progress, "updated": time.time()})

    return report


def _run_genes(board: JobBoard, job: Job) -> None:
    from compute.run.on_demand import compute_genes

    store = ResultsStore(job.store)
    if run_active(store.path):
        raise InputError(f"{store.path}: a precompute is running on this store; it was asked to take "
                         f"{', '.join(job.genes)} next instead")  # fmt: skip
    outcome = compute_genes(store.path, job.genes, device=job.device, progress=_reporter(board, job))
    failed = {g: e for g, e in outcome.items() if e}
    if failed:
        raise InputError("; ".join(f"{g}: {e}" for g, e in failed.items()))


def _run_precompute(board: JobBoard, job: Job) -> None:
    from compute.run.on_demand import settings_from_manifest
    from compute.run.pipeline import precompute

    store = ResultsStore(job.store)
    report = _reporter(board, job)
    report({"stage": "checking the inputs", "fraction": 0.0})
    files, settings = settings_from_manifest(store, device=job.device)
    report({"stage": "computing genes (see the run's progress)", "fraction": 0.0})
    # every gene of the cohort's genes table, the ones done already skipped
    precompute(files, settings, store.path, genes=None, progress=False,
               command=f"dashboard job {job.id} (precompute of {store.path.name})")  # fmt: skip
