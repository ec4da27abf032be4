"""Every statistic of DESIGN §5, as plain functions over numpy/pandas.

Per gene (across people): r of person score vs observed expression; the
gene-specific null of random linear predictors; eQTL slope per SNV; the linear
approximation sum_v ISM_v g_iv; driver SNVs (compute/stats/drivers.py); TSS distance;
the elastic-net baseline (compute/stats/baselines.py). Across genes: the null-model test
of |r| and Benjamini-Hochberg.

Two entry points fit the pipeline and `python -m compute stats DIR`:
`gene_statistics` once per gene (needs people-level data, not the model), then
`cohort_statistics` once over the genes table (needs only per-gene columns, so
a store can be re-tested with another null convention).

Dosage g counts ALT alleles (0, 1, 2) so every sign is ALT minus REF.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from compute.stats.baselines import population_average_r, predixcan_r
from compute.stats.correlation import correlation_pvalue, pearson, pearson_columns
from compute.stats.drivers import drivers

__all__ = [
    "MIN_PEOPLE",
    "N_DRAWS",
    "GeneStatistics",
    "bh",
    "cohort_statistics",
    "correlation_pvalue",
    "drivers",
    "eqtl",
    "gene_statistics",
    "inverse_normal",
    "linear_approximation",
    "linear_approximation_r",
    "no_result_reason",
    "null_correlations",
    "null_pvalues",
    "null_rank_pvalue",
    "null_summary",
    "null_tstat",
    "pearson",
    "pearson_columns",
    "population_average_r",
    "predixcan_r",
    "residualize",
    "rng_for_gene",
    "supported",
    "tss_distance",
]

N_DRAWS = 50
Convention = Literal["published", "textbook"]


# ---------------------------------------------------------------- null model


def rng_for_gene(gene_id: str, seed: int = 0) -> np.random.Generator:
    """A generator that depends only on (seed, gene_id): reruns and any gene order agree.

    Python's hash() is salted per process, so the gene ID goes through SHA-256.
    """
    digest = hashlib.sha256(str(gene_id).encode()).digest()
    return np.random.default_rng([int(seed), int.from_bytes(digest[:8], "little")])


def null_correlations(
    dosage: np.ndarray,
    observed: np.ndarray,
    n_draws: int = N_DRAWS,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """r_k = corr(sum_v w_kv g_iv, observed) for n_draws random weight vectors w_kv ~ N(0, 1).

    `seed` is an int or a generator (the pipeline passes `rng_for_gene(gene_id, seed)`).
    A constant predictor (no polymorphic SNV) gives NaN r_k.
    """
    G = np.asarray(dosage, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    if G.ndim != 2 or y.shape != (G.shape[0],):
        raise ValueError(
            f"null_correlations: expected dosage (n, m), observed (n,); found {G.shape}, {y.shape}"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    weights = rng.standard_normal((G.shape[1], n_draws))
    return pearson_columns(G @ weights, y)[0]


def null_summary(null_r: np.ndarray) -> tuple[float, float]:
    """mean and std (ddof=0, numpy's default, as the authors' generate_null.py) of |r_k|.

    NaN draws are left out; (NaN, NaN) when every draw is NaN.
    """
    a = np.abs(np.asarray(null_r, dtype=np.float64))
    a = a[~np.isnan(a)]
    if a.size == 0:
        return float("nan"), float("nan")
    return float(a.mean()), float(a.std(ddof=0))


def null_tstat(
    r: np.ndarray | float,
    null_mean: np.ndarray | float,
    null_std: np.ndarray | float,
    n_draws: int = N_DRAWS,
    convention: Convention = "published",
) -> np.ndarray:
    """t of |r| against the null: (|r| - mean) / sqrt(std / n) (published) or std / sqrt(n) (textbook).

    The published form (Sasse et al. 2023, Supplementary Table 1) divides by the
    square root of std/n, not by the standard error std/sqrt(n).
    """
    r = np.asarray(r, dtype=np.float64)
    mean = np.asarray(null_mean, dtype=np.float64)
    std = np.asarray(null_std, dtype=np.float64)
    if convention == "published":
        scale = np.sqrt(std / n_draws)
    elif convention == "textbook":
        scale = std / np.sqrt(n_draws)
    else:
        raise ValueError(f"null convention: expected 'published' or 'textbook', found {convention!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.abs(r) - mean) / scale


def null_pvalues(
    r: np.ndarray | float,
    null_mean: np.ndarray | float,
    null_std: np.ndarray | float,
    n_draws: int = N_DRAWS,
    convention: Convention = "published",
) -> np.ndarray:
    """One-sided p of |r| exceeding the gene's null: t.sf(|t|, n_draws - 1), and 1 where t < 0.

    NaN in any input gives NaN. A null with std 0 gives t = +-inf (p 0 or 1) or NaN (0/0).
    """
    t = null_tstat(r, null_mean, null_std, n_draws, convention)
    p = stats.t.sf(np.abs(t), n_draws - 1)
    return np.where(t < 0, 1.0, p)


def null_rank_pvalue(
    r: float, null_r: np.ndarray, rng: np.random.Generator | None = None
) -> float:
    """Rank p-value of |r| among the gene's |r_k|: (1 + #{|r_k| >= |r|}) / (n_draws + 1).

    Calibrated when the model's score is exchangeable with the random predictors.
    With `rng`, ties and the discreteness are broken at random, so that under the
    null the p-value is exactly uniform on (0, 1). NaN r or no finite draw gives NaN.
    """
    a = np.abs(np.asarray(null_r, dtype=np.float64))
    a = a[~np.isnan(a)]
    if np.isnan(r) or a.size == 0:
        return float("nan")
    x = abs(float(r))
    above, ties = int(np.sum(a > x)), int(np.sum(a == x))
    if rng is None:
        return (1 + above + ties) / (a.size + 1)
    return (above + rng.uniform() * (ties + 1)) / (a.size + 1)


def bh(pvalues: np.ndarray, n_tests: int | None = None) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q). NaN stays NaN and is not counted in m.

    `n_tests` sets m explicitly (at least the number of non-NaN p-values): the
    published table counted genes without a p-value as p = 1, i.e. m = all genes.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    ok = ~np.isnan(p)
    values = p[ok]
    if np.any((values < 0) | (values > 1)):
        raise ValueError("bh: p-values must lie in [0, 1]")
    m = values.size if n_tests is None else int(n_tests)
    if m < values.size:
        raise ValueError(f"bh: n_tests={m} is smaller than the {values.size} p-values given")
    q = np.full(p.shape, np.nan)
    if values.size == 0:
        return q
    order = np.argsort(values, kind="stable")
    ranked = values[order] * m / np.arange(1, values.size + 1)
    adjusted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    out = np.empty(values.size)
    out[order] = adjusted
    q[ok] = out
    return q


# ---------------------------------------------------------------- per SNV


def allele_frequencies(dosage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ALT allele frequency (mean dosage / 2) and minor allele frequency per SNV."""
    G = np.asarray(dosage, dtype=np.float64)
    alt = G.mean(axis=0) / 2.0 if G.shape[0] else np.full(G.shape[1], np.nan)
    return alt, np.minimum(alt, 1.0 - alt)


def eqtl(
    dosage: np.ndarray, observed: np.ndarray, covariates: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope of observed expression on ALT dosage per SNV, and its two-sided p.

    Without covariates: the slope b of y = a + b g, its p that of Pearson r (t on n - 2 df). With
    covariates C (n, k): the dosage coefficient of y ~ 1 + g + C and its t-test on n - 2 - k df,
    as tensorQTL's map_nominal reports it (dosage and expression residualised on [1, C], then r).
    Monomorphic SNVs (or constant expression) give NaN.
    """
    G = np.asarray(dosage, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    k = 0
    if covariates is not None and np.asarray(covariates).shape[1]:
        k = np.asarray(covariates).shape[1]
        if y.shape[0] - 2 - k < 1:  # no degree of freedom left for the t-test
            return np.full(G.shape[1], np.nan), np.full(G.shape[1], np.nan)
        G, y = residualize(G, covariates), residualize(y, covariates)
    r, p = pearson_columns(G, y)
    if k:
        p = correlation_pvalue(r, y.shape[0] - k)  # n - 2 - k degrees of freedom
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = r * np.std(y) / np.std(G, axis=0)
    return np.where(np.isnan(r), np.nan, slope), np.where(np.isnan(r), np.nan, p)


def residualize(values: np.ndarray, covariates: np.ndarray) -> np.ndarray:
    """`values` (n,) or (n, m) minus their least-squares fit on [1, covariates (n, k)]: what is left
    of expression (or dosage) once the covariates (genotype PCs, PEER factors, sex, batch) are
    regressed out, per column."""
    values = np.asarray(values, dtype=np.float64)
    design = np.column_stack([np.ones(values.shape[0]), np.asarray(covariates, dtype=np.float64)])
    q, _ = np.linalg.qr(design)
    return values - q @ (q.T @ values)


def inverse_normal(values: np.ndarray) -> np.ndarray:
    """Rank-based inverse normal transform of one gene across people: norm.ppf(rank / (n + 1)),
    ties by their mean rank (GTEx's normalisation of expression for eQTL mapping)."""
    values = np.asarray(values, dtype=np.float64)
    ranks = stats.rankdata(values)
    return stats.norm.ppf(ranks / (values.shape[0] + 1))


def supported(ism: np.ndarray, eqtl_slope: np.ndarray) -> pd.arrays.BooleanArray:
    """sign(ISM) == sign(eQTL slope): the model's direction agrees with the data.

    Undefined (<NA>) where either is 0 or NaN.
    """
    a = np.asarray(ism, dtype=np.float64)
    b = np.asarray(eqtl_slope, dtype=np.float64)
    defined = (np.nan_to_num(a) != 0) & (np.nan_to_num(b) != 0)
    return pd.arrays.BooleanArray(np.sign(a) == np.sign(b), mask=~defined)


def tss_distance(
    pos: np.ndarray, tss: int, strand: str
) -> tuple[np.ndarray, np.ndarray]:
    """(pos - tss, strand-aware distance): the paper's convention, then positive = downstream."""
    if strand not in ("+", "-"):
        raise ValueError(f"tss_distance: strand must be '+' or '-', found {strand!r}")
    d = np.asarray(pos, dtype=np.int64) - int(tss)
    return d, d if strand == "+" else -d


# ---------------------------------------------------------------- linear approximation


def linear_approximation(ism: np.ndarray, dosage: np.ndarray) -> np.ndarray:
    """lin_i = sum_v ISM_v g_iv, the additive model implied by the attributions."""
    ism = np.asarray(ism, dtype=np.float64)
    if not np.isfinite(ism).all():
        raise ValueError(f"linear_approximation: ISM has {int((~np.isfinite(ism)).sum())} non-finite values")
    return np.asarray(dosage, dtype=np.float64) @ ism


def linear_approximation_r(ism: np.ndarray, dosage: np.ndarray, score: np.ndarray) -> float:
    """corr(lin, person score): how additive the model is at this gene (NaN if either is constant)."""
    return pearson(linear_approximation(ism, dosage), score)[0]


# ---------------------------------------------------------------- per gene and per cohort


@dataclass(frozen=True)
class GeneStatistics:
    """One gene's statistics: a genes-table row, variants-table columns, null draws."""

    gene: dict
    variants: pd.DataFrame
    null_r: np.ndarray


# r and its p (n - 2 df) need at least three people with observed expression: fewer, when NA left
# the others out, is a gene's reason for no r (a cohort of fewer people is as it always was)
MIN_PEOPLE = 3


def no_result_reason(
    score: np.ndarray, observed: np.ndarray, dosage: np.ndarray, n_without: int = 0
) -> str | None:
    """Why a gene has no r (a result, not an error), or None when it has one.

    score, observed, dosage: the people with observed expression for this gene; n_without: how
    many more people the gene has without it (left out of its statistics)."""
    n_people = len(score)
    if dosage.shape[1] == 0:
        return "no SNV in the window"
    if n_without and n_people < MIN_PEOPLE:
        return (
            f"only {n_people} of {n_people + n_without} people have observed expression "
            f"(r needs at least {MIN_PEOPLE})"
        )
    if not (dosage != dosage[:1]).any():
        return f"no SNV polymorphic among the {n_people} people"
    if np.isnan(pearson(observed, observed)[0]):
        return f"observed expression is the same for all {n_people} people"
    if np.isnan(pearson(score, score)[0]):
        return f"predicted expression is the same for all {n_people} people"
    return None


def gene_statistics(
    gene_id: str,
    score: np.ndarray,
    observed: np.ndarray,
    dosage: np.ndarray,
    ism: np.ndarray,
    pos: np.ndarray,
    tss: int,
    strand: str,
    seed: int = 0,
    n_draws: int = N_DRAWS,
    predixcan: bool = True,
    covariates: np.ndarray | None = None,
) -> GeneStatistics:
    """All per-gene statistics of DESIGN §5 from people-level data.

    score, observed (n_people,); dosage (n_people, n_snvs) ALT counts; ism, pos (n_snvs,).
    observed is NaN for a person without a value for this gene: that person is left out of every
    statistic that uses expression (r, its null, the eQTL slopes and so the drivers' support, the
    baseline's cross-validation, mean/std observed) and kept in those of the model alone (drivers,
    linear r, allele frequencies, mean/std predicted).
    covariates (n_people, k), when the cohort has them: `observed` is then expression already
    residualised on them over the gene's people with a value (every statistic uses it), and the
    eQTL slopes are the dosage coefficients of y ~ 1 + g + covariates (`eqtl`) over those people.
    `gene` holds: n_people (with observed expression: the n of r), n_without_observed (left out),
    n_snvs, r, p_r, null_mean, null_std, linear_r, n_drivers, predixcan_r, mean_observed,
    std_observed, mean_predicted, std_predicted (std ddof=0), and reason: why r is NaN
    (`no_result_reason`: no SNV in the window, fewer than MIN_PEOPLE people with expression, none
    polymorphic, constant expression), else None; such a gene keeps its rows with NaN r, null,
    linear r and baseline.
    `variants` (rows in SNV input order): alt_freq, maf, tss_distance,
    tss_distance_stranded, eqtl_slope, eqtl_p, is_driver, is_main_driver, driver_gain,
    supported (sign agreement for every SNV; the dashboard reads it for drivers).
    The cross-gene columns (t_null, p_null, q_bh, significant) come from `cohort_statistics`.
    """
    score = np.asarray(score, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    G = np.asarray(dosage, dtype=np.float64)
    ism = np.asarray(ism, dtype=np.float64)
    n_people = score.shape[0]
    if G.ndim != 2 or G.shape[0] != n_people or observed.shape != score.shape or ism.shape != (G.shape[1],):
        raise ValueError(
            f"gene_statistics({gene_id}): expected score, observed (n_people,), dosage (n_people, n_snvs), "
            f"ism (n_snvs,); found {score.shape}, {observed.shape}, {G.shape}, {ism.shape}"
        )
    for name, values in (("score", score), ("observed", observed[~np.isnan(observed)]), ("ism", ism)):
        if not np.isfinite(values).all():
            raise ValueError(f"gene_statistics({gene_id}): {name} has {int((~np.isfinite(values)).sum())} "
                             "non-finite values")
    if np.asarray(pos).shape != ism.shape:
        raise ValueError(f"gene_statistics({gene_id}): pos has shape {np.shape(pos)}, expected {ism.shape}")

    # the people with observed expression for this gene (all of them unless the input had NA)
    has = ~np.isnan(observed)
    n_without = int(n_people - has.sum())
    if n_without:
        y, G_y, score_y = observed[has], G[has], score[has]
        covariates_y = None if covariates is None else np.asarray(covariates)[has]
    else:
        y, G_y, score_y, covariates_y = observed, G, score, covariates
    reason = no_result_reason(score_y, y, G_y, n_without)
    too_few = n_without > 0 and y.shape[0] < MIN_PEOPLE
    r, p_r = pearson(score_y, y) if reason is None else (np.nan, np.nan)
    if G_y.shape[1] and not too_few and G_y.std(axis=0).any():
        null_r = null_correlations(G_y, y, n_draws, rng_for_gene(gene_id, seed))
    else:
        null_r = np.full(n_draws, np.nan)  # no predictor of genotype can vary: no null either
    null_mean, null_std = null_summary(null_r)
    if too_few:
        slope = slope_p = np.full(G.shape[1], np.nan)
    else:
        slope, slope_p = eqtl(G_y, y, covariates_y)
    table = drivers(ism, G, score)
    alt_freq, maf = allele_frequencies(G)
    dist, dist_stranded = tss_distance(pos, tss, strand)
    agrees = supported(ism, slope)

    gene = {
        "n_people": int(n_people - n_without),
        "n_without_observed": n_without,
        "n_snvs": int(G.shape[1]),
        "r": r,
        "p_r": p_r,
        "null_mean": null_mean,
        "null_std": null_std,
        "linear_r": linear_approximation_r(ism, G, score) if reason is None else np.nan,
        "n_drivers": int(table["is_driver"].sum()),
        "predixcan_r": predixcan_r(G_y, y, seed=seed) if predixcan and reason is None else np.nan,
        "mean_observed": float(y.mean()) if y.size else np.nan,
        "std_observed": float(y.std()) if y.size else np.nan,
        "mean_predicted": float(score.mean()),
        "std_predicted": float(score.std()),
        "reason": reason,
    }
    variants = pd.DataFrame(
        {
            "alt_freq": alt_freq,
            "maf": maf,
            "tss_distance": dist,
            "tss_distance_stranded": dist_stranded,
            "eqtl_slope": slope,
            "eqtl_p": slope_p,
            "is_driver": table["is_driver"].to_numpy(),
            "is_main_driver": table["is_main_driver"].to_numpy(),
            "driver_gain": table["driver_gain"].to_numpy(),
            "supported": agrees,
        }
    )
    return GeneStatistics(gene=gene, variants=variants, null_r=null_r)


def cohort_statistics(
    genes: pd.DataFrame,
    convention: Convention = "published",
    alpha: float = 0.05,
    n_draws: int = N_DRAWS,
) -> pd.DataFrame:
    """Add t_null, p_null, q_bh and significant (q_bh < alpha) to a genes table (a copy).

    Needs columns r, null_mean, null_std. Genes without a p-value (NaN r or null)
    get NaN t, p and q, are not counted in BH's m, and are not significant.
    """
    missing = {"r", "null_mean", "null_std"} - set(genes.columns)
    if missing:
        raise ValueError(f"cohort_statistics: genes table lacks columns {sorted(missing)}")
    out = genes.copy()
    args = (out["r"].to_numpy(float), out["null_mean"].to_numpy(float), out["null_std"].to_numpy(float))
    out["t_null"] = null_tstat(*args, n_draws=n_draws, convention=convention)
    out["p_null"] = null_pvalues(*args, n_draws=n_draws, convention=convention)
    out["q_bh"] = bh(out["p_null"].to_numpy())
    out["significant"] = (out["q_bh"] < alpha).to_numpy(bool)
    return out
