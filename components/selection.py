"""The selection (what the user looks at) and the URL that holds it.

URL state: `/gene/<name-or-id>?snv=<variant_id>&dataset=<name>`. A URL never
touches the filesystem: a dataset is picked by name from the list configured
at start-up, a gene and a SNV are looked up in that store's tables, and every
part is checked against a strict pattern first. Anything else becomes a
friendly message in the selection, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, unquote, urlencode

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from components.data import Datasets

_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
MESSAGE_CHARS = 500


@dataclass(frozen=True)
class Selection:
    """What the user looks at. `snv` is the SNV in the URL or, failing that, the gene's main driver."""

    dataset: str
    gene_id: str | None = None
    snv: str | None = None
    message: str | None = None
    pending: str | None = None  # a gene of the dataset's cohort the store does not hold yet

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
        pending = data.get("pending")
        if not datasets.visible(dataset):
            return None
        if not (isinstance(pending, str) and pending in datasets.pending_ids(dataset)):
            pending = None  # computed meanwhile, or never a gene of the cohort
        if gene_id is not None and not (isinstance(gene_id, str) and datasets.has_gene(dataset, gene_id)):
            return None
        if snv is not None and not (isinstance(snv, str) and _TOKEN.match(snv)):
            return None
        if message is not None and not isinstance(message, str):
            return None
        return cls(dataset, gene_id, snv, message[:MESSAGE_CHARS] if message else message, pending)


def dataset_name(value, datasets: Datasets) -> str | None:
    """The dataset a callback received (the `app-dataset` store), if this server has it; None for
    anything else (a forged request), so no callback looks up a name a request made up."""
    return value if datasets.visible(value) else None


def default_snv(variants: pd.DataFrame) -> str | None:
    """The main driver, else the SNV with the largest |ISM|."""
    if variants.empty:
        return None
    main = np.flatnonzero(variants["is_main_driver"].astype("boolean").fillna(False).to_numpy(bool))
    where = main[0] if len(main) else np.abs(variants["ism"].to_numpy(float)).argmax()
    return str(variants["variant_id"].iloc[where])


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
    if not datasets.default:
        return Selection("", message="No dataset on this server is open to you: ask its administrator.")
    dataset = (query.get("dataset") or [datasets.default])[0]
    if not datasets.visible(dataset):  # one answer for a store that is not there and one not for you
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
        pending = datasets.find_pending(dataset, token)
        if pending is not None:
            return Selection(dataset, message=f"'{token}' is a gene of this cohort not computed yet.",
                             pending=pending)  # fmt: skip
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
