"""compute/bench.py: one short run on the small configuration, with its correctness checks."""

import torch

from compute.bench import BenchOptions, run_benchmark


def test_small_benchmark_runs_and_checks(capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_benchmark(BenchOptions(device="cpu", config="small", seconds=0, batch_size=4, n_snvs=8))
    finally:
        torch.set_num_threads(threads)
    for key in ("naive_seq_per_s", "engine_fp32_seq_per_s", "ism_full_snv_per_s", "ism_cached_snv_per_s"):
        assert result[key] > 0
    assert result["ism_cached_vs_full_max_abs"] <= 2e-6  # fp32 rounding, as between two full passes
    assert result["bf16_vs_fp32_max_abs"] < 0.1
    parts = result["parts"]
    assert parts["slice_bp"] % 128 == 0 and 0 < parts["tower_fraction"] < 1
    assert "ism_cached_vs_full" in capsys.readouterr().out
