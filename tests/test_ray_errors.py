"""The Ray backend's clear errors before any work: an address where no cluster answers, a cluster
without the GPU asked for, a node that cannot read the cohort's files, an ask for workers that no
node can hold (--gpus-per-worker, --cpus-per-worker) or that comes without --backend ray."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest

from compute.cli import main
from compute.errors import InputError
from compute.run.backends import RayResources, check_ray_cluster, probe_ray_address, workers_that_fit
from compute.run.settings import CohortFiles, ModelOptions, RunSettings, StatsOptions
from tests.cohort_files import simulated_cohort


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.mark.serial  # alone (scripts/pytest.sh): an answer bounded in seconds
def test_an_address_where_no_cluster_answers_is_one_line_in_seconds(tmp_path, capsys):
    cohort = simulated_cohort(tmp_path, seed=3, n_people=10)
    address = f"127.0.0.1:{closed_port()}"
    started = time.perf_counter()
    inputs = [f"--{k}={cohort[k]}" for k in ("fasta", "vcf", "genes", "expression")]
    code = main([
        "precompute", *inputs, "--weights", str(tmp_path / "none"), "--out", str(tmp_path / "s"),
        "--backend", "ray", "--ray-address", address, "--no-progress",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and time.perf_counter() - started < 10
    assert f"--ray-address {address}: no Ray cluster answers there" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()  # refused before any work
    with pytest.raises(InputError, match="expected HOST:PORT"):
        probe_ray_address("no-port-here")
    probe_ray_address(None)  # a cluster started here: nothing to probe


@pytest.mark.slow  # a local Ray of its own, as in test_pipeline.py and test_one_pass.py
def test_a_cluster_without_the_gpu_or_the_files_is_refused(tmp_path):
    import ray

    cohort = simulated_cohort(tmp_path, seed=3, n_people=10)
    files = CohortFiles(*(str(cohort[k]) for k in ("fasta", "vcf", "genes", "expression")), "reference")
    (tmp_path / "weights").mkdir()
    settings = RunSettings(window=None, model=ModelOptions(weights=str(tmp_path / "weights"), device="cpu"),
                           stats=StatsOptions())  # fmt: skip
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        check_ray_cluster(ray, files, settings)  # one node, every file readable
        with pytest.raises(InputError, match="the Ray cluster has no GPU"):
            check_ray_cluster(ray, files, replace(settings, model=replace(settings.model, device="cuda")))
        moved = replace(files, vcf=str(tmp_path / "elsewhere.vcf.gz"))
        with pytest.raises(InputError, match=r"Ray node .* cannot read .*elsewhere\.vcf\.gz"):
            check_ray_cluster(ray, moved, settings)
    finally:
        ray.shutdown()


def test_worker_asks_are_checked_and_packed_per_node(tmp_path, capsys):
    cohort = simulated_cohort(tmp_path, seed=3, n_people=10)
    inputs = [f"--{k}={cohort[k]}" for k in ("fasta", "vcf", "genes", "expression")]
    code = main(["precompute", *inputs, "--weights", str(tmp_path / "none"), "--out", str(tmp_path / "s"),
                 "--gpus-per-worker", "0.5", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "--gpus-per-worker and --cpus-per-worker are for --backend ray" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "s").exists()
    bad = [(-1, None, "expected a number >= 0"), (1.5, None, "a fraction of one GPU"),
           (0, 0, "must ask for a GPU or a CPU"), (None, float("nan"), ">= 0")]  # fmt: skip
    for gpus, cpus, match in bad:
        with pytest.raises(InputError, match=match):
            RayResources(gpus, cpus)

    # Today's default: one GPU and one CPU an actor where there are GPUs, else two CPUs.
    assert RayResources().resolve(cluster_gpus=0) == (0.0, 2.0)
    assert RayResources().resolve(cluster_gpus=8) == (1.0, 1.0)
    assert RayResources(gpus_per_worker=0.5).resolve(cluster_gpus=8) == (0.5, 1.0)
    with pytest.raises(InputError, match="without GPUs"):
        RayResources(cpus_per_worker=0).resolve(cluster_gpus=0)

    # As ray.nodes() lists them: an actor sits on one node, so what is left on each does not add up.
    nodes = [
        {"Alive": True, "Resources": {"CPU": 16.0, "GPU": 3.0}},
        {"Alive": True, "Resources": {"CPU": 3.0}},
        {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}},
    ]
    assert workers_that_fit(nodes, gpus=0.5, cpus=1) == 6
    assert workers_that_fit(nodes, gpus=0.1, cpus=0.5) == 30  # 3 / 0.1 is 29.999... in floats
    assert workers_that_fit(nodes, gpus=0, cpus=2) == 8 + 1
    assert workers_that_fit(nodes, gpus=1, cpus=8) == 2
    with pytest.raises(InputError, match=r"asks for 0 GPU and 32 CPU .*\(the largest has 3 GPU, 16 CPU\)"):
        workers_that_fit(nodes, gpus=0, cpus=32)
