"""The bundled example cohort (data/example/): its recipe reproduces it, and it validates."""

import subprocess
import sys

import pytest
from conftest import ROOT

EXAMPLE = ROOT / "data" / "example"
FILES = ["reference.fa", "genotypes.vcf.gz", "genotypes.vcf.gz.tbi", "genes.tsv", "expression.tsv",
         "truth.tsv"]


def test_recipe_rebuilds_the_committed_files(tmp_path, external_data):
    subprocess.run([sys.executable, str(EXAMPLE / "build_example.py"), "--out", str(tmp_path)], check=True)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (EXAMPLE / name).read_bytes(), name


def test_example_is_tiny():
    assert sum((EXAMPLE / name).stat().st_size for name in FILES) < 200_000


@pytest.mark.parametrize("window,expected", [(None, "min 78, median 78, max 78"),
                                             ("2000", "min 11, median 20")])
def test_validate_example(window, expected):
    args = ["validate", "--fasta", "data/example/reference.fa", "--vcf", "data/example/genotypes.vcf.gz",
            "--genes", "data/example/genes.tsv", "--expression", "data/example/expression.tsv"]
    if window:
        args += ["--window", window]
    result = subprocess.run([sys.executable, "-m", "compute", *args], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert "people: 8 in both files (VCF 9, expression 8)" in result.stdout
    assert expected in result.stdout and "indels skipped: 2" in result.stdout
