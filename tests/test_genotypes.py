"""Genotypes in every computed store: the packed format, precompute writing it, the dashboard's
dosages and group sizes against `bcftools query`, LD r² against numpy, and the command that adds
genotypes to an older store."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from compute.cli import main
from compute.errors import InputError
from compute.run.genotypes import add_genotypes
from compute.run.pipeline import precompute
from compute.stats.ld import R2_BINS, PackedWindowLD, WindowLD, r2_bin, r2_with
from compute.store import ResultsStore
from compute.store.genotypes import (
    GENOTYPES_TABLE,
    GeneGenotypes,
    PackedGenotypes,
    genotype_row,
    pack_alleles,
    unpack_alleles,
)
from tests.cohort_files import bcftools_dosage, small_run


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """A small cohort (multi-allelic SNVs, missing calls) run through precompute."""
    base = tmp_path_factory.mktemp("genotypes")
    cohort, files, settings = small_run(
        base, seed=11, n_people=24, null_draws=5, predixcan=False, gradients=False
    )
    return cohort, precompute(files, settings, base / "store", progress=False)


def test_packing_round_trips_and_has_the_documented_layout():
    rng = np.random.default_rng(0)
    for n_people, n_snvs in [(1, 1), (7, 3), (8, 5), (839, 40), (13, 0)]:
        alleles = (rng.random((n_people, 2, n_snvs)) < 0.3).astype(np.uint8)
        bits = pack_alleles(alleles)
        assert len(bits) == n_snvs * 2 * ((n_people + 7) // 8)
        np.testing.assert_array_equal(unpack_alleles(bits, n_people, n_snvs), alleles)
    # SNV-major, hap1 then hap2, people packed most significant bit first
    alleles = np.zeros((9, 2, 2), np.uint8)
    alleles[0, 1, 0] = alleles[8, 0, 1] = 1
    assert pack_alleles(alleles) == bytes([0, 0, 0b10000000, 0, 0, 0b10000000, 0, 0])
    with pytest.raises(ValueError, match="0 or 1"):
        pack_alleles(np.full((2, 2, 1), 2, np.uint8))
    with pytest.raises(ValueError, match="genotype bytes"):
        unpack_alleles(b"\0" * 3, 9, 2)
    with pytest.raises(ValueError, match="do not match"):
        genotype_row("G", ["a"], ["v1", "v2"], np.zeros((1, 2, 1), np.uint8))


def test_precompute_stores_every_genes_genotypes_as_bcftools_reads_them(computed):
    cohort, store = computed
    assert store.has_genotypes()
    checked = 0
    for gene_id in store.genes()["gene_id"]:
        variants = store.variants(gene_id)
        genotypes = store.genotypes(gene_id)
        assert genotypes.variant_ids == list(variants["variant_id"])
        assert genotypes.person_ids == list(store.people(gene_id)["person_id"])
        for row in variants.itertuples():
            expected = bcftools_dosage(cohort["vcf"], row.chrom, int(row.pos), row.alt)
            got = genotypes.snv_dosage(row.variant_id)
            assert got.to_dict() == expected[got.index].to_dict(), row.variant_id
            checked += 1
    assert checked > 50  # including the multi-allelic records, whose dosage counts the kept ALT


def test_dashboard_dosages_groups_and_ld_match_bcftools_and_numpy(computed):
    from components import genotype
    from components.data import Datasets
    from components.selection import Selection

    cohort, store = computed
    datasets = Datasets([store.path])
    name = datasets.default
    rng = np.random.default_rng(3)
    for gene_id in store.genes()["gene_id"]:
        variants = store.variants(gene_id)
        dosages = pd.DataFrame(
            {
                r.variant_id: bcftools_dosage(cohort["vcf"], r.chrom, int(r.pos), r.alt)
                for r in variants.itertuples()
            }
        )  # people x SNVs, from bcftools
        for row in variants.iloc[rng.choice(len(variants), size=4, replace=False)].itertuples():
            sel = Selection(name, gene_id, row.variant_id)
            data = genotype.frame(datasets, sel)
            expected = dosages.loc[data["person_id"], row.variant_id].to_numpy()
            np.testing.assert_array_equal(data["dosage"].to_numpy(int), expected)
            fig = genotype.figure(data, row.variant_id)
            sizes = {int(t["name"][0]): len(t["y"]) for t in fig["data"]}
            counts = pd.Series(expected).value_counts()
            assert sizes == {int(g): int(n) for g, n in counts.items()}
            assert all(f"n = {n}" in t["x"][0] for t, n in zip(fig["data"], sizes.values(), strict=True))
            ld = datasets.ld(name, gene_id, row.variant_id)
            with np.errstate(invalid="ignore", divide="ignore"):
                numpy_r2 = dosages.astype(float).corrwith(dosages[row.variant_id].astype(float)) ** 2
            if dosages[row.variant_id].std() > 0:
                np.testing.assert_allclose(ld[numpy_r2.index], numpy_r2, atol=1e-5)
            else:
                assert ld.isna().all()


def test_ld_against_numpy_with_monomorphic_snvs_and_bins():
    rng = np.random.default_rng(5)
    dosage = rng.integers(0, 3, size=(200, 30)).astype(np.int8)
    dosage[:, 4] = 1  # monomorphic
    dosage[:, 7] = 2 - dosage[:, 2]  # perfect LD, opposite ALT
    ld = WindowLD(dosage)
    for k in (0, 2, 29):
        expected = np.array([np.corrcoef(dosage[:, k], dosage[:, j])[0, 1] ** 2 for j in range(30) if j != 4])
        got = ld.r2(k)
        np.testing.assert_allclose(np.delete(got, 4), expected, atol=1e-12)  # exact sums, float64 r²
        assert np.isnan(got[4]) and got[k] == 1.0
        floats = WindowLD(dosage.astype(float) / 2).r2(k)  # not dosages: computed in float64
        np.testing.assert_allclose(np.delete(floats, 4), expected, atol=1e-12)
    assert ld.r2(2)[7] == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(r2_with(dosage, 4)).all()


@pytest.mark.parametrize("n_people", [1, 7, 8, 13, 200])
def test_ld_from_packed_bits_against_numpy(n_people):
    """r² by counting the packed bits equals numpy's correlation of the unpacked dosages, with people
    counts that leave the last byte part full, and monomorphic and perfectly linked SNVs."""
    rng = np.random.default_rng(n_people)
    alleles = (rng.random((n_people, 2, 12)) < rng.uniform(0.05, 0.6, 12)).astype(np.uint8)
    alleles[:, :, 4] = 1  # monomorphic (every haplotype ALT)
    alleles[:, :, 7] = 1 - alleles[:, :, 2]  # perfect LD, opposite ALT
    row = genotype_row("G", [f"p{i}" for i in range(n_people)], [f"v{j}" for j in range(12)], alleles)
    packed, unpacked = PackedGenotypes.from_row(row), GeneGenotypes.from_row(row)
    dosage = unpacked.dosage.astype(float)
    ld = PackedWindowLD(packed.bits, n_people)
    assert ld.n_snvs == 12
    for k in range(12):
        got = ld.r2(k)
        expected = np.full(12, np.nan)  # one person: nothing varies
        if n_people > 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                expected = np.array([np.corrcoef(dosage[:, k], dosage[:, j])[0, 1] ** 2 for j in range(12)])
            if dosage[:, k].std() > 0:
                expected[k] = 1.0
        np.testing.assert_allclose(got, expected, atol=1e-12)  # NaN where either does not vary
        np.testing.assert_allclose(got, WindowLD(unpacked.dosage).r2(k), atol=1e-12)
        assert packed.snv_dosage_array(f"v{k}").tolist() == unpacked.snv_dosage_array(f"v{k}").tolist()
    assert packed.snv_dosage_array("absent") is None and packed.index("v3") == 3
    with pytest.raises(ValueError, match="genotype bytes"):
        PackedGenotypes.from_row({**row, "bits": row["bits"][:-1]})
    edges = np.array([0.0, 0.1999, 0.2, 0.4, 0.6, 0.6 - 1e-12, 0.8, 1.0, np.nan])
    assert r2_bin(edges).tolist() == [0, 0, 1, 2, 3, 2, 4, 4, -1]
    assert R2_BINS == (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def test_genotypes_command_adds_the_same_table_to_an_older_store(computed, tmp_path, capsys):
    cohort, store = computed
    older = tmp_path / "older"
    shutil.copytree(store.path, older)
    (older / f"{GENOTYPES_TABLE}.parquet").unlink()
    assert not ResultsStore(older).has_genotypes()
    assert main(["genotypes", str(older), "--no-progress"]) == 0
    assert "genotypes of 3 genes" in capsys.readouterr().out
    again = ResultsStore(older)
    for gene_id in store.genes()["gene_id"]:
        a, b = store.genotypes(gene_id), again.genotypes(gene_id)
        assert (a.person_ids, a.variant_ids) == (b.person_ids, b.variant_ids)
        np.testing.assert_array_equal(a.alleles, b.alleles)
    # the VCF must be the one the store was made from
    changed = tmp_path / "changed"
    shutil.copytree(store.path, changed)
    manifest = ResultsStore(changed).manifest
    vcf_copy = tmp_path / "other.vcf.gz"
    vcf_copy.write_bytes(cohort["vcf"].read_bytes() + b"\0")
    manifest["inputs"]["vcf"]["path"] = str(vcf_copy)
    ResultsStore(changed).update_manifest(inputs=manifest["inputs"])
    with pytest.raises(InputError, match="changed since the store was made"):
        add_genotypes(changed, progress=False)
    assert main(["genotypes", str(changed), "--no-progress"]) == 2
    assert "changed since the store was made" in capsys.readouterr().err


def test_a_store_of_the_first_format_is_refused_until_upgraded(computed, tmp_path, capsys):
    """Format 1 could lack drivers.parquet and hold the first, long dosage table as genotypes."""
    _, store = computed
    old = tmp_path / "old"
    shutil.copytree(store.path, old)
    (old / "drivers.parquet").unlink()
    pd.DataFrame({"gene_id": ["G1"], "variant_id": ["v"], "person_id": ["P00"], "dosage": [1]}).to_parquet(
        old / f"{GENOTYPES_TABLE}.parquet"
    )
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "format": 1}))
    with pytest.raises(InputError, match=r"store format 1, .*python -m compute upgrade"):
        ResultsStore(old)
    assert main(["upgrade", str(old)]) == 0
    out = capsys.readouterr().out
    assert "drivers.parquet" in out and "old dosage table removed" in out and "format 1 -> 2" in out
    upgraded = ResultsStore(old)
    assert not upgraded.has_genotypes() and upgraded.genotypes("G1") is None
    pd.testing.assert_frame_equal(upgraded.drivers(), store.drivers())
    assert main(["upgrade", str(old)]) == 0 and "already" in capsys.readouterr().out
