"""compute.stats primitives against independent implementations (scipy, statsmodels, scikit-learn).

statsmodels is imported module by module: `statsmodels.api` 0.14.5 fails to import
under pandas 3 (its tsa module calls pandas' deprecate_kwarg with the old signature).
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.linear_model import ElasticNetCV
from sklearn.model_selection import KFold, cross_val_predict
from statsmodels.regression.linear_model import OLS
from statsmodels.stats.multitest import multipletests
from statsmodels.tools.tools import add_constant

from compute import stats
from compute.stats.reference import predixcan_r_sklearn


@pytest.fixture
def rng():
    return np.random.default_rng(20230601)


def _dosage(rng, n_people, n_snvs):
    freq = rng.uniform(0.02, 0.5, n_snvs)
    return rng.binomial(2, freq, size=(n_people, n_snvs)).astype(np.uint8)


def test_pearson_matches_scipy(rng):
    for n in (3, 10, 200):
        x = rng.standard_normal(n)
        y = 0.3 * x + rng.standard_normal(n)
        r, p = stats.pearson(x, y)
        ref = sps.pearsonr(x, y)
        assert r == pytest.approx(ref.statistic, abs=1e-12)
        assert p == pytest.approx(ref.pvalue, rel=1e-9)


def test_pearson_strong_correlation_tiny_p(rng):
    x = rng.standard_normal(839)
    y = x + 0.05 * rng.standard_normal(839)
    r, p = stats.pearson(x, y)
    ref = sps.pearsonr(x, y)
    assert r == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-6) or p == ref.pvalue == 0.0


def test_pearson_columns_matches_scipy_per_column(rng):
    X = rng.standard_normal((50, 7))
    X[:, 3] = 2.0  # constant column
    y = X[:, 0] - X[:, 1] + rng.standard_normal(50)
    r, p = stats.pearson_columns(X, y)
    for j in range(7):
        if j == 3:
            assert np.isnan(r[j]) and np.isnan(p[j])
            continue
        ref = sps.pearsonr(X[:, j], y)
        assert r[j] == pytest.approx(ref.statistic, abs=1e-12)
        assert p[j] == pytest.approx(ref.pvalue, rel=1e-9)


def test_pearson_constant_input_is_nan():
    r, p = stats.pearson(np.ones(10), np.arange(10.0))
    assert np.isnan(r) and np.isnan(p)
    r, p = stats.pearson(np.arange(10.0), np.full(10, 3.7))
    assert np.isnan(r) and np.isnan(p)


def test_eqtl_matches_linregress_and_statsmodels(rng):
    G = _dosage(rng, 300, 40)
    G[:, 5] = 1  # monomorphic (all heterozygous)
    G[:, 9] = 0
    y = 0.4 * G[:, 0] - 0.2 * G[:, 1] + rng.standard_normal(300)
    slope, p = stats.eqtl(G, y)
    for v in range(40):
        if v in (5, 9):
            assert np.isnan(slope[v]) and np.isnan(p[v])
            continue
        lr = sps.linregress(G[:, v].astype(float), y)
        assert slope[v] == pytest.approx(lr.slope, rel=1e-10, abs=1e-12)
        assert p[v] == pytest.approx(lr.pvalue, rel=1e-8)
        ols = OLS(y, add_constant(G[:, v].astype(float))).fit()
        assert slope[v] == pytest.approx(ols.params[1], rel=1e-10, abs=1e-12)
        assert p[v] == pytest.approx(ols.pvalues[1], rel=1e-8)


def test_bh_matches_statsmodels(rng):
    p = rng.uniform(size=500) ** 3
    p[::7] = 1.0
    p[3] = p[4]  # ties
    q = stats.bh(p)
    ref = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(q, ref, rtol=1e-12)


def test_bh_keeps_nan_out_of_m(rng):
    p = rng.uniform(size=100) ** 2
    p_nan = p.copy()
    p_nan[[1, 50, 99]] = np.nan
    q = stats.bh(p_nan)
    assert np.isnan(q[[1, 50, 99]]).all()
    ok = ~np.isnan(p_nan)
    np.testing.assert_allclose(q[ok], multipletests(p_nan[ok], method="fdr_bh")[1], rtol=1e-12)
    # counting them as tests (as if p = 1) is the explicit alternative
    q_all = stats.bh(p_nan, n_tests=100)
    expected = multipletests(np.nan_to_num(p_nan, nan=1.0), method="fdr_bh")[1]
    np.testing.assert_allclose(q_all[ok], expected[ok])


def test_bh_edge_cases():
    assert stats.bh(np.array([])).shape == (0,)
    assert np.isnan(stats.bh(np.array([np.nan, np.nan]))).all()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.bh(np.array([0.1, 1.5]))
    with pytest.raises(ValueError, match="n_tests"):
        stats.bh(np.array([0.1, 0.2]), n_tests=1)


def test_null_pvalues_published_and_textbook_formulas():
    r, mean, std, n = np.array([0.3, -0.3, 0.01]), 0.05, 0.04, 50
    t_pub = (np.abs(r) - mean) / np.sqrt(std / n)
    t_text = (np.abs(r) - mean) / (std / np.sqrt(n))
    np.testing.assert_allclose(stats.null_tstat(r, mean, std), t_pub)
    np.testing.assert_allclose(stats.null_tstat(r, mean, std, convention="textbook"), t_text)
    p = stats.null_pvalues(r, mean, std)
    np.testing.assert_allclose(p[:2], sps.t.sf(t_pub[:2], 49))
    assert p[0] == p[1]  # |r|: the sign of r does not matter
    assert p[2] == 1.0  # t < 0
    with pytest.raises(ValueError, match="convention"):
        stats.null_pvalues(r, mean, std, convention="two-sided")


def test_null_pvalues_nan_in_nan_out():
    p = stats.null_pvalues(np.array([np.nan, 0.2, 0.2, 0.2]), np.array([0.1, np.nan, 0.1, 0.1]),
                           np.array([0.02, 0.02, np.nan, 0.02]))
    assert np.isnan(p[:3]).all() and p[3] < 0.05


def test_null_correlations_are_seeded_and_match_a_direct_loop(rng):
    G = _dosage(rng, 120, 30)
    y = rng.standard_normal(120)
    a = stats.null_correlations(G, y, 50, stats.rng_for_gene("ENSG00000013573", 7))
    b = stats.null_correlations(G, y, 50, stats.rng_for_gene("ENSG00000013573", 7))
    c = stats.null_correlations(G, y, 50, stats.rng_for_gene("ENSG00000134202", 7))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    weights = stats.rng_for_gene("ENSG00000013573", 7).standard_normal((30, 50))
    direct = [sps.pearsonr(G @ weights[:, k], y).statistic for k in range(50)]
    np.testing.assert_allclose(a, direct, atol=1e-12)
    mean, std = stats.null_summary(a)
    assert mean == pytest.approx(np.mean(np.abs(direct)))
    assert std == pytest.approx(np.std(np.abs(direct), ddof=0))


def test_rng_for_gene_is_stable_across_processes():
    # fixed expectation: SHA-256 based, not Python's salted hash()
    value = stats.rng_for_gene("ENSG00000013573", 0).integers(0, 2**31)
    assert value == stats.rng_for_gene("ENSG00000013573", 0).integers(0, 2**31)
    import subprocess
    import sys

    code = (
        "from compute.stats import rng_for_gene; "
        "print(rng_for_gene('ENSG00000013573', 0).integers(0, 2**31))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == value


def test_null_without_polymorphic_snvs_is_nan():
    G = np.zeros((20, 5))
    r = stats.null_correlations(G, np.arange(20.0), 10, 0)
    assert np.isnan(r).all()
    assert all(np.isnan(stats.null_summary(r)))


def test_linear_approximation(rng):
    G = _dosage(rng, 60, 12)
    ism = rng.standard_normal(12)
    lin = stats.linear_approximation(ism, G)
    np.testing.assert_allclose(lin, [sum(ism[v] * G[i, v] for v in range(12)) for i in range(60)])
    score = lin + 0.1 * rng.standard_normal(60)
    assert stats.linear_approximation_r(ism, G, score) == pytest.approx(sps.pearsonr(lin, score).statistic)
    with pytest.raises(ValueError, match="non-finite"):
        stats.linear_approximation(np.array([np.nan] * 12), G)


def test_supported_signs():
    got = stats.supported(np.array([1.0, -1.0, 1.0, 0.0, 2.0]), np.array([0.5, -0.1, -0.3, 1.0, np.nan]))
    assert list(got[:3]) == [True, True, False]
    assert got.isna().tolist() == [False, False, False, True, True]


def test_tss_distance_paper_and_stranded():
    d, s = stats.tss_distance(np.array([100, 250, 300]), 200, "+")
    assert d.tolist() == [-100, 50, 100] and s.tolist() == [-100, 50, 100]
    d, s = stats.tss_distance(np.array([100, 250, 300]), 200, "-")
    assert d.tolist() == [-100, 50, 100] and s.tolist() == [100, -50, -100]
    with pytest.raises(ValueError, match="strand"):
        stats.tss_distance(np.array([1]), 1, ".")


def test_allele_frequencies():
    G = np.array([[0, 2, 1], [0, 2, 1], [2, 2, 1], [0, 2, 0]])
    alt, maf = stats.allele_frequencies(G)
    np.testing.assert_allclose(alt, [0.25, 1.0, 0.375])
    np.testing.assert_allclose(maf, [0.25, 0.0, 0.375])


def test_predixcan_matches_direct_scikit_learn(rng):
    G = _dosage(rng, 200, 60).astype(float)
    y = G[:, 3] - 0.7 * G[:, 10] + rng.standard_normal(200)
    got = stats.predixcan_r(G, y, seed=3)
    outer = KFold(5, shuffle=True, random_state=3)
    inner = KFold(5, shuffle=True, random_state=3)
    model = ElasticNetCV(l1_ratio=0.5, alphas=10, eps=1e-2, cv=inner, tol=1e-3)
    keep = G.std(axis=0) > 0
    pred = cross_val_predict(model, G[:, keep], y, cv=outer)
    expected = sps.pearsonr(pred, y).statistic
    # the reference implementation is scikit-learn itself; the fast one (compute/stats/elastic_net.py)
    # stops within the same duality-gap tolerance, not at the same iterate
    assert predixcan_r_sklearn(G, y, seed=3) == pytest.approx(expected, abs=1e-10)
    assert got == pytest.approx(expected, abs=0.005)
    assert got > 0.4


def test_predixcan_nan_without_signal_or_snvs(rng):
    assert np.isnan(stats.predixcan_r(np.zeros((50, 4)), rng.standard_normal(50)))
    G = _dosage(rng, 100, 5)
    y = G[:, 0] + rng.standard_normal(100)
    assert np.isfinite(stats.predixcan_r(G, y, seed=0))
    # a path of one penalty is alpha_max, the smallest penalty that removes every SNV
    assert np.isnan(stats.predixcan_r(G, y, seed=0, n_alphas=1))


def test_population_average_r(rng):
    ref = rng.standard_normal(100)
    mean_obs = 0.5 * ref + rng.standard_normal(100)
    ref[7] = np.nan
    r, p, n = stats.population_average_r(ref, mean_obs)
    ok = ~np.isnan(ref)
    expected = sps.pearsonr(ref[ok], mean_obs[ok])
    assert n == 99 and r == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)


def test_gene_statistics_row_and_variant_columns(rng):
    G = _dosage(rng, 150, 40)
    ism = rng.standard_normal(40) * 0.01
    ism[4] = 1.0
    score = G @ ism
    observed = 0.5 * G[:, 4] + rng.standard_normal(150)
    pos = np.arange(1000, 1040)
    res = stats.gene_statistics("G1", score, observed, G, ism, pos, 1020, "-", predixcan=False)
    assert res.gene["r"] == pytest.approx(sps.pearsonr(score, observed).statistic)
    assert res.gene["n_people"] == 150 and res.gene["n_snvs"] == 40
    assert res.gene["linear_r"] == pytest.approx(1.0)
    assert res.gene["n_drivers"] >= 1 and bool(res.variants["is_main_driver"].iloc[4])
    assert list(res.variants.columns) == [
        "alt_freq", "maf", "tss_distance", "tss_distance_stranded", "eqtl_slope", "eqtl_p",
        "is_driver", "is_main_driver", "driver_gain", "supported",
    ]
    assert res.variants["tss_distance"].iloc[0] == -20 and res.variants["tss_distance_stranded"].iloc[0] == 20
    assert bool(res.variants["supported"].iloc[4])
    assert len(res.null_r) == 50
    again = stats.gene_statistics("G1", score, observed, G, ism, pos, 1020, "-", predixcan=False)
    np.testing.assert_array_equal(res.null_r, again.null_r)
    with pytest.raises(ValueError, match="G1"):
        stats.gene_statistics("G1", score[:-1], observed, G, ism, pos, 1020, "-")


def test_cohort_statistics_adds_columns_with_nan():
    genes = pd.DataFrame(
        {"gene_id": ["a", "b", "c", "d"], "r": [0.5, -0.4, np.nan, 0.01],
         "null_mean": [0.05, 0.05, 0.05, 0.05], "null_std": [0.03, 0.03, 0.03, 0.03]}
    )
    out = stats.cohort_statistics(genes)
    assert "q_bh" not in genes.columns  # a copy
    assert np.isnan(out.loc[2, ["t_null", "p_null", "q_bh"]].to_numpy(float)).all()
    assert out["significant"].tolist() == [True, True, False, False]
    expected = multipletests(out["p_null"].dropna(), method="fdr_bh")[1]
    np.testing.assert_allclose(out["q_bh"].dropna(), expected)
    text = stats.cohort_statistics(genes, convention="textbook")
    assert text.loc[0, "t_null"] > out.loc[0, "t_null"]
    with pytest.raises(ValueError, match="null_std"):
        stats.cohort_statistics(genes.drop(columns="null_std"))


def test_gene_statistics_rejects_non_finite_input(rng):
    G = _dosage(rng, 30, 5)
    observed = rng.standard_normal(30)
    observed[3] = np.inf  # NaN is a person without a value for this gene (left out), inf an error
    with pytest.raises(ValueError, match="observed has 1 non-finite"):
        stats.gene_statistics("G2", G @ np.ones(5), observed, G, np.ones(5), np.arange(5), 2, "+")


def test_importing_stats_does_not_load_scikit_learn():
    import subprocess
    import sys

    code = "import sys, compute.stats; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
