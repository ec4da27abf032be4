"""Results store: atomic per-gene writes, finalize, fast per-gene reads, safe IDs."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from compute.errors import InputError
from compute.store import GENE_COLUMNS, ROW_GROUP_ROWS, ResultsStore, safe_gene_id


def gene_result(gene_id: str, n_people: int = 5, n_snvs: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    gene = {c: float(rng.normal()) for c in GENE_COLUMNS if c != "gene_id"}
    gene.update(gene_name=f"NAME_{gene_id}", chrom="22", strand="+", significant=False)
    people = pd.DataFrame(
        {
            "person_id": [f"P{i}" for i in range(n_people)],
            "hap1": rng.normal(size=n_people),
            "hap2": rng.normal(size=n_people),
            "predicted": rng.normal(size=n_people),
            "observed": rng.normal(size=n_people),
        }
    )
    variants = pd.DataFrame(
        {
            "variant_id": [f"rs{gene_id}_{i}" for i in range(n_snvs)],
            "chrom": "22",
            "pos": np.arange(n_snvs) + 100,
            "ref": "A",
            "alt": "G",
            "alt_freq": 0.3,
            "maf": 0.3,
            "tss_distance": np.arange(n_snvs) - 1,
            "tss_distance_stranded": np.arange(n_snvs) - 1,
            "ism": rng.normal(size=n_snvs),
            "grad_x_input": rng.normal(size=n_snvs),
            "eqtl_slope": rng.normal(size=n_snvs),
            "eqtl_p": rng.uniform(size=n_snvs),
            "is_driver": [True] + [False] * (n_snvs - 1),
            "is_main_driver": [True] + [False] * (n_snvs - 1),
            "driver_gain": rng.uniform(size=n_snvs),
            "supported": [True] * n_snvs,
        }
    )
    null = pd.DataFrame({"draw": np.arange(4), "r": rng.normal(size=4)})
    return gene, people, variants, null


def test_write_finalize_read(tmp_path):
    store = ResultsStore.create(tmp_path / "s", {"model": {"name": "test"}})
    written = {}
    for i, g in enumerate(["G3", "G1", "G2"]):
        gene, people, variants, null = gene_result(g, seed=i)
        store.write_gene(g, gene=gene, people=people, variants=variants, null=null)
        written[g] = (gene, people, variants)
    assert store.done_genes() == {"G1", "G2", "G3"}
    store.finalize(lambda genes: genes.assign(q_bh=0.5))
    genes = store.genes()
    assert list(genes.gene_id) == ["G1", "G2", "G3"]
    assert (genes.q_bh == 0.5).all()
    for g, (_gene, people, variants) in written.items():
        got = store.people(g)
        np.testing.assert_allclose(got.hap1, people.hap1)
        assert list(store.variants(g).variant_id) == list(variants.variant_id)
        assert len(store.null(g)) == 4
    assert len(store.people("NOPE")) == 0
    assert set(store.drivers().gene_id) == {"G1", "G2", "G3"}
    assert store.manifest["finalized"] is True


def test_reads_find_one_gene_among_many_row_groups(tmp_path, monkeypatch):
    store = ResultsStore.create(tmp_path / "s", {})
    n = 3000
    variants = pd.DataFrame(
        {c: 0.0 for c in ["alt_freq", "maf", "ism", "grad_x_input", "eqtl_slope", "eqtl_p", "driver_gain"]}
        | {"pos": 1, "tss_distance": 0, "tss_distance_stranded": 0}
        | {"chrom": "1", "ref": "A", "alt": "C"}
        | {"is_driver": False, "is_main_driver": False, "supported": True},
        index=range(n),
    )
    variants["gene_id"] = [f"G{i // 10:05d}" for i in range(n)]
    variants["variant_id"] = [f"v{i}" for i in range(n)]
    monkeypatch.setitem(ROW_GROUP_ROWS, "variants", 64)  # force many row groups
    store.write_table("variants", variants.sample(frac=1, random_state=0))
    assert store._indexes == {} and len(store._gene_rows("variants", "G00000")) == 10
    assert store._indexes["variants"].file.metadata.num_row_groups > 40
    got = store.variants("G00123")
    assert sorted(got.variant_id) == sorted(f"v{i}" for i in range(1230, 1240))


def test_killed_write_leaves_no_gene(tmp_path, monkeypatch):
    store = ResultsStore.create(tmp_path / "s", {})
    gene, people, variants, null = gene_result("G1")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("compute.store.os.replace", boom)  # the rename that publishes the part
    with pytest.raises(RuntimeError):
        store.write_gene("G1", gene=gene, people=people, variants=variants, null=null)
    assert store.done_genes() == set()
    assert not any((tmp_path / "s" / "parts").iterdir())


def test_failures_are_recorded_and_cleared(tmp_path):
    store = ResultsStore.create(tmp_path / "s", {})
    store.write_failure("G1", "window off the FASTA")
    assert store.failures() == {"G1": "window off the FASTA"}
    gene, people, variants, null = gene_result("G1")
    store.write_gene("G1", gene=gene, people=people, variants=variants, null=null)
    assert store.failures() == {}


@pytest.mark.parametrize("bad", ["../etc", "a/b", ".hidden", "", "x" * 200, "a b", None])
def test_unsafe_gene_ids_are_rejected(bad):
    with pytest.raises(InputError):
        safe_gene_id(bad)


def test_reopen_with_another_model_is_refused(tmp_path):
    ResultsStore.create(tmp_path / "s", {"model": {"name": "a"}})
    ResultsStore.create(tmp_path / "s", {"model": {"name": "a"}})
    with pytest.raises(InputError, match="other model"):
        ResultsStore.create(tmp_path / "s", {"model": {"name": "b"}})


def test_not_a_store(tmp_path):
    with pytest.raises(InputError, match="not a results store"):
        ResultsStore(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({}))  # before the format was recorded: 1
    with pytest.raises(InputError, match="store format 1, .*python -m compute upgrade"):
        ResultsStore(tmp_path)
    from compute.store.schemas import FORMAT

    (tmp_path / "manifest.json").write_text(json.dumps({"format": FORMAT}))
    ResultsStore(tmp_path)


def test_drivers_reads_only_the_columns_asked(tmp_path):
    store = ResultsStore.create(tmp_path / "s", {})
    frames = [gene_result(g, n_snvs=4, seed=i)[2].assign(gene_id=g) for i, g in enumerate(["G1", "G2"])]
    variants = pd.concat(frames, ignore_index=True)
    variants.loc[variants.variant_id == "rsG2_2", "is_driver"] = True
    store.write_table("variants", variants)
    narrow = store.drivers(columns=["tss_distance", "variant_id"])
    assert list(narrow.columns) == ["tss_distance", "variant_id"]
    full = store.drivers()
    expected = variants.loc[variants.is_driver]
    assert sorted(full.variant_id) == sorted(expected.variant_id) == ["rsG1_0", "rsG2_0", "rsG2_2"]
    assert sorted(narrow.tss_distance) == sorted(expected.tss_distance)


def test_drivers_table_is_written_with_variants_and_read_back(tmp_path):
    from benchmarks.synthetic_store import make_synthetic_store

    store = make_synthetic_store(tmp_path / "s", 30, 20, 40, seed=3)
    assert (store.path / "drivers.parquet").is_file()
    scanned = pd.read_parquet(store.path / "variants.parquet", filters=[("is_driver", "==", True)])
    pd.testing.assert_frame_equal(store.drivers(), scanned)
    pd.testing.assert_frame_equal(
        store.drivers(columns=["gene_id", "tss_distance"]), scanned[["gene_id", "tss_distance"]]
    )
    # an older store (format 1) without the table: `upgrade` writes it, from the same rows
    from compute.store.upgrade import upgrade_store

    (store.path / "drivers.parquet").unlink()
    store.update_manifest(format=1)
    assert any("drivers.parquet" in line for line in upgrade_store(store.path))
    pd.testing.assert_frame_equal(ResultsStore(store.path).drivers(), scanned)


def test_published_files_follow_the_umask_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        store = ResultsStore.create(tmp_path / "s", {})
        gene, people, variants, null = gene_result("G1")
        store.write_gene("G1", gene=gene, people=people, variants=variants, null=null)
        store.finalize()
    finally:
        os.umask(old)
    assert (tmp_path / "s" / "genes.parquet").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "s" / "manifest.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "s" / "parts" / "G1").stat().st_mode & 0o777 == 0o755


def test_a_store_of_a_later_format_is_refused_naming_it(tmp_path):
    from compute.store.schemas import FORMAT

    store = ResultsStore.create(tmp_path / "s", {"model": {"name": "a"}})
    assert store.manifest["format"] == FORMAT
    store.update_manifest(format=FORMAT + 1)
    with pytest.raises(InputError, match=rf"manifest.json: store format {FORMAT + 1}, but this version"):
        ResultsStore(tmp_path / "s")
    with pytest.raises(InputError, match="store format"):
        ResultsStore.create(tmp_path / "s", {"model": {"name": "a"}})


def test_the_manifest_is_read_once_until_it_changes(tmp_path, monkeypatch):
    store = ResultsStore.create(tmp_path / "s", {"model": {"name": "a"}})
    reads = []
    real = json.loads
    monkeypatch.setattr(json, "loads", lambda text, *a, **k: reads.append(1) or real(text, *a, **k))
    first = store.manifest
    first["model"]["name"] = "changed by a caller"  # a copy: the store's stays as written
    assert store.manifest["model"]["name"] == "a" and reads == []
    store.update_manifest(genes_done=3)  # a new file renamed into place
    assert store.manifest["genes_done"] == 3 and len(reads) == 1
    assert store.manifest["genes_done"] == 3 and len(reads) == 1
