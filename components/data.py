"""The datasets the dashboard serves, the selection, and the URL that holds it.

URL state: `/gene/<name-or-id>?snv=<variant_id>&dataset=<name>`. A URL never
touches the filesystem: a dataset is picked by name from the list configured
at start-up, a gene and a SNV are looked up in that store's tables, and every
part is checked against a strict pattern first. Anything else becomes a
friendly message in the selection, never an exception.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode

import numpy as np
import pandas as pd

from compute.stats.ld import WindowLD
from compute.store import ResultsStore
from compute.store import subsets as gene_subsets
from compute.store.genotypes import GeneGenotypes

_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
MESSAGE_CHARS = 500
LOGO_TABLE = "ism_logo"  # optional (python -m compute ism-logo): ISM of every base around drivers
MOTIF_TABLE = "motifs"  # optional (python -m compute motifs): motifs each SNV breaks or creates


@dataclass(frozen=True)
class Selection:
    """What the user looks at. `snv` is the SNV in the URL or, failing that, the gene's main driver."""

    dataset: str
    gene_id: str | None = None
    snv: str | None = None
    message: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data, datasets: Datasets) -> Selection | None:
        """The selection a callback received, checked against the datasets; None for anything this
        server did not make (a forged or stale store: wrong types, unknown dataset or gene), so no
        callback ever looks up what a request made up."""
        if not isinstance(data, dict):
            return None
        dataset, gene_id, snv, message = (data.get(k) for k in ("dataset", "gene_id", "snv", "message"))
        if not isinstance(dataset, str) or dataset not in datasets.stores:
            return None
        if gene_id is not None and not (isinstance(gene_id, str) and datasets.has_gene(dataset, gene_id)):
            return None
        if snv is not None and not (isinstance(snv, str) and _TOKEN.match(snv)):
            return None
        if message is not None and not isinstance(message, str):
            return None
        return cls(dataset, gene_id, snv, message[:MESSAGE_CHARS] if message else message)


@dataclass
class GeneData:
    """One gene's rows of every table, read once per gene switch."""

    gene: pd.Series
    variants: pd.DataFrame
    people: pd.DataFrame
    null: pd.DataFrame


class Datasets:
    """Named results stores. Reads go through ResultsStore; one gene's tables are cached."""

    def __init__(self, paths: list[str | Path], cache_genes: int = 8):
        self.stores: dict[str, ResultsStore] = {}
        for path in paths:
            store = ResultsStore(path)
            name = Path(path).resolve().name
            base, k = name, 2
            while name in self.stores:
                name, k = f"{base}-{k}", k + 1
            self.stores[name] = store
        if not self.stores:
            raise ValueError("no results store to show")
        self._cache: OrderedDict[tuple[str, str], GeneData] = OrderedDict()
        self._cache_size = cache_genes
        self._lock = threading.Lock()
        self._drivers: dict[str, pd.DataFrame] = {}
        self._lookup: dict[str, dict[str, str]] = {}
        self._ids: dict[str, frozenset[str]] = {}
        self._available: dict[str, list[str]] = {}
        self._genotypes: OrderedDict[tuple[str, str], tuple[GeneGenotypes, WindowLD] | None] = OrderedDict()
        self._has_genotypes: dict[str, bool] = {}
        self._splits: dict[str, dict[str, str] | None] = {}
        self._subsets: dict[tuple[str, str], pd.Series] = {}
        self._population: dict[str, pd.DataFrame] = {}

    @property
    def names(self) -> list[str]:
        return list(self.stores)

    @property
    def default(self) -> str:
        return self.names[0]

    def store(self, name: str) -> ResultsStore:
        return self.stores[name]

    def genes(self, name: str) -> pd.DataFrame:
        return self.stores[name].genes()

    def has_people(self, name: str) -> bool:
        store = self.stores[name]
        return bool(store.manifest.get("has_people", True)) and store.has_table("people")

    def has_genotypes(self, name: str) -> bool:
        with self._lock:
            if name not in self._has_genotypes:
                self._has_genotypes[name] = self.stores[name].has_genotypes()
            return self._has_genotypes[name]

    def people_split(self, name: str) -> dict[str, str] | None:
        """training / validation / test per person when the dataset's model was fine-tuned on
        some of its people (compute.store.ResultsStore.people_split), else None."""
        with self._lock:
            if name not in self._splits:
                self._splits[name] = self.stores[name].people_split() if self.has_people(name) else None
            return self._splits[name]

    def subsets(self, name: str) -> list[str]:
        """Gene subsets that mean something for this dataset (compute.store.subsets.SUBSETS keys);
        read once per dataset (every all-genes view asks on every gene switch)."""
        with self._lock:
            if name not in self._available:
                self._available[name] = gene_subsets.available_subsets(self.genes(name))
            return self._available[name]

    def subset_mask(self, name: str, subset: str | None) -> pd.Series:
        """Boolean per row of genes(name); unknown or unavailable subsets mean all genes."""
        if subset not in self.subsets(name):
            subset = "all"
        key = (name, subset)
        with self._lock:
            if key not in self._subsets:
                self._subsets[key] = gene_subsets.subset_mask(self.genes(name), subset).astype(bool)
            return self._subsets[key]

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
        with self._lock:
            if name not in self._population:
                self._population[name] = gene_subsets.population_table(self.stores[name])
            return self._population[name]

    def describe(self, name: str) -> str:
        manifest = self.stores[name].manifest
        return str(manifest.get("description") or manifest.get("dataset") or name)

    def model_note(self, name: str) -> str | None:
        """What the dashboard must say about a dataset's model: set for a demo model, else None."""
        manifest = self.stores[name].manifest
        if not manifest.get("demo_model"):
            return None
        return str(manifest.get("model_note") or "demo model: not a trained Enformer")

    def has_gene(self, name: str, gene_id: str) -> bool:
        return gene_id in self._gene_ids(name)

    def _gene_ids(self, name: str) -> frozenset[str]:
        if name not in self._ids:
            self._ids[name] = frozenset(self.genes(name)["gene_id"].astype(str))
        return self._ids[name]

    def find_gene(self, name: str, query: str) -> str | None:
        """Gene ID for an exact gene ID or a gene name (case-insensitive), else None."""
        if name not in self._lookup:
            genes = self.genes(name)
            lookup = {str(n).upper(): g for n, g in zip(genes.gene_name, genes.gene_id, strict=True)}
            lookup.update({str(g).upper(): g for g in genes.gene_id})
            self._lookup[name] = lookup
        return self._lookup[name].get(query.upper())

    def gene(self, name: str, gene_id: str) -> GeneData:
        """All rows of one gene (LRU-cached, so the views of one switch share one read)."""
        key = (name, gene_id)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            store = self.stores[name]
            genes = self.genes(name)
            row = genes.loc[genes.gene_id == gene_id]
            if row.empty:
                raise KeyError(gene_id)
            data = GeneData(
                gene=row.iloc[0],
                variants=store.variants(gene_id) if store.has_table("variants") else pd.DataFrame(),
                people=store.people(gene_id) if self.has_people(name) else pd.DataFrame(),
                null=store.null(gene_id) if store.has_table("null") else pd.DataFrame(),
            )
            self._cache[key] = data
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return data

    def drivers(self, name: str) -> pd.DataFrame:
        """gene_id and TSS distance of every driver SNV of a dataset (read once; two columns, for speed)."""
        with self._lock:
            if name not in self._drivers:
                self._drivers[name] = self.stores[name].drivers(columns=["gene_id", "tss_distance"])
            return self._drivers[name]

    def subset_drivers(self, name: str, subset: str | None) -> pd.DataFrame:
        """Drivers of the genes in a subset (all drivers for all genes)."""
        drivers = self.drivers(name)
        if subset in (None, "all"):
            return drivers
        genes = self.genes(name)
        keep = set(genes.gene_id[self.subset_mask(name, subset).to_numpy(bool)])
        return drivers.loc[drivers.gene_id.isin(keep)]

    def genotypes(self, name: str, gene_id: str) -> tuple[GeneGenotypes, WindowLD] | None:
        """One gene's stored genotypes and its LD helper (LRU-cached), or None without them."""
        if not self.has_genotypes(name):
            return None
        key = (name, gene_id)
        with self._lock:
            if key in self._genotypes:
                self._genotypes.move_to_end(key)
                return self._genotypes[key]
        genotypes = self.stores[name].genotypes(gene_id)
        value = None if genotypes is None else (genotypes, WindowLD(genotypes.dosage))
        with self._lock:
            self._genotypes[key] = value
            while len(self._genotypes) > self._cache_size:
                self._genotypes.popitem(last=False)
        return value

    def dosage(self, name: str, gene_id: str, variant_id: str) -> pd.Series | None:
        """Dosage (0/1/2) per person_id of one SNV, when the store has genotypes and the SNV."""
        found = self.genotypes(name, gene_id)
        return None if found is None else found[0].snv_dosage(variant_id)

    def heldout_r(self, name: str, gene_id: str) -> tuple[float, int] | None:
        """Pearson r of predicted vs observed over the people the model never saw (the 'test'
        people of a fine-tuned model) and their number; None when the model saw none of them."""
        split = self.people_split(name)
        if split is None:
            return None
        people = self.gene(name, gene_id).people
        test = people.loc[people["person_id"].map(split).eq("test").to_numpy(bool)]
        x, y = test["predicted"].to_numpy(float), test["observed"].to_numpy(float)
        if len(test) < 3 or x.std() == 0 or y.std() == 0:
            return float("nan"), len(test)
        return float(np.corrcoef(x, y)[0, 1]), len(test)

    def ld_people(self, name: str, gene_id: str) -> int:
        """How many people the gene's LD is computed from (0 without genotypes)."""
        found = self.genotypes(name, gene_id)
        return 0 if found is None else len(found[0].person_ids)

    def ld(self, name: str, gene_id: str, variant_id: str) -> pd.Series | None:
        """r² with `variant_id` of every SNV of the gene's window (index variant_id), from the
        dataset's own people; None without genotypes or when the SNV is not in the window."""
        found = self.genotypes(name, gene_id)
        if found is None:
            return None
        genotypes, ld = found
        k = genotypes.index(variant_id)
        if k is None:
            return None
        return pd.Series(ld.r2(k), index=pd.Index(genotypes.variant_ids, name="variant_id"), name="ld_r2")


def default_snv(variants: pd.DataFrame) -> str | None:
    """The main driver, else the SNV with the largest |ISM|."""
    if variants.empty:
        return None
    main = variants.loc[variants.is_main_driver.astype("boolean").fillna(False).to_numpy(bool)]
    if len(main):
        return str(main.variant_id.iloc[0])
    return str(variants.variant_id.iloc[variants.ism.abs().to_numpy().argmax()])


def gene_url(dataset: str, gene: str | None, snv: str | None = None) -> str:
    """The shareable URL of a selection."""
    path = f"/gene/{quote(gene, safe='')}" if gene else "/"
    query = {"dataset": dataset}
    if snv:
        query = {"snv": snv, **query}
    return f"{path}?{urlencode(query)}"


def parse_url(datasets: Datasets, pathname: str | None, search: str | None) -> Selection:
    """Selection for a URL; a friendly message for anything that does not name a gene."""
    if not isinstance(pathname, str | None) or not isinstance(search, str | None):
        return Selection(datasets.default, message="This address could not be read. Search for a gene.")
    try:
        query = parse_qs((search or "").lstrip("?"), keep_blank_values=True, max_num_fields=10)
    except ValueError:
        query = {}
    dataset = (query.get("dataset") or [datasets.default])[0]
    if dataset not in datasets.stores:
        shown = dataset if _TOKEN.match(dataset) else "that"
        return Selection(
            datasets.default,
            message=f"There is no dataset called '{shown}'. Available: {', '.join(datasets.names)}.",
        )
    path = pathname or "/"
    if path in ("/", ""):
        return Selection(dataset)
    if not path.startswith("/gene/"):
        return Selection(dataset, message="This address is not a view of the dashboard. Search for a gene.")
    token = unquote(path[len("/gene/") :]).strip()
    if not _TOKEN.match(token):
        return Selection(
            dataset,
            message="That is not a gene name or ID: use letters, digits, '.', '-' or '_' (e.g. /gene/DDX11).",
        )
    gene_id = datasets.find_gene(dataset, token)
    if gene_id is None:
        return Selection(dataset, message=f"No gene '{token}' in dataset '{dataset}'. Try the search box.")
    variants = datasets.gene(dataset, gene_id).variants
    snv_query = (query.get("snv") or [None])[0]
    if snv_query is not None:
        if _TOKEN.match(snv_query) and snv_query in set(variants.get("variant_id", [])):
            return Selection(dataset, gene_id, snv_query)
        shown = snv_query if _TOKEN.match(snv_query) else "that SNV"
        return Selection(
            dataset, gene_id, default_snv(variants), message=f"'{shown}' is not a SNV of this gene's window."
        )
    return Selection(dataset, gene_id, default_snv(variants))
