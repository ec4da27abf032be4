"""One pass over the VCF before the first gene (issue 27 item 10): the checks run on chunks of
records and count what they count as the records' own text says; Ray workers get the validated
cohort instead of reading the inputs again; genes added on demand read only their own windows;
a resumed run keeps the recorded digests of unchanged inputs."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from compute.cohort import haplotypes as haplotypes_module
from compute.cohort import inputs as inputs_module
from compute.cohort.haplotypes import CHUNK
from compute.cohort.inputs import load_cohort
from compute.cohort.reference import gene_window
from tests.cohort_files import (
    files_for,
    random_sequence,
    settings_for,
    simulated_cohort,
    write_expression,
    write_fasta,
    write_genes,
    write_vcf,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def chunky_cohort(tmp_path: Path, n_people: int = 9, seed: int = 5) -> dict:
    """One window of 4,096 bp holding several chunks of records: SNVs, multi-allelic SNVs, indels,
    missing and unphased calls, haploid calls, and records outside the window."""
    rng = np.random.default_rng(seed)
    length = 6000
    seq = random_sequence(rng, length)
    samples = [f"S{i}" for i in range(n_people)]
    tss = 3000
    start0, end0 = gene_window(tss, 4096)
    rows, truth = [], {"snvs": [], "multi": 0, "indels": 0, "missing": 0, "haploid": 0}
    for pos in np.sort(rng.choice(np.arange(start0 - 200, end0 + 200), size=3 * CHUNK, replace=False)):
        pos = int(pos) + 1  # 1-based
        ref = seq[pos - 1]
        others = [b for b in "ACGT" if b != ref]
        kind = rng.choice(["snv", "multi", "indel"], p=[0.8, 0.1, 0.1])
        alts = (
            [ref + "A"]
            if kind == "indel"
            else list(rng.choice(others, size=2 if kind == "multi" else 1, replace=False))
        )
        calls, codes = [], []
        for _ in samples:
            a, b = (int(x) for x in rng.integers(0, len(alts) + 1, size=2))
            roll = rng.random()
            if roll < 0.03:
                calls.append(f"{a}|."), codes.append((a, 0))
            elif roll < 0.05:
                calls.append(f"{a}/{b}"), codes.append((a, b) if a == b else (0, 0))
            elif roll < 0.07:
                calls.append(f"{a}"), codes.append((a, a))
            else:
                calls.append(f"{a}|{b}"), codes.append((a, b))
        rows.append((CHROM, pos, f"r{pos}", ref, ",".join(alts), calls))
        if not (start0 < pos <= end0):
            continue
        if kind == "indel":
            truth["indels"] += 1
            continue
        truth["multi"] += kind == "multi"
        truth["missing"] += sum(("." in c) or ("/" in c and c[0] != c[2]) for c in calls)
        truth["haploid"] += sum(len(c) == 1 for c in calls)
        truth["snvs"].append((pos, np.array(codes, dtype=np.uint8)))
    fasta = write_fasta(tmp_path / "ref.fa", {CHROM: seq})
    vcf = write_vcf(tmp_path / "cohort.vcf.gz", samples, rows, {CHROM: length})
    genes = write_genes(tmp_path / "genes.tsv", [("G1", "ONE", CHROM, tss, "+")])
    expression = write_expression(tmp_path / "expression.tsv", ["G1"], samples)
    return dict(fasta=fasta, vcf=vcf, genes=genes, expression=expression, truth=truth, window=(start0, end0))


CHROM = "chr7"


def test_the_chunked_pass_counts_and_reads_as_the_records_text_says(tmp_path):
    c = chunky_cohort(tmp_path)
    truth = c["truth"]
    assert len(truth["snvs"]) > 2 * CHUNK  # the records of the window span several chunks
    cohort = load_cohort(c["fasta"], c["vcf"], c["genes"], c["expression"], window=4096, missing="reference")
    counts = cohort.counts
    assert cohort.genes["n_snvs"].tolist() == [len(truth["snvs"])]
    assert counts.snv_records == len(truth["snvs"]) and counts.ref_mismatch == 0
    assert (counts.multiallelic, counts.indels) == (truth["multi"], truth["indels"])
    assert (counts.missing, counts.haploid) == (truth["missing"], truth["haploid"])
    # the window read when the gene is scored: each haplotype's allele index as its GT text says
    wv = cohort.window_variants(CHROM, *c["window"])
    assert wv.variants["pos"].tolist() == [pos for pos, _ in truth["snvs"]]
    expected = np.stack([codes for _, codes in truth["snvs"]], axis=-1)  # (people, 2, snvs)
    np.testing.assert_array_equal(wv.codes, expected)
    assert wv.counts.missing == truth["missing"] and wv.counts.haploid == truth["haploid"]


def test_a_missing_call_is_named_with_its_record_and_sample(tmp_path):
    from compute.errors import InputError

    c = chunky_cohort(tmp_path)
    named = (
        r"cohort\.vcf\.gz: record chr7:\d+ r\d+ [ACGT]>[ACGT,]+: (missing|unphased) genotype for sample S\d"
    )
    with pytest.raises(InputError, match=named):
        load_cohort(c["fasta"], c["vcf"], c["genes"], c["expression"], window=4096, missing="error")


def test_a_cohort_travels_whole_to_another_process(tmp_path):
    """Ray sends the validated cohort to its workers by pickling it: the FASTA is opened again there."""
    import pickle

    c = chunky_cohort(tmp_path)
    cohort = load_cohort(c["fasta"], c["vcf"], c["genes"], c["expression"], window=4096, missing="reference")
    again = pickle.loads(pickle.dumps(cohort))
    np.testing.assert_array_equal(
        again.reference.tokens(CHROM, 10, 500), cohort.reference.tokens(CHROM, 10, 500)
    )
    np.testing.assert_array_equal(
        again.window_variants(CHROM, *c["window"]).codes, cohort.window_variants(CHROM, *c["window"]).codes
    )
    assert again.genes.equals(cohort.genes) and again.counts == cohort.counts


def windows_read(monkeypatch) -> list[tuple[str, int, int]]:
    """Every (chrom, start0, end0) the VCF is read over from now on, in this process."""
    seen: list[tuple[str, int, int]] = []
    real = haplotypes_module.iter_snv_chunks

    def counting(vcf_path, vcf, chrom, start0, end0, *args, **kwargs):
        seen.append((chrom, start0, end0))
        return real(vcf_path, vcf, chrom, start0, end0, *args, **kwargs)

    monkeypatch.setattr(haplotypes_module, "iter_snv_chunks", counting)
    monkeypatch.setattr(inputs_module, "iter_snv_chunks", counting)
    return seen


def test_a_gene_added_on_demand_reads_its_own_window_only(tmp_path, tiny_weights, monkeypatch):
    """(tests/test_on_demand.py checks that such a gene equals the same gene from precompute.)"""
    from compute.run.on_demand import compute_genes
    from compute.run.pipeline import precompute

    c = simulated_cohort(tmp_path, seed=2, n_people=8)
    store = precompute(
        files_for(c), settings_for(tiny_weights), tmp_path / "store", genes=["G1"], progress=False
    )
    seen = windows_read(monkeypatch)
    assert compute_genes(store.path, ["G3"], device="cpu") == {"G3": None}
    # the G3 window (chrB, TSS 40), read to validate it and read again to score it; no other gene's
    assert seen == [("chrB", *gene_window(40, 2048))] * 2


def test_a_resumed_run_keeps_the_digests_of_unchanged_inputs(tmp_path, tiny_weights, monkeypatch):
    import compute.store.inputs as inputs_module
    from compute.run.pipeline import precompute

    c = simulated_cohort(tmp_path, seed=2, n_people=8)
    files, settings = files_for(c), settings_for(tiny_weights)
    hashed: list[str] = []
    real = inputs_module.file_digest
    monkeypatch.setattr(inputs_module, "file_digest", lambda p: hashed.append(Path(p).name) or real(p))
    first = precompute(files, settings, tmp_path / "store", genes=["G1"], progress=False)
    assert hashed.count("cohort.vcf.gz") == 1
    recorded = first.manifest["inputs"]["vcf"]["sha256"]
    hashed.clear()
    again = precompute(files, settings, tmp_path / "store", genes=["G1", "G2"], progress=False)
    assert "cohort.vcf.gz" not in hashed and again.manifest["inputs"]["vcf"]["sha256"] == recorded
    stat = os.stat(c["vcf"])
    os.utime(c["vcf"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: hashed again
    precompute(files, settings, tmp_path / "store", progress=False)
    assert hashed.count("cohort.vcf.gz") == 1


@pytest.mark.slow
def test_ray_workers_use_the_callers_cohort(tmp_path, tiny_weights):
    """The actors score with the cohort validated in this process (a change made to it only here
    shows in their results): no pass over the VCF of their own."""
    from compute.run.backends import RayResources, run_ray

    c = simulated_cohort(tmp_path, seed=2, n_people=8)
    files, settings = files_for(c), replace(settings_for(tiny_weights), window=2048)
    cohort = files.load(2048)
    cohort.genes["gene_name"] = "NAMED_IN_THE_CALLER"
    resources = RayResources(gpus_per_worker=0, cpus_per_worker=1)
    [(gene_id, result, error)] = list(
        run_ray(files, settings, ["G1"], n_workers=1, resources=resources, cohort=cohort)
    )
    assert error is None, error
    assert gene_id == "G1" and result.gene["gene_name"] == "NAMED_IN_THE_CALLER"


def test_alphagenome_weights_are_told_by_the_file_name_alphagenome_pt_gives():
    """is_alphagenome_dir names the file without importing alphagenome_pt (seconds at every start)."""
    from alphagenome_pt.checkpoint import DEFAULT_CONVERTED_METADATA_FILENAME

    from compute.engine.alphagenome import CONVERTED_METADATA

    assert CONVERTED_METADATA == DEFAULT_CONVERTED_METADATA_FILENAME


def test_windows_close_together_are_read_as_one_span_counting_only_their_records(tmp_path):
    import subprocess

    from compute.cohort.inputs import _merge_windows, _read_spans
    from tests.cohort_files import many_genes_cohort

    c = many_genes_cohort(tmp_path)  # 12 windows of 2,048 bp about 1.4 kb apart, SNVs between them
    cohort = load_cohort(c["fasta"], c["vcf"], c["genes"], c["expression"], window=2048)
    windows = [gene_window(t, 2048) for t in cohort.genes["tss"]]
    starts, ends = (np.array(x) for x in zip(*windows, strict=True))
    assert len(_read_spans(_merge_windows(starts, ends))) == 1
    query = ["bcftools", "query", "-f", "%POS\n", str(c["vcf"])]
    positions = [
        int(p) for p in subprocess.run(query, capture_output=True, text=True, check=True).stdout.split()
    ]
    inside = [p for p in positions if any(s < p <= e for s, e in windows)]
    assert 0 < len(inside) < len(positions)  # records between the windows, left out
    assert cohort.genes["n_snvs"].tolist() == [sum(s < p <= e for p in positions) for s, e in windows]
    assert cohort.counts.snv_records == len(inside)
