"""Borzoi and AlphaGenome on a cohort: a small precompute with each whose store equals an independent
computation: the plain library (borzoi-pytorch's AnnotatedBorzoi.predict_gene_count with its own
Gene.output_slice exon bins; alphagenome-pt's AlphaGenome.predict at 128 bp) on each person's
haplotypes built here from the VCF rows, for haplotype scores, ISM and r. Small random
configurations on 4,096-bp windows, seeded; the library modules get the saved weights."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from compute.errors import InputError
from compute.run.pipeline import precompute
from compute.run.settings import ModelOptions, RunSettings, StatsOptions, same_run, to_manifest
from compute.stats.correlation import pearson
from tests.cohort_files import (
    files_for,
    random_sequence,
    read_store,
    write_expression,
    write_fasta,
    write_vcf,
)

WINDOW = 4096
BORZOI_WINDOW = 2048  # its convolution widths are fixed by the package: the shortest window keeps it fast
LENGTH = 9000
GENES = [("GA", "ALPHA", 3000, "+", [(2700, 3100), (3400, 3600)]),
         ("GB", "BETA", 6000, "-", [(5300, 5500), (5900, 6200)])]  # fmt: skip
TOKENS = {b: i for i, b in enumerate("ACGTN")}


def cohort(tmp_path: Path, n_people: int = 14, n_snvs: int = 12, seed: int = 5) -> dict:
    """One chromosome, biallelic SNVs around two genes, a GTF with gene and exon records (1-based)."""
    rng = np.random.default_rng(seed)
    seq = random_sequence(rng, LENGTH)
    samples = [f"S{i}" for i in range(n_people)]
    rows = []
    for pos in np.sort(rng.choice(np.arange(1500, 7500), size=n_snvs, replace=False)):
        ref = seq[pos - 1]
        alt = str(rng.choice([b for b in "ACGT" if b != ref]))
        gts = [f"{int(rng.random() < 0.4)}|{int(rng.random() < 0.4)}" for _ in samples]
        rows.append(("chr1", int(pos), f"rs{pos}", ref, alt, gts))
    gtf = tmp_path / "genes.gtf"
    lines = []
    for gene_id, name, tss, strand, exons in GENES:
        attrs = f'gene_id "{gene_id}"; gene_name "{name}";'
        start, end = min(e[0] for e in exons), max(e[1] for e in exons)
        start, end = (tss, end) if strand == "+" else (start, tss)
        lines.append(f"chr1\ttest\tgene\t{start}\t{end}\t.\t{strand}\t.\t{attrs}")
        lines += [f"chr1\ttest\texon\t{a}\t{b}\t.\t{strand}\t.\t{attrs} transcript_id \"{gene_id}.1\";"
                  for a, b in exons]  # fmt: skip
    gtf.write_text("\n".join(lines) + "\n")
    return dict(
        fasta=write_fasta(tmp_path / "ref.fa", {"chr1": seq}),
        vcf=write_vcf(tmp_path / "cohort.vcf.gz", samples, rows, {"chr1": LENGTH}),
        genes=gtf,
        expression=write_expression(tmp_path / "expression.tsv", [g[0] for g in GENES], samples, seed=seed),
        seq=seq, rows=rows, samples=samples,
    )  # fmt: skip


def settings(
    weights: Path, model: str, gradients: bool = False, window: int = WINDOW, **options
) -> RunSettings:
    return RunSettings(
        window=window,
        model=ModelOptions(weights=str(weights), model=model, batch_size=8, device="cpu", **options),
        stats=StatsOptions(null_draws=10, seed=1, predixcan=False),
        gradients=gradients,
    )


def haplotypes(c: dict, tss: int, window: int) -> tuple[int, dict[str, tuple[str, str]]]:
    """The window's 0-based start and each person's two haplotypes, from the VCF rows as written."""
    start0 = tss - 1 - window // 2
    ref = c["seq"][start0 : start0 + window]
    out = {}
    for k, sample in enumerate(c["samples"]):
        pair = []
        for h in (0, 1):
            s = list(ref)
            for _, pos, _, _, alt, gts in c["rows"]:
                if 0 <= pos - 1 - start0 < window and gts[k].split("|")[h] == "1":
                    s[pos - 1 - start0] = alt
            pair.append("".join(s))
        out[sample] = tuple(pair)
    return start0, out


def one_hot(seqs: list[str]) -> torch.Tensor:
    """(B, L, 4) float, channels A,C,G,T."""
    idx = torch.tensor([[TOKENS[b] for b in s] for s in seqs])
    return torch.eye(5, 4)[idx]


def check_store(c: dict, store: Path, score, gene_ids: tuple[str, ...] = ("GA", "GB")) -> None:
    """Haplotype scores, ISM and r of the genes against `score(gene, start0, seqs) -> (B,)`; each distinct
    sequence is scored once."""
    tables = read_store(store)
    people, variants, genes = tables["people.parquet"], tables["variants.parquet"], tables["genes.parquet"]
    window = json.loads((store / "manifest.json").read_text())["settings"]["window"]

    def unique_score(gene, start0, seqs):
        distinct = sorted(set(seqs))
        values = dict(zip(distinct, score(gene, start0, distinct), strict=True))
        return np.array([values[s] for s in seqs])

    for gene in [g for g in GENES if g[0] in gene_ids]:
        gene_id, tss = gene[0], gene[2]
        start0, haps = haplotypes(c, tss, window)
        rows = people[people["gene_id"] == gene_id].set_index("person_id").loc[c["samples"]]
        expected = unique_score(gene, start0, [s for pair in haps.values() for s in pair]).reshape(-1, 2)
        np.testing.assert_allclose(rows[["hap1", "hap2"]].to_numpy(), expected, rtol=2e-5, atol=1e-4)
        # float32 noise (~1e-6 of the scores) against a random model's small spread between people
        r, _ = pearson(expected.mean(1), rows["observed"].to_numpy())
        assert genes.set_index("gene_id").loc[gene_id, "r"] == pytest.approx(r, abs=2e-3)
        ref = c["seq"][start0 : start0 + window]
        snvs = variants[variants["gene_id"] == gene_id]
        assert len(snvs) >= 3
        mutated = []
        for pos, alt in zip(snvs["pos"], snvs["alt"], strict=True):
            o = pos - 1 - start0
            mutated.append(ref[:o] + alt + ref[o + 1 :])
        scores = score(gene, start0, [ref, *mutated])
        # a difference of two fp32 scores: good to a few units of fp32 resolution at the scores' scale
        atol = 4e-6 * float(np.abs(scores).max())
        np.testing.assert_allclose(snvs["ism"].to_numpy(), scores[1:] - scores[0], rtol=1e-3, atol=atol)
        assert np.abs(snvs["ism"]).max() > 1e-4  # the random model sees its input


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """The cohort, scored by a small Borzoi (its default readout) and a small AlphaGenome (rna_seq
    track 1; built for 8,192 bp and run on 4,096: the window is the run's, recorded)."""
    from compute.engine.models import save_weights, small_model

    base = tmp_path_factory.mktemp("models")
    c = cohort(base)
    out = dict(cohort=c)
    for name, built, window, options in (("borzoi", BORZOI_WINDOW, BORZOI_WINDOW, {}),
                                         ("alphagenome", 2 * WINDOW, WINDOW, {"track": 1})):  # fmt: skip
        model = small_model(seed=3, model=name, window=built, device="cpu")
        out[f"{name}_weights"] = weights = save_weights(model, base / f"{name}_weights")
        out[name] = base / name
        run = settings(weights, name, gradients=True, window=window, **options)
        precompute(files_for(c), run, out[name], progress=False)
    return out


@pytest.mark.slow
def test_borzoi_store_equals_predict_gene_count(runs, tmp_path):
    from borzoi_pytorch import Borzoi
    from borzoi_pytorch.gene_utils import Gene
    from borzoi_pytorch.pytorch_borzoi_model import AnnotatedBorzoi

    c, weights, out = runs["cohort"], runs["borzoi_weights"], runs["borzoi"]

    track = 6635  # 'RNA:brain tissue female adult (66 years)', stranded: its pair is 6636
    store_b = tmp_path / "store_stranded"
    precompute(
        files_for(c),
        settings(weights, "borzoi", window=BORZOI_WINDOW, track=track),
        store_b,
        genes=["GB"],
        progress=False,
    )

    # AnnotatedBorzoi built on the saved config and given the saved weights (its from_pretrained leaves
    # the track-annotation buffers on transformers' meta device).
    plain = Borzoi.from_pretrained(weights, local_files_only=True)
    net = AnnotatedBorzoi(plain.config).eval()
    net.load_state_dict(plain.state_dict())
    n_bins = int(net.crop.target_length)
    crop_bp = (BORZOI_WINDOW // 32 - n_bins) // 2 * 32

    def scorer(track: int):
        column = net.sense_tracks.tolist().index(track)

        def score(gene, start0, seqs):
            g = Gene("chr1", gene[3], {})
            for a, b in gene[4]:
                g.add_exon(a - 1, b)  # GTF 1-based closed -> BED
            bins = torch.from_numpy(g.output_slice(start0 + crop_bp, n_bins * 32, 32))
            with torch.no_grad():
                counts = net.predict_gene_count(one_hot(seqs).transpose(1, 2), gene_slices=[bins] * len(seqs))
            return counts[:, column].double().numpy()

        return score

    check_store(c, out, scorer(7539), ("GA",))  # each gene once: the full model is slow on 2 cores
    check_store(c, store_b, scorer(track), ("GB",))
    grads = read_store(out)["variants.parquet"]["grad_x_input"]
    assert np.isfinite(grads).all() and np.abs(grads).max() > 0  # gradients run through Borzoi too
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["model"] == "borzoi" and manifest["model"]["readout"] == "exons"
    assert manifest["model"]["track"] == 7539 and manifest["model"]["summary"] == "log1p_sum"
    assert manifest["model"]["reverse_complement"] is True
    assert "predict_gene_count" in manifest["model"]["readout_note"]
    assert manifest["settings"]["window"] == BORZOI_WINDOW


def test_alphagenome_store_equals_the_package_forward(runs, tmp_path):
    from alphagenome_pt import AlphaGenome

    c, weights, rna, cage = (
        runs["cohort"],
        runs["alphagenome_weights"],
        runs["alphagenome"],
        tmp_path / "cage",
    )
    precompute(files_for(c), settings(weights, "alphagenome", track=2, head="cage"), cage, progress=False)

    net = AlphaGenome.load(weights).eval()

    def scorer(head: str, track: int):
        def score(gene, start0, seqs):
            if head == "cage":
                t = (WINDOW // 2) // 128
                bins = [t - 1, t, t + 1]
            else:  # every 128-bp bin an exon overlaps (exons as 0-based half-open window offsets)
                exons = [(a - 1 - start0, b - start0) for a, b in gene[4]]
                bins = [
                    b
                    for b in range(WINDOW // 128)
                    if any(lo < (b + 1) * 128 and b * 128 < hi for lo, hi in exons)
                ]
            out = net.predict(one_hot(seqs))[head]["predictions_128bp"][:, :, track]
            return out[:, bins].sum(-1).double().numpy()

        return score

    check_store(c, rna, scorer("rna_seq", 1))
    grads = read_store(rna)["variants.parquet"]["grad_x_input"]
    assert np.isfinite(grads).all() and np.abs(grads).max() > 0
    check_store(c, cage, scorer("cage", 2))
    manifest = json.loads((cage / "manifest.json").read_text())
    assert (manifest["model"]["head"], manifest["model"]["readout"], manifest["model"]["summary"]) == (
        "cage", "tss", "sum",
    )  # fmt: skip
    assert manifest["settings"]["window"] == WINDOW


def test_exons_readout_needs_a_gtf_and_the_right_model(tmp_path):
    from compute.engine.models import save_weights, small_model

    c = cohort(tmp_path, n_snvs=6)
    tsv = tmp_path / "genes.tsv"
    columns = ["gene_id", "gene_name", "chrom", "tss", "strand"]
    pd.DataFrame([(g[0], g[1], "chr1", g[2], g[3]) for g in GENES], columns=columns).to_csv(tsv, sep="\t")
    ag = small_model(seed=1, model="alphagenome", window=WINDOW, device="cpu")
    weights = save_weights(ag, tmp_path / "ag")
    with pytest.raises(InputError, match="needs each gene's exons: give --genes as a GTF"):
        precompute(
            replace(files_for(c), genes=str(tsv)),
            settings(weights, "alphagenome"),
            tmp_path / "s",
            progress=False,
        )
    from compute.errors import ModelError

    with pytest.raises(ModelError, match="holds alphagenome weights; run it with --model alphagenome"):
        precompute(files_for(c), settings(weights, "borzoi"), tmp_path / "s2", progress=False)


def test_old_stores_resume_as_enformer():
    """A manifest made before --model and --readout existed is an Enformer store at its defaults."""
    new = to_manifest(RunSettings(window=None, model=ModelOptions(weights="w")))["model"]
    old = {k: v for k, v in new.items() if k not in ("model", "readout", "readout_note")}
    assert same_run(old, new)
    borzoi = to_manifest(RunSettings(window=None, model=ModelOptions(weights="w", model="borzoi")))["model"]
    assert not same_run(old, borzoi)
    assert (borzoi["track"], borzoi["readout"], borzoi["summary"]) == (7539, "exons", "log1p_sum")


def test_compare_two_models_of_the_same_cohort(runs, capsys, tmp_path):
    """`compare` of the Borzoi and the AlphaGenome store: per-gene r and significance as each store has
    them, sign differences, each store's drivers with their support, LD between them from the VCF."""
    from compute.analyses.sensitivity import compare_stores, drivers_side_by_side
    from compute.cli import main

    a, b = runs["borzoi"], runs["alphagenome"]
    result = compare_stores(a, b)
    genes = result["genes"].set_index("gene_id")
    genes_a, genes_b = (read_store(p)["genes.parquet"].set_index("gene_id") for p in (a, b))
    assert sorted(genes.index) == ["GA", "GB"]
    for gene_id, row in genes.iterrows():
        assert row["r_a"] == genes_a.loc[gene_id, "r"] and row["r_b"] == genes_b.loc[gene_id, "r"]
        sig = (bool(genes_a.loc[gene_id, "significant"]), bool(genes_b.loc[gene_id, "significant"]))
        assert row["where"] == {(True, True): "both", (True, False): "A only", (False, True): "B only",
                                (False, False): "neither"}[sig]  # fmt: skip
        assert row["sign_differs"] == (np.sign(row["r_a"]) * np.sign(row["r_b"]) < 0)
    assert result["models"][0].startswith("borzoi human track 7539, exons bins, log1p_sum")
    assert result["models"][1].startswith("alphagenome rna_seq track 1, exons bins, sum")

    store_a, store_b = result["stores"]
    c = runs["cohort"]
    dosage = {row[2]: np.array([sum(int(x) for x in gt.split("|")) for gt in row[5]]) for row in c["rows"]}
    n_drivers = 0
    for gene_id in ("GA", "GB"):
        table, r2 = drivers_side_by_side(store_a, store_b, gene_id)
        for name, path in (("A", a), ("B", b)):
            v = read_store(path)["variants.parquet"]
            drivers = v[(v["gene_id"] == gene_id) & v["is_driver"].astype(bool)]
            mine = table[table["store"] == name]
            assert mine["variant_id"].tolist() == drivers["variant_id"].tolist()
            assert mine["supported"].tolist() == drivers["supported"].tolist()
            n_drivers += len(drivers)
        ids_a = table.loc[table["store"] == "A", "variant_id"].tolist()
        ids_b = table.loc[table["store"] == "B", "variant_id"].tolist()
        for i, va in enumerate(ids_a):
            for j, vb in enumerate(ids_b):
                expected = np.corrcoef(dosage[va], dosage[vb])[0, 1] ** 2
                assert r2[i, j] == pytest.approx(expected, abs=1e-9)
    assert n_drivers > 0

    out = tmp_path / "comparison.tsv"
    assert main(["compare", str(a), str(b), "--gene", "GA", "--gene", "GB", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "A: borzoi human track 7539" in printed and "significant: both" in printed
    assert "drivers of GA" in printed and "drivers of GB" in printed
    assert pd.read_csv(out, sep="\t")["gene_id"].tolist() == ["GA", "GB"]


def test_on_demand_gene_of_an_alphagenome_store(runs, tmp_path):
    """add-genes (the dashboard's on-demand genes) runs a gene with the model, window and readout the
    store's manifest records: the same rows as the full run."""
    from compute.run.on_demand import compute_genes

    c, weights, full = runs["cohort"], runs["alphagenome_weights"], runs["alphagenome"]
    out = tmp_path / "partial"
    precompute(files_for(c), settings(weights, "alphagenome", gradients=True, track=1), out, genes=["GA"],
               progress=False)  # fmt: skip
    assert compute_genes(out, ["GB"], device="cpu", batch_size=8) == {"GB": None}
    for table in ("people.parquet", "variants.parquet"):
        added = read_store(out)[table].query("gene_id == 'GB'").reset_index(drop=True)
        whole = read_store(full)[table].query("gene_id == 'GB'").reset_index(drop=True)
        pd.testing.assert_frame_equal(added[whole.columns], whole)


def test_dashboard_models_view(runs):
    """The models view on the Borzoi and AlphaGenome stores: one point per gene in both, coloured by
    where each is significant, the selected gene's drivers of both stores with their support."""
    from components import models
    from components.data import Datasets
    from components.selection import Selection
    from compute.store.comparison import gene_comparison

    datasets = Datasets([runs["borzoi"], runs["alphagenome"]])
    a, b = datasets.names
    assert models.others(datasets, a) == [b]
    sel = Selection(dataset=a, gene_id="GA")
    figure, note, summary, drivers, options, other = models.render(datasets, sel, None)
    assert options == [{"label": b, "value": b}] and other == b and "borzoi" in note and "alphagenome" in note
    expected = gene_comparison(datasets.genes(a), datasets.genes(b))
    for trace, where in zip(figure["data"], models.WHERE, strict=False):
        part = expected[expected["where"] == where]
        assert list(trace["x"]) == list(part["r_a"]) and list(trace["y"]) == list(part["r_b"])
    assert list(figure["data"][-1]["text"]) == ["ALPHA"]  # the selected gene, ringed
    text = str(drivers)
    for path in (runs["borzoi"], runs["alphagenome"]):
        v = read_store(path)["variants.parquet"].query("gene_id == 'GA' and is_driver")
        assert all(variant in text for variant in v["variant_id"])


def test_track_by_description():
    """--track-description picks the first Borzoi track whose targets.txt description holds the text, read
    without importing torch; the manifest records both and resumes; other models refuse it."""
    import subprocess
    import sys

    from borzoi_pytorch.pytorch_borzoi_model import TRACKS_DF

    from compute.run.settings import from_manifest

    options = ModelOptions(weights="w", model="borzoi", track_description="rna:BRAIN")
    expected = int(TRACKS_DF.index[TRACKS_DF["description"].str.lower().str.contains("rna:brain")][0])
    assert options.track == expected == 6635
    run = RunSettings(window=WINDOW, model=options)
    manifest = {**to_manifest(run), "settings": {**to_manifest(run)["settings"], "window": WINDOW}}
    back = from_manifest(manifest, "m")
    assert back.model == replace(options, batch_size=back.model.batch_size) and same_run(
        to_manifest(run)["model"], to_manifest(RunSettings(window=WINDOW, model=back.model))["model"]
    )
    with pytest.raises(InputError, match="disagree"):
        ModelOptions(weights="w", model="borzoi", track=7539, track_description="rna:brain")
    with pytest.raises(InputError, match="no borzoi track"):
        ModelOptions(weights="w", model="borzoi", track_description="no such tissue")
    with pytest.raises(InputError, match="ships no track descriptions"):
        ModelOptions(weights="w", model="alphagenome", track_description="brain")
    code = (
        "import sys; from compute.run.settings import ModelOptions; "
        "ModelOptions(weights='w', model='borzoi', track_description='brain'); "
        "assert 'torch' not in sys.modules"
    )
    root = Path(__file__).resolve().parent.parent
    assert subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True).returncode == 0


@pytest.mark.slow  # not serial: a local Ray of its own, as in test_pipeline.py and test_one_pass.py (serial
# would build this module's `runs` again in scripts/pytest.sh's second phase)
def test_ray_workers_score_each_model_as_this_process_does(runs, tmp_path):
    """The Ray backend's actors load the model the settings name (Borzoi, AlphaGenome) from the same
    weights and give the store of the local run exactly."""
    import ray

    import compute
    from compute.run.backends import RayBackend

    c = runs["cohort"]
    # one Ray for both runs (each run starts its own otherwise: test_pipeline.py checks that way)
    ray.init(include_dashboard=False, log_to_driver=False,
             runtime_env={"py_modules": [str(Path(compute.__file__).parent)]})  # fmt: skip
    try:
        for name, window, options in (("borzoi", BORZOI_WINDOW, {}), ("alphagenome", WINDOW, {"track": 1})):
            out = tmp_path / name
            run = settings(runs[f"{name}_weights"], name, gradients=True, window=window, **options)
            precompute(files_for(c), run, out, backend=RayBackend(), progress=False)
            local, remote = read_store(runs[name]), read_store(out)
            assert list(local) == list(remote)
            for table in local:
                pd.testing.assert_frame_equal(local[table], remote[table], check_exact=True)
    finally:
        ray.shutdown()
