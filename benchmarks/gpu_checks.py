"""GPU correctness for benchmarks/gpu.sh: a precompute on the device equals the same on the CPU.

    python benchmarks/gpu_checks.py --device cuda --out correctness.json

The shipped example cohort (data/example) through a small random Enformer (4,096-bp window),
once on the CPU and once on `--device`, fp32 (TF32 off, compute.engine.model's strict fp32):
the largest differences of haplotype scores, ISM, gradient x input and r, and whether they are
within rtol 1e-4 / atol 1e-5 (fp32 summation order differs between CPU and GPU kernels).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compute.engine.models import save_weights, small_model  # noqa: E402
from compute.run.pipeline import precompute  # noqa: E402
from compute.run.settings import CohortFiles, ModelOptions, RunSettings, StatsOptions  # noqa: E402

EXAMPLE = ROOT / "data" / "example"
RTOL, ATOL = 1e-4, 1e-5


def run(device: str, weights: Path, out: Path):
    names = ("reference.fa", "genotypes.vcf.gz", "genes.tsv", "expression.tsv")
    files = CohortFiles(*(str(EXAMPLE / f) for f in names), "reference")
    settings = RunSettings(
        window=None, model=ModelOptions(weights=str(weights), track=0, batch_size=8, device=device),
        stats=StatsOptions(null_draws=10, seed=1, predixcan=False),
    )  # fmt: skip
    start = time.perf_counter()
    store = precompute(files, settings, out, progress=False)
    return store, time.perf_counter() - start


def largest(a: np.ndarray, b: np.ndarray) -> dict:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return {"max_abs": float(np.max(np.abs(a - b))) if a.size else 0.0,
            "within": bool(np.allclose(a, b, rtol=RTOL, atol=ATOL))}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gpu-checks-") as tmp:
        tmp = Path(tmp)
        weights = save_weights(small_model(seed=5, window=4096, device="cpu"), tmp / "weights")
        cpu, cpu_s = run("cpu", weights, tmp / "cpu")
        dev, dev_s = run(args.device, weights, tmp / "device")
        checks = {}
        for gene_id in cpu.genes()["gene_id"]:
            a, b = cpu.people(gene_id), dev.people(gene_id)
            va, vb = cpu.variants(gene_id), dev.variants(gene_id)
            checks[gene_id] = {
                "hap_scores": largest(a[["hap1", "hap2"]].to_numpy(), b[["hap1", "hap2"]].to_numpy()),
                "ism": largest(va["ism"], vb["ism"]),
                "grad_x_input": largest(va["grad_x_input"], vb["grad_x_input"]),
            }
        r = largest(cpu.genes()["r"], dev.genes()["r"])
    result = {
        "device": args.device, "tolerance": {"rtol": RTOL, "atol": ATOL}, "genes": checks, "r": r,
        "store_equal_within_tolerance": r["within"] and all(c["within"] for g in checks.values()
                                                            for c in g.values()),
        "seconds": {"cpu": cpu_s, "device": dev_s},
    }  # fmt: skip
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("device", "store_equal_within_tolerance", "r", "seconds")}))
    return 0 if result["store_equal_within_tolerance"] else 1


if __name__ == "__main__":
    sys.exit(main())
