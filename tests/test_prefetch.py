"""compute/engine/prefetch.py: ordered, bounded prefetching, and haplotype batches that score like the
one-by-one forward of every haplotype (real 1000 Genomes genotypes, multi-allelic records)."""

import time

import numpy as np
import pytest
import torch

from compute.cohort.haplotypes import personal_haplotypes, window_variants
from compute.cohort.reference import Reference, encode, gene_window, one_hot
from compute.engine.model import ModelSpec, score_tokens
from compute.engine.models import small_model
from compute.engine.prefetch import haplotype_batches, haplotype_set, prefetch, score_window_haplotypes
from tests.cohort_files import simulated_cohort
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_prefetch_keeps_job_order(workers):
    rng = np.random.default_rng(0)
    delays = rng.uniform(0, 0.004, 20)

    def build(i):
        time.sleep(delays[i])  # later jobs often finish first on several workers
        return i * i

    assert list(prefetch(range(20), build, workers=workers, depth=4)) == [i * i for i in range(20)]


def test_prefetch_stays_within_depth_and_builds_ahead():
    """The workers build the `depth` jobs after the one consumed before they are asked for, and no
    job further: jobs are taken from their iterator on the consumer's thread, `depth` ahead."""
    taken, started = [], []

    def jobs():
        for i in range(100):
            taken.append(i)
            yield i

    def build(i):
        started.append(i)  # list.append is atomic under the GIL
        return i

    it = prefetch(jobs(), build, workers=2, depth=3)
    assert next(it) == 0
    assert taken == [0, 1, 2, 3]  # the one consumed and 3 ahead, and no more while the consumer waits
    wait_until(lambda: sorted(started) == [0, 1, 2, 3], "the workers to build jobs 1-3 ahead", every=0.005)
    assert next(it) == 1
    assert taken == [0, 1, 2, 3, 4]
    wait_until(lambda: sorted(started) == [0, 1, 2, 3, 4], "the workers to build job 4 ahead", every=0.005)
    it.close()
    assert taken == [0, 1, 2, 3, 4] and sorted(started) == [0, 1, 2, 3, 4]


def test_prefetch_raises_the_workers_error_at_its_job():
    def build(i):
        if i == 3:
            raise ValueError("bad batch 3")
        return i

    seen = []
    with pytest.raises(ValueError, match="bad batch 3"):
        for item in prefetch(range(10), build, workers=2, depth=2):
            seen.append(item)
    assert seen == [0, 1, 2]
    with pytest.raises(ValueError):
        list(prefetch(range(3), build, workers=-1))


def test_one_hot_into_a_given_buffer():
    tokens = encode("ACGTNacgtn").reshape(2, 5)
    out = torch.full((2, 5, 4), 7.0)
    assert one_hot(tokens, out=out) is out
    assert torch.equal(out, one_hot(tokens))
    with pytest.raises(ValueError):
        one_hot(tokens, out=torch.empty(2, 5, 3))


@pytest.fixture
def cohort(tmp_path):
    return simulated_cohort(tmp_path)


def test_haplotype_batches_equal_every_haplotype_one_hot(cohort):
    """Simulated cohort with multi-allelic records: each distinct haplotype's batch row is the one-hot
    of that haplotype as `personal_haplotypes` (checked against bcftools elsewhere) makes it."""
    start0, end0 = gene_window(1500, 400)
    wv = window_variants(cohort["vcf"], "chrA", start0, end0, cohort["samples"], missing="reference")
    ref_tokens = Reference(cohort["fasta"]).tokens("chrA", start0, end0)
    every = np.concatenate([t for _, _, t in personal_haplotypes(ref_tokens, wv, start0)])
    haps = haplotype_set(wv)
    assert 1 < haps.n_unique < haps.n_haplotypes == len(every)
    assert (wv.codes > 1).any()  # a multi-allelic record whose second ALT is carried
    got = {}
    for batch in haplotype_batches(ref_tokens, wv, start0, haps, "cpu", batch_size=3, pad=True, workers=2):
        assert batch.x.shape == (3, 400, 4) and batch.x.dtype == torch.float32
        for row, x in zip(batch.rows[: batch.real], batch.x[: batch.real], strict=True):
            got[int(row)] = x
    assert sorted(got) == list(range(haps.n_unique))
    for k in range(haps.n_haplotypes):
        assert torch.equal(got[int(haps.inverse[k])], one_hot(every[k]))


@pytest.fixture(scope="module")
def real_window(external_data):
    """A 4,096-bp window of real phased 1000 Genomes chr20 genotypes (shapeit4 example), 40 people,
    on random reference bases (no chr20 FASTA offline)."""
    vcf = external_data / "shapeit4" / "reference.vcf.gz"
    samples = _samples(vcf)[:40]
    start0 = 1_500_000
    wv = window_variants(vcf, "20", start0, start0 + 4096, samples)
    ref = np.random.default_rng(3).integers(0, 4, 4096).astype(np.uint8)
    model = small_model(seed=0, device="cpu")
    every = np.concatenate([t for _, _, t in personal_haplotypes(ref, wv, start0)])
    expected = score_tokens(model, every, ModelSpec(), batch_size=16).reshape(-1, 2)
    return wv, start0, ref, model, expected


def _samples(vcf):
    from compute.cohort.haplotypes import open_vcf

    handle = open_vcf(vcf)
    try:
        return list(handle.samples)
    finally:
        handle.close()


@pytest.mark.parametrize("workers,dedupe", [(0, True), (2, True), (1, False)])
def test_window_scores_equal_scoring_every_haplotype(real_window, workers, dedupe):
    wv, start0, ref, model, expected = real_window
    spec = ModelSpec()
    scores = score_window_haplotypes(
        model, spec, ref, wv, start0, batch_size=5, workers=workers, dedupe=dedupe
    )
    assert wv.n_snvs > 3 and len(haplotype_set(wv).unique) < 2 * len(wv.people)
    assert scores.shape == (len(wv.people), 2)
    np.testing.assert_allclose(scores, expected, rtol=0, atol=2e-6)
    assert np.unique(expected).size > 3  # the window's SNVs change the score
