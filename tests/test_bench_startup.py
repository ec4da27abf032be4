"""benchmarks/bench_startup.py at a tiny size: it builds its cohort, times the bcftools pass and a
precompute to its first gene, and prints each figure it promises (and says so when bcftools is
absent)."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks import bench_startup


@pytest.mark.slow
def test_the_startup_benchmark_runs_at_a_tiny_size(tmp_path, capsys):
    out = tmp_path / "figures.json"
    argv = [
        "--people",
        "12",
        "--snvs",
        "240",
        "--genes",
        "6",
        "--window",
        "2048",
        "--scored",
        "1",
        "--dir",
        str(tmp_path / "cohort"),
        "--json",
        str(out),
    ]
    assert bench_startup.main(argv) == 0
    printed = capsys.readouterr().out
    assert "cohort: 12 people x 240 SNVs in 6 windows of 2,048 bp" in printed, printed
    assert re.search(r"\(a\) one `bcftools view -R windows.bed` pass: [\d.]+ s", printed), printed
    assert re.search(
        r"\(b\) precompute, command start to first gene scored: [\d.]+ s \(inputs validated", printed
    )
    assert re.search(r"ratio \(b\)/\(a\): [\d.]+x \(goal: at most 2x", printed), printed
    figures = json.loads(out.read_text())
    run = figures["precompute"]
    assert 0 < run["validated_s"] <= run["first_gene_s"] <= run["end_s"]
    assert figures["ratio"] > 0 and figures["bcftools"]["wall_s"] > 0
    # the same cohort again: reused, not built
    windows = (tmp_path / "cohort" / "windows.bed").read_text().splitlines()
    assert len(windows) == 6 and all(int(e) - int(s) == 2048 for _, s, e in (w.split("\t") for w in windows))


def test_without_bcftools_there_is_no_pass_to_compare_with(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_startup.shutil, "which", lambda name: None)
    assert bench_startup.bcftools_pass(bench_startup.cohort_paths(tmp_path)) is None
