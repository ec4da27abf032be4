"""compute/store/subsets.py and compute/analyses/sensitivity.py: gene subsets, all-track agreement,
population r, ensembling sign agreement."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from conftest import ROOT

from compute.analyses.sensitivity import sign_agreement
from compute.cli import main
from compute.errors import InputError
from compute.store import GENE_COLUMNS, ResultsStore
from compute.store.subsets import (
    available_subsets,
    in_test_set,
    population_r,
    population_table,
    read_test_set,
    subset_mask,
    subset_summary,
    track_agreement,
)

PUBLISHED = ROOT / "data" / "published"
SOURCE = PUBLISHED / "source"


@pytest.fixture(scope="module")
def store():
    return ResultsStore(PUBLISHED)


def source_table1() -> pd.DataFrame:
    return pd.read_csv(SOURCE / "SupplementaryTable1.tsv", sep="\t", skiprows=1, header=None).set_axis(
        (SOURCE / "SupplementaryTable1.tsv").read_text().splitlines()[0][2:].split("\t"), axis=1
    )


def test_population_r_reproduces_the_paper(store):
    """The paper: population-average r 0.58 on all genes, 0.51 on Enformer test-set genes."""
    table = population_table(store)
    everyone, test = population_r(table, "all"), population_r(table, "test_set")
    assert round(everyone.r, 2) == 0.58 and round(test.r, 2) == 0.51
    # independently from the published files
    raw = pd.read_csv(SOURCE / "MeanGeXPredFineTuned.txt", sep="\t", index_col=0)
    ids = set((SOURCE / "enformer_test_set_genes.txt").read_text().split())
    assert everyone.n_genes == len(raw) == 12_702
    assert everyone.r == pytest.approx(scipy.stats.pearsonr(raw.iloc[:, 0], raw.iloc[:, 1])[0], abs=1e-12)
    held_out = raw.loc[raw.index.isin(ids)]
    assert test.n_genes == len(held_out)
    assert test.r == pytest.approx(
        scipy.stats.pearsonr(held_out.iloc[:, 0], held_out.iloc[:, 1])[0], abs=1e-12
    )


def test_all_track_agreement_of_the_published_genes(store):
    table1 = source_table1()
    both = table1[["PearsonRCAGE,adult,brain", "PearsonRfineTuned"]].dropna()
    agreement = track_agreement(store.genes())
    assert agreement.column == "r_fine_tuned" and agreement.n_genes == len(both) == 6_808
    expected = scipy.stats.pearsonr(both.iloc[:, 0], both.iloc[:, 1])[0]
    # Supplementary Table 1 gives 0.54 across all genes (the issue quotes 0.94 from the paper's text)
    assert agreement.r == pytest.approx(expected, abs=1e-9) and round(agreement.r, 2) == 0.54


def test_published_subsets(store):
    genes = store.genes()
    table1 = source_table1()
    susie = table1["SuSieCausalBrainhg38"].notna() | table1["SusieCausalCortexhg38"].notna()
    assert available_subsets(genes) == ["all", "susie", "test_set"]  # the store's own flag
    assert subset_mask(genes, "susie").sum() == susie.sum()
    ids = set((SOURCE / "enformer_test_set_genes.txt").read_text().split())
    assert subset_mask(genes, "test_set").sum() == table1["gene_id"].isin(ids).sum() == 627
    summary = subset_summary(genes, "all")
    assert (summary.n_genes, summary.n_significant, summary.n_significant_negative) == (6820, 599, 195)
    test = subset_summary(genes, "test_set")
    assert test.n_genes == 627 and test.n_significant == int(genes.significant[genes.gene_id.isin(ids)].sum())
    with pytest.raises(InputError, match="gene subset 'x'"):
        subset_mask(genes, "x")


def test_test_set_lookup_ignores_versions():
    genes = pd.DataFrame({"gene_id": ["ENSG00000203825.4", "ENSG00000000001", "123"]})
    listed = read_test_set(SOURCE / "enformer_test_set_genes.txt")
    assert in_test_set(genes, listed).tolist() == [True, False, False]
    assert in_test_set(genes, {"ENSG00000000001"}).tolist() == [False, True, False]
    assert available_subsets(genes, listed) == ["all", "test_set"]
    assert available_subsets(genes) == ["all"]  # no flag and no list: not offered
    assert available_subsets(pd.DataFrame({"gene_id": ["123", "456"]}), listed) == ["all"]
    with pytest.raises(InputError, match="test-set genes are not known"):
        in_test_set(genes)


def genes_frame(r, significant, ids=None) -> pd.DataFrame:
    ids = ids or [f"G{i}" for i in range(len(r))]
    return pd.DataFrame({"gene_id": ids, "r": r, "significant": significant})


def test_sign_agreement_counts():
    a = genes_frame([0.5, -0.4, 0.3, 0.2, -0.1, np.nan], [True, True, True, False, True, True])
    b = genes_frame([0.4, 0.1, 0.2, -0.2, -0.3, 0.5], [True, False, False, False, True, True])
    result = sign_agreement(a, b)
    # G5 has no r in A; significant in A: G0, G1, G2, G4; G1 flips sign
    assert (result.n_shared, result.n_significant, result.n_same_sign) == (5, 4, 3)
    assert result.n_significant_both == 2 and result.fraction == 0.75
    with pytest.raises(InputError, match="share no gene"):
        sign_agreement(a, genes_frame([0.1], [True], ids=["other"]))


def write_store(path, genes: pd.DataFrame) -> ResultsStore:
    store = ResultsStore.create(path, {"dataset": "computed"})
    full = genes.reindex(columns=GENE_COLUMNS)
    full["gene_id"], full["r"], full["significant"] = genes.gene_id, genes.r, genes.significant
    store.write_table("genes", full)
    return store


def test_compare_command(tmp_path, capsys):
    rng = np.random.default_rng(0)
    r = rng.uniform(-0.8, 0.8, 40)
    noisy = r + rng.normal(0, 0.2, 40)
    sig = np.abs(r) > 0.3
    write_store(tmp_path / "a", genes_frame(r, sig))
    write_store(tmp_path / "b", genes_frame(noisy, np.abs(noisy) > 0.3))
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    same = int((np.sign(r) == np.sign(noisy))[sig].sum())
    assert f"of {sig.sum()} significant in A, {same} keep the sign" in out
    assert f"{scipy.stats.pearsonr(r, noisy)[0]:.3f}" in out
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "none")]) == 2
