"""Start-up of a precompute at cohort scale: the seconds from the command's start to the first
gene scored, beside one `bcftools view -R windows.bed` pass over the same VCF.

    .venv/bin/python benchmarks/bench_startup.py [--people 1000] [--snvs 200000] [--genes 2000]
                                                 [--window 2048] [--scored 2] [--dir DIR]
                                                 [--baseline-rev REV] [--json FILE]

Builds a seeded synthetic cohort (or reuses the one in `--dir`): a random reference FASTA, a
bgzipped, tabix-indexed VCF of `--people` phased people x `--snvs` SNVs spread over `--genes`
gene windows (each window's haplotypes drawn from a few founder haplotypes, as LD blocks make
them), a genes table, an expression matrix and `windows.bed` (the gene windows, 0-based), and a
small random Enformer whose input is `--window` bp (the tests' tiny model: the first gene's own
model work stays small beside the start-up measured). Then, in the same run:

(a) one `bcftools view -R windows.bed` pass over the VCF, its VCF text to /dev/null (the time a
    pass over the records of the windows takes in C; said so when bcftools is absent);
(b) `python -m compute precompute` on the cohort (its first `--scored` genes, CPU), timed from the
    command's start to its summary (the inputs validated), to its first landed gene part in the
    store (`parts/`) and to its end; also its CPU seconds (wall times stretch with the load of a
    shared machine, CPU times less);
(c) with `--baseline-rev REV`, (b) again with the code of commit REV, checked out in a temporary
    git worktree, and its store compared with (b)'s.

Prints each time and the ratio of (b) to (a), in wall and in CPU seconds (goal: at most 2x).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_RATIO = 2.0
FOUNDERS = 16  # founder haplotypes per window: each person's two are drawn from these
CHROM = "chr1"
TRACK = 3  # of the small model's output tracks
SUMMARY_END = "haploid calls"  # the last line of the summary precompute prints once the inputs are validated


def build_cohort(
    out: Path, people: int, snvs: int, genes: int, window: int, seed: int = 0
) -> dict[str, Path]:
    """Write the synthetic cohort into `out` (FASTA, VCF + .tbi, genes, expression, windows.bed,
    the small model's weights); returns the paths. Seeded: the same arguments give the same files."""
    from compute.cohort.reference import gene_window
    from compute.engine.models import save_weights, small_model

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    spacing = window + window // 4  # windows apart, with room between them
    length = spacing * (genes + 1)
    bases = np.frombuffer(b"ACGT", np.uint8)
    sequence = bases[rng.integers(0, 4, size=length)]
    fasta = out / "reference.fa"
    with open(fasta, "wb") as fh:
        fh.write(f">{CHROM}\n".encode())
        full = length // 60  # lines of 60 bases, then the rest on a last line
        lines = np.full((full, 61), ord("\n"), np.uint8)
        lines[:, :60] = sequence[: full * 60].reshape(full, 60)
        fh.write(lines.tobytes())
        if length > full * 60:
            fh.write(sequence[full * 60 :].tobytes() + b"\n")
    tss = [spacing * (k + 1) for k in range(genes)]
    gene_ids = [f"ENSG{k:08d}" for k in range(genes)]
    samples = [f"P{k:05d}" for k in range(people)]
    (out / "genes.tsv").write_text(
        "gene_id\tgene_name\tchrom\ttss\tstrand\n"
        + "".join(
            f"{g}\tGENE{k}\t{CHROM}\t{t}\t{'+-'[k % 2]}\n"
            for k, (g, t) in enumerate(zip(gene_ids, tss, strict=True))
        )
    )
    windows = [gene_window(t, window) for t in tss]
    (out / "windows.bed").write_text("".join(f"{CHROM}\t{s}\t{e}\n" for s, e in windows))
    expression = rng.normal(size=(genes, people)).round(4)
    with open(out / "expression.tsv", "w") as fh:
        fh.write("gene_id\t" + "\t".join(samples) + "\n")
        for g, row in zip(gene_ids, expression, strict=True):
            fh.write(g + "\t" + "\t".join(map(str, row)) + "\n")

    vcf = out / "cohort.vcf.gz"
    header = (
        "##fileformat=VCFv4.2\n"
        f"##contig=<ID={CHROM},length={length}>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
    )
    per_gene = np.full(genes, snvs // genes)
    per_gene[: snvs % genes] += 1
    with open(vcf, "wb") as sink:
        bgzip = subprocess.Popen(["bgzip", "-c", "-l", "1", "-@", "2"], stdin=subprocess.PIPE, stdout=sink)
        assert bgzip.stdin is not None
        bgzip.stdin.write(header.encode())
        for (start0, end0), m in zip(windows, per_gene, strict=True):
            pos0 = np.sort(rng.choice(np.arange(start0, end0), size=m, replace=False))
            ref = sequence[pos0]
            alt = bases[(np.searchsorted(bases, ref) + rng.integers(1, 4, size=m)) % 4]
            freq = rng.uniform(0.02, 0.5, size=m)
            founders = (rng.random((FOUNDERS, m)) < freq).astype(np.uint8)
            haps = founders[rng.integers(0, FOUNDERS, size=2 * people)]  # (2 * people, m)
            calls = np.empty((m, people, 4), np.uint8)  # "a|b\t" per person
            calls[:, :, 0] = 48 + haps[0::2].T
            calls[:, :, 1] = ord("|")
            calls[:, :, 2] = 48 + haps[1::2].T
            calls[:, :, 3] = ord("\t")
            calls[:, -1, 3] = ord("\n")
            chunk = []
            for k in range(m):
                p = int(pos0[k]) + 1
                chunk.append(f"{CHROM}\t{p}\tsnv{p}\t{chr(ref[k])}\t{chr(alt[k])}\t.\tPASS\t.\tGT\t".encode())
                chunk.append(calls[k].tobytes())
            bgzip.stdin.write(b"".join(chunk))
        bgzip.stdin.close()
        if bgzip.wait() != 0:
            raise RuntimeError("bgzip failed")
    subprocess.run(["tabix", "-f", "-p", "vcf", str(vcf)], check=True)
    model = small_model(seed=2, window=window, device="cpu", dim=24, depth=1, heads=1)
    weights = save_weights(model, out / "model")
    return cohort_paths(out) | {"weights": weights}


def cohort_paths(out: Path) -> dict[str, Path]:
    names = {
        "fasta": "reference.fa",
        "vcf": "cohort.vcf.gz",
        "genes": "genes.tsv",
        "expression": "expression.tsv",
        "windows": "windows.bed",
        "weights": "model",
    }
    return {k: out / v for k, v in names.items()}


def bcftools_pass(paths: dict[str, Path], repeats: int = 2) -> dict[str, float] | None:
    """Seconds of `bcftools view -R windows.bed VCF > /dev/null` (wall, and the CPU of the child),
    the best of `repeats`; None when bcftools is not installed."""
    import resource

    if shutil.which("bcftools") is None:
        return None
    best: dict[str, float] | None = None
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        with open(os.devnull, "wb") as sink:
            subprocess.run(
                ["bcftools", "view", "-R", str(paths["windows"]), str(paths["vcf"])], stdout=sink, check=True
            )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if best is None or wall < best["wall_s"]:
            best = {"wall_s": wall, "cpu_s": cpu}
    return best


def precompute_command(paths: dict[str, Path], store: Path, gene_ids: list[str]) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "compute",
        "precompute",
        "--fasta",
        str(paths["fasta"]),
        "--vcf",
        str(paths["vcf"]),
        "--genes",
        str(paths["genes"]),
        "--expression",
        str(paths["expression"]),
        "--weights",
        str(paths["weights"]),
        "--track",
        str(TRACK),
        "--device",
        "cpu",
        "--no-predixcan",
        "--null-draws",
        "20",
        "--no-progress",
        "--out",
        str(store),
    ]
    for gene_id in gene_ids:
        command += ["--gene", gene_id]
    return command


def time_precompute(
    code: Path, paths: dict[str, Path], store: Path, gene_ids: list[str], timeout: float = 3600.0
) -> dict[str, float]:
    """Run `python -m compute precompute` with the code in `code` (its working directory): seconds
    from the command's start to its first gene part landed in the store, and to its end."""
    from compute.store.files import landed_genes

    log = store.with_suffix(".log")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # its summary line is seen when it is printed
    with open(log, "w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            precompute_command(paths, store, gene_ids),
            cwd=code,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        first = validated = None
        cpu = {"validated_cpu_s": float("nan"), "first_gene_cpu_s": float("nan")}
        while process.poll() is None and time.perf_counter() - started < timeout:
            if validated is None and SUMMARY_END in log.read_text():
                validated = time.perf_counter() - started
                cpu["validated_cpu_s"] = cpu_seconds(process.pid)
            if first is None and landed_genes(store):
                first = time.perf_counter() - started
                cpu["first_gene_cpu_s"] = cpu_seconds(process.pid)
            time.sleep(0.02)  # the store's parts/ and the output looked at 50 times a second
        if process.poll() is None:
            process.kill()
            process.wait()
            raise RuntimeError(f"precompute ran past {timeout:g} s; its output: {log}")
        ended = time.perf_counter() - started
    if process.returncode != 0 or first is None:
        raise RuntimeError(f"precompute failed (exit {process.returncode}):\n{log.read_text()[-3000:]}")
    return {
        "validated_s": validated if validated is not None else float("nan"),
        "first_gene_s": first,
        "end_s": ended,
        **cpu,
    }


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) a running process has used so far; NaN where
    /proc is not there. On a shared machine wall times stretch with the load, CPU times less."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def same_tables(a: Path, b: Path) -> list[str]:
    """The store tables of `a` that differ from `b`'s ([] when all are equal). A table whose only
    difference is columns that `b`'s code did not write yet is said so, not counted as differing."""
    import pandas as pd

    differ = []
    for table in sorted(p.name for p in a.glob("*.parquet")):
        if not (b / table).is_file():
            differ.append(f"{table} (not in the other store)")
            continue
        now, before = pd.read_parquet(a / table), pd.read_parquet(b / table)
        added = [c for c in now.columns if c not in before.columns]
        try:
            pd.testing.assert_frame_equal(now.drop(columns=added), before)
        except AssertionError:
            differ.append(table)
            continue
        if added:
            print(f"    {table}: the same rows, and the new columns {', '.join(added)}")
    return differ


def baseline_code(rev: str, where: Path) -> Path:
    """The code of commit `rev` checked out in a temporary worktree (removed by the caller)."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev],
        check=True,
        capture_output=True,
    )
    return where


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--snvs", type=int, default=200_000)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument(
        "--window", type=int, default=2048, help="the small model's input, bp (a multiple of 128)"
    )
    parser.add_argument("--scored", type=int, default=2, help="genes the precompute scores (the first ones)")
    parser.add_argument("--dir", type=Path, help="cohort directory (built there unless it holds one already)")
    parser.add_argument("--baseline-rev", metavar="REV", help="also time the code of this git commit")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    load = os.getloadavg()
    print(f"load average at the start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="bench_startup.") as tmp:
        tmp = Path(tmp)
        cohort_dir = args.dir or tmp / "cohort"
        paths = cohort_paths(cohort_dir)
        started = time.perf_counter()
        if not all(p.exists() for p in paths.values()):
            build_cohort(cohort_dir, args.people, args.snvs, args.genes, args.window)
        built = time.perf_counter() - started
        size = paths["vcf"].stat().st_size / 1e6
        print(
            f"cohort: {args.people:,} people x {args.snvs:,} SNVs in {args.genes:,} windows of "
            f"{args.window:,} bp (VCF {size:.1f} MB), ready in {built:.1f} s"
        )
        figures: dict[str, object] = {
            "load_average": load,
            "people": args.people,
            "snvs": args.snvs,
            "genes": args.genes,
            "window": args.window,
            "vcf_mb": size,
        }

        bcftools = bcftools_pass(paths)
        if bcftools is None:
            print("(a) bcftools: NOT INSTALLED (apt-get install -y bcftools): no pass to compare with")
        else:
            print(
                f"(a) one `bcftools view -R windows.bed` pass: {bcftools['wall_s']:.2f} s "
                f"({bcftools['cpu_s']:.2f} s CPU; best of 2)"
            )
        figures["bcftools"] = bcftools

        gene_ids = [
            line.split("\t")[0] for line in paths["genes"].read_text().splitlines()[1 : 1 + args.scored]
        ]
        now = time_precompute(ROOT, paths, tmp / "store", gene_ids)
        figures["precompute"] = now
        print(
            f"(b) precompute, command start to first gene scored: {now['first_gene_s']:.2f} s (inputs "
            f"validated, its summary printed: {now['validated_s']:.2f} s; the end of its {len(gene_ids)} "
            f"genes and finalize: {now['end_s']:.2f} s)"
        )
        print(f"    CPU to the first gene scored: {now['first_gene_cpu_s']:.2f} s (to validated: "
              f"{now['validated_cpu_s']:.2f} s)")  # fmt: skip
        if bcftools is not None:
            ratio = now["first_gene_s"] / bcftools["wall_s"]
            cpu_ratio = now["first_gene_cpu_s"] / bcftools["cpu_s"]
            figures.update(ratio=ratio, cpu_ratio=cpu_ratio)
            verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
            print(f"    ratio (b)/(a): {ratio:.2f}x (goal: at most {GOAL_RATIO:g}x, {verdict}); "
                  f"in CPU seconds {cpu_ratio:.2f}x")  # fmt: skip

        if args.baseline_rev:
            where = tmp / "baseline-code"
            try:
                baseline_code(args.baseline_rev, where)
                before = time_precompute(where, paths, tmp / "store-baseline", gene_ids)
            finally:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], capture_output=True
                )
            figures["baseline"] = {"rev": args.baseline_rev, **before}
            differ = same_tables(tmp / "store", tmp / "store-baseline")
            figures["tables_differ"] = differ
            sooner = before["first_gene_s"] / now["first_gene_s"]
            print(
                f"(c) the same at {args.baseline_rev}: first gene {before['first_gene_s']:.2f} s (validated "
                f"{before['validated_s']:.2f} s, end {before['end_s']:.2f} s; CPU to the first gene "
                f"{before['first_gene_cpu_s']:.2f} s); this code's first gene {sooner:.1f}x sooner"
            )
            print(f"    store tables: {'identical' if not differ else 'DIFFER: ' + ', '.join(differ)}")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
