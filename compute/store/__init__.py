"""The results store: a directory of Parquet tables plus manifest.json (DESIGN §6).

Writing happens per gene into `parts/<gene_id>/`, built in a temporary
directory and renamed into place, so a reader never sees half a gene and a
killed run loses at most the gene in flight. `finalize` gathers the parts into
the four tables, each sorted by gene_id with small row groups; readers find a
gene's row groups from the Parquet statistics and read only those.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from compute.errors import InputError
from compute.store.files import (
    create_json,
    file_digest,
    json_default,
    landed_genes,
    publish,
    safe_gene_id,
    write_json_atomic,
    write_parquet_atomic,
)
from compute.store.genotypes import GENOTYPES_TABLE, GeneGenotypes
from compute.store.live import LiveParts
from compute.store.reading import GeneIndex
from compute.store.schemas import (
    DRIVERS_TABLE,
    FORMAT,
    GENE_COLUMNS,
    NULL_COLUMNS,
    OPTIONAL_TABLES,
    PEOPLE_COLUMNS,
    ROW_GROUP_ROWS,
    TABLES,
    VARIANT_COLUMNS,
    arrow_table,
)
from compute.store.writing import GenotypesWriter, concat_frames

__all__ = [
    "DRIVERS_TABLE", "GENE_COLUMNS", "NULL_COLUMNS", "OPTIONAL_TABLES", "PEOPLE_COLUMNS", "ROW_GROUP_ROWS",
    "TABLES", "VARIANT_COLUMNS", "GenotypesWriter", "ResultsStore", "file_digest", "publish",
    "safe_gene_id", "write_json_atomic", "write_parquet_atomic",
]  # fmt: skip


def check_format(manifest: dict[str, Any], where: Path) -> None:
    """The one check of a store's layout version: a store of another format is refused with what to
    do (an older one: `python -m compute upgrade`, compute/store/upgrade.py; a later one: a newer
    version of this tool). Stores before `format` was recorded are 1."""
    found = manifest.get("format", 1)
    if found == FORMAT:
        return
    if isinstance(found, int) and found < FORMAT:
        raise InputError(
            f"{where}: store format {found}, this version reads format {FORMAT}: run "
            f"`python -m compute upgrade {where.parent}` once"
        )
    raise InputError(
        f"{where}: store format {found!r}, but this version reads format {FORMAT} and earlier; "
        "update this tool to read it"
    )


class ResultsStore:
    """One dataset's results: create, write genes atomically, finalize, read."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / "manifest.json").is_file():
            raise InputError(f"{self.path}: not a results store (no manifest.json)")
        self._indexes: dict[str, GeneIndex] = {}
        self._genes: pd.DataFrame | None = None
        self._live: LiveParts | None = None
        self._finalized: frozenset[str] | None = None
        self._version: tuple[int, ...] | None = None
        self._manifest: tuple[tuple[int, ...], dict[str, Any]] | None = None  # (file stamp, contents)
        check_format(self.manifest, self.path / "manifest.json")

    # ----- creating and writing -------------------------------------------------

    @classmethod
    def create(
        cls, path: str | Path, manifest: dict[str, Any], same_run: Callable[[Any, Any], bool] | None = None
    ) -> ResultsStore:
        """Create a store (or reopen one whose manifest says the same run: its `model` and
        `settings` sections equal, or as `same_run(old, new)` judges them)."""
        same_run = same_run or (lambda old, new: old == new)
        path = Path(path)
        manifest = json.loads(json.dumps(manifest, default=json_default))  # compare as stored
        (path / "parts").mkdir(parents=True, exist_ok=True)
        (path / "failed").mkdir(exist_ok=True)
        manifest_path = path / "manifest.json"
        # made by one process only: the shards of a job array start at once, and the others resume it
        if not manifest_path.is_file() and create_json(manifest_path, {"format": FORMAT, **manifest}):
            return cls(path)
        old = json.loads(manifest_path.read_text())
        check_format(old, manifest_path)
        changed = {
            k for k in ("model", "settings") if k in manifest and not same_run(old.get(k), manifest[k])
        }
        if changed:
            raise InputError(
                f"{manifest_path}: this store was made with other {', '.join(sorted(changed))}; "
                "use another --out directory or delete this one"
            )
        added = {k: v for k, v in manifest.items() if k not in old}
        if added:  # rewritten only when something is new, so resuming shards do not race to rewrite it
            write_json_atomic(manifest_path, {**old, **added})
        return cls(path)

    @property
    def manifest(self) -> dict[str, Any]:
        """manifest.json, read again only when the file changed (a writer replaces it whole); a copy,
        so that a caller's changes never reach the cached one."""
        path = self.path / "manifest.json"
        info = os.stat(path)
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)  # a rewrite is a new file (renamed in)
        if self._manifest is None or self._manifest[0] != stamp:
            self._manifest = (stamp, json.loads(path.read_text()))
        return copy.deepcopy(self._manifest[1])

    def resolve(self, recorded: str | Path) -> Path:
        """A path the manifest records: inside the store when it is relative and there (a store
        that ships its inputs and model, data/demo), else as recorded."""
        path = Path(recorded)
        if not path.is_absolute() and (self.path / path).exists():
            return self.path / path
        return path

    def record(self, path: str | Path) -> str:
        """How the manifest names a file: relative to the store when inside it (so the store can
        move, `resolve` reads it back), else absolute."""
        path = Path(path).resolve()
        return (
            path.relative_to(self.path.resolve()).as_posix()
            if path.is_relative_to(self.path.resolve())
            else str(path)
        )

    def update_manifest(self, **fields: Any) -> None:
        manifest = self.manifest
        manifest.update(fields)
        write_json_atomic(self.path / "manifest.json", manifest)

    def write_gene(
        self,
        gene_id: str,
        *,
        gene: dict[str, Any],
        people: pd.DataFrame,
        variants: pd.DataFrame,
        null: pd.DataFrame,
        genotypes: dict[str, Any] | None = None,
    ) -> None:
        """Write one gene's results; visible to readers only once complete.

        genotypes: the gene's row of the genotypes table (compute.store.genotypes.genotype_row)."""
        safe_gene_id(gene_id)
        parts = self.path / "parts"
        parts.mkdir(exist_ok=True)  # a store shipped or copied with its tables only has none
        tmp = Path(tempfile.mkdtemp(dir=parts, prefix=f".{gene_id}."))
        try:
            frames = {
                "genes": pd.DataFrame([{"gene_id": gene_id, **gene}]),
                "people": people.assign(gene_id=gene_id),
                "variants": variants.assign(gene_id=gene_id),
                "null": null.assign(gene_id=gene_id),
            }
            if genotypes is not None:
                frames[GENOTYPES_TABLE] = pd.DataFrame([{**genotypes, "gene_id": gene_id}])
            for name, frame in frames.items():
                pq.write_table(arrow_table(name, frame), tmp / f"{name}.parquet")
            final = parts / gene_id
            if final.exists():  # a rerun of a gene replaces its old result whole
                shutil.rmtree(final)
            publish(tmp, final, mode=0o777)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        (self.path / "failed" / f"{gene_id}.json").unlink(missing_ok=True)

    def write_failure(self, gene_id: str, error: str) -> None:
        safe_gene_id(gene_id)
        write_json_atomic(self.path / "failed" / f"{gene_id}.json", {"gene_id": gene_id, "error": error})

    def done_genes(self) -> set[str]:
        """Genes with results: landed in parts/, or in the finalized tables (whose parts a store
        shipped or copied without its work folders does not have)."""
        return self.part_genes() | self.finalized_genes()

    def part_genes(self) -> set[str]:
        return landed_genes(self.path)

    def finalized_genes(self) -> set[str]:
        """The genes of the finalized genes table (read once per version of the store)."""
        self._refresh()
        if self._finalized is None:
            path = self.path / "genes.parquet"
            ids = pd.read_parquet(path, columns=["gene_id"]).gene_id if path.is_file() else []
            self._finalized = frozenset(map(str, ids))
        return set(self._finalized)

    def failures(self) -> dict[str, str]:
        failed = self.path / "failed"
        if not failed.is_dir():
            return {}
        out = {}
        for p in sorted(failed.glob("*.json")):
            out[p.stem] = json.loads(p.read_text())["error"]
        return out

    def finalize(self, genes_transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> None:
        """Gather parts/ into the four tables; `genes_transform` adds cross-gene columns (BH).

        One finalize at a time per store (a lock file): two processes that each landed a gene (two
        on-demand jobs) would otherwise race, and the one that read parts/ first could rename its
        tables into place last, without the other's gene."""
        with open(self.path / ".finalize.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            landed = sorted(self.part_genes())
            # genes finalized before without a part (a shipped or copied store) keep their rows
            kept = sorted(self.finalized_genes() - set(landed))
            done = sorted([*landed, *kept])
            for name in TABLES:
                frames = [pd.read_parquet(self.path / "parts" / g / f"{name}.parquet") for g in landed]
                if kept and self.has_table(name):
                    old = pd.read_parquet(self.path / f"{name}.parquet", filters=[("gene_id", "in", kept)])
                    frames.append(old)
                frame = concat_frames(frames, TABLES[name])
                if name == "genes" and genes_transform is not None:
                    frame = genes_transform(frame)
                self.write_table(name, frame)
            self._gather_genotypes(done)
            self.update_manifest(genes_done=len(done), genes_failed=len(self.failures()), finalized=True)

    def _gather_genotypes(self, done: list[str]) -> None:
        """genotypes.parquet from the parts that have it, else from the table finalized before (a
        store whose genotypes were added later, then resumed), streamed a row group at a time
        (the full study's table is a few GB: never all in memory)."""
        paths = {g: self.path / "parts" / g / f"{GENOTYPES_TABLE}.parquet" for g in done}
        paths = {g: p for g, p in paths.items() if p.is_file()}
        if not paths:
            return
        old = GeneIndex.open(self.path / f"{GENOTYPES_TABLE}.parquet") if self.has_genotypes() else None
        with GenotypesWriter(self.path) as writer:
            for gene_id in done:
                if gene_id in paths:
                    writer.add(pd.read_parquet(paths[gene_id]).iloc[0].to_dict())
                elif old is not None and len(rows := old.read(gene_id)):
                    writer.add(rows.iloc[0].to_dict())
        self._indexes.pop(GENOTYPES_TABLE, None)

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        """Write one whole table, sorted by gene for fast per-gene reads."""
        columns = TABLES.get(name) or OPTIONAL_TABLES[name]
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} table lacks columns {missing}")
        ordered = columns + [c for c in frame.columns if c not in columns]
        frame = frame[ordered].sort_values("gene_id", kind="stable").reset_index(drop=True)
        write_parquet_atomic(self.path / f"{name}.parquet", frame, ROW_GROUP_ROWS[name], name)
        self._indexes.pop(name, None)
        if name == "genes":
            self._genes = None
        if name == "variants":
            self.write_drivers(frame)

    def write_drivers(self, variants: pd.DataFrame | None = None) -> None:
        """drivers.parquet: the driver rows of the variants table, so that the views of
        all genes' drivers need not scan ~20 M variant rows. Reads variants.parquet when
        no frame is given (stores whose variants table was written in chunks)."""
        if variants is None:
            variants = pd.read_parquet(self.path / "variants.parquet", filters=[("is_driver", "==", True)])
        drivers = variants.loc[variants["is_driver"].fillna(False).astype(bool)].reset_index(drop=True)
        path = self.path / f"{DRIVERS_TABLE}.parquet"
        write_parquet_atomic(path, drivers, ROW_GROUP_ROWS["variants"], DRIVERS_TABLE)

    # ----- reading --------------------------------------------------------------

    def version(self) -> tuple[int, ...]:
        """Changes whenever a gene lands or fails, a table is rewritten or the manifest changes
        (modification times of the files and folders a writer replaces or renames into)."""
        out = []
        for name in ("manifest.json", "genes.parquet", "parts", "failed"):
            try:
                out.append(os.stat(self.path / name).st_mtime_ns)
            except OSError:
                out.append(0)
        return tuple(out)

    def _refresh(self) -> None:
        """Forget what was read when a writer changed the store (a rewritten table is a new file)."""
        version = self.version()
        if version != self._version:
            self._version = version
            self._genes, self._live, self._indexes, self._finalized = None, None, {}, None

    def live(self) -> LiveParts:
        """Genes that landed in parts/ but are not in the finalized tables (compute/store/live.py)."""
        self._refresh()
        if self._live is None:
            self._live = LiveParts(self.path, self.part_genes(), self.finalized_genes())
        return self._live

    @property
    def provisional(self) -> bool:
        """Whether cross-gene columns (p_null, q_bh, significant) are over the genes done so far:
        genes landed after the last finalize, or none finalized yet."""
        return bool(self.live()) or not self.has_table("genes")

    def genes(self) -> pd.DataFrame:
        """All genes, one row each (cached until the store changes: the dashboard reads it on every
        view). Genes not finalized yet are included, with cross-gene columns over all genes shown."""
        self._refresh()
        if self._genes is None:
            live = self.live()
            frames = [pd.read_parquet(self.path / "genes.parquet")] if self.has_table("genes") else []
            if live:
                frames.append(live.table("genes"))
            genes = concat_frames(frames, GENE_COLUMNS)
            if live:
                from compute.stats import cohort_statistics

                convention = (self.manifest.get("settings") or {}).get("stats", {}).get("convention")
                genes = cohort_statistics(genes, convention=convention or "published")
                genes = genes.sort_values("gene_id", kind="stable").reset_index(drop=True)
            self._genes = genes
        return self._genes

    def has_table(self, name: str) -> bool:
        return (self.path / f"{name}.parquet").is_file()

    def readable(self, name: str) -> bool:
        """Whether a reader finds rows of this per-gene table: finalized, or in genes not finalized yet."""
        return self.has_table(name) or (name in TABLES and bool(self.live()))

    def _gene_rows(self, name: str, gene_id: str) -> pd.DataFrame:
        live = self.live()
        if gene_id in live:
            return live.gene_rows(name, gene_id, (TABLES | OPTIONAL_TABLES)[name])
        if not self.has_table(name):
            return pd.DataFrame(columns=(TABLES | OPTIONAL_TABLES)[name])
        return self._index(name).read(gene_id)

    def _index(self, name: str) -> GeneIndex:
        index = self._indexes.get(name)  # one lookup: another thread may replace the dict meanwhile
        if index is None:
            index = self._indexes[name] = GeneIndex.open(self.path / f"{name}.parquet")
        return index

    def people(self, gene_id: str) -> pd.DataFrame:
        return self._gene_rows("people", gene_id)

    def variants(self, gene_id: str) -> pd.DataFrame:
        return self._gene_rows("variants", gene_id)

    def null(self, gene_id: str) -> pd.DataFrame:
        return self._gene_rows("null", gene_id)

    def has_genotypes(self) -> bool:
        """Whether the store holds genotypes (stores made before them hold none: `python -m compute
        genotypes STORE` writes them)."""
        return self.live().has_genotypes() or self.has_table(GENOTYPES_TABLE)

    def genotypes(self, gene_id: str) -> GeneGenotypes | None:
        """One gene's people x SNVs genotypes; None when the store or the gene has none."""
        row = self.genotype_row(gene_id)
        return None if row is None else GeneGenotypes.from_row(row)

    def genotype_row(self, gene_id: str) -> dict | None:
        """One gene's row of the genotypes table as stored (bits packed); None without one."""
        if not self.has_genotypes():
            return None
        if gene_id not in self.live() and self.has_table(GENOTYPES_TABLE):
            # one row of two lists and the bits: as Python values straight from Arrow (pandas'
            # frame of it cost more than the read)
            found = self._index(GENOTYPES_TABLE).read_table(gene_id).to_pylist()
            return found[0] if found else None
        rows = self._gene_rows(GENOTYPES_TABLE, gene_id)
        return rows.iloc[0].to_dict() if len(rows) else None

    def people_split(self) -> dict[str, str] | None:
        """'training', 'validation' or 'test' per person_id when the store's model was fine-tuned
        on some of its people (the demo; a finetune evaluation store holds test people only);
        None for a model that saw none of them. Validation people chose the epoch; test people
        were never used."""
        manifest = self.manifest
        split = manifest.get("finetune") or manifest.get("split")
        if not isinstance(split, dict) or "test_people" not in split:
            return None
        groups = {p: "validation" for p in split.get("validation_people") or ()}
        groups.update({p: "test" for p in split.get("test_people") or ()})
        people = self.people(self.genes()["gene_id"].iloc[0])["person_id"] if len(self.genes()) else []
        return {str(p): groups.get(str(p), "training") for p in people}

    def drivers(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Driver SNVs of all genes (for the TSS-distance histograms), from drivers.parquet (every
        store of this format that has variants has it), `columns` only."""
        if columns is not None:
            columns = list(dict.fromkeys(columns))
        frames = []
        if (self.path / f"{DRIVERS_TABLE}.parquet").is_file():
            frames.append(pd.read_parquet(self.path / f"{DRIVERS_TABLE}.parquet", columns=columns))
        live = self.live()
        if live:
            frames.append(live.table("variants", columns or VARIANT_COLUMNS, drivers_only=True))
        return concat_frames(frames, columns or VARIANT_COLUMNS)
