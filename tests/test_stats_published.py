"""The null-model test and BH reproduce Supplementary Table 1 of Sasse et al. 2023.

The table gives, per gene, Pearson r of Enformer (CAGE brain adult) vs observed
expression, mean and std of |r| of the 50 random predictors, and the published
t, -log10 p and -log10 BH-adjusted p, rounded to 3 decimals. From r, mean and std
alone, the `published` convention gives those columns back to rounding.

How the table treats genes without a value: a NaN r entered as 0 (t < 0, p = 1),
a std of 0 gave NaN t and p, and BH counted NaN p as p = 1 (m = all 6,820 genes).
"""

import numpy as np
import pandas as pd
import pytest

from compute import stats
from tests.conftest import PUBLISHED_SOURCE

TABLE = PUBLISHED_SOURCE / "SupplementaryTable1.tsv"
R = "PearsonRCAGE,adult,brain"
T = "TstatCAGE,adult,brain"
LOG_P = "Log10PvalueTstatCAGE,adult,brain"
LOG_Q = "Log10BHPvalueTstatCAGE,adult,brain"
ROUNDING = 0.0005 + 1e-9  # columns are printed with 3 decimals


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    if not TABLE.exists():
        pytest.fail(f"published table missing: {TABLE} (shipped in data/published/source/)")
    df = pd.read_csv(TABLE, sep="\t")
    df.columns = [c.removeprefix("# ") for c in df.columns]
    return df


def _inputs(table):
    r = np.nan_to_num(table[R].to_numpy(float), nan=0.0)
    return r, table["RmeanRandom"].to_numpy(float), table["Rstdrandom"].to_numpy(float)


def test_published_t_and_p_to_rounding(table):
    r, mean, std = _inputs(table)
    t = stats.null_tstat(r, mean, std)
    p = stats.null_pvalues(r, mean, std)
    assert np.array_equal(np.isnan(t), table[T].isna().to_numpy())
    np.testing.assert_allclose(t[~np.isnan(t)], table[T].dropna(), atol=ROUNDING)
    log_p = -np.log10(p)
    published = table[LOG_P].to_numpy(float)
    assert np.array_equal(np.isnan(log_p), np.isnan(published))
    np.testing.assert_allclose(log_p[~np.isnan(log_p)], published[~np.isnan(published)], atol=ROUNDING)


def test_published_bh_to_rounding_and_counts(table):
    r, mean, std = _inputs(table)
    p = stats.null_pvalues(r, mean, std)
    q = stats.bh(np.nan_to_num(p, nan=1.0))  # the table's treatment: NaN p counted as 1
    np.testing.assert_allclose(-np.log10(q), table[LOG_Q], atol=ROUNDING)
    significant = q < 0.05
    assert significant.sum() == 599
    assert (significant & (table[R].to_numpy(float) < 0)).sum() == 195
    published_significant = table[LOG_Q].to_numpy(float) > -np.log10(0.05)
    assert np.array_equal(significant, published_significant)


def test_nan_excluded_bh_gives_the_same_genes(table):
    """The project's default (NaN p not counted in m: 6,807 tests) moves q by < 0.0015 in -log10."""
    r, mean, std = _inputs(table)
    q = stats.bh(stats.null_pvalues(r, mean, std))
    assert np.isnan(q).sum() == 13
    ok = ~np.isnan(q)
    assert np.max(np.abs(-np.log10(q[ok]) - table[LOG_Q].to_numpy(float)[ok])) < 0.0015
    assert (q < 0.05).sum() == 599


def test_cohort_statistics_on_the_published_genes(table):
    genes = pd.DataFrame({"r": table[R], "null_mean": table["RmeanRandom"], "null_std": table["Rstdrandom"]})
    out = stats.cohort_statistics(genes)
    assert out["significant"].sum() == 599
    assert (out["significant"] & (out["r"] < 0)).sum() == 195


def test_textbook_convention_differs(table, capsys):
    genes = pd.DataFrame({"r": table[R], "null_mean": table["RmeanRandom"], "null_std": table["Rstdrandom"]})
    text = stats.cohort_statistics(genes, convention="textbook")
    n_sig = int(text["significant"].sum())
    n_neg = int((text["significant"] & (text["r"] < 0)).sum())
    with capsys.disabled():
        print(f"\ntextbook null convention: {n_sig} BH-significant genes, {n_neg} with r < 0 "
              "(published convention: 599, 195)")
    assert n_sig != 599
