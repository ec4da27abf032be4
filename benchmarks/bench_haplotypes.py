"""Personal haplotype throughput: tokens (and one-hot) per second for a cohort window, with
peak memory, side by side with `bcftools consensus` on the same input (same run), and the speed
per base of each window against the first's (bases per CPU second of this process, which a shared
machine's load disturbs less than wall seconds).

    python benchmarks/bench_haplotypes.py [--people 839] [--snvs 3000] [--batch-size 16]
                                          [--window 196608 [524288 1048576 ...]]

Input: a random reference 200 kb longer than the longest window, `--people` people with random
phased genotypes at SNVs placed at one density, `--snvs` per 196,608 bp, over the longest window;
each window is centred on the same TSS, so a longer one holds proportionally more SNVs. Timings
include reading the VCF.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compute.cohort.haplotypes import personal_haplotypes, unique_haplotypes, window_variants
from compute.cohort.reference import WINDOW, Reference, decode, gene_window, one_hot  # noqa: E402

CHROM, MARGIN = "bench", 100_000  # reference beyond each end of the longest window


def build_input(
    tmp: Path, n_people: int, snvs_per_window: int, longest: int, seed: int = 0
) -> tuple[Path, Path, list[str], int, np.ndarray]:
    """A random reference, and a VCF whose SNVs lie at `snvs_per_window` per 196,608 bp over the
    `longest` window around its TSS; returns (fasta, vcf, people, TSS, the SNVs' 1-based positions)."""
    rng = np.random.default_rng(seed)
    length = longest + 2 * MARGIN
    tss = length // 2
    seq = decode(rng.integers(0, 4, length, dtype=np.uint8))
    fasta = tmp / "ref.fa"
    fasta.write_text(f">{CHROM}\n" + "".join(seq[i : i + 60] + "\n" for i in range(0, length, 60)))
    start0, end0 = gene_window(tss, longest)
    n_snvs = round(snvs_per_window * longest / WINDOW)
    positions = np.sort(rng.choice(np.arange(start0 + 1, end0 + 1), size=n_snvs, replace=False))
    people = [f"P{i:04d}" for i in range(n_people)]
    lines = [
        "##fileformat=VCFv4.2",
        f"##contig=<ID={CHROM},length={length}>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(people),
    ]
    gt_text = np.array(["0|0", "0|1", "1|0", "1|1"])
    for pos in positions:
        ref = seq[pos - 1]
        alt = "ACGT"[("ACGT".index(ref) + 1 + rng.integers(3)) % 4]
        haps = rng.random((n_people, 2)) < rng.beta(0.5, 2)
        gts = gt_text[haps[:, 0] * 2 + haps[:, 1]]
        lines.append(f"{CHROM}\t{pos}\t.\t{ref}\t{alt}\t.\t.\t.\tGT\t" + "\t".join(gts))
    vcf = tmp / "cohort.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    subprocess.run(["bgzip", "-f", str(vcf)], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", f"{vcf}.gz"], check=True)
    return fasta, Path(f"{vcf}.gz"), people, tss, positions


def ours(
    fasta: Path,
    vcf: Path,
    people: list[str],
    window: tuple[int, int],
    batch_size: int,
    make_one_hot: bool,
    dedupe: bool,
) -> tuple[float, float, int, int]:
    """Wall and CPU seconds of this process for every haplotype of the window (VCF read included),
    peak traced bytes, haplotypes.

    Timed without tracing (tracemalloc slows Python code); the peak comes from a second, traced run.
    """
    seconds, cpu_seconds, n = _run(fasta, vcf, people, window, batch_size, make_one_hot, dedupe)
    tracemalloc.start()
    _run(fasta, vcf, people, window, batch_size, make_one_hot, dedupe)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, cpu_seconds, peak, n


def _run(fasta, vcf, people, window, batch_size, make_one_hot, dedupe) -> tuple[float, float, int]:
    reference = Reference(fasta)
    start0, end0 = window
    t, cpu = time.perf_counter(), time.process_time()
    wv = window_variants(vcf, CHROM, start0, end0, people)
    ref_tokens = reference.tokens(CHROM, start0, end0)
    n = 0
    if dedupe:
        unique_rows, _ = unique_haplotypes(wv.codes)
        from compute.cohort.haplotypes import apply_snvs

        for i in range(0, len(unique_rows), batch_size):
            tokens = apply_snvs(ref_tokens, unique_rows[i : i + batch_size], wv, start0)
            if make_one_hot:
                one_hot(tokens)
        n = 2 * len(people)
    else:
        for _, _, tokens in personal_haplotypes(ref_tokens, wv, start0, batch_size=batch_size):
            if make_one_hot:
                one_hot(tokens)
            n += len(tokens)
    return time.perf_counter() - t, time.process_time() - cpu, n


def bcftools(fasta: Path, vcf: Path, people: list[str], window: tuple[int, int], n: int) -> float:
    """Seconds per haplotype for `bcftools consensus -s P -H 1|2` on the window (n runs)."""
    start0, end0 = window
    region = fasta.parent / "region.fa"
    seq = decode(Reference(fasta).tokens(CHROM, start0, end0))
    region.write_text(f">{CHROM}:{start0 + 1}-{end0}\n{seq}\n")
    t = time.perf_counter()
    for k in range(n):
        command = ["bcftools", "consensus", "-f", str(region), "-s", people[k // 2], "-H", str(k % 2 + 1)]
        subprocess.run([*command, str(vcf)], check=True, capture_output=True)
    return (time.perf_counter() - t) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=839)
    parser.add_argument("--snvs", type=int, default=3000, help="SNVs per 196,608 bp (default 3000)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--bcftools-runs", type=int, default=6)
    parser.add_argument(
        "--window", type=int, nargs="+", default=[WINDOW],
        help="window lengths in bp, each timed in this run (default 196608); speed per base is "
        "compared with the first",
    )  # fmt: skip
    args = parser.parse_args()
    per_base: dict[str, float] = {}  # bases per CPU second of each path at the first window, all people
    with tempfile.TemporaryDirectory() as tmp:
        fasta, vcf, people, tss, positions = build_input(Path(tmp), args.people, args.snvs, max(args.window))
        small = people[: max(args.people // 8, 1)]
        one_hot(np.zeros((1, 4), np.uint8))  # import torch before timing
        _run(fasta, vcf, small, gene_window(tss, args.window[0]), args.batch_size, True, True)  # warm up
        for length in args.window:
            window = gene_window(tss, length)
            base = bcftools(fasta, vcf, people, window, args.bcftools_runs)
            n_snvs = int(((positions > window[0]) & (positions <= window[1])).sum())
            print(f"window {length:,} bp, {n_snvs} SNVs, batch size {args.batch_size}")
            print(f"bcftools consensus: {1 / base:10.1f} haplotypes/s (1.0x)")
            for label, kw in [("tokens", dict(make_one_hot=False, dedupe=False)),
                              ("tokens, identical haplotypes once", dict(make_one_hot=False, dedupe=True)),
                              ("one-hot float32", dict(make_one_hot=True, dedupe=False))]:  # fmt: skip
                for cohort in (small, people):
                    seconds, cpu_seconds, peak, n = ours(fasta, vcf, cohort, window, args.batch_size, **kw)
                    rate, cpu_rate = n / seconds, n / cpu_seconds
                    line = (f"{label:34s} {len(cohort):4d} people: {rate:10.1f} haplotypes/s "
                            f"({rate * base:,.0f}x bcftools), {cpu_rate:8.1f} per CPU s, "
                            f"peak {peak / 2**20:6.1f} MiB")  # fmt: skip
                    if cohort is people:  # per base, from CPU seconds: steadier than wall on a shared machine
                        bases = cpu_rate * length
                        first = per_base.setdefault(label, bases)
                        line += f", {bases / 1e6:,.0f} Mbases per CPU s ({bases / first:.2f}x)"
                    print(line)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
