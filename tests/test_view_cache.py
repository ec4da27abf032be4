"""The view cache: what one Datasets object or one server process computed for a gene is served to
the others without a second read of the store, and never once the store changed."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.synthetic_store import make_synthetic_store
from components import data as data_module
from components import gene_card, ism_eqtl
from components.data import Datasets
from components.selection import parse_url
from components.view_cache import ViewCache, size_of
from compute.store import ResultsStore

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def store(tmp_path):
    make_synthetic_store(tmp_path / "store", n_genes=6, n_people=30, n_snvs=40, seed=2, with_genotypes=True)
    return tmp_path / "store"


def forbid_reads(monkeypatch) -> None:
    """Any read of a gene's rows from the store fails the test."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("read the store again")

    for name in ("variants", "people", "null", "genotypes", "genotype_row"):
        monkeypatch.setattr(ResultsStore, name, refuse)


def test_a_second_datasets_object_takes_the_gene_from_the_cache(store, tmp_path, monkeypatch):
    first = Datasets([store], ViewCache(tmp_path / "views"))
    sel = parse_url(first, "/gene/DDX11", "")
    variants = first.gene("store", sel.gene_id).variants
    r2 = first.ld("store", sel.gene_id, sel.snv)
    card = gene_card.render(first, sel)
    second = Datasets([store], ViewCache(tmp_path / "views"))
    forbid_reads(monkeypatch)
    pd.testing.assert_frame_equal(second.gene("store", sel.gene_id).variants, variants)
    pd.testing.assert_series_equal(second.ld("store", sel.gene_id, sel.snv), r2)
    assert repr(gene_card.render(second, sel)) == repr(card)
    # what was remade is only what the cached rows and bits give at once, in memory: the bits' view,
    # LD counted from them (its helper and the r²), the people count, the gene's SNV arrays
    assert second.view_cache.counts["disk"] >= 2 and second.view_cache.counts["computed"] <= 5


CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import pandas as pd
from components.data import Datasets
from components.view_cache import ViewCache
from compute.store import ResultsStore
def refuse(self, *args, **kwargs):
    raise AssertionError("the second process read the store")
for name in ("variants", "people", "null", "genotypes", "genotype_row"):
    setattr(ResultsStore, name, refuse)
datasets = Datasets([sys.argv[2]], ViewCache(sys.argv[3]))
gene = datasets.gene("store", sys.argv[4])
r2 = datasets.ld("store", sys.argv[4], sys.argv[5])
print(json.dumps({"ism": gene.variants["ism"].tolist(), "r2": r2.tolist(), **datasets.view_cache.counts}))
"""


def test_another_process_takes_the_gene_from_the_cache(store, tmp_path):
    datasets = Datasets([store], ViewCache(tmp_path / "views"))
    sel = parse_url(datasets, "/gene/DDX11", "")
    variants = datasets.gene("store", sel.gene_id).variants
    r2 = datasets.ld("store", sel.gene_id, sel.snv)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT), str(store), str(tmp_path / "views"), sel.gene_id, sel.snv],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-2000:]
    found = json.loads(child.stdout.strip().splitlines()[-1])
    assert found["ism"] == variants["ism"].tolist()
    np.testing.assert_array_equal(np.asarray(found["r2"], float), r2.to_numpy(float))
    # the rows and the genotypes' bits from the cache; r² counted again from the bits, in memory
    assert found["computed"] <= 3 and found["disk"] >= 2


def test_a_store_that_changed_is_never_answered_from_the_cache(store, tmp_path, monkeypatch):
    """A store rewritten (as a finalize does) shows its new numbers at once in every Datasets
    object sharing the cache, rendered views included."""
    monkeypatch.setattr(data_module, "REFRESH_SECONDS", 0.0)
    first = Datasets([store], ViewCache(tmp_path / "views"))
    sel = parse_url(first, "/gene/DDX11", "")
    before = first.gene("store", sel.gene_id).variants
    assert np.allclose(np.sort(plotted_ism(first, sel)), np.sort(before["ism"]))

    raw = ResultsStore(store)  # the variants table rewritten, then the manifest: what a finalize does
    everything = pd.read_parquet(store / "variants.parquet")
    raw.write_table("variants", everything.assign(ism=-everything["ism"]))
    raw.update_manifest(finalized=True)
    second = Datasets([store], ViewCache(tmp_path / "views"))
    for datasets in (first, second):
        after = datasets.gene("store", sel.gene_id).variants
        np.testing.assert_allclose(after["ism"].to_numpy(), -before["ism"].to_numpy())
        assert np.allclose(np.sort(plotted_ism(datasets, sel)), np.sort(-before["ism"]))


def plotted_ism(datasets, sel) -> np.ndarray:
    """x of every SNV of the rendered ISM vs eQTL view (each once, in its LD bin)."""
    figure, _ = ism_eqtl.render(datasets, sel)
    return np.concatenate([np.asarray(t["x"], float) for t in figure["data"] if t.get("legendgroup") == "ld"])


def test_threads_asking_for_one_key_compute_it_once(tmp_path):
    cache = ViewCache(tmp_path / "views")
    calls = []
    gate = threading.Event()

    def slow() -> int:
        calls.append(1)
        gate.wait(5)
        return 42

    threads = [threading.Thread(target=lambda: cache.get(("k",), slow)) for _ in range(8)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and cache.get(("k",), slow) == 42


def test_memory_is_bounded_and_a_failing_disk_only_costs_the_computation(tmp_path):
    cache = ViewCache(tmp_path / "views", memory_limit=1 << 20)
    for k in range(40):
        cache.get(("array", k), lambda: np.zeros(100_000))  # 0.8 MB each
    assert cache._memory_bytes <= 1 << 20 and len(cache._memory) <= 1
    assert size_of(np.zeros(1000)) == 8000
    cache.disk.close()
    cache.directory = None

    class Broken:
        def get(self, *args, **kwargs):
            raise OSError("disk gone")

        add = set = delete = get

    cache.disk = Broken()
    assert cache.get(("new",), lambda: "computed") == "computed"


def test_a_cache_of_one_process_is_written_behind_without_locks(tmp_path, monkeypatch):
    cache = ViewCache(tmp_path / "views", shared=False)
    monkeypatch.setattr(cache.disk, "add", lambda *a, **k: pytest.fail("a lock between processes"))
    gate = threading.Event()
    real_set = cache.disk.set

    def slow_set(*args, **kwargs):
        gate.wait(5)  # the disk is slow: the request has its answer before the write ends
        return real_set(*args, **kwargs)

    monkeypatch.setattr(cache.disk, "set", slow_set)
    assert cache.get(("k",), lambda: np.arange(5)).tolist() == [0, 1, 2, 3, 4]
    assert cache.disk.get("k", default=None) is None  # not on disk yet
    gate.set()
    cache.flush()
    assert ViewCache(tmp_path / "views").get(("k",), lambda: "missing").tolist() == [0, 1, 2, 3, 4]


def test_the_url_reads_the_selected_snvs_genotypes_ahead(store, monkeypatch):
    datasets = Datasets([store])
    sel = parse_url(datasets, "/gene/DDX11", "")
    datasets.prefetch("store", sel.gene_id, sel.snv)
    datasets._prefetcher.shutdown(wait=True)  # the read ahead has finished
    forbid_reads(monkeypatch)
    expected = Datasets([store]).ld  # a reader of its own, with the store's reads forbidden too
    r2 = datasets.ld("store", sel.gene_id, sel.snv)
    assert r2 is not None and r2.loc[sel.snv] == 1.0
    with pytest.raises(AssertionError, match="read the store again"):
        expected("store", sel.gene_id, sel.snv)


def test_the_code_tag_covers_the_compute_code_behind_the_views(tmp_path):
    """r² comes from compute/stats/ld.py: a fix there must not be answered from old entries."""
    import shutil

    from components.view_cache import DASHBOARD_CODE, ROOT, code_tag

    for part in DASHBOARD_CODE:
        source, target = ROOT / part, tmp_path / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_file():
            shutil.copy(source, target)
        else:
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    before = code_tag(tmp_path)
    assert before == code_tag(ROOT)  # the same files give the same tag, wherever they are
    for edited in ("compute/stats/ld.py", "compute/store/reading.py", "components/locus.py"):
        path = tmp_path / edited
        original = path.read_text()
        path.write_text(original + "\n# a fix\n")
        assert code_tag(tmp_path) != before, edited
        path.write_text(original)
    assert code_tag(tmp_path) == before
    (tmp_path / "compute" / "engine").mkdir()
    (tmp_path / "compute" / "engine" / "model.py").write_text("# not behind any view\n")
    assert code_tag(tmp_path) == before
