"""The datasets the dashboard serves: their stores, what the views read of each (one state per
store version), and one gene's data through the view cache. The selection and the URL that holds
it are in components/selection.py."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from components.view_cache import ViewCache, code_tag
from compute.stats.ld import PackedWindowLD
from compute.store import ResultsStore
from compute.store import subsets as gene_subsets
from compute.store.genotypes import PackedGenotypes
from compute.store.inputs import cohort_gene_table

log = logging.getLogger(__name__)
T = TypeVar("T")
LOGO_TABLE = "ism_logo"  # optional (python -m compute ism-logo): ISM of every base around drivers
MOTIF_TABLE = "motifs"  # optional (python -m compute motifs): motifs each SNV breaks or creates
REFRESH_SECONDS = 1.0  # how often a dataset's store is asked whether it changed
OBSERVED_RAW = "observed expression (input units)"  # the axis label of a store without covariates
PREFETCH_QUEUE = 2  # genes whose genotypes are read ahead at once, at most (more are left to the views)


@dataclass
class DatasetState:
    """What the views read of one dataset while its store stays at `version`: built anew, whole,
    when the version changes, so no table read before a change is mixed with one read after."""

    version: tuple[int, ...]
    tag: str  # the store's part of every view cache key (cache_tag)
    values: dict = field(default_factory=dict)  # what was read: drivers, lookups, subsets, ...


@dataclass
class GeneData:
    """One gene's rows of every table, read once per gene switch."""

    gene: pd.Series
    variants: pd.DataFrame
    people: pd.DataFrame


class Datasets:
    """Named results stores. Reads go through ResultsStore; what one gene's views need (its rows,
    genotypes, r², the rendered views) goes through the view cache (components/view_cache.py),
    shared by the server's threads and, with a directory, by its worker processes."""

    def __init__(
        self, paths: list[str | Path], view_cache: ViewCache | None = None, test_set_list: Path | None = None
    ):
        names = self.names_of(paths)
        self.stores = {name: ResultsStore(path) for name, path in zip(names, paths, strict=True)}
        if not self.stores:
            raise ValueError("no results store to show")
        self.view_cache = view_cache or ViewCache()
        self._code = code_tag()
        self._lock = threading.RLock()  # re-entered: gene() reads genes() under it
        self._states: dict[str, DatasetState] = {}  # name -> what was read of it, as its store is now
        self._checked: dict[str, float] = {}  # name -> when its store's version was last looked at
        self._start_threads()
        self._test_set = self._find_test_set(test_set_list)
        # whether this request may see a store (components/auth.py: stores open to some users only);
        # None: every store. A store a request may not see is absent from names, default, visible
        self.access: Callable[[str], bool] | None = None

    def _start_threads(self) -> None:
        self._prefetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")
        self._prefetching = threading.BoundedSemaphore(PREFETCH_QUEUE)

    def after_fork(self) -> None:
        """In a server process forked from the one that read the stores (gunicorn's preload): what
        was read is kept (shared until written), the locks and threads are this process's own."""
        self._lock = threading.RLock()
        self._start_threads()
        self.view_cache.after_fork()

    @staticmethod
    def names_of(paths: list[str | Path]) -> list[str]:
        """The datasets' names: each store's directory name (-2, -3, ... when taken)."""
        names: list[str] = []
        for path in paths:
            name = base = Path(path).resolve().name
            k = 2
            while name in names:
                name, k = f"{base}-{k}", k + 1
            names.append(name)
        return names

    def _find_test_set(self, listed: Path | None) -> frozenset[str] | None:
        """The Enformer test-set genes, for the test-set subset of stores without their own flag:
        from `listed` (the app passes the shipped published source's list), else from the list an
        open published store ships in its source/; None without either."""
        candidates = [] if listed is None else [Path(listed)]
        candidates += [store.path / gene_subsets.TEST_SET_SOURCE for store in self.stores.values()]
        for path in candidates:
            if path.is_file():
                return gene_subsets.read_test_set(path)
        return None

    def test_set(self) -> frozenset[str] | None:
        return self._test_set

    def _fresh(self, name: str, look: bool = False) -> DatasetState:
        """The dataset's state, replaced whole when its store changed (a gene landed, a finalize),
        looking at most once a second (`look`: now): a store being written shows its new genes
        within seconds."""
        now = time.monotonic()
        with self._lock:
            state = self._states.get(name)
            if state is not None and not look and now - self._checked[name] < REFRESH_SECONDS:
                return state
            store = self.stores[name]
            version = store.version()
            if state is None or state.version != version:
                state = self._states[name] = DatasetState(version, cache_tag(store, version, self._code))
            self._checked[name] = now
            return state

    def _memo(self, name: str, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` once per state of the dataset (under the lock: the first caller reads, the
        others wait for it and then share what it read)."""
        with self._lock:
            values = self._fresh(name).values
            if key not in values:
                values[key] = compute()
            return values[key]

    def cached(self, name: str, key: tuple, compute: Callable[[], T], *, disk: bool = True) -> T:
        """A value computed from dataset `name` as it is now, through the view cache: the key is
        prefixed with the store's path, version and tables and the dashboard code's hash, so a
        store that changed is never answered from what was computed before. A gene's data (its
        rows, genotypes, r²) is computed by one process of the server while the others wait for
        it; a rendered view (key "view", ...) is asked for by one request and is not waited for."""
        tag = self._fresh(name).tag
        wait = key[0] != "view"
        return self.view_cache.get((tag, *key), compute, disk=disk, wait=wait)

    def warm(self) -> None:
        """Read what the first page of every dataset needs (gene tables and lookups, drivers,
        subsets, the cohort's genes, and one gene, which opens the per-gene tables' indexes), so
        that a server's first visitor does not wait for it. Best effort: what fails here fails
        again, with its message, in the view that needs it."""
        for name in self.stores:
            try:
                genes = self.genes(name)
                if len(genes):
                    self.gene(name, str(genes["gene_id"].iloc[0]))
                    self.genotypes(name, str(genes["gene_id"].iloc[0]))
                self.find_gene(name, "")
                self.drivers(name)
                for subset in self.subsets(name):
                    self.subset_mask(name, subset)
                self.has_genotypes(name)
                self.people_split(name)
                self.pending_ids(name)
                self.failures(name)
                self.population(name)
            except Exception:
                log.warning("warm-up of dataset %s stopped", name, exc_info=True)

    def prefetch(self, name: str, gene_id: str, variant_id: str | None) -> None:
        """Start reading what the selected SNV's views need first (the gene's genotypes, r² with the
        SNV) on a background thread: the page asks for the card and the SNV views only once the URL
        has its answer, and they then find it ready or being made (the view cache computes a key
        once). Skipped when the reader is busy; a failure here fails again in the view that needs it."""
        if variant_id is None or not self.has_genotypes(name):
            return
        if not self._prefetching.acquire(blocking=False):
            return

        def read() -> None:
            try:
                self.ld(name, gene_id, variant_id)
            except Exception:
                log.debug("prefetch of %s %s stopped", name, gene_id, exc_info=True)
            finally:
                self._prefetching.release()

        self._prefetcher.submit(read)

    def version_tag(self, name: str, look: bool = False) -> str:
        """A short name of the store's state: changes whenever its genes do (`look`: as the store is
        now, not as this process last saw it)."""
        return "-".join(str(v) for v in self._fresh(name, look).version)

    def seen(self, name: str, tag: object) -> None:
        """A request from a page that has seen the store at `tag` (the compute strip's
        `jobs-version`): if this process's state of it is another, it looks at the store now.
        Each server process looks at most once a second by itself, and the process that answers
        the page's next request is not the one that told it of the change: without this, it could
        answer from the state before the change, and nothing would ask again."""
        if isinstance(tag, str) and tag != self.version_tag(name):
            self._fresh(name, look=True)

    def provisional(self, name: str) -> bool:
        """Whether the dataset's cross-gene columns (q_bh, significant) are over the genes done so
        far (a store being written, or genes added after its last finalize)."""
        self._fresh(name)
        return self.stores[name].provisional

    def cohort_genes(self, name: str) -> pd.DataFrame | None:
        """gene_id and gene_name of the genes table the store's manifest records as its cohort's
        input (read once per store version); None for a store without one (published results)."""
        return self._memo(name, "cohort", lambda: cohort_gene_table(self.stores[name]))

    def failures(self, name: str) -> dict[str, str]:
        """gene -> error of the genes that failed (read once per store version)."""
        return self._memo(name, "failures", self.stores[name].failures)

    def pending_ids(self, name: str) -> frozenset[str]:
        """Genes of the cohort that the store does not hold yet."""
        cohort = self.cohort_genes(name)
        if cohort is None:
            return frozenset()
        computed = self._gene_rows(name)
        return frozenset(g for g in cohort["gene_id"] if g not in computed)

    def find_pending(self, name: str, query: str) -> str | None:
        """Gene ID of a cohort gene not computed yet, by exact ID or name (case-insensitive)."""
        cohort = self.cohort_genes(name)
        if cohort is None:
            return None
        pending = self.pending_ids(name)
        hits = cohort.loc[(cohort["gene_id"].str.upper() == query.upper())
                          | (cohort["gene_name"].str.upper() == query.upper())]  # fmt: skip
        hits = hits.loc[hits["gene_id"].isin(pending)]
        return str(hits["gene_id"].iloc[0]) if len(hits) else None

    def visible(self, name) -> bool:
        """Whether `name` is a dataset this request may see (the check of every name a request
        sends: URL, selection, dataset store)."""
        return isinstance(name, str) and name in self.stores and (self.access is None or self.access(name))

    @property
    def names(self) -> list[str]:
        """The datasets this request may see."""
        return [name for name in self.stores if self.visible(name)]

    @property
    def default(self) -> str:
        """The first dataset this request may see; "" when it may see none."""
        names = self.names
        return names[0] if names else ""

    def store(self, name: str) -> ResultsStore:
        return self.stores[name]

    def genes(self, name: str) -> pd.DataFrame:
        """Every gene of the dataset, as its store was when this process last looked (the lookups,
        masks and counts built on it are of the same state)."""
        return self._memo(name, "genes", self.stores[name].genes)

    def manifest(self, name: str) -> dict:
        """The store's manifest, read once per store version (views ask for it on every switch;
        read-only)."""
        return self._memo(name, "manifest", lambda: self.stores[name].manifest)

    def has_people(self, name: str) -> bool:
        store = self.stores[name]
        return bool(self.manifest(name).get("has_people", True)) and store.readable("people")

    def has_genotypes(self, name: str) -> bool:
        return self._memo(name, "has_genotypes", self.stores[name].has_genotypes)

    def people_split(self, name: str) -> dict[str, str] | None:
        """training / validation / test per person when the dataset's model was fine-tuned on
        some of its people (compute.store.ResultsStore.people_split), else None."""
        return self._memo(
            name, "people_split", lambda: self.stores[name].people_split() if self.has_people(name) else None
        )

    def subsets(self, name: str) -> list[str]:
        """Gene subsets that mean something for this dataset (compute.store.subsets.SUBSETS keys);
        read once per dataset (every all-genes view asks on every gene switch)."""
        return self._memo(
            name, "subsets", lambda: gene_subsets.available_subsets(self.genes(name), self.test_set())
        )

    def subset_mask(self, name: str, subset: str | None) -> pd.Series:
        """Boolean per row of genes(name); unknown or unavailable subsets mean all genes."""
        if subset not in self.subsets(name):
            subset = "all"
        return self._memo(
            name,
            ("subset", subset),
            lambda: gene_subsets.subset_mask(self.genes(name), subset, self.test_set()).astype(bool),
        )

    def logo_rows(self, name: str, gene_id: str, variant_id: str) -> pd.DataFrame | None:
        """One SNV's rows of the ISM logo table (offset, ref, A, C, G, T); None without the table."""
        store = self.stores[name]
        if not store.has_table(LOGO_TABLE):
            return None
        filters = [("gene_id", "==", gene_id), ("variant_id", "==", variant_id)]
        rows = pd.read_parquet(store.path / f"{LOGO_TABLE}.parquet", filters=filters)
        return rows.sort_values("offset").reset_index(drop=True)

    def motif_rows(self, name: str, variant_id: str) -> pd.DataFrame | None:
        """Motif scan rows of one SNV; None when the dataset has no motif scan."""
        store = self.stores[name]
        if not store.has_table(MOTIF_TABLE):
            return None
        path = store.path / f"{MOTIF_TABLE}.parquet"
        return pd.read_parquet(path, filters=[("variant_id", "==", variant_id)])

    def population(self, name: str) -> pd.DataFrame:
        """Reference scores and mean expression per gene (compute.store.subsets.population_table), cached."""
        return self._memo(name, "population", lambda: gene_subsets.population_table(self.stores[name]))

    def describe(self, name: str) -> str:
        """The dataset's description, with what its inputs lost on the way in when it records it."""
        manifest = self.manifest(name)
        text = str(manifest.get("description") or manifest.get("dataset") or name)
        lost = input_losses(manifest.get("input_report"))
        return f"{text}. Inputs: {lost}" if lost else text

    def observed_label(self, name: str) -> str:
        """What the dataset's observed expression is, for the axes that show it: the input's values,
        or normalised and residualised on covariates (the values every statistic used)."""
        manifest = self.manifest(name)
        normalize = ((manifest.get("settings") or {}).get("stats") or {}).get("normalize", "none")
        report = manifest.get("input_report") or {}
        covariates = (report.get("expression") or {}).get("covariates") or []
        steps = ["inverse normal"] if normalize == "inverse-normal" else []
        if covariates:
            steps.append(f"residualised on {len(covariates)} covariates")
        return f"observed expression ({', '.join(steps)})" if steps else OBSERVED_RAW

    def model_name(self, name: str) -> str:
        """The model that scored a dataset, for axis labels: Enformer (the published and demo stores,
        and every store made before --model existed), Borzoi or AlphaGenome."""
        model = self.manifest(name).get("model")
        kind = model.get("model", "enformer") if isinstance(model, dict) else "enformer"
        return {"borzoi": "Borzoi", "alphagenome": "AlphaGenome"}.get(kind, "Enformer")

    def model_note(self, name: str) -> str | None:
        """What the dashboard must say about a dataset's model: set for a demo model, else None."""
        manifest = self.manifest(name)
        if not manifest.get("demo_model"):
            return None
        return str(manifest.get("model_note") or "demo model: not a trained Enformer")

    def _found_now(self, name: str, find: Callable[[], T]) -> T:
        """`find()`; when it finds nothing, this process looks at the store now and asks again: a
        gene it does not know may have landed since, announced to the page by another process."""
        found = find()
        if not found:
            self._fresh(name, look=True)
            found = find()
        return found

    def has_gene(self, name: str, gene_id: str) -> bool:
        """Whether the dataset holds the gene (looking at the store now for one not known here)."""
        return self._found_now(name, lambda: gene_id in self._gene_rows(name))

    def gene_row(self, name: str, gene_id: str) -> pd.Series | None:
        """The gene's row of genes(name), by a lookup (not a scan of the table); None if unknown."""
        position = self._gene_rows(name).get(gene_id)
        return None if position is None else self.genes(name).iloc[position]

    def _gene_rows(self, name: str) -> dict[str, int]:
        """gene_id -> its row position in genes(name)."""
        return self._memo(
            name, "positions", lambda: {g: i for i, g in enumerate(self.genes(name)["gene_id"].astype(str))}
        )

    def find_gene(self, name: str, query: str) -> str | None:
        """Gene ID for an exact gene ID or a gene name (case-insensitive), else None (looking at the
        store now for one not known here)."""

        def lookup() -> dict[str, str]:
            genes = self.genes(name)
            found = {str(n).upper(): g for n, g in zip(genes.gene_name, genes.gene_id, strict=True)}
            found.update({str(g).upper(): g for g in genes.gene_id})
            return found

        return self._found_now(name, lambda: self._memo(name, "lookup", lookup).get(query.upper()))

    def gene(self, name: str, gene_id: str) -> GeneData:
        """All rows of one gene (cached, so the views of one switch, in any worker, share one read)."""

        def read() -> GeneData:
            store = self.stores[name]
            row = self.gene_row(name, gene_id)
            if row is None:
                raise KeyError(gene_id)
            return GeneData(
                gene=row,
                variants=store.variants(gene_id) if store.readable("variants") else pd.DataFrame(),
                people=store.people(gene_id) if self.has_people(name) else pd.DataFrame(),
            )

        return self.cached(name, ("gene", gene_id), read)

    def drivers(self, name: str) -> pd.DataFrame:
        """gene_id and TSS distance of every driver SNV of a dataset (read once; two columns, for speed)."""
        return self._memo(
            name, "drivers", lambda: self.stores[name].drivers(columns=["gene_id", "tss_distance"])
        )

    def subset_drivers(self, name: str, subset: str | None) -> pd.DataFrame:
        """Drivers of the genes in a subset (all drivers for all genes)."""
        drivers = self.drivers(name)
        if subset in (None, "all"):
            return drivers
        genes = self.genes(name)
        keep = set(genes.gene_id[self.subset_mask(name, subset).to_numpy(bool)])
        return drivers.loc[drivers.gene_id.isin(keep)]

    def genotypes(self, name: str, gene_id: str) -> PackedGenotypes | None:
        """One gene's stored genotypes, or None without them: the bits as stored (never unpacked
        whole: LD counts bits, a person's dosage unpacks one SNV), shared between processes."""
        if not self.has_genotypes(name):
            return None

        def packed() -> dict | None:
            return self.stores[name].genotype_row(gene_id)

        def viewed() -> PackedGenotypes | None:
            row = self.cached(name, ("genotypes", gene_id), packed)
            return None if row is None else PackedGenotypes.from_row(row)

        return self.cached(name, ("genotypes-packed", gene_id), viewed, disk=False)

    def people_dosage(self, name: str, gene_id: str, variant_id: str) -> np.ndarray | None:
        """Dosage (0/1/2) of one SNV per row of the gene's people table (int8; -1 for a person the
        genotypes do not hold), when the store has genotypes and the SNV: what the people views
        colour and group by, without a join on names."""

        def rows() -> np.ndarray:  # genotype column of each people row, once per gene
            found = self.genotypes(name, gene_id)
            people = self.gene(name, gene_id).people["person_id"].to_numpy(object)
            return pd.Index(found.person_ids).get_indexer(people)

        def compute() -> np.ndarray | None:
            found = self.genotypes(name, gene_id)
            dosage = None if found is None else found.snv_dosage_array(variant_id)
            if dosage is None:
                return None
            where = self.cached(name, ("people-rows", gene_id), rows, disk=False)
            return np.where(where >= 0, dosage[where], -1).astype(np.int8)

        return self.cached(name, ("people-dosage", gene_id, variant_id), compute, disk=False)

    def heldout_r(self, name: str, gene_id: str) -> tuple[float, int] | None:
        """Pearson r of predicted vs observed over the people the model never saw (the 'test'
        people of a fine-tuned model) and their number; None when the model saw none of them."""
        split = self.people_split(name)
        if split is None:
            return None
        people = self.gene(name, gene_id).people
        test = people.loc[people["person_id"].map(split).eq("test").to_numpy(bool)]
        test = test.loc[np.isfinite(test["observed"].to_numpy(float))]  # NA: left out of this gene
        x, y = test["predicted"].to_numpy(float), test["observed"].to_numpy(float)
        if len(test) < 3 or x.std() == 0 or y.std() == 0:
            return float("nan"), len(test)
        return float(np.corrcoef(x, y)[0, 1]), len(test)

    def ld_people(self, name: str, gene_id: str) -> int:
        """How many people the gene's LD is computed from (0 without genotypes)."""

        def count() -> int:
            found = self.genotypes(name, gene_id)
            return 0 if found is None else len(found.person_ids)

        return self.cached(name, ("ld-people", gene_id), count, disk=False)

    def ld(self, name: str, gene_id: str, variant_id: str) -> pd.Series | None:
        """r² with `variant_id` of every SNV of the gene's window (index variant_id), from the
        dataset's own people; None without genotypes or when the SNV is not in the window."""

        def helper() -> PackedWindowLD | None:  # per process: made in half a millisecond
            found = self.genotypes(name, gene_id)
            return None if found is None else PackedWindowLD(found.bits, len(found.person_ids))

        def compute() -> pd.Series | None:
            found = self.genotypes(name, gene_id)
            k = None if found is None else found.index(variant_id)
            if k is None:
                return None
            r2 = self.cached(name, ("ld-helper", gene_id), helper, disk=False).r2(k)
            return pd.Series(r2, index=pd.Index(found.variant_ids, name="variant_id"), name="ld_r2")

        # not shared on disk: counting bits again (~0.5 ms) costs less than writing and reading it
        return self.cached(name, ("ld", gene_id, variant_id), compute, disk=False)


def input_losses(report) -> str:
    """One line of what a computed store's inputs lost or changed (compute Cohort.report), for the
    dataset's description; empty without a report."""
    if not isinstance(report, dict):
        return ""
    people, genes, records = (report.get(k) or {} for k in ("people", "genes", "records"))
    parts = [f"{people.get('used', '?')} people, {genes.get('used', '?')} genes"]
    for label, item in (("people only in the VCF", people.get("only_in_vcf")),
                        ("people only in the expression", people.get("only_in_expression")),
                        ("genes without expression", genes.get("without_expression")),
                        ("expression rows without a TSS", genes.get("expression_without_tss")),
                        ("genes without an SNV", genes.get("without_snvs"))):  # fmt: skip
        count = (item or {}).get("count", 0)
        if count:
            parts.append(f"{label}: {count:,}")
    missing = (report.get("expression") or {}).get("missing_values") or {}
    if missing.get("count"):
        parts.append(f"expression NA (person left out of that gene): {missing['count']:,} in "
                     f"{missing.get('genes', 0):,} genes")  # fmt: skip
    if ((genes.get("positions") or {}).get("source")) == "expression BED":
        parts.append("gene positions from the expression BED (strand +)")
    for label, key in (("indels skipped", "indels_skipped"),
                       ("calls read as REF", "missing_or_unphased_read_as_ref"),
                       ("haploid calls", "haploid_calls")):  # fmt: skip
        if records.get(key):
            parts.append(f"{label}: {records[key]:,}")
    return "; ".join(parts)


def cache_tag(store: ResultsStore, version: tuple[int, ...], code: str) -> str:
    """The store's part of a view cache key: where it is, its version, when each of its tables was
    last written (optional ones too: a motif scan added later), and the code reading it."""
    tables = []
    for path in sorted(store.path.glob("*.parquet")):
        try:
            tables.append(f"{path.name}:{path.stat().st_mtime_ns}")
        except OSError:
            continue  # replaced while listed: the next look sees the new one
    state = f"{store.path.resolve()}|{version}|{','.join(tables)}|{code}"
    return hashlib.sha1(state.encode()).hexdigest()[:16]
