"""The cohort input files a store's manifest records, and whether they are still the files
the store was made from: a quick check (there, same size, same modification time) for the
dashboard and a full one (sha256) before any run reads them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from compute.cohort import CHROM_FIELD
from compute.errors import InputError
from compute.store.files import file_digest

if TYPE_CHECKING:
    from compute.store import ResultsStore

INPUT_NAMES = ("fasta", "vcf", "genes", "expression")
OPTIONAL_INPUTS = ("sample_map", "covariates")  # recorded when the run had them
# genes: absent when the positions came from the expression, a phenotype BED (no --genes)
REQUIRED_INPUTS = ("fasta", "vcf", "expression")


def input_files(path: str | Path) -> list[Path]:
    """The files an input names: itself, or each per-chromosome file of a path with {chrom}."""
    if CHROM_FIELD not in str(path):
        return [Path(path)]
    pattern = Path(str(path).replace(CHROM_FIELD, "*"))
    return sorted(pattern.parent.glob(pattern.name))


def input_record(path: str | Path, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """How a manifest records an input: its path, sha256, size and modification time; for a path
    with {chrom} (per-chromosome genotype files), each file there is, under `files`.

    known: the record of this input in the manifest of the store being resumed; its sha256 is
    kept, not computed again, for a file at the same path with the same size and modification time
    (as `input_problems` judges a file unchanged), so a resumed run or a job array's shards do not
    hash the cohort's VCF again."""
    known = known if isinstance(known, dict) and known.get("path") == str(path) else {}
    if CHROM_FIELD in str(path):
        each = known.get("files") or {}
        return {
            "path": str(path),
            "files": {str(f): input_record(f, each.get(str(f))) for f in input_files(path)},
        }
    path = Path(path)
    stat = path.stat()
    stamp = (stat.st_size, stat.st_mtime_ns)
    same = known.get("sha256") and (known.get("size"), known.get("mtime_ns")) == stamp
    return {
        "path": str(path), "sha256": known["sha256"] if same else file_digest(path), "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
    }  # fmt: skip


def input_records(paths: dict[str, str | Path | None], known: dict[str, Any] | None = None) -> dict[str, Any]:
    """input_record of each named input that is given (None: not given, not recorded); known: the
    `inputs` of the manifest of the store being resumed."""
    known = known or {}
    return {name: input_record(path, known.get(name)) for name, path in paths.items() if path is not None}


def _digests(entry: Any) -> list[str] | None:
    """The sha256 of each file an input record names (per-chromosome files in file order); None for a
    record without digests (a store made before they were recorded)."""
    if not isinstance(entry, dict):
        return None
    records = list(entry["files"].values()) if isinstance(entry.get("files"), dict) else [entry]
    digests = [r.get("sha256") for r in records if isinstance(r, dict)]
    return digests if digests and all(digests) else None


def changed_inputs(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    """Why a run's input files are not those of the store it would resume, one message each ([]: the
    same files, or a store that records no digests). Contents are compared, not paths: a cohort
    moved elsewhere resumes; an input given to one run only, or edited, does not."""
    old, new = old or {}, new or {}
    if not old or not new:
        return []
    problems = []
    for name in (*INPUT_NAMES, *OPTIONAL_INPUTS):
        if (name in old) != (name in new):
            had = "was made with" if name in old else "was made without"
            problems.append(f"the store {had} a {name} input ({(old.get(name) or new[name])['path']})")
            continue
        before, now = _digests(old.get(name)), _digests(new.get(name))
        if before is not None and now is not None and before != now:
            problems.append(
                f"the {name} file {new[name]['path']} differs from the one the store was made with "
                f"({old[name]['path']}: sha256 differs)"
            )
    return problems


def recorded_inputs(store: ResultsStore) -> dict[str, dict[str, Any]]:
    """The manifest's input entries; InputError for a store that records none (a published one)."""
    inputs = store.manifest.get("inputs") or {}
    missing = [n for n in REQUIRED_INPUTS if not isinstance(inputs.get(n), dict) or "path" not in inputs[n]]
    if missing:
        raise InputError(
            f"{store.path / 'manifest.json'}: records no {', '.join(missing)} input: the store was not "
            "computed by this project from a cohort, so nothing can be computed for it"
        )
    given = [n for n in ("genes", *OPTIONAL_INPUTS) if "path" in (inputs.get(n) or {})]
    return {n: inputs[n] for n in INPUT_NAMES + OPTIONAL_INPUTS if n in (*REQUIRED_INPUTS, *given)}


def input_problems(store: ResultsStore, full: bool = True) -> list[str]:
    """What changed in the store's inputs, one message each ([] when all are as recorded).

    full=False only compares what the file system says (existence, size, and a digest only
    when the modification time differs and full is True), so it takes microseconds."""
    problems = []
    entries = []
    for name, entry in recorded_inputs(store).items():  # per-chromosome files one by one
        entries += [(name, e) for e in entry["files"].values()] if "files" in entry else [(name, entry)]
    for name, entry in entries:
        path = store.resolve(entry["path"])
        try:
            stat = os.stat(path)
        except OSError:
            problems.append(f"the {name} file {path} is not there any more (moved or deleted)")
            continue
        if "size" in entry and stat.st_size != entry["size"]:
            problems.append(f"the {name} file {path} changed since the store was made (size differs)")
        elif full and stat.st_mtime_ns != entry.get("mtime_ns") and entry.get("sha256"):
            if file_digest(path) != entry["sha256"]:
                problems.append(f"the {name} file {path} changed since the store was made (sha256 differs)")
    return problems


def check_inputs(store: ResultsStore, full: bool = True) -> dict[str, Path]:
    """The store's input paths, after checking them; InputError naming every changed file."""
    problems = input_problems(store, full)
    if problems:
        raise InputError(f"{store.path / 'manifest.json'}: " + "; ".join(problems))
    return {name: store.resolve(entry["path"]) for name, entry in recorded_inputs(store).items()}


def manifest_input(store: ResultsStore, name: str) -> Path:
    """One input file the manifest records, checked unchanged (paths may be relative to the store)."""
    entry = (store.manifest.get("inputs") or {}).get(name)
    if not entry or "path" not in entry:
        raise InputError(f"{store.path / 'manifest.json'}: records no {name} input")
    for item in entry.get("files", {}).values() if "files" in entry else [entry]:
        path = store.resolve(item["path"])
        if not path.is_file():
            raise InputError(f"{path}: the {name} this store was made from is not there")
        if item.get("sha256") and file_digest(path) != item["sha256"]:
            raise InputError(f"{path}: changed since the store was made (sha256 differs from its manifest)")
    return store.resolve(entry["path"]) if "files" not in entry else Path(entry["path"])


def cohort_gene_table(store: ResultsStore) -> pd.DataFrame | None:
    """gene_id and gene_name of the cohort's genes table the manifest records (the genes a run of
    this store could compute); None when the store records none or the file is not there."""
    inputs = store.manifest.get("inputs") or {}
    entry = inputs.get("genes")
    positions = ((store.manifest.get("input_report") or {}).get("genes") or {}).get("positions") or {}
    from_bed = entry is None and positions.get("source") == "expression BED" and "expression" in inputs
    if from_bed:  # the positions came from the expression's phenotype BED: its phenotype_id column
        entry = inputs["expression"]
    if not isinstance(entry, dict) or "path" not in entry:
        return None
    path = store.resolve(entry["path"])
    try:
        if from_bed:
            ids = pd.read_csv(path, sep="\t", dtype=str, usecols=[3]).iloc[:, 0]
            table = pd.DataFrame({"gene_id": ids, "gene_name": ids})
        else:
            table = pd.read_csv(path, sep="\t", dtype=str, usecols=["gene_id", "gene_name"], comment="#")
    except (OSError, ValueError):
        return None
    return table.dropna(subset=["gene_id"]).drop_duplicates("gene_id").fillna({"gene_name": ""})
