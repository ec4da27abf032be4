"""Data for fine-tuning on personal genomes: seeded splits over people and genes,
and each gene's distinct haplotypes with the expression they explain.

A person's score is the mean of their two haplotype scores (DESIGN §4), so a
training step on one gene needs the model only on the distinct haplotypes of the
people in the step; `GeneData` keeps those as allele codes and builds token
sequences only for the haplotypes a step asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compute.cohort.haplotypes import WindowVariants, apply_snvs
from compute.cohort.inputs import Cohort
from compute.cohort.reference import gene_window
from compute.errors import InputError


@dataclass(frozen=True)
class Split:
    """People split three ways (train / validation / test) and genes two ways (train / test)."""

    train_people: list[str]
    validation_people: list[str]
    test_people: list[str]
    train_genes: list[str]
    test_genes: list[str]
    seed: int

    def people_of(self, part: str) -> list[str]:
        return {"train": self.train_people, "validation": self.validation_people, "test": self.test_people}[
            part
        ]


def make_split(
    people: list[str],
    gene_ids: list[str],
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    test_gene_fraction: float = 0.2,
    seed: int = 0,
) -> Split:
    """Seeded random split; every part gets at least one member or InputError says why not.

    Fractions are rounded to whole people and genes; the held-out gene set may be
    empty only when `test_gene_fraction` is 0.
    """
    for name, value in (("validation", validation_fraction), ("test", test_fraction),
                        ("test-genes", test_gene_fraction)):  # fmt: skip
        if not 0 <= value < 1:
            raise InputError(f"--{name} fraction {value}: expected a number in [0, 1)")
    if validation_fraction + test_fraction >= 1:
        raise InputError(
            f"--validation {validation_fraction} + --test {test_fraction} leave no people to train on"
        )
    rng = np.random.default_rng(seed)
    order = [people[i] for i in rng.permutation(len(people))]
    n_val = int(round(validation_fraction * len(people)))
    n_test = int(round(test_fraction * len(people)))
    n_train = len(people) - n_val - n_test
    if min(n_val, n_test, n_train) < 3:
        raise InputError(
            f"{len(people)} people split {n_train} / {n_val} / {n_test} (train / validation / test): "
            "each part needs at least 3 people for a correlation; use more people or other fractions"
        )
    genes = [gene_ids[i] for i in rng.permutation(len(gene_ids))]
    n_test_genes = int(round(test_gene_fraction * len(genes)))
    if test_gene_fraction > 0:
        n_test_genes = max(n_test_genes, 1)
    if len(genes) - n_test_genes < 1:
        raise InputError(f"{len(genes)} genes leave none to train on with --test-genes {test_gene_fraction}")
    keep_order = {p: i for i, p in enumerate(people)}
    gene_order = {g: i for i, g in enumerate(gene_ids)}
    return Split(
        train_people=sorted(order[:n_train], key=keep_order.get),
        validation_people=sorted(order[n_train : n_train + n_val], key=keep_order.get),
        test_people=sorted(order[n_train + n_val :], key=keep_order.get),
        train_genes=sorted(genes[n_test_genes:], key=gene_order.get),
        test_genes=sorted(genes[:n_test_genes], key=gene_order.get),
        seed=seed,
    )


@dataclass
class GeneData:
    """One gene for every person of the cohort (cohort order).

    `codes` (n_unique, n_snvs) are the distinct haplotypes' allele indices and
    `haplotype` (n_people, 2) the row of `codes` each person's haplotypes are.
    `expression` is observed expression, `train_mean` / `train_std` its mean and
    standard deviation over the training people (the loss works on z-scores).
    """

    gene_id: str
    start0: int
    ref_tokens: np.ndarray
    variants: WindowVariants
    codes: np.ndarray
    haplotype: np.ndarray
    expression: np.ndarray
    train_mean: float
    train_std: float

    def tokens(self, rows: np.ndarray) -> np.ndarray:
        """Token sequences (len(rows), L) of the distinct haplotypes `rows`."""
        return apply_snvs(self.ref_tokens, self.codes[rows], self.variants, self.start0)

    def zscores(self, people_idx: np.ndarray) -> np.ndarray:
        return (self.expression[people_idx] - self.train_mean) / self.train_std

    def offsets(self) -> np.ndarray:
        return self.variants.variants["pos"].to_numpy() - 1 - self.start0

    def alt_tokens(self) -> np.ndarray:
        return self.variants.alt_tokens


def gene_data(cohort: Cohort, gene_id: str, train_idx: np.ndarray) -> GeneData:
    """Read one gene's window variants and expression; `train_idx` indexes cohort.people."""
    gene = cohort.genes.set_index("gene_id").loc[gene_id]
    start0, end0 = gene_window(int(gene["tss"]), cohort.window)
    ref_tokens = cohort.reference.tokens(gene["chrom"], start0, end0)
    wv = cohort.window_variants(gene["chrom"], start0, end0)
    flat = wv.codes.reshape(len(cohort.people) * 2, wv.n_snvs)
    if wv.n_snvs:
        codes, inverse = np.unique(flat, axis=0, return_inverse=True)
    else:
        codes, inverse = flat[:1], np.zeros(len(flat), dtype=np.int64)
    expression = cohort.observed(gene_id)
    train = expression[train_idx]
    std = float(train.std())
    return GeneData(
        gene_id=gene_id,
        start0=start0,
        ref_tokens=ref_tokens,
        variants=wv,
        codes=codes,
        haplotype=inverse.reshape(-1).reshape(len(cohort.people), 2),
        expression=expression,
        train_mean=float(train.mean()),
        train_std=std if std > 0 else 1.0,
    )


def people_index(cohort: Cohort, people: list[str]) -> np.ndarray:
    position = {p: i for i, p in enumerate(cohort.people)}
    return np.array([position[p] for p in people], dtype=np.int64)
