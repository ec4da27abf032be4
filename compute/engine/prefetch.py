"""Feeding the model: CPU workers build the next batches while the model runs the current one.

`prefetch(jobs, build, workers=, depth=)` runs `build(job)` on worker threads, at
most `depth` batches ahead of the consumer, and yields the results in job order.
Threads rather than processes: the work (numpy table lookups and copies) runs
outside the GIL, and batches need no pickling between processes.

`haplotype_batches` is the pipeline's feeder for one gene window: the distinct
haplotypes of the window (identical haplotypes need one forward, not one per
person), each batch made on a worker by `compute.cohort.haplotypes.apply_snvs` and
`compute.cohort.reference.one_hot` as float32 one-hot `(B, L, 4)`. On CUDA the batch
is written straight into page-locked (pinned) host memory, so its copy to the
device is asynchronous (`non_blocking=True`) and the host goes on to the next
batch. `score_window_haplotypes` scores every person's two haplotypes with it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from compute.cohort.haplotypes import WindowVariants, apply_snvs, unique_haplotypes
from compute.cohort.reference import one_hot
from compute.engine.model import (
    Model,
    ModelSpec,
    batch_indices,
    check_window,
    one_hot_values,
    precision,
    score_values,
)

J = TypeVar("J")
T = TypeVar("T")


def prefetch(jobs: Iterable[J], build: Callable[[J], T], *, workers: int = 1, depth: int = 2) -> Iterator[T]:
    """`build(job)` for every job, computed up to `depth` jobs ahead on `workers` threads, in job order.

    workers=0 builds each batch when it is asked for (no thread: the baseline).
    An exception raised by `build` is raised here, at the job it belongs to.
    Leaving the loop early cancels the batches not yet started.
    """
    if workers < 0 or depth < 1:
        raise ValueError(f"prefetch: expected workers >= 0 and depth >= 1, found {workers} and {depth}")
    if workers == 0:
        for job in jobs:
            yield build(job)
        return
    pending: deque = deque()
    job_iter = iter(jobs)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prefetch") as pool:
        try:
            for job in job_iter:
                pending.append(pool.submit(build, job))
                if len(pending) >= depth:
                    break
            while pending:
                result = pending.popleft().result()
                for job in job_iter:  # keep `depth` batches in flight
                    pending.append(pool.submit(build, job))
                    break
                yield result
        finally:
            for future in pending:
                future.cancel()


def host_buffer(shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """An empty float32 CPU tensor to build a batch in: pinned when it is bound for a CUDA device."""
    return torch.empty(shape, dtype=torch.float32, pin_memory=device.type == "cuda")


@dataclass
class HaplotypeBatch:
    """One batch of distinct haplotypes: `x` (B, L, 4) one-hot on the device, rows of `unique`.

    `rows[:real]` are the distinct haplotypes this batch scores; with padding the
    last rows repeat the final one (a fixed batch shape for torch.compile).
    """

    rows: np.ndarray
    real: int
    x: torch.Tensor


@dataclass
class HaplotypeSet:
    """The distinct haplotypes of a window: `unique` allele codes (n_unique, n_snvs), and
    `inverse` (n_people * 2,) mapping haplotype k (person k // 2, hap k % 2) to its row."""

    unique: np.ndarray
    inverse: np.ndarray

    @property
    def n_haplotypes(self) -> int:
        return int(self.inverse.size)

    @property
    def n_unique(self) -> int:
        return int(self.unique.shape[0])


def haplotype_set(window_variants: WindowVariants, dedupe: bool = True) -> HaplotypeSet:
    """Distinct haplotypes of the window's allele codes (all 2 x n_people of them with dedupe=False)."""
    codes = window_variants.codes
    if dedupe:
        unique, inverse = unique_haplotypes(codes)
        return HaplotypeSet(unique, inverse)
    flat = codes.reshape(codes.shape[0] * 2, codes.shape[2])
    return HaplotypeSet(flat, np.arange(len(flat)))


def haplotype_batches(
    ref_tokens: np.ndarray,
    window_variants: WindowVariants,
    window_start0: int,
    haplotypes: HaplotypeSet,
    device: torch.device | str,
    *,
    batch_size: int = 8,
    pad: bool = False,
    workers: int = 1,
    depth: int = 2,
) -> Iterator[HaplotypeBatch]:
    """One-hot batches of `haplotypes.unique`, built on CPU workers and moved to `device`."""
    device = torch.device(device)
    ref_tokens = np.asarray(ref_tokens, dtype=np.uint8)

    def build(job: tuple[np.ndarray, int]) -> tuple[np.ndarray, int, torch.Tensor]:
        rows, real = job
        tokens = apply_snvs(ref_tokens, haplotypes.unique[rows], window_variants, window_start0)
        return rows, real, one_hot(tokens, out=host_buffer((*tokens.shape, 4), device))

    jobs = batch_indices(haplotypes.n_unique, batch_size, pad=pad)
    for rows, real, x in prefetch(jobs, build, workers=workers, depth=depth):
        yield HaplotypeBatch(rows, real, x.to(device, non_blocking=True))


def score_window_haplotypes(
    model: Model,
    spec: ModelSpec,
    ref_tokens: np.ndarray,
    window_variants: WindowVariants,
    window_start0: int,
    *,
    batch_size: int = 8,
    workers: int = 1,
    depth: int = 2,
    dedupe: bool = True,
) -> np.ndarray:
    """Scores of every person's two haplotypes of a window: (n_people, 2) float64.

    The same numbers as `compute.engine.model.score_haplotypes`, with the batches made on
    CPU workers (every multi-allelic base and overlapping record applied as
    `compute.cohort.haplotypes.apply_snvs` does) and each distinct haplotype scored once.
    """
    check_window(model, len(ref_tokens))
    bins = model.resolve_bins(spec)
    haps = haplotype_set(window_variants, dedupe)
    rows, values = [], []
    batches = haplotype_batches(
        ref_tokens, window_variants, window_start0, haps, model.device,
        batch_size=batch_size, pad=spec.compile, workers=workers, depth=depth,
    )  # fmt: skip
    with torch.inference_mode(), precision(model, spec):
        for batch in batches:
            # Scores stay on the device until the end: no per-batch synchronisation.
            rows.append(batch.rows[: batch.real])
            values.append(score_values(model, spec, one_hot_values(model, spec, batch.x, bins))[: batch.real])
    n_people = window_variants.codes.shape[0]
    if not rows:  # nobody to score
        return np.zeros((n_people, 2))
    scores = np.empty(haps.n_unique)
    scores[np.concatenate(rows)] = torch.cat(values).double().cpu().numpy()
    return scores[haps.inverse].reshape(n_people, 2)
