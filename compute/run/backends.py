"""Where genes run: in this process (`local`) or on a Ray cluster (`ray`).

Both yield `(gene_id, GeneResult | None, error | None)` as genes finish; the
caller writes results, so the store has a single writer whatever the backend.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from compute.errors import InputError
from compute.run.gene import CohortFiles, GeneResult, GeneWorker, RunSettings, format_error

if TYPE_CHECKING:
    from compute.engine.model import Model

Outcome = tuple[str, GeneResult | None, str | None]


def run_genes(
    files: CohortFiles,
    settings: RunSettings,
    gene_ids: Sequence[str],
    backend: str = "local",
    ray_address: str | None = None,
    model: Model | None = None,
    stats_workers: int = 0,
) -> Iterator[Outcome]:
    """model: an already loaded model for the local backend (Ray actors load their own);
    stats_workers: processes that compute the local backend's statistics while the model
    goes on (0: in this process, after each gene's model work)."""
    if not gene_ids:
        return iter(())
    if backend == "local":
        return run_local(files, settings, gene_ids, model, stats_workers)
    if backend == "ray":
        return run_ray(files, settings, gene_ids, ray_address)
    raise InputError(f"unknown backend {backend!r}: expected 'local' or 'ray'")


def run_local(
    files: CohortFiles,
    settings: RunSettings,
    gene_ids: Sequence[str],
    model: Model | None = None,
    stats_workers: int = 0,
) -> Iterator[Outcome]:
    worker = GeneWorker(files, settings, model)
    if stats_workers <= 0:
        for gene_id in gene_ids:
            yield _run_one(worker, gene_id)
        return
    from compute.run.statistics import StatisticsPool

    cohort = worker.cohort
    with StatisticsPool(stats_workers) as pool:
        for gene_id in gene_ids:
            try:
                outputs = worker.model_outputs(gene_id)
            except Exception as err:  # one gene's failure is recorded; the others go on
                yield gene_id, None, format_error(err)
                continue
            pool.submit(gene_id, outputs, cohort.observed(gene_id), cohort.people, settings.stats)
            yield from pool.ready()
        yield from pool.drain()


def _run_one(worker: GeneWorker, gene_id: str) -> Outcome:
    try:
        return gene_id, worker.run(gene_id), None
    except Exception as err:  # one gene's failure is recorded; the others go on
        return gene_id, None, format_error(err)


class _RayWorker:
    """A GeneWorker living in a Ray actor: the model is loaded once per actor."""

    def __init__(self, files: CohortFiles, settings: RunSettings):
        self.worker = GeneWorker(files, settings)

    def run(self, gene_id: str) -> Outcome:
        return _run_one(self.worker, gene_id)


def probe_ray_address(address: str | None, timeout: float = 5.0) -> None:
    """InputError within seconds when nothing listens at a Ray cluster's HOST:PORT (ray.init
    itself waits about 30 s and then raises a traceback). 'auto' and no address are left to Ray."""
    if address in (None, "", "auto", "local") or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise InputError(f"--ray-address {address!r}: expected HOST:PORT of a running Ray cluster's head")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as err:
        raise InputError(
            f"--ray-address {address}: no Ray cluster answers there ({err.strerror or err}); start one "
            "with `ray start --head` on the head node, or check the address it printed"
        ) from None


def check_ray_cluster(ray, files: CohortFiles, settings: RunSettings) -> None:
    """Before the first gene: the cluster has the resources asked for, and every node reads the
    cohort's files at the same paths (one tiny task pinned to each node)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    resources = ray.cluster_resources()
    if str(settings.model.device).startswith("cuda") and not resources.get("GPU"):
        raise InputError(f"--device {settings.model.device}: the Ray cluster has no GPU (resources: "
                         f"{int(resources.get('CPU', 0))} CPUs)")  # fmt: skip
    paths = [str(Path(p).resolve()) for p in (files.fasta, files.vcf, files.genes, files.expression)]
    paths.append(str(Path(settings.model.weights).resolve()))

    @ray.remote(num_cpus=0)
    def unreadable(candidates: list[str]) -> tuple[str, list[str]]:
        import os
        import socket as node_socket

        return node_socket.gethostname(), [p for p in candidates if not os.access(p, os.R_OK)]

    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
    checks = [
        unreadable.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(paths)
        for node in nodes
    ]
    for host, missing in ray.get(checks, timeout=60):
        if missing:
            raise InputError(
                f"Ray node {host} cannot read {', '.join(missing)}: every node needs the cohort files "
                "and weights at the same paths (a shared file system or a copy)"
            )


def run_ray(
    files: CohortFiles,
    settings: RunSettings,
    gene_ids: Sequence[str],
    address: str | None = None,
    n_workers: int | None = None,
) -> Iterator[Outcome]:
    """One gene per task, spread over actors; one GPU per actor where GPUs exist."""
    import ray

    import compute

    started_here = not ray.is_initialized()
    if started_here:
        # py_modules ships this package to every worker, on this machine or a remote cluster
        runtime_env = {"py_modules": [str(Path(compute.__file__).parent)]}
        probe_ray_address(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
        except ConnectionError as err:
            raise InputError(f"--ray-address {address}: cannot join the Ray cluster ({err})") from None
    try:
        check_ray_cluster(ray, files, settings)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if n_workers is None:
            n_workers = gpus or max(1, int(resources.get("CPU", 1)) // 2)
        n_workers = max(1, min(n_workers, len(gene_ids)))
        actor = ray.remote(num_gpus=1 if gpus else 0, num_cpus=1 if gpus else 2)(_RayWorker)
        workers = [actor.remote(files, settings) for _ in range(n_workers)]
        pending = {}
        queue = list(gene_ids)
        for worker in workers:
            if queue:
                pending[worker.run.remote(queue.pop(0))] = worker
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            worker = pending.pop(ready[0])
            yield ray.get(ready[0])
            if queue:
                pending[worker.run.remote(queue.pop(0))] = worker
    finally:
        if started_here:
            ray.shutdown()
