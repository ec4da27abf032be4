"""The load benchmark replays a browser's gene switches against `python app.py --workers 2` on a
small store: every callback answered (a callback the dashboard gains or changes that the replay
cannot drive fails here, not in the next benchmark run), and each figure it promises printed."""

from __future__ import annotations

import re

import pytest

from benchmarks import bench_load
from benchmarks.synthetic_store import make_synthetic_store


@pytest.mark.slow
def test_the_load_benchmark_replays_sessions_on_two_workers(tmp_path, capsys):
    store = tmp_path / "store"
    make_synthetic_store(store, n_genes=12, n_people=40, n_snvs=60, seed=5, with_genotypes=True)
    code = bench_load.main([
        "--store", str(store), "--sessions", "1", "2", "--switches", "2", "--workers", "2", "--threads", "2",
        "--soak-minutes", "0.05",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "gunicorn, 2 worker processes" in out and "first page load" in out
    for sessions in (1, 2):
        assert re.search(rf"\b{sessions} session\(s\): gene switch p50 +\d+ ms, p95 +\d+ ms", out), out
    assert "the same genes again (from the view cache)" in out
    assert re.search(r"card-content +[\d.]+ ms", out), out
    assert re.search(r"memory after warm-up: +\d+ MB resident, 3 server process", out), out
    assert re.search(r"memory after a 0.05-minute soak .*x warm-up", out), out
