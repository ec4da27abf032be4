"""Covariates and normalisation as eQTL studies use them: expression normalised (rank-based
inverse normal, optional), then residualised on [1, covariates] per gene before every statistic;
the eQTL slope and p are the dosage coefficient and its t-test in y ~ 1 + dosage + covariates
(n - 2 - k df, tensorQTL's map_nominal). Checked against statsmodels OLS."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.regression.linear_model import OLS
from statsmodels.tools import add_constant

from compute.errors import InputError
from compute.run.pipeline import precompute
from compute.stats import eqtl, inverse_normal, residualize
from tests.cohort_files import files_for, settings_for, simulated_cohort


def test_eqtl_with_covariates_is_the_dosage_coefficient_of_ols():
    rng = np.random.default_rng(0)
    n, k = 150, 4
    G = rng.integers(0, 3, size=(n, 6)).astype(float)
    C = rng.normal(size=(n, k))
    y = 0.5 * G[:, 2] + C @ rng.normal(size=k) + rng.normal(size=n)
    slope, p = eqtl(G, residualize(y, C), C)
    for j in range(G.shape[1]):
        fit = OLS(y, add_constant(np.column_stack([G[:, j], C]))).fit()
        assert slope[j] == pytest.approx(fit.params[1], rel=1e-9, abs=1e-12)
        assert p[j] == pytest.approx(fit.pvalues[1], rel=1e-7)
        assert fit.df_resid == n - 2 - k
    np.testing.assert_allclose(residualize(y, C), OLS(y, add_constant(C)).fit().resid, atol=1e-10)
    # without covariates: the simple regression as before
    slope0, p0 = eqtl(G, y)
    fit = OLS(y, add_constant(G[:, 2])).fit()
    assert slope0[2] == pytest.approx(fit.params[1], rel=1e-9)
    assert p0[2] == pytest.approx(fit.pvalues[1], rel=1e-7)


def test_inverse_normal_is_gtex_rank_over_n_plus_one():
    np.testing.assert_allclose(inverse_normal([3.0, 1.0, 2.0]), sps.norm.ppf([0.75, 0.25, 0.5]))
    np.testing.assert_allclose(inverse_normal([5.0, 5.0, 1.0]), sps.norm.ppf([2.5 / 4, 2.5 / 4, 1 / 4]))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("cov")
    c = simulated_cohort(base, seed=9, n_people=40)
    rng = np.random.default_rng(4)
    table = pd.DataFrame(rng.normal(size=(3, len(c["samples"]))), columns=c["samples"],
                         index=pd.Index(["PC1", "PC2", "sex"], name="ID"))  # fmt: skip
    table.loc["sex"] = rng.integers(0, 2, size=len(c["samples"]))
    table.to_csv(base / "covariates.txt", sep="\t")  # tensorQTL's layout: covariates x samples
    table.T.to_csv(base / "covariates_by_sample.csv")  # and its transpose, as CSV
    c["covariates"], c["table"] = base / "covariates.txt", table
    return c


def test_precompute_residualises_expression_and_adjusts_eqtls(cohort, tiny_weights, tmp_path):
    files = replace(files_for(cohort), covariates=str(cohort["covariates"]))
    settings = settings_for(tiny_weights)
    settings = replace(settings, stats=replace(settings.stats, normalize="inverse-normal"))
    store = precompute(files, settings, tmp_path / "s", progress=False)
    assert store.manifest["settings"]["stats"]["normalize"] == "inverse-normal"
    assert store.manifest["inputs"]["covariates"]["sha256"]
    assert store.manifest["input_report"]["expression"]["covariates"] == ["PC1", "PC2", "sex"]
    raw_table = pd.read_csv(cohort["expression"], sep="\t").set_index("gene_id")
    genes = store.genes().set_index("gene_id")
    for gene_id in ("G1", "G3"):
        people = store.people(gene_id)
        C = cohort["table"][people["person_id"]].T.to_numpy(float)
        raw = raw_table.loc[gene_id, people["person_id"]].to_numpy(float)
        np.testing.assert_allclose(people["observed_raw"], raw)
        y = inverse_normal(raw)
        np.testing.assert_allclose(people["observed"], OLS(y, add_constant(C)).fit().resid, atol=1e-10)
        r = sps.pearsonr(people["predicted"], people["observed"])[0]
        assert genes.loc[gene_id, "r"] == pytest.approx(r, abs=1e-9)
        dosage = store.genotypes(gene_id)
        order = pd.Index(dosage.person_ids).get_indexer(people["person_id"])
        variants = store.variants(gene_id)
        for j, row in enumerate(variants.itertuples()):
            g = dosage.dosage[order, j].astype(float)
            if g.std() == 0:
                continue
            fit = OLS(y, add_constant(np.column_stack([g, C]))).fit()
            assert row.eqtl_slope == pytest.approx(fit.params[1], rel=1e-6, abs=1e-9)
            assert row.eqtl_p == pytest.approx(fit.pvalues[1], rel=1e-5)
    # the dashboard says what the observed values are
    from components.data import Datasets

    datasets = Datasets([store.path])
    label = "observed expression (inverse normal, residualised on 3 covariates)"
    assert datasets.observed_label(datasets.default) == label
    # the transposed CSV gives the same store
    files_t = replace(files, covariates=str(cohort["covariates"].parent / "covariates_by_sample.csv"))
    again = precompute(files_t, settings, tmp_path / "t", progress=False)
    pd.testing.assert_frame_equal(again.people("G1"), store.people("G1"))


def test_people_without_covariates_are_left_out_and_counted_once(cohort, tmp_path):
    table = cohort["table"].drop(columns=cohort["samples"][:3])
    table.to_csv(tmp_path / "fewer.txt", sep="\t")
    loaded = replace(files_for(cohort), covariates=str(tmp_path / "fewer.txt")).load(2048)
    assert loaded.without_covariates == cohort["samples"][:3] and len(loaded.people) == 37
    report = loaded.report()["people"]
    assert report["without_covariates"]["count"] == 3 and report["only_in_vcf"]["count"] == 0
    assert "3 people left out without covariates" in loaded.summary()


def test_a_non_numeric_covariate_is_refused_naming_it(cohort, tmp_path):
    table = cohort["table"].astype(object)
    table.loc["batch"] = ["plate1"] * table.shape[1]
    table.to_csv(tmp_path / "bad.txt", sep="\t")
    files = replace(files_for(cohort), covariates=str(tmp_path / "bad.txt"))
    with pytest.raises(InputError, match=r"bad.txt: covariate 'batch': expected numbers .* found 'plate1'"):
        files.load(2048)
