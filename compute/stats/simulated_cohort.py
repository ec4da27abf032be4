"""A seeded toy cohort with linkage disequilibrium and a known truth, for checking the statistics.

Haplotypes are built block by block: each LD block has a few founder haplotypes;
every person's haplotype copies one founder per block and flips each allele with
a small probability, so SNVs within a block are correlated and blocks are nearly
independent. A known linear "model" (score = sum_v ISM_v g_v: a few large ISM at
causal SNVs, many small ones) and observed expression with chosen causal effects
(some opposite in sign to the model) let tests check what the statistics recover.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SimulatedGene:
    alleles: np.ndarray  # uint8 (n_people, 2, n_snvs), 1 = ALT on that haplotype
    dosage: np.ndarray  # uint8 (n_people, n_snvs), ALT count
    ism: np.ndarray  # (n_snvs,) the model's per-SNV effect
    score: np.ndarray  # (n_people,) the model's person score, sum_v ISM_v g_v
    observed: np.ndarray  # (n_people,) expression: sum_c beta_c g_c + noise
    causal: np.ndarray  # indices of causal SNVs
    beta: np.ndarray  # observed-expression effect of each causal SNV


def simulate_haplotypes(
    rng: np.random.Generator, n_people: int, n_snvs: int, block_size: int = 25, n_founders: int = 4,
    flip: float = 0.02,
) -> np.ndarray:
    """alleles (n_people, 2, n_snvs) uint8 with LD blocks of `block_size` SNVs."""
    alleles = np.empty((n_people, 2, n_snvs), dtype=np.uint8)
    for start in range(0, n_snvs, block_size):
        width = min(block_size, n_snvs - start)
        freq = rng.uniform(0.05, 0.6, width)
        founders = (rng.random((n_founders, width)) < freq).astype(np.uint8)
        weights = rng.dirichlet(np.ones(n_founders))
        pick = rng.choice(n_founders, size=(n_people, 2), p=weights)
        block = founders[pick]  # (n_people, 2, width)
        block ^= (rng.random(block.shape) < flip).astype(np.uint8)
        alleles[:, :, start : start + width] = block
    return alleles


def simulate_gene(
    rng: np.random.Generator,
    n_people: int = 400,
    n_snvs: int = 300,
    causal_ism: tuple[float, ...] = (1.0, -0.8, 0.6),
    causal_beta: tuple[float, ...] = (0.5, 0.4, 0.3),
    small_ism: float = 0.01,
    noise: float = 1.0,
    block_size: int = 25,
) -> SimulatedGene:
    """One gene; causal SNVs sit in different LD blocks and have MAF >= 0.2.

    The model's ISM at causal SNV c is causal_ism[c]; the data's effect is
    causal_beta[c]: a causal SNV is 'supported' when both have one sign.
    """
    alleles = simulate_haplotypes(rng, n_people, n_snvs, block_size)
    dosage = alleles.sum(axis=1, dtype=np.uint8)
    freq = dosage.mean(axis=0) / 2
    maf = np.minimum(freq, 1 - freq)
    blocks = np.arange(n_snvs) // block_size
    causal: list[int] = []
    for v in rng.permutation(n_snvs):
        if maf[v] >= 0.2 and blocks[v] not in blocks[causal]:
            causal.append(int(v))
        if len(causal) == len(causal_ism):
            break
    if len(causal) < len(causal_ism):
        raise ValueError("simulate_gene: too few common SNVs in distinct blocks for the causal set")
    causal_idx = np.array(causal)
    ism = rng.standard_normal(n_snvs) * small_ism
    ism[causal_idx] = causal_ism
    score = dosage @ ism
    beta = np.asarray(causal_beta, dtype=np.float64)
    observed = dosage[:, causal_idx] @ beta + noise * rng.standard_normal(n_people)
    return SimulatedGene(alleles, dosage, ism, score, observed, causal_idx, beta)
