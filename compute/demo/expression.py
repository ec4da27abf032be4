"""Simulated expression with saved ground truth (DESIGN §8).

observed[gene, person] = baseline + sum_v beta_v * g_v[person] + N(0, noise_sd),
g_v = dosage of the SNV's ALT allele. Each gene gets one scenario:

- `near_tss`: one strong causal SNV, the common SNV closest to the TSS (within
  1 kb) that has no near-copy in the window (r^2 < 0.9 with every other SNV),
  DDX11-like; the quarter of the genes with the closest such SNVs get it;
- `several`: up to three common causal SNVs within +-25 kb, nearly independent
  (pairwise r^2 < 0.2), with effects of different sizes and signs;
- `ld_block`: one causal SNV in strong LD (r^2 >= 0.8) with as many other SNVs
  of the window as any candidate has;
- `none`: no cis signal (heritability 0).

A causal SNV drives one gene only. Effects are scaled so the causal SNVs
explain `h2` of the expected variance in this cohort. The realised share,
`h2_realized`, is the squared correlation of the genetic values with the
observed expression in this cohort (what an eQTL fit of the causal SNVs
recovers; the chance correlation of genetic values and noise moves it away
from `h2`). Causal SNVs are biallelic, common
(MAF >= 0.05) and inside the gene's window (architecture: TSS at index L // 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from compute.demo.genotypes import Genotypes

SCENARIOS = ("near_tss", "several", "ld_block", "none")
TRUTH_COLUMNS = [
    "gene_id", "gene_name", "scenario", "variant_id", "pos", "ref", "alt", "alt_freq",
    "tss_distance", "n_ld_partners", "beta", "baseline", "noise_sd", "h2_target", "h2_realized",
]  # fmt: skip


@dataclass(frozen=True)
class ExpressionSettings:
    window: int = 196_608
    min_maf: float = 0.05
    near_tss_bp: int = 1_000  # near_tss causal SNV: at most this far from the TSS
    distinct_r2: float = 0.9  # near_tss causal SNV: r^2 below this with every other window SNV
    several_n: int = 3
    several_bp: int = 25_000
    several_max_r2: float = 0.2
    several_weights: tuple[float, ...] = (1.0, 0.7, 0.5)
    ld_r2: float = 0.8
    ld_bp: int = 50_000
    h2: dict[str, float] = field(
        default_factory=lambda: {"near_tss": 0.5, "several": 0.4, "ld_block": 0.3, "none": 0.0}
    )
    noise_sd: float = 0.5
    baseline_range: tuple[float, float] = (4.0, 10.0)  # log2 expression units


@dataclass(frozen=True)
class _Window:
    index: np.ndarray  # site indices in the gene's window
    r2: np.ndarray  # (n_candidates, n_window) dosage r^2, candidate vs window SNV
    candidates: np.ndarray  # site indices of common biallelic SNVs in the window


def simulate_expression(
    genes: pd.DataFrame,
    genotypes: Genotypes,
    sample_ids: list[str],
    rng: np.random.Generator,
    settings: ExpressionSettings | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (expression genes x people with gene_id first, truth with TRUTH_COLUMNS)."""
    settings = settings or ExpressionSettings()
    dosage = genotypes.dosage().astype(np.float64)
    sites = genotypes.sites
    pos = sites["pos"].to_numpy()
    maf = np.minimum(sites["alt_freq"], 1 - sites["alt_freq"]).to_numpy()
    candidate = (sites["n_alleles"].to_numpy() == 2) & (maf >= settings.min_maf)
    z = _standardise(dosage)

    windows = [_window(int(tss), pos, candidate, z, settings) for tss in genes["tss"]]
    scenarios = _assign_scenarios(genes, windows, pos, settings, rng)

    values, truth = [], []
    used: set[int] = set()  # a causal SNV drives one gene only
    for gene, win, scenario in zip(genes.itertuples(index=False), windows, scenarios, strict=True):
        causal, weights = _choose_causal(scenario, int(gene.tss), win, pos, settings, rng, used)
        used.update(int(v) for v in causal)
        if scenario != "none" and len(causal) == 0:
            scenario = "none"  # nothing in the window can carry this scenario
        h2 = settings.h2[scenario]
        signs = rng.choice([-1.0, 1.0], size=len(causal))
        genetic = (weights * signs) @ dosage[causal] if len(causal) else np.zeros(dosage.shape[1])
        scale = np.sqrt(h2 / (1 - h2)) * settings.noise_sd / genetic.std() if len(causal) else 0.0
        beta = weights * signs * scale
        baseline = rng.uniform(*settings.baseline_range)
        noise = rng.normal(0.0, settings.noise_sd, size=dosage.shape[1])
        observed = baseline + scale * genetic + noise
        values.append(observed)
        realised = float(np.corrcoef(genetic, observed)[0, 1] ** 2) if len(causal) else 0.0
        common = {
            "gene_id": gene.gene_id, "gene_name": gene.gene_name, "scenario": scenario,
            "baseline": baseline, "noise_sd": settings.noise_sd, "h2_target": h2, "h2_realized": realised,
        }  # fmt: skip
        if len(causal) == 0:
            truth.append(common)
        for v, b in zip(causal, beta, strict=True):
            row = sites.iloc[v]
            k = int(np.flatnonzero(win.candidates == v)[0])
            partners = int((win.r2[k] >= settings.ld_r2).sum()) - 1  # minus the SNV itself
            truth.append({
                **common, "variant_id": row["variant_id"], "pos": int(row["pos"]), "ref": row["ref"],
                "alt": row["alts"], "alt_freq": float(row["alt_freq"]),
                "tss_distance": int(row["pos"]) - int(gene.tss), "n_ld_partners": partners, "beta": float(b),
            })  # fmt: skip
    expression = pd.DataFrame(np.array(values), columns=sample_ids)
    expression.insert(0, "gene_id", genes["gene_id"].to_numpy())
    truth_table = pd.DataFrame(truth, columns=TRUTH_COLUMNS).astype(
        {"pos": "Int64", "tss_distance": "Int64", "n_ld_partners": "Int64"}
    )
    return expression, truth_table


def _standardise(dosage: np.ndarray) -> np.ndarray:
    centred = dosage - dosage.mean(axis=1, keepdims=True)
    sd = centred.std(axis=1, keepdims=True)
    return np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)


def _window(
    tss: int, pos: np.ndarray, candidate: np.ndarray, z: np.ndarray, s: ExpressionSettings
) -> _Window:
    lo, hi = tss - s.window // 2, tss + s.window // 2 - 1  # 1-based, inclusive
    index = np.flatnonzero((pos >= lo) & (pos <= hi))
    candidates = index[candidate[index]]
    r = z[candidates] @ z[index].T / z.shape[1]
    return _Window(index=index, r2=r**2, candidates=candidates)


def _near_tss_choice(
    tss: int, win: _Window, pos: np.ndarray, s: ExpressionSettings, used: set[int] = frozenset()
) -> int | None:
    """Closest distinct candidate to the TSS (no other window SNV at r^2 >= distinct_r2),
    at most near_tss_bp away and not used by another gene."""
    own = win.index[None, :] == win.candidates[:, None]
    distinct = ~((win.r2 >= s.distinct_r2) & ~own).any(axis=1)
    close = np.abs(pos[win.candidates] - tss) <= s.near_tss_bp
    free = ~np.isin(win.candidates, list(used))
    options = win.candidates[distinct & close & free]
    if len(options) == 0:
        return None
    return int(options[np.argmin(np.abs(pos[options] - tss))])


def _assign_scenarios(
    genes: pd.DataFrame,
    windows: list[_Window],
    pos: np.ndarray,
    s: ExpressionSettings,
    rng: np.random.Generator,
) -> list[str]:
    """A quarter of the genes (at least one) with the closest distinct SNV to the TSS get
    near_tss; the others, in random order, cycle through several, ld_block, none."""
    distance = []
    for tss, win in zip(genes["tss"], windows, strict=True):
        v = _near_tss_choice(int(tss), win, pos, s)
        distance.append(np.inf if v is None else abs(int(pos[v]) - int(tss)))
    order = np.lexsort((np.arange(len(genes)), np.array(distance)))
    n_near = max(1, len(genes) // 4)
    near = [i for i in order[:n_near] if np.isfinite(distance[i])]
    scenarios = [""] * len(genes)
    for i in near:
        scenarios[i] = "near_tss"
    rest = [i for i in rng.permutation(len(genes)) if i not in near]
    for k, i in enumerate(rest):
        scenarios[i] = ("several", "ld_block", "none")[k % 3]
    return scenarios


def _choose_causal(
    scenario: str,
    tss: int,
    win: _Window,
    pos: np.ndarray,
    s: ExpressionSettings,
    rng: np.random.Generator,
    used: set[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Site indices of the causal SNVs (none of them in used) and their relative weights."""
    free = ~np.isin(win.candidates, list(used))
    if scenario == "near_tss":
        v = _near_tss_choice(tss, win, pos, s, used)
        if v is None:
            return np.array([], dtype=int), np.array([])
        return np.array([v]), np.array([1.0])
    if scenario == "several":
        near = np.flatnonzero((np.abs(pos[win.candidates] - tss) <= s.several_bp) & free)
        chosen: list[int] = []  # positions in win.candidates
        for k in rng.permutation(near):
            column = np.searchsorted(win.index, win.candidates[chosen]) if chosen else []
            if all(win.r2[k, c] < s.several_max_r2 for c in column):
                chosen.append(int(k))
            if len(chosen) == s.several_n:
                break
        return win.candidates[chosen], np.array(s.several_weights[: len(chosen)])
    if scenario == "ld_block":
        near = np.flatnonzero((np.abs(pos[win.candidates] - tss) <= s.ld_bp) & free)
        if len(near) == 0:
            return np.array([], dtype=int), np.array([])
        partners = (win.r2[near] >= s.ld_r2).sum(axis=1)
        best = near[np.lexsort((np.abs(pos[win.candidates[near]] - tss), -partners))[0]]
        return np.array([win.candidates[best]]), np.array([1.0])
    return np.array([], dtype=int), np.array([])
