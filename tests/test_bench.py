"""compute/engine/bench.py: one short run on the small configuration, with its correctness checks,
through the command line."""

import json

import numpy as np
import pytest
import torch

from compute.cli import main
from compute.cohort.haplotypes import open_vcf, window_variants
from compute.engine.bench import (
    NAIVE_FORMULA,
    PROJECTION_FORMULA,
    STUDY_GENES,
    STUDY_PEOPLE,
    STUDY_SNVS_PER_GENE,
    duplicate_haplotypes,
    project_study,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_small_benchmark_runs_and_checks(capsys, tmp_path, external_data):
    out = tmp_path / "bench.json"
    argv = ["bench", "--device", "cpu", "--seconds", "0", "--batch-size", "4", "--snvs", "8",
            "--people", "12", "--threads", "1", "--profile", "--json", str(out)]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    for key in ("naive_seq_per_s", "engine_fp32_seq_per_s", "engine_bf16_seq_per_s",
                "pipeline_haplotypes_per_s", "pipeline_no_workers_haplotypes_per_s",
                "pipeline_no_dedupe_haplotypes_per_s", "device_built_haplotypes_per_s",
                "ism_full_snv_per_s", "ism_cached_snv_per_s",
                "gene_model_s"):  # fmt: skip
        assert result[key] > 0, key
    assert result["ism_cached_vs_full_max_abs"] <= 2e-6  # fp32 rounding, as between two full passes
    assert result["pipeline_vs_naive_max_abs"] <= 2e-6
    assert result["bf16_vs_fp32_max_abs"] < 0.1
    assert result["threads"] == 1 and 0 < result["cpu_share"] <= 1.5
    parts = result["parts"]
    assert parts["slice_bp"] % 128 == 0 and 0 < parts["tower_fraction"] < 1
    window = result["haplotypes_model_window"]
    assert window["haplotypes"] == 24 and 1 <= window["distinct"] <= 24
    assert result["haplotypes_full_window"]["people"] == 12
    assert 0 < result["haplotypes_full_window"]["distinct_fraction"] <= 1
    assert result["projection"]["study_hours"] > 0
    for text in ("ism_cached_vs_full", PROJECTION_FORMULA, NAIVE_FORMULA, "Self CPU time total"):
        assert text in printed


def test_bench_input_errors(capsys, tmp_path):
    assert main(["bench", "--device", "cpu", "--vcf", str(tmp_path / "none.vcf.gz")]) == 2
    assert "none.vcf.gz" in capsys.readouterr().err
    assert main(["bench", "--device", "cpu", "--batch-size", "0"]) == 2
    assert main(["bench", "--device", "cpu", "--hparams", "[24]"]) == 2
    assert "expected a JSON object" in capsys.readouterr().err
    if not torch.cuda.is_available():  # a CUDA device where there is none: refused, saying so
        assert main(["bench", "--device", "cuda:7"]) == 2
        assert "CUDA is not available on this machine; use --device cpu" in capsys.readouterr().err


def test_duplicate_haplotypes_count_distinct_windows(external_data):
    """Tiling windows of the real chr20 genotypes (first record 1,000,226, last 3,999,849),
    distinct haplotypes counted again as distinct byte strings."""
    vcf = external_data / "shapeit4" / "reference.vcf.gz"
    window = 200_000
    stats = duplicate_haplotypes(vcf, window=window)
    handle = open_vcf(vcf)
    samples = list(handle.samples)
    handle.close()
    counts = []
    for start0 in range(1_000_225, 3_999_849, window):
        wv = window_variants(vcf, "20", start0, start0 + window, samples)
        counts.append(len({row.tobytes() for row in wv.codes.reshape(2 * len(samples), -1)}))
    assert stats["people"] == 300 and stats["windows"] == len(counts) == 15
    assert stats["distinct_fraction"] == pytest.approx(sum(counts) / (600 * len(counts)))
    assert stats["median_distinct"] == np.median(counts)
    assert (stats["min_distinct"], stats["max_distinct"]) == (min(counts), max(counts))
    assert 0.5 < stats["distinct_fraction"] < 1  # long windows of real genotypes: mostly, not all, distinct


def test_projection_formula():
    got = project_study(forwards_per_s=10.0, ism_snv_per_s=100.0, distinct_fraction=0.5, naive_seq_per_s=2.0)
    per_gene = 2 * STUDY_PEOPLE * 0.5 / 10.0 + STUDY_SNVS_PER_GENE / 100.0
    naive = (2 * STUDY_PEOPLE + STUDY_SNVS_PER_GENE) / 2.0
    assert got["study_hours"] == pytest.approx(STUDY_GENES * per_gene / 3600)
    assert got["study_hours_naive"] == pytest.approx(STUDY_GENES * naive / 3600)
    assert got["study_speedup"] == pytest.approx(naive / per_gene)
    assert np.isfinite(list(got.values())).all()
