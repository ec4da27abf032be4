"""benchmarks/gpu.sh cannot rot between GPU tasks: its dry run (the same steps on the CPU, small
model) runs every step and writes every JSON a device run returns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_script_dry_run_writes_every_result(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable}
    command = ["bash", "benchmarks/gpu.sh", "--dry-run"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=840)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == [
        "versions",
        "correctness",
        "bench_batch4",
        "bench_batch16",
        "models",
        "bench_compile",
    ]
    assert all(s["rc"] == 0 for s in steps), steps
    assert len(list(tmp_path.iterdir())) <= 8  # what the device tool brings back
    versions = json.loads((tmp_path / "versions.json").read_text())
    assert versions["torch"] and versions["transformers"]
    correctness = json.loads((tmp_path / "correctness.json").read_text())
    assert correctness["store_equal_within_tolerance"] and correctness["r"]["max_abs"] == 0.0  # CPU vs CPU
    for name in ("bench_batch4", "bench_batch16", "bench_compile"):
        bench = json.loads((tmp_path / f"{name}.json").read_text())
        assert bench["engine_fp32_seq_per_s"] > 0 and bench["ism_cached_snv_per_s"] > 0
        assert bench["projection"]["study_hours"] > 0 and bench["ism_cached_vs_full_max_rel"] < 1e-3
    compiled = json.loads((tmp_path / "bench_compile.json").read_text())
    assert compiled["options"]["compile_backend"] == "aot_eager" and "compile_s_fp32_compiled" in compiled
    models = json.loads((tmp_path / "models.json").read_text())
    assert [m["model"] for m in models] == ["borzoi", "alphagenome"]
    for m in models:  # bf16 autocast on CPU too: a difference, small against the scores
        assert m["fp32_forwards_per_s"] > 0 and m["bf16_forwards_per_s"] > 0
        assert m["bf16_vs_fp32_max_rel"] < 0.2
