"""Genes computed on demand into a store (compute/run/on_demand.py), the live store that shows
them before a finalize, the gene queue a dashboard can reorder, and the job board."""

from __future__ import annotations

import os
import shlex
import shutil
import sys

import pandas as pd
import pytest

from compute.errors import InputError
from compute.jobs import JobBoard
from compute.run.on_demand import compute_genes, settings_from_manifest
from compute.run.pipeline import precompute, store_status
from compute.run.queue import GeneQueue
from compute.stats import cohort_statistics
from compute.store import ResultsStore
from compute.store.inputs import input_problems
from compute.store.priority import ask_first, read_priority
from compute.store.progress import read_progress, run_active
from tests.cohort_files import files_for, settings_for, simulated_cohort
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> dict:
    return simulated_cohort(tmp_path_factory.mktemp("cohort"), seed=5, n_people=10)


@pytest.fixture(scope="module")
def full_store(cohort, tiny_weights, tmp_path_factory) -> ResultsStore:
    return precompute(files_for(cohort), settings_for(tiny_weights), tmp_path_factory.mktemp("a") / "s",
                      progress=False)  # fmt: skip


def test_a_gene_on_demand_equals_the_same_gene_from_precompute(cohort, tiny_weights, full_store, tmp_path):
    out = tmp_path / "store"
    precompute(files_for(cohort), settings_for(tiny_weights), out, genes=["G1", "G2"], progress=False)
    store = ResultsStore(out)
    assert not store.provisional and store.done_genes() == {"G1", "G2"}
    stages = []
    outcome = compute_genes(out, ["G3"], device="cpu", batch_size=8, progress=stages.append)
    assert outcome == {"G3": None}
    assert [s["stage"] for s in stages if s.get("gene") == "G3"] == [
        "haplotypes", "forwards", "ISM", "gradients", "statistics",
    ]  # fmt: skip
    assert stages[-1]["fraction"] == 1.0 and "finalizing the store" in [s["stage"] for s in stages]
    # the same numbers as precompute gives for that gene: exact (same code, device, batch size)
    for name in ("people", "variants", "null", "genotypes"):
        expected = pd.read_parquet(full_store.path / "parts" / "G3" / f"{name}.parquet")
        pd.testing.assert_frame_equal(pd.read_parquet(out / "parts" / "G3" / f"{name}.parquet"), expected)
    # then the store is finalized: its tables, read with pandas, hold every gene, with the cross-gene
    # columns over all three, as one precompute of the three leaves them
    store = ResultsStore(out)
    assert not store.live() and not store.provisional and store.manifest["finalized"]
    for name in ("genes", "people", "variants", "null"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"),
                                      pd.read_parquet(full_store.path / f"{name}.parquet"))  # fmt: skip
    status = store_status(out)
    assert (status["done"], status["planned"], status["left"]) == (3, 3, [])
    genes = store.genes().set_index("gene_id")
    expected = full_store.genes().set_index("gene_id")
    assert sorted(genes.index) == ["G1", "G2", "G3"]
    pd.testing.assert_series_equal(genes["q_bh"], expected["q_bh"])
    assert len(store.people("G3")) == 10 and store.genotypes("G3") is not None
    assert set(store.drivers()["gene_id"]) == set(full_store.drivers()["gene_id"])
    # a precompute with nothing left to compute finalizes: the same store as one run of all genes
    precompute(files_for(cohort), settings_for(tiny_weights), out, progress=False)
    store = ResultsStore(out)
    assert not store.provisional and read_progress(out)["state"] == "finished"
    for name in ("genes", "people", "variants", "null"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"),
                                      pd.read_parquet(full_store.path / f"{name}.parquet"))  # fmt: skip


def test_a_store_without_parts_gets_a_gene_and_keeps_the_others(cohort, tiny_weights, full_store, tmp_path):
    """A store shipped or copied with its tables only (parts/ is a work folder, not part of the
    results): a gene added on demand lands, and the finalize keeps the genes it had."""
    out = tmp_path / "store"
    precompute(files_for(cohort), settings_for(tiny_weights), out, genes=["G1", "G2"], progress=False)
    shutil.rmtree(out / "parts")
    store = ResultsStore(out)
    assert store.done_genes() == {"G1", "G2"} and not store.provisional
    assert compute_genes(out, ["G3"], device="cpu", batch_size=8) == {"G3": None}
    store = ResultsStore(out)
    assert store.done_genes() == {"G1", "G2", "G3"} and not store.provisional
    for name in ("genes", "people", "variants", "null"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"),
                                      pd.read_parquet(full_store.path / f"{name}.parquet"))  # fmt: skip
    assert store.genotypes("G1") is not None and store.genotypes("G3") is not None
    status = store_status(out)
    assert (status["done"], status["planned"], status["left"]) == (3, 3, [])


def test_settings_come_from_the_manifest_and_inputs_are_checked(cohort, tiny_weights, full_store, tmp_path):
    files, settings = settings_from_manifest(full_store, device="cpu", batch_size=8)
    assert files == files_for(cohort)
    expected = settings_for(tiny_weights)
    assert settings.model.track == expected.model.track and settings.stats == expected.stats
    assert settings.window == full_store.manifest["settings"]["window"]
    # an input changed: a clear message naming it, before any work
    moved = tmp_path / "moved"
    shutil.copytree(full_store.path, moved)
    store = ResultsStore(moved)
    expression = store.resolve(store.manifest["inputs"]["expression"]["path"])
    original = expression.read_bytes()
    try:
        expression.write_bytes(original.replace(b"\t", b"\t ", 1))
        assert any("expression" in p and "size differs" in p for p in input_problems(store, full=False))
        with pytest.raises(InputError, match="expression.*changed"):
            compute_genes(moved, ["G1"], device="cpu")
        expression.write_bytes(original[:-1] + (b"0" if original[-1:] != b"0" else b"1"))  # same size
        assert input_problems(store, full=False) == []  # the quick check sees nothing ...
        assert any("sha256 differs" in p for p in input_problems(store, full=True))  # ... the full one does
    finally:
        expression.write_bytes(original)
    assert input_problems(store) == []


def test_live_store_stats_are_provisional_cohort_statistics(full_store, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(full_store.path, copy)
    store = ResultsStore(copy)
    assert not store.provisional
    for name in ("genes", "people", "variants", "null", "drivers"):
        (copy / f"{name}.parquet").unlink()  # as while a precompute runs: parts only
    assert store.provisional and store.live().ids == ["G1", "G2", "G3"]
    genes = store.genes()
    parts = pd.concat([pd.read_parquet(copy / "parts" / g / "genes.parquet") for g in ("G1", "G2", "G3")])
    expected = cohort_statistics(parts.reset_index(drop=True), convention="published")
    pd.testing.assert_series_equal(genes["q_bh"], expected["q_bh"].reset_index(drop=True))
    # a half-written part (a temporary directory) is never read
    (copy / "parts" / ".G4.tmp123").mkdir()
    assert ResultsStore(copy).live().ids == ["G1", "G2", "G3"]


def test_the_gene_queue_takes_asked_genes_first(tmp_path):
    queue = GeneQueue(["a", "b", "c", "d"], tmp_path)
    assert queue.pop() == "a"
    ask_first(tmp_path, "d")
    ask_first(tmp_path, "zzz")  # not in the run: ignored by the queue
    assert read_priority(tmp_path) == ["zzz", "d"]
    assert queue.pop() == "d" and queue.pop() == "b" and queue.pop() == "c" and not queue
    with pytest.raises(InputError):
        ask_first(tmp_path, "../etc")
    (tmp_path / "priority.json").write_text("{broken")
    assert read_priority(tmp_path) == [] and GeneQueue(["x"], tmp_path).pop() == "x"


def test_job_board_runs_one_job_per_device_and_requeues_a_vanished_one(tmp_path):
    # a stand-in interpreter that sleeps: the board's bookkeeping, not the compute, is tested here
    sleeper = tmp_path / "sleeper"
    sleeper.write_text("#!/bin/sh\nsleep 30\n")
    sleeper.chmod(0o755)
    board = JobBoard(tmp_path / "board", runner=[str(sleeper)])
    first = board.submit("gene", tmp_path, ["G1"], device="cpu")
    second = board.submit("gene", tmp_path, ["G2"], device="cpu")
    other = board.submit("gene", tmp_path, ["G3"], device="cuda:0")
    assert board.submit("gene", tmp_path, ["G1"], device="cpu").id == first.id  # the same job, once
    states = {j.id: j.state for j in board.jobs()}
    assert states == {first.id: "running", second.id: "queued", other.id: "running"}
    # the first job's process vanishes: the next tick starts it again (it resumes) before the queue
    import os
    import signal

    os.killpg(board.get(first.id).pid, signal.SIGKILL)

    def restarted():
        board.tick()
        return board.get(first.id).attempts >= 2

    wait_until(restarted, "a tick of the board to start the vanished job again", timeout=10)
    assert board.get(first.id).state == "running" and board.get(first.id).attempts == 2
    assert board.get(second.id).state == "queued"
    board.cancel(first.id)
    assert board.get(first.id).state == "cancelled" and board.get(second.id).state == "running"
    # a reopened board (a restarted server) sees the same jobs
    again = JobBoard(tmp_path / "board", runner=[str(sleeper)])
    assert [j.id for j in again.jobs()] == [first.id, second.id, other.id]
    for job in (second, other):
        again.cancel(job.id)
    assert {j.state for j in again.jobs()} == {"cancelled"}


def test_a_precompute_takes_genes_asked_for_first(cohort, tiny_weights, tmp_path):
    out = tmp_path / "store"
    out.mkdir()
    ask_first(out, "G3")  # as the dashboard's "Compute this gene" does while a run goes on
    precompute(files_for(cohort), settings_for(tiny_weights), out, progress=False)
    landed = sorted(["G1", "G2", "G3"], key=lambda g: (out / "parts" / g).stat().st_mtime_ns)
    assert landed == ["G3", "G1", "G2"]
    record = read_progress(out)
    assert record["state"] == "finished" and record["done"] == 3 and record["last_gene"] == "G2"
    assert record["command"] == shlex.join(sys.argv)  # the command line of the process that ran it


def test_a_run_whose_process_died_is_not_active(tmp_path):
    import json
    import socket
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that no longer runs
    for state in ("running", "finalizing"):
        record = {"state": state, "host": socket.gethostname(), "pid": gone.pid}
        (tmp_path / "progress.json").write_text(json.dumps(record))
        assert read_progress(tmp_path)["state"] == "stopped" and not run_active(tmp_path)
    record["pid"] = os.getpid()
    (tmp_path / "progress.json").write_text(json.dumps(record))
    assert run_active(tmp_path)
