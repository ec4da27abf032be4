"""The shipped demo store (data/demo) against its recipe, a reduced rebuild and its ground truth.

The shipped model is the recipe's small Enformer fine-tuned on the training
people of the recorded split; on the people it never saw, the near-TSS
(DDX11-like) genes are explained and their main driver is the causal SNV. The
reduced rebuild (few people, two genes, fine-tuned the same way) shares with the
shipped store what does not depend on the people: the genes and the model
recipe; its ISM agrees with full forward passes of its own model. The shipped
inputs rebuild byte for byte from the recorded seed. The eQTL statistics of the
shipped store are checked with scipy and recover the simulated causal SNVs.
"""

import dataclasses
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyfaidx
import pytest
import torch
from cohort_files import bcftools_consensus, write_fasta
from scipy import stats

# statsmodels.api does not import with pandas 3.1 (statsmodels 0.14.5): take OLS from its module
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from compute.analyses.finetune.data import make_split
from compute.analyses.finetune.train import read_split
from compute.cli import main
from compute.cohort.inputs import read_exons, read_genes
from compute.cohort.reference import Reference, encode, gene_window
from compute.demo import build_demo_inputs
from compute.demo.alphagenome import ALPHAGENOME_NOTE, DEMO_ALPHAGENOME, build_demo_alphagenome
from compute.demo.borzoi import BORZOI_NOTE, DEMO_BORZOI, DEMO_BORZOI_WINDOW, build_demo_borzoi
from compute.demo.build import (
    DEMO_HELD_BACK,
    DEMO_MODEL,
    DEMO_WINDOW,
    MODEL_NOTE,
    RANDOM_MODEL_NOTE,
    build_demo,
    build_demo_model,
    demo_finetune_options,
)
from compute.demo.expression import ExpressionSettings
from compute.engine.attribution import grad_x_input, ism
from compute.engine.model import ModelSpec, score_tokens
from compute.engine.models import RECIPE_FILE, load_model, parameters_digest, small_model
from compute.errors import InputError, ModelError
from compute.run.on_demand import settings_from_manifest
from compute.run.pipeline import precompute, weights_digest
from compute.store import ResultsStore, file_digest

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "data" / "demo"
SHIPPED_ALPHAGENOME = ROOT / "data" / "demo-alphagenome"
SHIPPED_BORZOI = ROOT / "data" / "demo-borzoi"
REDUCED_PEOPLE = 30
REDUCED_GENES = ["DGCR8", "RANBP1"]


def gene_dosage(store: ResultsStore, gene_id: str) -> pd.DataFrame:
    """People x SNVs dosage of one gene from a store's genotypes table."""
    genotypes = store.genotypes(gene_id)
    return pd.DataFrame(genotypes.dosage, index=genotypes.person_ids, columns=genotypes.variant_ids)


@pytest.fixture(scope="module")
def shipped():
    if not (SHIPPED / "manifest.json").is_file():
        pytest.fail("data/demo is missing: build it with `python -m compute demo build data/demo`")
    return ResultsStore(SHIPPED)


@pytest.fixture(scope="module")
def truth(shipped):
    """The ground truth of the genes the store holds (it covers the whole cohort)."""
    truth = pd.read_parquet(shipped.path / "truth.parquet")
    return truth.loc[truth["gene_id"].isin(shipped.genes()["gene_id"])]


@pytest.fixture(scope="module")
def reduced(tmp_path_factory, shipped, external_data):
    out = tmp_path_factory.mktemp("demo") / "store"
    seed = shipped.manifest["recipe"]["seed"]
    return build_demo(
        out, n_people=REDUCED_PEOPLE, seed=seed, genes=REDUCED_GENES, progress=False, external=external_data
    )


@pytest.fixture(scope="module")
def shipped_alphagenome():
    if not (SHIPPED_ALPHAGENOME / "manifest.json").is_file():
        pytest.fail(
            "data/demo-alphagenome is missing: build it with "
            "`python -m compute demo alphagenome data/demo-alphagenome`"
        )
    return ResultsStore(SHIPPED_ALPHAGENOME)


@pytest.fixture(scope="module")
def reduced_alphagenome(tmp_path_factory, reduced, external_data):
    out = tmp_path_factory.mktemp("demo-alphagenome") / "store"
    return build_demo_alphagenome(out, demo=reduced.path, progress=False, external=external_data)


@pytest.fixture(scope="module")
def shipped_borzoi():
    if not (SHIPPED_BORZOI / "manifest.json").is_file():
        pytest.fail(
            "data/demo-borzoi is missing: build it with `python -m compute demo borzoi data/demo-borzoi`"
        )
    return ResultsStore(SHIPPED_BORZOI)


@pytest.fixture(scope="module")
def reduced_borzoi(tmp_path_factory, reduced, external_data):
    out = tmp_path_factory.mktemp("demo-borzoi") / "store"
    return build_demo_borzoi(out, demo=reduced.path, progress=False, external=external_data)


def test_shipped_store_is_small_complete_and_marked_as_demo(shipped):
    size = sum(p.stat().st_size for p in shipped.path.rglob("*") if p.is_file())
    assert size < 20e6
    m = shipped.manifest
    assert m["dataset"] == "demo" and m["demo_model"] is True and m["model_note"] == MODEL_NOTE
    assert m["finalized"] and m["genes_failed"] == 0
    # three genes of the cohort are left for the dashboard to compute on demand
    assert m["genes_done"] == len(shipped.genes()) == m["recipe"]["n_genes"] - 3 == 22
    names = dict(zip(shipped.genes().gene_id, shipped.genes().gene_name, strict=True))
    assert len(m["held_back"]) == 3 and not set(m["held_back"]) & set(names)
    cohort = pd.read_csv(shipped.path / m["inputs"]["genes"]["path"], sep="\t", dtype=str)
    held = cohort.set_index("gene_id").loc[m["held_back"], "gene_name"]
    assert sorted(held) == sorted(DEMO_HELD_BACK) and sorted(m["genes"]) == sorted(names)
    assert m["recipe"]["n_people"] == 839
    for entry in m["inputs"].values():  # recorded inside the store, with their checksums
        assert file_digest(shipped.path / entry["path"]) == entry["sha256"]
    people = shipped.people(shipped.genes().gene_id.iloc[0])
    assert len(people) == 839 and people["observed"].notna().all()


def test_shipped_model_is_the_recipe_model_fine_tuned_on_the_recorded_split(shipped, tmp_path):
    seed = shipped.manifest["recipe"]["seed"]
    start = load_model(build_demo_model(tmp_path / "model", seed=seed), device="cpu")
    tuned = load_model(shipped.path / "model", device="cpu")
    assert tuned.window == start.window == DEMO_WINDOW
    sa, sb = tuned.net.state_dict(), start.net.state_dict()
    assert sa.keys() == sb.keys() and all(sa[k].shape == sb[k].shape for k in sa)
    assert not all(torch.equal(sa[k], sb[k]) for k in sa)  # trained away from the random start
    config = json.loads((shipped.path / "model" / "config.json").read_text())
    assert {k: config[k] for k in DEMO_MODEL} == DEMO_MODEL
    record = json.loads((shipped.path / "model" / "finetune.json").read_text())
    assert record["options"] == json.loads(json.dumps(asdict(demo_finetune_options(seed))))
    assert not (shipped.path / "model" / "checkpoint.pt").exists()
    # the split is the seeded one over the store's people and genes, and the manifest names it
    people = list(shipped.people(shipped.genes().gene_id.iloc[0])["person_id"])
    options = demo_finetune_options(seed)
    cohort = shipped.manifest["genes"] + shipped.manifest["held_back"]  # trained on every cohort gene
    expected = make_split(
        people, sorted(cohort), validation_fraction=options.validation_fraction,
        test_fraction=options.test_fraction, test_gene_fraction=options.test_gene_fraction, seed=seed,
    )  # fmt: skip
    split = read_split(shipped.path / "model")
    assert sorted(split.train_genes) == sorted(expected.train_genes) and split.test_genes == []
    assert (split.train_people, split.validation_people, split.test_people) == (
        expected.train_people, expected.validation_people, expected.test_people,
    )  # fmt: skip
    finetune = shipped.manifest["finetune"]
    assert finetune["test_people"] == split.test_people
    assert finetune["validation_people"] == split.validation_people
    assert finetune["n_train_people"] == len(split.train_people) == 839 - 2 * 126
    assert finetune["best_epoch"] == record["best_epoch"] >= 1
    assert finetune["validation_r"] > finetune["validation_r_start"] + 0.05  # mean over all 25 genes


def test_shipped_near_tss_genes_are_explained_on_held_out_people(shipped, truth):
    """The DDX11-like genes: r > 0 on the test people (scipy), mean r well above zero; the main
    driver is the causal SNV in most of them (README "Shipped datasets: demo" has the table)."""
    test_people = shipped.manifest["finetune"]["test_people"]
    near_tss = truth[truth.scenario == "near_tss"]
    assert len(near_tss) >= 4
    hits, rs = [], []
    for gene_id, causal in zip(near_tss["gene_id"], near_tss["variant_id"], strict=True):
        people = shipped.people(gene_id).set_index("person_id").loc[test_people]
        r = stats.pearsonr(people["predicted"], people["observed"])[0]
        assert r > 0, (gene_id, r)
        rs.append(r)
        variants = shipped.variants(gene_id)
        hits.append(list(variants.loc[variants.is_main_driver, "variant_id"]) == [causal])
    print(f"\nnear-TSS genes, r on the {len(test_people)} test people:", np.round(rs, 3))
    print("main driver = causal SNV:", hits)
    assert np.mean(rs) > 0.4, rs
    assert sum(hits) > len(hits) / 2, hits


def test_shipped_main_drivers_find_causal_snvs_within_the_models_reach(shipped, truth):
    """Every gene with cis signal and a causal SNV within 256 bp of the TSS (well inside what the
    model reads, see the next test) has as main driver that SNV or one in strong LD with it
    (r^2 >= 0.8 in the cohort's dosages, which no method on these data can tell apart); genes
    whose causal SNVs all lie farther out are listed, not asserted (README "Shipped datasets: demo")."""
    within, beyond = [], []
    for gene_id, rows in truth[truth.scenario != "none"].groupby("gene_id", sort=False):
        variants = shipped.variants(gene_id).set_index("variant_id")
        main = variants.index[variants.is_main_driver][0]
        dosage = gene_dosage(shipped, gene_id)
        r2 = max(np.corrcoef(dosage[main], dosage[c])[0, 1] ** 2 for c in rows["variant_id"])
        near = rows["tss_distance"].abs() <= 256
        (within if near.any() else beyond).append((rows["gene_name"].iloc[0], round(float(r2), 2)))
    print("\nmain driver r^2 with a causal SNV; causal SNV within 256 bp:", within, "beyond:", beyond)
    assert len(within) >= 4
    assert all(r2 >= 0.8 for _, r2 in within), within


def test_shipped_model_reads_a_few_hundred_bp_around_the_tss(shipped):
    """Why causal SNVs far from the TSS are missed: the fine-tuned model's gene score (TSS bin and
    its two neighbours) barely depends on bases beyond about 500 bp of the TSS, the reach of the
    conv tower from those bins; its one small attention layer adds little. |gradient x input|
    per base (largest of the three substitutions), mean over the genes, by distance from the TSS."""
    model = load_model(shipped.path / "model", device="cpu")
    reference = Reference(shipped.path / "inputs" / "chr22.fa.gz")
    distance = np.arange(DEMO_WINDOW) - DEMO_WINDOW // 2  # the TSS sits at index L // 2
    profile = []
    for gene in shipped.genes().itertuples():
        start0, end0 = gene_window(int(gene.tss), DEMO_WINDOW)
        ref = reference.tokens(gene.chrom, start0, end0)
        offsets = np.flatnonzero(ref < 4)
        per_alt = [
            np.abs(grad_x_input(model, ModelSpec(), ref, offsets, ((ref[offsets] + k) % 4).astype(np.uint8)))
            for k in (1, 2, 3)
        ]  # fmt: skip
        base = np.full(DEMO_WINDOW, np.nan)
        base[offsets] = np.max(per_alt, axis=0)
        profile.append(base)
    profile = np.nanmean(profile, axis=0)
    bands = [(0, 256), (256, 384), (384, 512), (512, 1024), (1024, 8192)]
    far = np.abs(distance)
    mean = {(a, b): float(np.nanmean(profile[(far >= a) & (far < b)])) for a, b in bands}
    shown = {f"{a}-{b} bp": f"{v:.1e}" for (a, b), v in mean.items()}
    print("\nmean |grad x input| by distance from the TSS:", shown)
    assert mean[(1024, 8192)] < mean[(0, 256)] / 100
    assert mean[(512, 1024)] < mean[(0, 256)] / 10


def test_shipped_inputs_rebuild_byte_for_byte(shipped, tmp_path, external_data):
    recipe = shipped.manifest["recipe"]
    paths = build_demo_inputs(
        tmp_path,
        n_people=recipe["n_people"],
        seed=recipe["seed"],
        external=external_data,
        settings=ExpressionSettings(window=DEMO_WINDOW),
    )
    for name in ("vcf", "genes", "expression", "truth", "summary"):
        assert paths[name].read_bytes() == (shipped.path / "inputs" / paths[name].name).read_bytes(), name


@pytest.mark.slow
def test_reduced_rebuild_agrees_with_the_shipped_store(reduced, shipped):
    """30 people are another msprime draw, so only what does not depend on the people is shared:
    the model recipe, not its fine-tuned weights."""
    assert reduced.manifest["demo_model"] is True and reduced.manifest["model_note"] == MODEL_NOTE
    recipe = {k: v for k, v in shipped.manifest["model"].items() if k != "weights_sha256"}
    assert {k: reduced.manifest["model"][k] for k in recipe} == recipe  # same recipe model, other weights
    assert reduced.manifest["finetune"]["options"] == shipped.manifest["finetune"]["options"]
    assert sorted(reduced.manifest["finetune"]["train_genes"]) == sorted(reduced.genes()["gene_id"])
    split = read_split(reduced.path / "model")
    assert len(split.test_people) == len(split.validation_people) == 4 and len(split.train_people) == 22
    genes = reduced.genes().set_index("gene_id")
    full = shipped.genes().set_index("gene_id").loc[genes.index]
    assert sorted(genes["gene_name"]) == sorted(REDUCED_GENES) and (genes["n_people"] == REDUCED_PEOPLE).all()
    columns = ["gene_name", "chrom", "tss", "strand"]
    assert genes[columns].equals(full[columns])
    # the reduced store's ISM, recomputed with its own fine-tuned model by full forward passes
    model = load_model(reduced.path / "model", device="cpu")
    reference = Reference(reduced.path / "inputs" / "chr22.fa.gz")
    for gene_id, gene in genes.iterrows():
        variants = reduced.variants(gene_id)
        start0, end0 = gene_window(int(gene["tss"]), DEMO_WINDOW)
        offsets = variants["pos"].to_numpy() - 1 - start0
        ref_tokens, alt_tokens = reference.tokens("22", start0, end0), encode("".join(variants["alt"]))
        expected = ism(model, ModelSpec(), ref_tokens, offsets, alt_tokens, method="full")
        np.testing.assert_allclose(variants["ism"], expected, rtol=1e-4, atol=5e-6)  # fp32 noise of the score
        assert len(reduced.people(gene_id)) == REDUCED_PEOPLE


def test_reduced_rebuild_recovers_its_ground_truth(reduced):
    truth = pd.read_parquet(reduced.path / "truth.parquet")
    assert (
        truth.drop_duplicates("gene_id")["scenario"].isin(["near_tss", "several", "ld_block", "none"]).all()
    )
    expression = pd.read_csv(reduced.path / "inputs" / "expression.tsv", sep="\t", index_col="gene_id")
    for gene_id in reduced.genes()["gene_id"]:
        rows = truth[truth.gene_id == gene_id]
        variants = reduced.variants(gene_id).set_index("variant_id")
        dosage = gene_dosage(reduced, gene_id)
        y = expression.loc[gene_id, dosage.index].to_numpy()
        if rows["scenario"].iloc[0] == "none":
            assert variants["eqtl_p"].min() > 0.05 / len(variants), gene_id
            continue
        g = dosage[rows["variant_id"]].to_numpy(float)
        assert set(rows["variant_id"]) <= set(variants.index)  # causal SNVs are in the model's window
        fit = OLS(y, add_constant(g)).fit()  # the causal SNVs together, statsmodels
        assert fit.f_pvalue < 0.01, gene_id  # h2 0.3-0.5 in 30 people: p about 1e-3
        assert np.all(np.abs(fit.params[1:] - rows["beta"].to_numpy()) < 4 * fit.bse[1:]), gene_id


def test_shipped_haplotype_scores_match_bcftools_consensus(shipped, tmp_path):
    """A few people's haplotypes rebuilt with bcftools consensus and scored directly."""
    gene = shipped.genes().iloc[3]
    people = shipped.people(gene["gene_id"]).set_index("person_id")
    model = load_model(shipped.path / "model", device="cpu")
    start0, end0 = gene_window(int(gene["tss"]), DEMO_WINDOW)
    inputs = shipped.path / "inputs"
    seq = str(pyfaidx.Fasta(str(inputs / "chr22.fa.gz"))[gene["chrom"]][start0:end0])
    region_fa = write_fasta(tmp_path / "region.fa", {f"{gene['chrom']}:{start0 + 1}-{end0}": seq})
    for person in ("DEMO0001", "DEMO0420"):
        haplotypes = [bcftools_consensus(region_fa, inputs / "cohort.vcf.gz", person, h) for h in (1, 2)]
        assert haplotypes[0] != seq or haplotypes[1] != seq  # the window holds some of their ALTs
        scores = score_tokens(model, np.stack([encode(h) for h in haplotypes]), ModelSpec())
        np.testing.assert_allclose(scores, people.loc[person, ["hap1", "hap2"]].to_numpy(float), rtol=1e-5)


def test_shipped_eqtls_match_scipy_and_recover_the_truth(shipped, truth):
    inputs = shipped.path / "inputs"
    expression = pd.read_csv(inputs / "expression.tsv", sep="\t", index_col="gene_id")
    null_p = []  # eQTL p-values of the genes without cis signal
    for gene_id, rows in truth.groupby("gene_id", sort=False):
        scenario = rows["scenario"].iloc[0]
        variants = shipped.variants(gene_id).set_index("variant_id")
        dosage = gene_dosage(shipped, gene_id)
        y = expression.loc[gene_id, dosage.index].to_numpy()
        testable = variants.index[variants["maf"] > 0]
        fits = {v: stats.linregress(dosage[v].to_numpy(float), y) for v in testable}
        slope = np.array([fits[v].slope for v in testable])
        np.testing.assert_allclose(variants.loc[testable, "eqtl_slope"], slope, rtol=1e-6, atol=1e-9)
        p = variants.loc[testable, "eqtl_p"].to_numpy()
        if scenario == "none":
            null_p.append(p)
            continue
        assert set(rows["variant_id"]) <= set(variants.index)  # causal SNVs are in the model's window
        joint = OLS(y, add_constant(dosage[rows["variant_id"]].to_numpy(float))).fit()
        assert np.all(np.abs(joint.params[1:] - rows["beta"].to_numpy()) < 4 * joint.bse[1:]), gene_id
        causal, top = rows["variant_id"].iloc[0], variants["eqtl_p"].idxmin()
        if scenario == "near_tss":  # DDX11-like: the causal SNV is the gene's strongest eQTL
            assert top == causal, gene_id
        if scenario == "ld_block":  # the strongest eQTL is the causal SNV or one of its LD partners
            assert np.corrcoef(dosage[top], dosage[causal])[0, 1] ** 2 >= 0.5, gene_id
    # no SNV of the genes without cis signal passes Bonferroni over all their tests (family-wise 5 %)
    null_p = np.concatenate(null_p)
    assert len(null_p) > 100 and null_p.min() > 0.05 / len(null_p)


def test_build_refuses_a_used_directory_and_unknown_genes(tmp_path, external_data):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("")
    with pytest.raises(InputError, match="new or empty directory"):
        build_demo(tmp_path / "used", external=external_data)
    with pytest.raises(InputError, match=r"expected gene names or IDs of the demo region, found \['NOPE'\]"):
        build_demo(tmp_path / "new", n_people=4, genes=["DGCR8", "NOPE"], external=external_data)


def test_build_without_finetune_keeps_the_random_recipe_model(tmp_path, external_data):
    store = build_demo(
        tmp_path / "store", n_people=12, seed=7, genes=["RANBP1"], progress=False, external=external_data,
        finetune=False,
    )  # fmt: skip
    assert store.manifest["model_note"] == RANDOM_MODEL_NOTE and store.manifest["finetune"] is None
    a = load_model(store.path / "model", device="cpu").net.state_dict()
    b = load_model(build_demo_model(tmp_path / "model", seed=7), device="cpu").net.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cli_demo_build_reports_errors_in_one_line(tmp_path, capsys):
    (tmp_path / "x").write_text("")
    assert main(["demo", "build", str(tmp_path), "--no-progress"]) == 2
    assert "new or empty directory" in capsys.readouterr().err


def test_motif_scan_finds_the_fasta_recorded_inside_the_store(shipped, tmp_path):
    from compute.analyses.motifs import _store_fasta

    assert _store_fasta(shipped, None) == shipped.path / "inputs" / "chr22.fa.gz"
    with pytest.raises(InputError, match="not there"):
        moved = tmp_path / "store"
        moved.mkdir()
        (moved / "manifest.json").write_text((shipped.path / "manifest.json").read_text())
        _store_fasta(ResultsStore(moved), None)


def assert_same_cohort_as_the_demo(store: ResultsStore, shipped: ResultsStore) -> list[str]:
    """A store of the demo cohort scored by another model: its inputs recorded inside it with their
    checksums, the demo's 22 genes with their positions and every person's expression; the model's
    scores vary across people. Returns the gene IDs."""
    for entry in store.manifest["inputs"].values():
        assert file_digest(store.path / entry["path"]) == entry["sha256"]
    genes, demo_genes = store.genes().set_index("gene_id"), shipped.genes().set_index("gene_id")
    assert sorted(genes.index) == sorted(demo_genes.index) and len(genes) == 22
    columns = ["gene_name", "chrom", "tss", "strand"]
    assert genes[columns].equals(demo_genes.loc[genes.index, columns])
    for gene_id in genes.index:
        a = store.people(gene_id).set_index("person_id")["observed"]
        b = shipped.people(gene_id).set_index("person_id")["observed"]
        assert a.sort_index().equals(b.sort_index())
        assert a.notna().all() and store.people(gene_id)["predicted"].std() > 0  # the model sees the people
    return list(genes.index)


# ------------------------------------------------------------- the demo scored by a small AlphaGenome


def test_shipped_alphagenome_store_scores_the_demo_cohort(shipped_alphagenome, shipped):
    """A second store of the demo cohort (the models view compares the two): the same people, genes
    and expression, scored by the recipe's small random AlphaGenome over the genes' exons; both
    stores together within the demo's 20 MB."""
    store = shipped_alphagenome
    size = sum(p.stat().st_size for s in (shipped, store) for p in s.path.rglob("*") if p.is_file())
    assert size < 20e6
    m = store.manifest
    assert m["dataset"] == "demo" and m["demo_model"] is True and m["model_note"] == ALPHAGENOME_NOTE
    assert m["finalized"] and m["genes_failed"] == 0
    assert m["recipe"] == shipped.manifest["recipe"] and m["held_back"] == shipped.manifest["held_back"]
    model = m["model"]
    recorded = (model["model"], model["head"], model["readout"], model["track"])
    assert recorded == ("alphagenome", "rna_seq", "exons", 0)
    assert model["demo_config"] == {**DEMO_ALPHAGENOME, "window": DEMO_WINDOW, "seed": m["recipe"]["seed"]}
    assert m["settings"]["window"] == DEMO_WINDOW
    assert_same_cohort_as_the_demo(store, shipped)


def test_shipped_alphagenome_model_is_the_recipe_model(shipped_alphagenome):
    seed = shipped_alphagenome.manifest["recipe"]["seed"]
    shipped_model = load_model(shipped_alphagenome.path / "model", model="alphagenome", device="cpu")
    recipe = small_model(seed, model="alphagenome", window=DEMO_WINDOW, device="cpu", **DEMO_ALPHAGENOME)
    a, b = shipped_model.net.state_dict(), recipe.net.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # from the seed, not trained


@pytest.mark.parametrize("store", [SHIPPED_ALPHAGENOME, SHIPPED_BORZOI], ids=lambda p: p.name)
def test_demo_gtf_holds_each_demo_genes_refseq_exons(store):
    """The GTF's genes have the genes table's TSS, and each gene's first exon starts (+) or ends (-) there."""
    inputs = store / "inputs"
    table = pd.read_csv(inputs / "genes.tsv", sep="\t", dtype={"gene_id": str, "chrom": str})
    gtf = read_genes(inputs / "genes.gtf")
    columns = ["gene_id", "gene_name", "chrom", "tss", "strand"]
    assert gtf[columns].reset_index(drop=True).equals(table[columns])
    exons = read_exons(inputs / "genes.gtf")
    assert sorted(exons) == sorted(table["gene_id"])
    for gene in table.itertuples():
        spans = exons[gene.gene_id]
        first = spans[0, 0] + 1 if gene.strand == "+" else spans[-1, 1]  # back to 1-based
        assert first == gene.tss, gene.gene_name


def test_reduced_alphagenome_rebuild_agrees_with_the_shipped_store(reduced_alphagenome, shipped_alphagenome):
    """The reduced demo (30 people, two genes) scored the same way: the same model (its weights come
    from the seed), the same exons, and the same reference score of each gene (it does not depend on
    the people)."""
    reduced, shipped = reduced_alphagenome, shipped_alphagenome
    assert reduced.manifest["model_note"] == ALPHAGENOME_NOTE
    assert reduced.manifest["model"] == shipped.manifest["model"]  # weights_sha256 included
    genes = reduced.genes().set_index("gene_id")
    full = shipped.genes().set_index("gene_id").loc[genes.index]
    assert sorted(genes["gene_name"]) == sorted(REDUCED_GENES) and (genes["n_people"] == REDUCED_PEOPLE).all()
    columns = ["gene_name", "chrom", "tss", "strand"]
    assert genes[columns].equals(full[columns])
    np.testing.assert_allclose(genes["ref_score"], full["ref_score"], rtol=1e-6)
    a, b = (read_exons(s.path / "inputs" / "genes.gtf") for s in (reduced, shipped))
    assert all(np.array_equal(a[g], b[g]) for g in genes.index)


# ------------------------------------------------------------- the demo scored by a small Borzoi


def test_shipped_borzoi_store_scores_the_demo_cohort(shipped_borzoi, shipped, shipped_alphagenome):
    """A third store of the demo cohort: the same people, genes and expression, scored by the recipe's
    small random Borzoi on its shorter window, read as predict_gene_count reads a gene (RNA-seq over
    the exon bins, both strands); the three demo stores together within the demo's 20 MB."""
    store = shipped_borzoi
    stores = (shipped, shipped_alphagenome, store)
    size = sum(p.stat().st_size for s in stores for p in s.path.rglob("*") if p.is_file())
    assert size < 20e6
    m = store.manifest
    assert m["dataset"] == "demo" and m["demo_model"] is True and m["model_note"] == BORZOI_NOTE
    assert "not trained" in BORZOI_NOTE and "4,096-bp window" in BORZOI_NOTE
    assert m["finalized"] and m["genes_failed"] == 0
    assert m["recipe"] == shipped.manifest["recipe"] and m["held_back"] == shipped.manifest["held_back"]
    model = m["model"]
    recorded = tuple(model[k] for k in ("model", "head", "readout", "track", "summary", "reverse_complement"))
    assert recorded == ("borzoi", "human", "exons", 7539, "log1p_sum", True)
    assert "predict_gene_count" in model["readout_note"]
    assert model["demo_config"] == {**DEMO_BORZOI, "window": DEMO_BORZOI_WINDOW, "seed": m["recipe"]["seed"]}
    assert m["settings"]["window"] == DEMO_BORZOI_WINDOW
    for gene_id in assert_same_cohort_as_the_demo(store, shipped):
        # its SNVs are the demo's inside the shorter window
        assert set(store.variants(gene_id)["variant_id"]) <= set(shipped.variants(gene_id)["variant_id"])


def test_shipped_borzoi_model_is_rebuilt_from_its_recipe(shipped_borzoi):
    """No weights are shipped (about 134 MB): model/ holds the recipe, and loading the store's model
    rebuilds the seeded small Borzoi and checks it against the recorded digest of its parameters."""
    model_dir = shipped_borzoi.path / "model"
    assert sorted(p.name for p in model_dir.iterdir()) == [RECIPE_FILE]
    recipe = json.loads((model_dir / RECIPE_FILE).read_text())
    seed = shipped_borzoi.manifest["recipe"]["seed"]
    assert (recipe["model"], recipe["seed"], recipe["window"]) == ("borzoi", seed, DEMO_BORZOI_WINDOW)
    assert recipe["hparams"] == DEMO_BORZOI
    assert shipped_borzoi.manifest["model"]["weights_sha256"] == weights_digest(model_dir)
    loaded = load_model(model_dir, model="borzoi", device="cpu")
    assert loaded.window == DEMO_BORZOI_WINDOW and loaded.n_bins == DEMO_BORZOI["bins"]
    assert parameters_digest(loaded.net) == recipe["parameters_sha256"]
    fresh = small_model(seed, model="borzoi", window=DEMO_BORZOI_WINDOW, device="cpu", **DEMO_BORZOI)
    a, b = loaded.net.state_dict(), fresh.net.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ModelError, match="holds a borzoi recipe; run it with --model borzoi"):
        load_model(model_dir, model="enformer", device="cpu")


def test_a_recipe_that_rebuilds_other_parameters_is_refused(shipped_borzoi, tmp_path):
    """Another torch could draw other weights from the seed: the rebuild is compared with the digest
    recorded when the store was built, and a difference is a clear error naming the recipe."""
    recipe = json.loads((shipped_borzoi.path / "model" / RECIPE_FILE).read_text())
    changed = tmp_path / "changed"
    changed.mkdir()
    (changed / RECIPE_FILE).write_text(json.dumps({**recipe, "seed": recipe["seed"] + 1}))
    with pytest.raises(ModelError, match=r"recipe.json: the borzoi rebuilt from this recipe \(seed 2024"):
        load_model(changed, model="borzoi", device="cpu")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / RECIPE_FILE).write_text(json.dumps({"model": "borzoi", "seed": 1}))
    with pytest.raises(ModelError, match="expected a model recipe"):
        load_model(broken, model="borzoi", device="cpu")


def test_reduced_borzoi_rebuild_equals_the_shipped_rows(shipped_borzoi, tmp_path):
    """A run with the store's own recorded settings and model (rebuilt from its recipe, as on-demand
    genes and add-genes load it) on a few of its people and one gene: each person's haplotype scores,
    the reference score and each SNV's ISM and gradient equal the shipped store's rows."""
    gene_id = "ENSG00000040608"  # RTN4R
    files, settings = settings_from_manifest(shipped_borzoi, device="cpu", batch_size=8)
    people = shipped_borzoi.people(gene_id)["person_id"].iloc[::84].tolist()  # 10 of the 839
    expression = pd.read_csv(files.expression, sep="\t", index_col=0)
    expression[people].to_csv(tmp_path / "expression.tsv", sep="\t")
    files = dataclasses.replace(files, expression=str(tmp_path / "expression.tsv"))
    reduced = precompute(files, settings, tmp_path / "store", genes=[gene_id], progress=False)
    assert reduced.manifest["model"]["weights_sha256"] == shipped_borzoi.manifest["model"]["weights_sha256"]
    mine = reduced.people(gene_id).set_index("person_id")
    theirs = shipped_borzoi.people(gene_id).set_index("person_id").loc[mine.index]
    assert sorted(mine.index) == sorted(people)
    for column in ("hap1", "hap2", "predicted", "observed"):
        np.testing.assert_allclose(mine[column], theirs[column], rtol=1e-5, atol=1e-6, err_msg=column)
    ref_scores = [s.genes().set_index("gene_id").loc[gene_id, "ref_score"] for s in (reduced, shipped_borzoi)]
    assert ref_scores[0] == pytest.approx(ref_scores[1], rel=1e-6)
    mine_v = reduced.variants(gene_id).set_index("variant_id")
    theirs_v = shipped_borzoi.variants(gene_id).set_index("variant_id")
    shared = mine_v.index.intersection(theirs_v.index)
    assert len(shared) >= len(theirs_v) // 2
    for column in ("ism", "grad_x_input"):
        np.testing.assert_allclose(
            mine_v.loc[shared, column], theirs_v.loc[shared, column], rtol=1e-4, atol=1e-6, err_msg=column
        )


@pytest.mark.slow
def test_reduced_borzoi_demo_build_agrees_with_the_shipped_store(reduced_borzoi, shipped_borzoi):
    """`demo borzoi` over the reduced demo (30 people, two genes): the same recipe (the same digest), the
    same exons and the same reference score of each gene (it does not depend on the people)."""
    reduced, shipped = reduced_borzoi, shipped_borzoi
    assert reduced.manifest["model_note"] == BORZOI_NOTE
    assert reduced.manifest["model"] == shipped.manifest["model"]  # weights_sha256 (the recipe) included
    genes = reduced.genes().set_index("gene_id")
    full = shipped.genes().set_index("gene_id").loc[genes.index]
    assert sorted(genes["gene_name"]) == sorted(REDUCED_GENES) and (genes["n_people"] == REDUCED_PEOPLE).all()
    np.testing.assert_allclose(genes["ref_score"], full["ref_score"], rtol=1e-6)
    a, b = (read_exons(s.path / "inputs" / "genes.gtf") for s in (reduced, shipped))
    assert all(np.array_equal(a[g], b[g]) for g in genes.index)


@pytest.mark.parametrize("kind", ["alphagenome", "borzoi"])
def test_scored_demo_builds_refuse_a_store_that_is_not_the_demo(kind, tmp_path, capsys):
    (tmp_path / "x").write_text("")
    assert main(["demo", kind, str(tmp_path), "--no-progress"]) == 2
    assert "new or empty directory" in capsys.readouterr().err
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "manifest.json").write_text(json.dumps({"format": 2, "dataset": "computed"}))
    build = {"alphagenome": build_demo_alphagenome, "borzoi": build_demo_borzoi}[kind]
    with pytest.raises(InputError, match="expected the demo store"):
        build(tmp_path / "new", demo=fake)
