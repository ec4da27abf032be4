"""Where genes run: in this process (`LocalBackend`) or on a Ray cluster (`RayBackend`), each an
object holding its own options.

Both yield `(gene_id, GeneResult | None, error | None)` as genes finish; the
caller writes results, so the store has a single writer whatever the backend.
"""

from __future__ import annotations

import logging
import math
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from compute.errors import InputError
from compute.run.gene import GeneResult, GeneWorker, format_error
from compute.run.queue import GeneQueue
from compute.run.settings import CohortFiles, RunSettings

if TYPE_CHECKING:
    from compute.cohort.inputs import Cohort
    from compute.engine.model import Model

Outcome = tuple[str, GeneResult | None, str | None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalBackend:
    """Genes in this process, one at a time. stats_workers: processes that compute the statistics
    while the model goes on with the next genes (0: in this process, after each gene's model work)."""

    stats_workers: int = 0
    name: ClassVar[str] = "local"
    loads_model_here: ClassVar[bool] = True  # the caller's loaded model is the one that runs

    def prepare(self) -> None:
        """Checks that take seconds, before the model and the cohort are read (none here)."""

    def run(self, files: CohortFiles, settings: RunSettings, queue: GeneQueue, model: Model | None = None,
            on_plan: Callable[[dict[str, Any]], None] | None = None,
            cohort: Cohort | None = None) -> Iterator[Outcome]:  # fmt: skip
        """Outcomes as genes finish; `model`, `cohort`: already loaded (no second pass over the
        inputs), else loaded here."""
        if not queue:
            return iter(())
        return run_local(files, settings, queue, model, self.stats_workers, cohort)


@dataclass(frozen=True)
class RayBackend:
    """Genes on a Ray cluster, one per task, on actors that each load the model once.

    address: an existing cluster's HOST:PORT (None: start one on this machine); resources: what
    each actor asks for (--gpus-per-worker, --cpus-per-worker)."""

    address: str | None = None
    resources: RayResources = field(default_factory=lambda: RayResources())
    name: ClassVar[str] = "ray"
    loads_model_here: ClassVar[bool] = False  # the actors load their own, on their devices

    def prepare(self) -> None:
        probe_ray_address(self.address)  # in seconds, before the model and the cohort are read

    def run(self, files: CohortFiles, settings: RunSettings, queue: GeneQueue, model: Model | None = None,
            on_plan: Callable[[dict[str, Any]], None] | None = None,
            cohort: Cohort | None = None) -> Iterator[Outcome]:  # fmt: skip
        """Outcomes as genes finish; on_plan is called once with the actors' plan. `cohort`: already
        validated (its pass over the VCF done), sent to every actor instead of each reading it again."""
        if not queue:
            return iter(())
        return run_ray(files, settings, queue, self.address, resources=self.resources, on_plan=on_plan,
                       cohort=cohort)  # fmt: skip


Backend = LocalBackend | RayBackend


def run_local(
    files: CohortFiles,
    settings: RunSettings,
    gene_ids: Sequence[str] | GeneQueue,
    model: Model | None = None,
    stats_workers: int = 0,
    cohort: Cohort | None = None,
) -> Iterator[Outcome]:
    queue = gene_ids if isinstance(gene_ids, GeneQueue) else GeneQueue(gene_ids)
    worker = GeneWorker(files, settings, model, cohort)
    if stats_workers <= 0:
        while queue:
            yield _run_one(worker, queue.pop())
        return
    from compute.run.statistics import StatisticsPool

    cohort = worker.cohort
    with StatisticsPool(stats_workers) as pool:
        while queue:
            gene_id = queue.pop()
            try:
                outputs = worker.model_outputs(gene_id)
            except Exception as err:  # one gene's failure is recorded; the others go on
                yield gene_id, None, format_error(err)
                continue
            pool.submit(gene_id, outputs, cohort.observed(gene_id), cohort.people, settings.stats,
                        cohort.covariate_matrix, cohort.observed_raw(gene_id))  # fmt: skip
            yield from pool.ready()
        yield from pool.drain()


def _run_one(worker: GeneWorker, gene_id: str) -> Outcome:
    try:
        return gene_id, worker.run(gene_id), None
    except Exception as err:  # one gene's failure is recorded; the others go on
        return gene_id, None, format_error(err)


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
    from compute.store.inputs import input_files

    vcfs = input_files(files.vcf)  # per-chromosome files, each
    paths = [str(Path(p).resolve()) for p in (files.fasta, *vcfs, files.genes, files.expression) if p]
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
    gene_ids: Sequence[str] | GeneQueue,
    address: str | None = None,
    n_workers: int | None = None,
    resources: RayResources | None = None,
    on_plan: Callable[[dict[str, Any]], None] | None = None,
    cohort: Cohort | None = None,
) -> Iterator[Outcome]:
    """One gene per task, spread over actors that each ask for `resources` (default: one GPU
    where the cluster has GPUs, else two CPUs); as many actors as the nodes hold, or n_workers.
    cohort: validated already, put in Ray's object store once and given to every actor (else
    each actor reads and validates the inputs itself).

    A gene whose actor or node is lost goes back to the front of the queue and runs again on a
    live actor, at most LOST_ATTEMPTS times; lost actors are replaced. on_plan: called once with
    the actors' ask and count ({"gpus_per_worker", "cpus_per_worker", "workers"})."""
    import ray

    import compute

    queue = gene_ids if isinstance(gene_ids, GeneQueue) else GeneQueue(gene_ids)
    resources = resources or RayResources()
    started_here = not ray.is_initialized()
    if started_here:
        # py_modules ships this package to every worker, on this machine or a remote cluster
        runtime_env = {"py_modules": [str(Path(compute.__file__).parent)]}
        probe_ray_address(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
        except ConnectionError as err:
            raise InputError(f"--ray-address {address}: cannot join the Ray cluster ({err})") from None
    workers = None
    try:
        check_ray_cluster(ray, files, settings)
        gpus, cpus = resources.resolve(ray.cluster_resources().get("GPU", 0))
        if gpus == 0 and str(settings.model.device).startswith("cuda"):
            raise InputError(f"--device {settings.model.device} and --gpus-per-worker 0: no worker has a GPU")
        if n_workers is None:
            n_workers = workers_that_fit(ray.nodes(), gpus, cpus)
        n_workers = min(n_workers, len(queue))
        if on_plan is not None:
            on_plan({"gpus_per_worker": gpus, "cpus_per_worker": cpus, "workers": n_workers})
        # max_restarts=0: a lost actor is replaced here instead, so that its gene can go to any live one
        actor_class = ray.remote(num_gpus=gpus, num_cpus=cpus, max_restarts=0)(_RayWorker)
        # one copy of the cohort for all actors: each gets it, not a pass over the VCF of its own
        shared = (files, settings) if cohort is None else (files, settings, ray.put(cohort))
        workers = _Workers(ray, actor_class, shared, spares=LOST_ATTEMPTS * n_workers)
        for _ in range(n_workers):
            workers.start()
        yield from _supervise(ray, workers, queue)
    finally:
        if workers is not None:
            workers.stop()
        if started_here:
            ray.shutdown()


LOST_ATTEMPTS = 3  # runs of one gene on actors that died under it, before it is recorded as failed
START_TIMEOUT = 600.0  # s to wait for an actor to start when none is running and genes are left


@dataclass(frozen=True)
class RayResources:
    """What each Ray actor asks for (--gpus-per-worker, --cpus-per-worker). None: one GPU and
    one CPU when the cluster has GPUs, else two CPUs. Fractions of a GPU let actors share it."""

    gpus_per_worker: float | None = None
    cpus_per_worker: float | None = None

    def __post_init__(self):
        asked = {"--gpus-per-worker": self.gpus_per_worker, "--cpus-per-worker": self.cpus_per_worker}
        for flag, value in asked.items():
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise InputError(f"{flag} {value}: expected a number >= 0")
        gpus = self.gpus_per_worker
        if gpus is not None and gpus > 1 and gpus != int(gpus):
            raise InputError(f"--gpus-per-worker {gpus}: Ray takes a fraction of one GPU or whole GPUs")
        if gpus == 0 and self.cpus_per_worker == 0:
            raise InputError("--gpus-per-worker 0 --cpus-per-worker 0: a worker must ask for a GPU or a CPU")

    def resolve(self, cluster_gpus: float) -> tuple[float, float]:
        """(GPUs, CPUs) of one actor on a cluster with `cluster_gpus` GPUs in all."""
        gpus = self.gpus_per_worker if self.gpus_per_worker is not None else (1.0 if cluster_gpus else 0.0)
        cpus = self.cpus_per_worker if self.cpus_per_worker is not None else (1.0 if gpus else 2.0)
        if gpus == 0 and cpus == 0:
            raise InputError("--cpus-per-worker 0 on a Ray cluster without GPUs: a worker must ask for a CPU")
        return float(gpus), float(cpus)


def workers_that_fit(nodes: list[dict[str, Any]], gpus: float, cpus: float) -> int:
    """How many actors asking for `gpus` and `cpus` fit on the alive nodes (an actor is on one
    node, so what is left on each node does not add up); InputError when none fits."""
    fits, largest = 0, (0.0, 0.0)
    for node in nodes:
        if not node.get("Alive"):
            continue
        have = node.get("Resources", {})
        node_gpus, node_cpus = float(have.get("GPU", 0)), float(have.get("CPU", 0))
        largest = max(largest, (node_gpus, node_cpus))
        # the small margin keeps 1 / 0.1 from rounding down to 9
        counts = [int(n / ask + 1e-9) for n, ask in ((node_gpus, gpus), (node_cpus, cpus)) if ask > 0]
        fits += min(counts)
    if fits == 0:
        raise InputError(
            f"a Ray worker asks for {gpus:g} GPU and {cpus:g} CPU (--gpus-per-worker, --cpus-per-worker) "
            f"and no node has that much (the largest has {largest[0]:g} GPU, {largest[1]:g} CPU)"
        )
    return fits


class _RayWorker:
    """A GeneWorker living in a Ray actor: the model is loaded once per actor; the cohort is the
    caller's (validated there) when given, else read here."""

    def __init__(self, files: CohortFiles, settings: RunSettings, cohort: Cohort | None = None):
        import ray

        self.worker = GeneWorker(files, settings, cohort=cohort)
        # the host name alone does not tell apart several Ray nodes on one machine
        self.node = f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}"

    def ready(self) -> str:
        return self.node

    def run(self, gene_id: str) -> Outcome:
        outcome = _run_one(self.worker, gene_id)
        if outcome[1] is not None:
            outcome[1].node = self.node
        return outcome


class _Workers:
    """The run's actors: starting (constructor running), idle, or running one gene each."""

    def __init__(self, ray, actor_class, args: tuple, spares: int):
        self.ray, self.actor_class, self.args = ray, actor_class, args
        self.spares = spares  # replacements left, so that actors that never start cannot loop forever
        self.starting: dict = {}  # ready() reference -> actor
        self.running: dict = {}  # run() reference -> (actor, gene_id)
        self.idle: list = []

    def start(self) -> None:
        actor = self.actor_class.remote(*self.args)
        self.starting[actor.ready.remote()] = actor

    def dispatch(self, queue: GeneQueue) -> None:
        while self.idle and queue:
            actor, gene_id = self.idle.pop(), queue.pop()
            self.running[actor.run.remote(gene_id)] = (actor, gene_id)

    def replace(self, actor) -> None:
        self._kill(actor)
        if self.spares > 0:
            self.spares -= 1
            self.start()

    def stop(self) -> None:
        for actor in [*self.starting.values(), *self.idle, *(a for a, _ in self.running.values())]:
            self._kill(actor)
        self.starting, self.running, self.idle = {}, {}, []

    def _kill(self, actor) -> None:
        try:
            self.ray.kill(actor)
        except Exception:  # already gone with its node: nothing to stop
            pass


def _supervise(ray, workers: _Workers, queue: GeneQueue) -> Iterator[Outcome]:
    """Hand genes to idle actors, yield what they return, and survive actors that die."""
    from ray.exceptions import RayError, RayTaskError

    lost: dict[str, int] = {}
    last_loss = "no Ray worker started"
    while queue or workers.running:
        workers.dispatch(queue)
        waiting = [*workers.running, *workers.starting]
        if not waiting:
            yield from _fail_left(queue, f"no Ray worker left to run it ({last_loss})")
            return
        # with nothing running, wait for a starting actor only so long (none may fit any more)
        timeout = None if workers.running else START_TIMEOUT
        ready, _ = ray.wait(waiting, num_returns=1, timeout=timeout)
        if not ready:
            yield from _fail_left(queue, f"no Ray worker started within {START_TIMEOUT:g} s ({last_loss})")
            return
        ref = ready[0]
        if ref in workers.starting:
            actor = workers.starting.pop(ref)
            try:
                ray.get(ref)
            except RayError as err:
                last_loss = _one_line(err)
                log.warning("a Ray worker did not start: %s", last_loss)
                workers.replace(actor)
            else:
                workers.idle.append(actor)
            continue
        actor, gene_id = workers.running.pop(ref)
        try:
            outcome = ray.get(ref)
        except RayTaskError as err:  # raised by the gene itself, outside _run_one's catch: not retried
            workers.idle.append(actor)
            outcome = (gene_id, None, _one_line(err.cause if err.cause is not None else err))
        except RayError as err:  # the actor, its process or its node is gone: the gene runs again
            last_loss = _one_line(err)
            workers.replace(actor)
            lost[gene_id] = lost.get(gene_id, 0) + 1
            if lost[gene_id] < LOST_ATTEMPTS:
                log.warning("gene %s lost its Ray worker (%s); running it again", gene_id, last_loss)
                queue.push_front(gene_id)
                continue
            outcome = (gene_id, None, f"lost its Ray worker {LOST_ATTEMPTS} times: {last_loss}")
        else:
            workers.idle.append(actor)
        workers.dispatch(queue)  # the next gene starts while the caller writes this one
        yield outcome


def _fail_left(queue: GeneQueue, reason: str) -> Iterator[Outcome]:
    while queue:
        yield queue.pop(), None, reason


def _one_line(err: BaseException) -> str:
    """Ray's messages run over several lines (with the actor's details) and colour codes: the
    first line, plain."""
    lines = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}".rstrip(": ")
