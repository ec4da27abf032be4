"""A job array's shards (`precompute --shard I/N`) writing one store at once: the same tables as one
process, each gene computed once, dead claims taken over, `--finalize` only once every gene is done."""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from compute.run.pipeline import store_status
from compute.store import ResultsStore
from compute.store.claims import LEASE_S, latest_claim
from compute.store.progress import read_progress, run_active
from tests.cohort_files import many_genes_cohort, read_store
from tests.test_pipeline import ROOT, cohort_args, precompute_args, run_cli

# One torch thread per process: small convolutions run fastest so, and shards share the cores (as
# on a node of a job array, where each task gets its own).
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
SOME = ["ENSG0003", "ENSG0005", "ENSG0007", "ENSG0010"]  # the genes of the takeover test


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> dict:
    return many_genes_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.fixture(scope="module")
def whole(cohort, tiny_weights, tmp_path_factory) -> Path:
    """The store one process writes."""
    out = tmp_path_factory.mktemp("whole") / "store"
    result = run_cli(*precompute_args(cohort, tiny_weights, out), env=ENV)
    assert result.returncode == 0, result.stderr
    return out


def start_shard(cohort: dict, weights: Path, out: Path, shard: str, *options: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "compute", *precompute_args(cohort, weights, out), "--shard", shard, *options],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip


def assert_same_store(a: Path, b: Path) -> None:
    tables_a, tables_b = read_store(a), read_store(b)
    assert list(tables_a) == list(tables_b) and "genes.parquet" in tables_a
    for name in tables_a:
        pd.testing.assert_frame_equal(tables_a[name], tables_b[name], check_exact=True)


def genes_computed(store: Path) -> int:
    """Genes computed by all shards together, as their progress records count them."""
    return sum((read_progress(store) or {}).get("nodes", {}).values())


@pytest.mark.slow
def test_three_shards_at_once_give_the_store_of_one_process(cohort, tiny_weights, whole, tmp_path):
    out = tmp_path / "sharded"
    procs = [start_shard(cohort, tiny_weights, out, f"{i}/3") for i in range(3)]
    results = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, stderr) in zip(procs, results, strict=True):
        assert proc.returncode == 0, stderr
    assert_same_store(whole, out)
    assert genes_computed(out) == 12  # each gene once: no gene computed by two shards
    record = read_progress(out)
    assert record["state"] == "finished" and record["done"] == 12 and record["left"] == 0
    assert store_status(out)["finalized"]
    assert not (out / "claims").exists() and not list((out / "progress").glob("*.json"))
    # The array's finalize job, after the last shard finalized: nothing to do, nothing rewritten.
    written = (out / "genes.parquet").stat().st_mtime_ns
    finalize = run_cli("precompute", "--finalize", str(out))
    assert finalize.returncode == 0 and "12 of 12 genes done" in finalize.stdout
    assert (out / "genes.parquet").stat().st_mtime_ns == written


def write_claim(store: Path, gene_id: str, host: str, pid: int, age_s: float = 0.0) -> None:
    path = store / "claims" / gene_id / "1"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"gene_id": gene_id, "host": host, "pid": pid, "shard": "0/3", "started": 0}))
    then = time.time() - age_s
    os.utime(path, (then, then))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: its pid names no process (until reused, which a test run does not reach)
    return proc.pid


@pytest.mark.slow
def test_dead_claims_are_taken_over_and_finalize_waits_for_every_gene(cohort, tiny_weights, whole, tmp_path):
    out = tmp_path / "store"
    write_claim(out, "ENSG0003", socket.gethostname(), dead_pid())  # a process of this host that died
    write_claim(out, "ENSG0007", "node-elsewhere", 4242, age_s=2 * LEASE_S)  # no heartbeat for 2 leases
    write_claim(out, "ENSG0010", "node-elsewhere", 4242)  # alive elsewhere: its heartbeat is fresh

    proc = start_shard(cohort, tiny_weights, out, "1/3", "--gene", *SOME)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert genes_computed(out) == 3 and not (out / "parts" / "ENSG0010").exists()
    for gene_id in ("ENSG0003", "ENSG0007"):
        attempt, record, _ = latest_claim(out / "claims" / gene_id)
        assert attempt == 2 and record["pid"] == proc.pid and record["finished"]
    assert not store_status(out)["finalized"]  # one gene is still held by a live shard

    finalize = run_cli("precompute", "--finalize", str(out))
    assert finalize.returncode == 2 and "Traceback" not in finalize.stderr
    assert finalize.stderr.count("\n") == 1
    assert "1 of 4 genes not done yet (1 being computed by shards now; first: ENSG0010)" in finalize.stderr
    assert not ResultsStore(out).has_table("genes")

    # The shard elsewhere lands its gene and ends; then --finalize finishes the store.
    shutil.copytree(whole / "parts" / "ENSG0010", out / "parts" / "ENSG0010")
    claim = out / "claims" / "ENSG0010" / "1"
    claim.write_text(json.dumps({**json.loads(claim.read_text()), "finished": time.time()}))
    finalize = run_cli("precompute", "--finalize", str(out))
    assert finalize.returncode == 0, finalize.stderr
    assert "4 of 4 genes done, 0 failed, 0 left" in finalize.stdout
    assert not (out / "claims").exists()
    for name in ("people", "variants", "null"):  # per-gene tables: as one process computed them
        expected = pd.read_parquet(whole / f"{name}.parquet", filters=[("gene_id", "in", SOME)])
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{name}.parquet"), expected, check_exact=True)


@pytest.mark.parametrize("shard", ["--shard=3/3", "--shard=-1/2", "--shard=x", "--shard=1/0"])
def test_bad_shard_values_are_refused_in_one_line(cohort, tiny_weights, tmp_path, shard):
    result = run_cli("precompute", *cohort_args(cohort), "--weights", str(tiny_weights),
                     "--out", str(tmp_path / "s"), shard)  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: --shard {shard.split('=')[1]}: expected I/N")
    assert not (tmp_path / "s").exists()


def test_a_manifest_created_by_many_processes_at_once_is_made_once(tmp_path):
    made, errors = [], []
    manifest = {"model": {"name": "m"}, "genes": ["A"]}

    def create(k: int) -> None:
        try:
            made.append(ResultsStore.create(tmp_path / "s", manifest).manifest)
        except Exception as err:  # collected: a thread's exception would not fail the test
            errors.append(err)

    threads = [threading.Thread(target=create, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(made) == 8
    assert all(m == made[0] for m in made)
    assert not [p for p in (tmp_path / "s").iterdir() if p.name.startswith(".manifest")]


def test_the_shards_progress_records_read_as_one_run(tmp_path):
    """status and the dashboard read one record of the whole array: genes counted in the store."""
    for gene_id in ("A", "B", "C"):
        (tmp_path / "parts" / gene_id).mkdir(parents=True)
    (tmp_path / "parts" / ".D.tmp").mkdir()  # a gene being written: not done yet
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "E.json").write_text(json.dumps({"gene_id": "E", "error": "boom"}))
    (tmp_path / "progress").mkdir()
    host, now = socket.gethostname(), time.time()

    def shard(index: int, state: str, pid: int, rate: float, done: int) -> None:
        record = {"state": state, "host": host, "pid": pid, "shard": f"{index}/2", "planned": 10,
                  "done": done, "failed": 0, "done_this_run": done, "rate_per_hour": rate,
                  "nodes": {f"{host} (shard {index}/2)": done}, "started": now, "updated": now,
                  "command": "precompute --shard", "device": "cpu", "backend": "local"}  # fmt: skip
        (tmp_path / "progress" / f"shard-{index}-of-2.json").write_text(json.dumps(record))

    shard(0, "running", os.getpid(), 100.0, 2)
    shard(1, "finished", dead_pid(), 50.0, 2)
    record = read_progress(tmp_path)
    assert record["state"] == "running" and run_active(tmp_path)
    assert (record["planned"], record["done"], record["failed"], record["left"]) == (10, 3, 1, 6)
    assert record["rate_per_hour"] == 100.0 and record["eta_s"] == pytest.approx(6 / 100 * 3600)
    assert sum(record["nodes"].values()) == 4 and len(record["shards"]) == 2

    shard(0, "running", dead_pid(), 100.0, 2)  # killed: its record still says running
    assert read_progress(tmp_path)["state"] == "stopped" and not run_active(tmp_path)
