"""Genotypes in the store at full scale: their size, and gene and SNV switches with LD.

    .venv/bin/python benchmarks/bench_genotypes.py [--genes 6825] [--people 839] [--snvs 3000]
                                                   [--store DIR] [--switches 30]

Builds (or reuses with `--store DIR`) a synthetic store with packed genotypes (LD
blocks along each window, benchmarks/synthetic_store.py), then, in a fresh process
that imports only the web side, prints:
- the genotypes table's size, next to the long int8 table (gene_id, variant_id,
  person_id, dosage; one gene written with zstd and projected) that the packed
  format replaces;
- reading one gene's genotypes from the store, next to reading the same gene from
  a bgzipped, indexed VCF (the alternative: read the cohort VCF the manifest
  records) with the pipeline's own reader;
- a gene switch with LD (every view of a new gene, genotypes and LD included) and
  an SNV switch with LD (every view of the same gene with another SNV selected),
  p50 and p95, server side. Goal: SNV switch under 150 ms on one core
  (run it as `taskset -c 0 .venv/bin/python benchmarks/bench_genotypes.py`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_dashboard import peak_rss_mb, run_full_scale  # noqa: E402

GOALS = {"snv_switch_ms": 150.0}


def vcf_read_ms(genotypes, tmp: Path) -> float:
    """Write one gene's genotypes as a bgzipped, tabix-indexed VCF; time the pipeline's reader."""
    import numpy as np

    from compute.cohort.haplotypes import window_variants

    n_people, _, n_snvs = genotypes.alleles.shape
    samples = genotypes.person_ids
    path = tmp / "gene.vcf"
    with open(path, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n##contig=<ID=1,length=10000000>\n")
        fh.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n")
        calls = np.char.add(np.char.add(genotypes.alleles[:, 0, :].astype(str), "|"),
                            genotypes.alleles[:, 1, :].astype(str))  # fmt: skip
        for k in range(n_snvs):
            fh.write(f"1\t{1000 + 10 * k}\tv{k}\tA\tG\t.\tPASS\t.\tGT\t" + "\t".join(calls[:, k]) + "\n")
    subprocess.run(["bgzip", "-f", str(path)], check=True)
    subprocess.run(["tabix", "-p", "vcf", f"{path}.gz"], check=True)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        window_variants(f"{path}.gz", "1", 0, 1000 + 10 * n_snvs, samples)
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def long_table(genotypes, tmp: Path) -> tuple[int, float]:
    """Bytes of one gene as the long int8 table (zstd, 65,536-row groups) and its read time in ms."""
    import numpy as np
    import pandas as pd

    from compute.store import write_parquet_atomic

    n_people, _, n_snvs = genotypes.alleles.shape
    frame = pd.DataFrame(
        {
            "gene_id": "G",
            "variant_id": np.repeat(np.asarray(genotypes.variant_ids, dtype=object), n_people),
            "person_id": np.tile(np.asarray(genotypes.person_ids, dtype=object), n_snvs),
            "dosage": genotypes.dosage.T.reshape(-1).astype(np.int8),
        }
    )  # fmt: skip
    path = tmp / "long.parquet"
    write_parquet_atomic(path, frame, 1 << 16)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        pd.read_parquet(path)
        times.append(time.perf_counter() - start)
    return path.stat().st_size, 1e3 * min(times)


def measure(store: Path, switches: int) -> dict:
    """Runs in a fresh process: only what the web process imports (plus the readers timed)."""
    import numpy as np

    import components
    from components.data import Datasets
    from components.selection import Selection, default_snv
    from compute.store import ResultsStore

    assert "torch" not in sys.modules, "the web process imported torch"
    datasets = Datasets([store])
    name = datasets.default
    genes = datasets.genes(name)
    rng = np.random.default_rng(11)
    picks = list(genes.gene_id.iloc[rng.choice(len(genes), size=switches + 1, replace=False)])

    def views(sel: Selection) -> None:
        for view in components.GENE_VIEWS:
            view.render(datasets, sel)

    gene_s, snv_s, ld_s = [], [], []
    for gene_id in picks:
        variants = datasets.store(name).variants(gene_id)
        start = time.perf_counter()
        views(Selection(name, gene_id, default_snv(variants)))
        gene_s.append(time.perf_counter() - start)
        for snv in variants.variant_id.iloc[rng.choice(len(variants), size=3, replace=False)]:
            start = time.perf_counter()
            datasets.ld(name, gene_id, snv)
            ld_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            views(Selection(name, gene_id, snv))
            snv_s.append(time.perf_counter() - start)
    rss = peak_rss_mb()

    fresh = ResultsStore(store)
    read_s = []
    for gene_id in picks:
        start = time.perf_counter()
        fresh.genotypes(gene_id)
        read_s.append(time.perf_counter() - start)
    one = fresh.genotypes(picks[0])
    with tempfile.TemporaryDirectory(prefix="bench-genotypes-") as tmp:
        vcf_ms = vcf_read_ms(one, Path(tmp))
        long_bytes, long_ms = long_table(one, Path(tmp))
    size = (store / "genotypes.parquet").stat().st_size
    return {
        "genes": len(genes), "people": len(one.person_ids), "snvs_mean": float(genes.n_snvs.mean()),
        "genotypes_bytes": size, "long_bytes_one_gene": long_bytes, "one_gene_snvs": len(one.variant_ids),
        "read_ms": 1e3 * statistics.median(read_s), "vcf_read_ms": vcf_ms, "long_read_ms": long_ms,
        "gene_switch_ms": 1e3 * statistics.median(gene_s),
        "gene_switch_p95_ms": 1e3 * float(np.percentile(gene_s, 95)),
        "snv_switch_ms": 1e3 * statistics.median(snv_s),
        "snv_switch_p95_ms": 1e3 * float(np.percentile(snv_s, 95)),
        "ld_ms": 1e3 * statistics.median(ld_s), "rss_mb": rss,
        "cores": len(os.sched_getaffinity(0)), "torch_imported": "torch" in sys.modules,
    }  # fmt: skip


def report(r: dict, build_s: float | None) -> None:
    per_gene = r["genotypes_bytes"] / r["genes"]
    long_projected = r["long_bytes_one_gene"] * r["snvs_mean"] / r["one_gene_snvs"] * r["genes"]
    print(f"store: {r['genes']:,} genes x {r['people']:,} people, {r['snvs_mean']:,.0f} SNVs a gene (mean)")
    if build_s is not None:
        print(f"synthetic store built in {build_s:.0f} s")
    print(f"measured on {r['cores']} core(s)")
    gib = 2**30
    size = r["genotypes_bytes"] / gib
    print(f"genotypes.parquet              {size:8.2f} GiB  ({per_gene / 2**20:.2f} MiB a gene)")
    print(f"baseline: long int8 table      {long_projected / gib:8.2f} GiB  (one gene written, projected)")
    print(f"ratio long / packed                  {long_projected / r['genotypes_bytes']:.1f}")
    print(f"one gene's genotypes, store    {r['read_ms']:8.1f} ms median (cold)")
    print(f"baseline: one gene, long table {r['long_read_ms']:8.1f} ms (a file of that gene alone)")
    print(f"baseline: one gene from a VCF  {r['vcf_read_ms']:8.1f} ms (bgzip + tabix, the pipeline's reader)")
    print(f"ratio VCF / store                    {r['vcf_read_ms'] / r['read_ms']:.1f}")
    print(f"LD of one SNV with the window  {r['ld_ms']:8.2f} ms median (genotypes cached)")
    p50, p95 = r["gene_switch_ms"], r["gene_switch_p95_ms"]
    print(f"gene switch with LD            {p50:8.1f} ms p50, {p95:.1f} ms p95")
    p50, p95 = r["snv_switch_ms"], r["snv_switch_p95_ms"]
    goal = GOALS["snv_switch_ms"]
    print(f"SNV switch with LD             {p50:8.1f} ms p50, {p95:.1f} ms p95   goal < {goal:.0f} ms")
    print(f"peak RSS of the web process    {r['rss_mb']:8.0f} MB; torch imported: {r['torch_imported']}")


def main(argv: list[str] | None = None) -> int:
    description = "Genotypes at full scale: size, reads, switches with LD."
    return run_full_scale(__file__, argv, description, measure, report, with_genotypes=True)


if __name__ == "__main__":
    sys.exit(main())
