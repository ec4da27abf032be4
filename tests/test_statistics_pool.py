"""Per-gene statistics in worker processes: the same store as in-process statistics, for
precompute and for `python -m compute stats STORE --per-gene`."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pandas as pd
import pytest

from compute.cli import main
from compute.errors import InputError
from compute.run.backends import LocalBackend
from compute.run.pipeline import precompute
from compute.run.statistics import recompute_gene_statistics
from compute.store import ResultsStore
from tests.cohort_files import small_run


def tables(store: ResultsStore) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_parquet(store.path / f"{name}.parquet")
        for name in ("genes", "variants", "people", "null")
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("pool")
    _, files, settings = small_run(base, seed=21, n_people=30, null_draws=10, predixcan=True, gradients=True)
    serial = precompute(files, settings, base / "serial", progress=False)
    return base, files, settings, serial


def test_precompute_with_statistics_workers_writes_the_same_store(run):
    base, files, settings, serial = run
    pooled = precompute(files, settings, base / "pooled", progress=False, backend=LocalBackend(2))
    for name, frame in tables(serial).items():
        pd.testing.assert_frame_equal(tables(pooled)[name], frame, check_exact=True, obj=name)


def test_per_gene_statistics_from_the_store_equal_the_precomputed_ones(run, tmp_path, capsys):
    _, _, _, serial = run
    copy = tmp_path / "copy"
    shutil.copytree(serial.path, copy)
    assert main(["stats", str(copy), "--per-gene", "--workers", "2", "--no-progress"]) == 0
    assert "3 genes" in capsys.readouterr().out
    for name, frame in tables(serial).items():
        pd.testing.assert_frame_equal(tables(ResultsStore(copy))[name], frame, check_exact=True, obj=name)


def test_per_gene_statistics_need_genotypes(run, tmp_path, capsys):
    _, _, _, serial = run
    copy = tmp_path / "copy"
    shutil.copytree(serial.path, copy)
    (copy / "genotypes.parquet").unlink()
    with pytest.raises(InputError, match="genotypes"):
        recompute_gene_statistics(copy, workers=1, progress=False)
    assert main(["stats", str(copy), "--per-gene", "--workers", "0"]) == 2
    assert "--workers: expected a number of processes >= 1" in capsys.readouterr().err


def test_a_failing_gene_in_a_worker_is_recorded_and_the_others_go_on(run, tmp_path):
    base, files, settings, _ = run
    bad = replace(settings, stats=replace(settings.stats, null_draws=-1))  # np.random rejects it per gene
    store = precompute(files, bad, tmp_path / "bad", progress=False, backend=LocalBackend(stats_workers=1))
    assert sorted(store.failures()) == ["G1", "G2", "G3"]
