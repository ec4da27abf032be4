"""The Ray backend on a real cluster: three Ray nodes on this machine (every address 127.0.0.1).
Its store is the local backend's, also when an actor's process is SIGKILLed mid-gene or a node
leaves mid-run (the lost gene runs again elsewhere). The unreachable address is in test_ray_errors.py."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from compute.cli import main
from compute.engine.models import save_weights, small_model
from compute.run.backends import RayBackend, RayResources
from compute.run.pipeline import precompute, store_status
from compute.run.queue import GeneQueue
from compute.store import ResultsStore
from compute.store.priority import ask_first
from tests.cohort_files import files_for, many_genes_cohort, read_store, settings_for

N_GENES = 9
RAY_LOG = "compute.run.backends"
# alone (scripts/pytest.sh): a cluster of three nodes on two cores, and no other Ray beside it
pytestmark = pytest.mark.serial


def test_a_gene_put_back_runs_next_after_the_asked_ones(tmp_path):
    queue = GeneQueue(["A", "B", "C", "D"], tmp_path)
    assert queue.pop() == "A"
    queue.push_front("C")  # C is still planned: it moves, it is not doubled
    assert [queue.pop(), len(queue)] == ["C", 2]
    queue.push_front("A")
    ask_first(tmp_path, "D")
    assert [queue.pop() for _ in range(len(queue))] == ["D", "A", "B"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    model = small_model(seed=4, window=2048, device="cpu", dim=24, depth=1, heads=1)
    return save_weights(model, tmp_path_factory.mktemp("w") / "tiny")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> dict:
    return many_genes_cohort(tmp_path_factory.mktemp("cohort"), n_genes=N_GENES)


@pytest.fixture(scope="module")
def local_store(tmp_path_factory, cohort, weights, one_torch_thread) -> dict[str, pd.DataFrame]:
    """The reference, on one torch thread as each actor of one CPU (Ray sets OMP_NUM_THREADS):
    the sums of a convolution split over two threads differ in the last bits."""
    out = tmp_path_factory.mktemp("local") / "store"
    precompute(files_for(cohort), settings_for(weights), out, progress=False)
    return read_store(out)


@pytest.fixture(scope="module")
def cluster():
    """A head that runs no gene (0 CPUs, as a head that only coordinates) and two worker nodes of
    one CPU each: one actor of --cpus-per-worker 1 on each, so every gene runs on a worker node."""
    import ray._private.ray_constants as ray_constants
    from ray._common.utils import reset_ray_address
    from ray.cluster_utils import Cluster

    with pytest.MonkeyPatch.context() as patch:
        # Ray turns 127.0.0.1 into this machine's outward address unless told it is on its own
        # (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read here and by every process a node starts).
        patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        patch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
        node = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 100 * 2**20}
        # the head asks each node's health every 0.5 s (Ray: 3 s), so that a removed node is found
        # dead after 5 failed asks in ~3 s instead of ~15; a live node's ask still waits Ray's timeout
        health = {"health_check_period_ms": 500, "health_check_initial_delay_ms": 1000}
        head = {**node, "num_cpus": 0, "include_dashboard": False, "_system_config": health}
        cluster = Cluster(initialize_head=True, head_node_args=head)
        try:
            reset_ray_address()  # so that another test's plain ray.init() starts its own Ray
            for _ in range(2):
                cluster.add_node(**node)
            cluster.wait_for_nodes()
            cluster.node_args = node
            yield cluster
        finally:
            cluster.shutdown()


def raylet_pid(node) -> int:
    return node.all_processes["raylet"][0].process.pid


def gene_running_on(nodes: list) -> tuple[int, object] | None:
    """(pid, node) of a Ray worker process of one of these nodes that runs a gene right now: Ray
    sets a worker's process title to the actor method it runs, and the node's raylet started it."""
    raylets = {raylet_pid(node): node for node in nodes}
    for entry in Path("/proc").iterdir():
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0]
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if title.startswith(b"ray::_RayWorker.run") and ppid in raylets:
            return int(entry.name), raylets[ppid]
    return None


class WhenAGeneRuns(threading.Thread):
    """Calls act(pid, node) once, as soon as a gene runs on one of these nodes; stop() ends the watch."""

    def __init__(self, nodes: list, act):
        super().__init__(daemon=True)
        self.nodes, self.act, self.acted, self.stopped = nodes, act, False, threading.Event()
        self.start()

    def run(self):
        while not self.stopped.is_set():
            found = gene_running_on(self.nodes)
            if found is not None:
                self.act(*found)
                self.acted = True
                return
            time.sleep(0.01)

    def stop(self) -> bool:
        self.stopped.set()
        self.join()
        return self.acted


def assert_same_store(a: dict[str, pd.DataFrame], path: Path) -> None:
    b = read_store(path)
    assert list(a) == list(b) and "genes.parquet" in a
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
    assert ResultsStore(path).failures() == {}


def on_cluster(cluster) -> RayBackend:
    return RayBackend(cluster.address, RayResources(cpus_per_worker=1))


def cohort_args(c: dict) -> list[str]:
    return [f"--{k}={c[k]}" for k in ("fasta", "vcf", "genes", "expression")] + ["--missing", "reference"]


@pytest.mark.slow
def test_a_cluster_run_gives_the_local_store(tmp_path, cluster, cohort, weights, local_store, capsys):
    out = tmp_path / "ray"
    code = main([
        "precompute", *cohort_args(cohort), "--weights", str(weights), "--out", str(out), "--track", "7",
        "--batch-size", "8", "--device", "cpu", "--null-draws", "20", "--seed", "1", "--no-predixcan",
        "--backend", "ray", "--ray-address", cluster.address, "--cpus-per-worker", "1",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert_same_store(local_store, out)
    manifest = ResultsStore(out).manifest
    assert manifest["ray"] == {"gpus_per_worker": 0.0, "cpus_per_worker": 1.0, "workers": 2}
    # `status` counts the genes of each node (the store's progress record)
    nodes = store_status(out)["run"]["nodes"]
    assert sum(nodes.values()) == len(ResultsStore(out).genes()) and all("/" in n for n in nodes)
    # The bar counts the genes of every node: its rate and time left (after the first gene) are the
    # cluster's, and it ends at all genes.
    shown = re.findall(r"(\d+)/(\d+) \[\d\d:\d\d<(\d\d:\d\d|\?), *([\d.]+|\?)(s/gene|gene/s)", err)
    assert shown and shown[-1][:2] == (str(N_GENES), str(N_GENES)), err
    assert any(0 < int(done) < N_GENES and left != "?" for done, _, left, _, _ in shown), err


@pytest.mark.slow
def test_each_node_is_told_apart(cluster, cohort, weights):
    """Three Ray nodes on one machine share a host name; the node id's first 8 hex digits differ."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    import compute
    from compute.run.backends import _RayWorker

    settings = settings_for(weights)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False,
             runtime_env={"py_modules": [str(Path(compute.__file__).parent)]})  # fmt: skip
    try:
        node_ids = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        assert len(node_ids) == 3
        actor_class = ray.remote(num_cpus=0)(_RayWorker)  # the head has no CPU to give
        actors = [
            actor_class.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote(
                files_for(cohort), replace(settings, window=2048)
            )
            for n in node_ids
        ]
        host = socket.gethostname()
        assert ray.get([a.ready.remote() for a in actors]) == [f"{host}/{n[:8]}" for n in node_ids]
        gene_id, result, error = ray.get(actors[2].run.remote("ENSG0003"))
        assert error is None and result.node == f"{host}/{node_ids[2][:8]}"
    finally:
        ray.shutdown()


def run_with_fault(cluster, cohort, weights, out: Path, caplog, fault, undo=None) -> bool:
    """A precompute on the cluster while `fault(pid, node)` strikes the first worker found running a
    gene; whether it struck. `undo()` after a strike, whatever the run did (the next test finds the
    cluster as it was)."""
    watch = WhenAGeneRuns(list(cluster.worker_nodes), fault)
    try:
        with caplog.at_level(logging.WARNING, logger=RAY_LOG):
            precompute(files_for(cohort), settings_for(weights), out, backend=on_cluster(cluster),
                       progress=False)  # fmt: skip
    finally:
        struck = watch.stop()
        if struck and undo is not None:
            undo()
    return struck


@pytest.mark.slow
def test_a_worker_killed_mid_gene_ends_in_the_same_store(
    tmp_path, cluster, cohort, weights, local_store, caplog
):
    out = tmp_path / "ray"
    kill = lambda pid, node: os.kill(pid, signal.SIGKILL)  # noqa: E731
    killed = run_with_fault(cluster, cohort, weights, out, caplog, kill)
    assert killed, "no gene ran on the cluster"
    assert "lost its Ray worker" in caplog.text and "running it again" in caplog.text
    assert_same_store(local_store, out)


@pytest.mark.slow
def test_a_node_removed_mid_run_ends_in_the_same_store(
    tmp_path, cluster, cohort, weights, local_store, caplog
):
    out = tmp_path / "ray"

    def add_back() -> None:  # the next test finds three nodes again
        cluster.add_node(**cluster.node_args)
        cluster.wait_for_nodes()

    removed = run_with_fault(
        cluster, cohort, weights, out, caplog, lambda pid, node: cluster.remove_node(node, False), add_back
    )
    assert removed, "no gene ran on the cluster"
    assert len(cluster.worker_nodes) == 2
    assert "lost its Ray worker" in caplog.text
    assert_same_store(local_store, out)


@pytest.mark.slow
def test_lost_genes_are_bounded_and_data_errors_are_not_retried(tmp_path, cluster):
    import ray

    from compute.run.backends import LOST_ATTEMPTS, _supervise, _Workers

    class Faulty:
        """Stands in for the model, not for Ray: dies on gene "dies" (as a gene that crashes its process
        would), reports a data error on "bad", and counts each run in a file per gene."""

        def __init__(self, runs: str):
            self.runs = runs

        def ready(self) -> str:
            return "ready"

        def run(self, gene_id: str):
            with open(Path(self.runs) / gene_id, "a") as fh:
                fh.write("x")
            if gene_id == "dies":
                os._exit(1)
            if gene_id == "bad":
                return gene_id, None, "ValueError: bad data"
            return gene_id, gene_id.upper(), None


    class NeverStarts:
        def __init__(self, runs: str):
            with open(Path(runs) / "started", "a") as fh:
                fh.write("x")
            raise RuntimeError("CUDA error: no kernel image")

        def ready(self) -> str:
            return "ready"

    # (defined here so that Ray ships them by value: the workers cannot import this test module)
    runs = tmp_path / "runs"
    runs.mkdir()
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    try:
        workers = _Workers(ray, ray.remote(num_cpus=1, max_restarts=0)(Faulty), (str(runs),), spares=6)
        for _ in range(2):
            workers.start()
        genes = ["a", "dies", "bad", "b", "c"]
        outcomes = {g: (result, error) for g, result, error in _supervise(ray, workers, GeneQueue(genes))}
        workers.stop()

        starts = tmp_path / "starts"
        starts.mkdir()
        never = _Workers(ray, ray.remote(num_cpus=1, max_restarts=0)(NeverStarts), (str(starts),), spares=2)
        never.start()
        unstarted = list(_supervise(ray, never, GeneQueue(["x", "y"])))
    finally:
        ray.shutdown()
    assert {g: outcomes[g] for g in ("a", "b", "c", "bad")} == {
        "a": ("A", None), "b": ("B", None), "c": ("C", None), "bad": (None, "ValueError: bad data")
    }  # fmt: skip
    result, error = outcomes["dies"]
    # (the driver may hear of the dead process before the cluster has marked the actor dead)
    lost = rf"lost its Ray worker {LOST_ATTEMPTS} times: Actor(Died|Unavailable)Error"
    assert result is None and re.match(lost, error), error
    assert {p.name: len(p.read_text()) for p in runs.iterdir()} == {"a": 1, "b": 1, "c": 1, "bad": 1,
                                                                     "dies": LOST_ATTEMPTS}  # fmt: skip
    # A worker that cannot start is replaced while spares last (2 here); then the genes left fail.
    assert (starts / "started").read_text() == "xxx"
    assert [g for g, _, _ in unstarted] == ["x", "y"]
    for _, result, error in unstarted:
        assert result is None and error.startswith("no Ray worker left to run it (ActorDiedError"), error
