"""The Ray backend's clear errors before any work: an address where no cluster answers, a cluster
without the GPU asked for, a node that cannot read the cohort's files."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest

from compute.cli import main
from compute.errors import InputError
from compute.run.backends import check_ray_cluster, probe_ray_address
from compute.run.gene import CohortFiles, ModelOptions, RunSettings, StatsOptions
from tests.cohort_files import simulated_cohort


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


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


@pytest.mark.slow
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
