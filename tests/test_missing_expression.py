"""NA in the expression: that person is left out of that gene's statistics only, and counted.

A cohort with NAs scattered in the genes used, and covariates: each gene's r, null draws, eQTL
slopes and p-values and PrediXcan-style baseline equal an independent computation (scipy,
statsmodels OLS, scikit-learn) over the gene's people with a value; the people table keeps every
person (predictions for all, NaN observed where the input had NA); the counts are in the manifest
and printed by `validate` and `precompute`; a gene where all but two people are NA is stored with
r NaN and its reason instead of a crash."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.regression.linear_model import OLS
from statsmodels.tools import add_constant

from compute import stats
from compute.cli import main
from compute.cohort.reference import gene_window
from compute.run.pipeline import precompute
from compute.stats import rng_for_gene
from compute.stats.reference import null_correlations_naive, predixcan_r_sklearn
from tests.cohort_files import files_for, settings_for, simulated_cohort

WINDOW = 2048
NA_PEOPLE = {"G1": [0, 5, 17, 30], "G3": [2, 11, 39]}  # G2: every person but two


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> dict:
    """`simulated_cohort` (40 people) with expression driven by three SNVs of each gene's window
    (so the baseline selects SNVs), covariates in tensorQTL's layout, and NAs."""
    base = tmp_path_factory.mktemp("na")
    c = simulated_cohort(base, seed=9, n_people=40)
    loaded = files_for(c).load(WINDOW)
    rng = np.random.default_rng(5)
    covariates = pd.DataFrame(rng.normal(size=(2, len(loaded.people))), columns=loaded.people,
                              index=pd.Index(["PC1", "PC2"], name="ID"))  # fmt: skip
    values = {}
    for gene in loaded.genes.itertuples():
        G = loaded.window_variants(gene.chrom, *gene_window(gene.tss, WINDOW)).dosage.astype(float)
        beta = np.zeros(G.shape[1])
        beta[rng.choice(np.flatnonzero(G.std(axis=0) > 0), 3, replace=False)] = 0.8
        values[gene.gene_id] = G @ beta + covariates.T.to_numpy() @ [0.5, -0.3] + rng.normal(size=G.shape[0])
    table = pd.DataFrame(values, index=loaded.people).T.astype(object)
    for gene_id, idx in NA_PEOPLE.items():
        table.loc[gene_id, [loaded.people[i] for i in idx]] = "NA"
    table.loc["G2", loaded.people[2:]] = ""  # all but two people without a value
    table.index.name = "gene_id"
    table.to_csv(c["expression"], sep="\t")
    covariates.to_csv(base / "covariates.txt", sep="\t")
    c["covariates"], c["covariate_table"], c["people"] = base / "covariates.txt", covariates, loaded.people
    return c


def test_precompute_leaves_each_person_out_of_that_gene_only(cohort, tiny_weights, tmp_path):
    files = replace(files_for(cohort), covariates=str(cohort["covariates"]))
    settings = settings_for(tiny_weights)
    settings = replace(settings, stats=replace(settings.stats, predixcan=True))
    printed: list[str] = []
    store = precompute(files, settings, tmp_path / "s", progress=False, announce=printed.append)
    assert store.manifest["finalized"] and not store.failures()
    genes = store.genes().set_index("gene_id")
    raw = pd.read_csv(cohort["expression"], sep="\t", index_col=0)  # pandas reads "" and NA as NaN
    for gene_id, idx in NA_PEOPLE.items():
        people = store.people(gene_id)
        assert len(people) == 40 and np.isfinite(people["predicted"]).all()  # predictions for every person
        observed = people["observed"].to_numpy(float)
        left_out = people["person_id"].to_numpy()[np.isnan(observed)].tolist()
        assert left_out == [cohort["people"][i] for i in idx]
        np.testing.assert_array_equal(np.isnan(people["observed_raw"].to_numpy(float)), np.isnan(observed))
        has = ~np.isnan(observed)
        assert genes.loc[gene_id, "n_people"] == has.sum() == 40 - len(idx)
        assert genes.loc[gene_id, "n_without_observed"] == len(idx)
        # residualised on [1, covariates] over the gene's people with a value, checked with statsmodels
        who = people["person_id"].to_numpy()[has]
        C = cohort["covariate_table"][who].T.to_numpy(float)
        y = raw.loc[gene_id, who].to_numpy(float)
        resid = OLS(y, add_constant(C)).fit().resid
        np.testing.assert_allclose(observed[has], resid, atol=1e-10)
        predicted = people["predicted"].to_numpy(float)[has]
        r, p = sps.pearsonr(predicted, resid)
        assert genes.loc[gene_id, "r"] == pytest.approx(r, abs=1e-10)
        assert genes.loc[gene_id, "p_r"] == pytest.approx(p, rel=1e-8)
        assert genes.loc[gene_id, "mean_observed"] == pytest.approx(resid.mean(), abs=1e-12)
        # genotypes of those people, in the store's person order
        stored = store.genotypes(gene_id)
        G = stored.dosage[pd.Index(stored.person_ids).get_indexer(people["person_id"])].astype(float)[has]
        variants = store.variants(gene_id)
        tested = 0
        for j, row in enumerate(variants.itertuples()):
            if G[:, j].std() == 0:
                assert np.isnan(row.eqtl_slope)
                continue
            fit = OLS(y, add_constant(np.column_stack([G[:, j], C]))).fit()  # y ~ 1 + g + covariates
            assert row.eqtl_slope == pytest.approx(fit.params[1], rel=1e-7, abs=1e-10)
            assert row.eqtl_p == pytest.approx(fit.pvalues[1], rel=1e-6)
            tested += 1
        assert tested >= 5
        # the gene-specific null: the same seeded weights, one scipy r per draw over those people
        weights = rng_for_gene(gene_id, settings.stats.seed).standard_normal((G.shape[1], 20))
        np.testing.assert_allclose(store.null(gene_id)["r"], null_correlations_naive(G, resid, weights),
                                   atol=1e-10)  # fmt: skip
        # the baseline's cross-validation over the people with a value (scikit-learn's ElasticNetCV)
        baseline = predixcan_r_sklearn(G, resid, seed=settings.stats.seed)
        assert np.isfinite(baseline)
        assert genes.loc[gene_id, "predixcan_r"] == pytest.approx(baseline, abs=0.005)
    # all but two people NA: stored with its reason, every statistic of expression NaN
    g2 = genes.loc["G2"]
    assert g2["reason"] == "only 2 of 40 people have observed expression (r needs at least 3)"
    assert np.isnan(g2["r"]) and np.isnan(g2["null_mean"]) and np.isnan(g2["predixcan_r"])
    assert g2["n_people"] == 2 and g2["n_without_observed"] == 38 and not g2["significant"]
    assert store.variants("G2")["eqtl_slope"].isna().all()
    # counted in the manifest and printed
    missing = store.manifest["input_report"]["expression"]["missing_values"]
    assert missing["count"] == 4 + 38 + 3 and missing["genes"] == 3
    first = ", ".join(cohort["people"][i] for i in [0, 5, 17])
    assert missing["examples"][0] == f"G1: 4 of 40 people ({first}, ...)"
    text = "\n".join(printed)
    assert "expression missing (NA) for 45 person-gene pairs in 3 genes" in text
    check_dashboard_views(store.path)


def check_dashboard_views(path) -> None:
    """The views that plot observed expression leave out the people without it, and say how many."""
    import json

    from components import expression, genotype
    from components.data import Datasets
    from components.selection import Selection

    datasets = Datasets([path])
    name = datasets.default
    assert "expression NA (person left out of that gene): 45 in 3 genes" in datasets.describe(name)
    snv = str(datasets.gene(name, "G1").variants["variant_id"].iloc[0])
    for snv_shown in (None, snv):
        figure, _ = expression.render(datasets, Selection(name, "G1", snv_shown))
        json.dumps(figure, default=lambda v: np.asarray(v).tolist())
        label = figure["layout"]["annotations"][0]["text"]
        assert "n = 36" in label and "4 without observed expression (not shown)" in label
        points = [np.asarray(t["y"], float) for t in figure["data"] if t["type"] == "scattergl"]
        assert sum(len(y) for y in points) == 36 and all(np.isfinite(y).all() for y in points)
    figure, _ = genotype.render(datasets, Selection(name, "G1", snv))
    assert sum(len(t["y"]) for t in figure["data"]) == 36
    assert all(np.isfinite(np.asarray(t["y"], float)).all() for t in figure["data"])


def test_validate_prints_the_count(cohort, capsys):
    args = ["validate", "--fasta", str(cohort["fasta"]), "--vcf", str(cohort["vcf"]), "--genes",
            str(cohort["genes"]), "--expression", str(cohort["expression"]), "--missing", "reference",
            "--window", str(WINDOW)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "expression missing (NA) for 45 person-gene pairs in 3 genes" in out and "e.g. G1: 4 of 40" in out


def test_the_commands_that_train_on_expression_refuse_na(cohort):
    loaded = files_for(cohort).load(WINDOW)
    from compute.errors import InputError

    with pytest.raises(InputError, match=r"finetune: expression is missing for 45 person-gene pairs in 3"):
        loaded.refuse_missing_expression("finetune")


def test_gene_statistics_with_na_are_those_of_the_people_with_a_value():
    rng = np.random.default_rng(12)
    n, m = 60, 25
    G = rng.binomial(2, 0.3, size=(n, m)).astype(float)
    score = G @ rng.normal(size=m) + rng.normal(size=n)
    observed = G[:, :3].sum(axis=1) + rng.normal(size=n)
    C = rng.normal(size=(n, 2))
    na = rng.choice(n, 9, replace=False)
    has = np.ones(n, bool)
    has[na] = False
    with_na = observed.copy()
    with_na[na] = np.nan
    ism = rng.normal(size=m)
    args = dict(ism=ism, pos=np.arange(m) * 10 + 100, tss=300, strand="+", seed=3, n_draws=30)
    got = stats.gene_statistics("G", score, with_na, G, covariates=C, **args)
    only = stats.gene_statistics("G", score[has], observed[has], G[has], covariates=C[has], **args)
    whole = stats.gene_statistics("G", score, observed, G, covariates=C, **args)
    for key in ("r", "p_r", "null_mean", "null_std", "predixcan_r", "mean_observed", "std_observed"):
        assert got.gene[key] == only.gene[key], key
    assert got.gene["n_people"] == 51 and got.gene["n_without_observed"] == 9
    np.testing.assert_array_equal(got.null_r, only.null_r)
    for column in ("eqtl_slope", "eqtl_p", "supported"):
        pd.testing.assert_series_equal(got.variants[column], only.variants[column])
    # the model's own statistics keep every person: drivers, linear r, allele frequencies, predicted
    for column in ("is_driver", "driver_gain", "alt_freq"):
        pd.testing.assert_series_equal(got.variants[column], whole.variants[column])
    assert got.gene["linear_r"] == whole.gene["linear_r"] and got.gene["mean_predicted"] == score.mean()
    # two people left: the reason, NaN statistics of expression, no crash
    two = np.full(n, np.nan)
    two[:2] = observed[:2]
    few = stats.gene_statistics("G", score, two, G, covariates=C, **args)
    assert few.gene["reason"] == "only 2 of 60 people have observed expression (r needs at least 3)"
    assert np.isnan([few.gene["r"], few.gene["null_mean"], few.gene["predixcan_r"]]).all()
    assert few.variants["eqtl_slope"].isna().all() and few.variants["supported"].isna().all()
    # enough for r, too few for the baseline's folds (7 with 5 x 5): NaN there, not a crash
    five = np.full(n, np.nan)
    five[:5] = observed[:5]
    some = stats.gene_statistics("G", score, five, G, **args)
    assert some.gene["reason"] is None and np.isfinite(some.gene["r"]) and np.isnan(some.gene["predixcan_r"])


def test_inverse_normal_ranks_each_gene_over_its_people_with_a_value(cohort):
    loaded = files_for(cohort).load(WINDOW, "inverse-normal")
    raw = loaded.observed_raw("G1")
    has = ~np.isnan(raw)
    assert has.sum() == 36
    expected = sps.norm.ppf(sps.rankdata(raw[has]) / (has.sum() + 1))  # GTEx: rank / (n + 1)
    observed = loaded.observed("G1")
    np.testing.assert_allclose(observed[has], expected, atol=1e-12)
    assert np.isnan(observed[~has]).all()
