"""The precompute loop that writes a cohort's genes into a results store, its manifest,
status and the cross-gene statistics over a finished store.

The unit of work is a `GeneWorker` (compute/run/gene.py): it opens the cohort
inputs and the model once and then runs genes. The local backend keeps one in this
process; the Ray backend keeps one per actor (one GPU each where there are GPUs)
(compute/run/backends.py). Only the process that called `precompute` writes to the store, except
for the shards of a job array (`shard=(I, N)`): N such processes, each maybe on its own node, write
one store on a shared file system, each gene claimed by one of them (compute/store/claims.py).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from compute.errors import InputError
from compute.run.gene import prepare_model, prepare_track_weights
from compute.run.settings import CohortFiles, RunSettings, same_run, to_manifest
from compute.store import ResultsStore, file_digest, safe_gene_id
from compute.store.claims import CLAIMS_DIR, FINALIZE, GeneClaims, live_claims, remove_claims, shard_order
from compute.store.inputs import INPUT_NAMES, OPTIONAL_INPUTS, changed_inputs, input_records
from compute.store.progress import RunProgress, read_progress, settle_shards

if TYPE_CHECKING:
    from compute.cohort.inputs import Cohort
    from compute.run.backends import Backend


def weights_digest(weights_dir: str | Path) -> str:
    """One digest over a weights directory's config and weight files (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(Path(weights_dir).iterdir()):
        # AlphaGenome's track means are in its metadata, which decides its numbers as its weights do
        if path.name in WEIGHT_CONFIGS or path.name.endswith((".safetensors", ".bin")):
            digest.update(path.name.encode())
            digest.update(file_digest(path).encode())
    return digest.hexdigest()


# A recipe (compute/engine/models.py save_recipe) stands for the weights it rebuilds, and holds their digest
WEIGHT_CONFIGS = ("config.json", "metadata.json", "alphagenome_metadata.json", "recipe.json")


def package_versions() -> dict[str, str]:
    names = ["torch", "enformer-pytorch", "borzoi-pytorch", "alphagenome-pt", "transformers", "numpy",
             "scipy", "pandas", "pyarrow", "scikit-learn", "cyvcf2"]  # fmt: skip
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def cohort_inputs(files: CohortFiles, known: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest's `inputs` of a run: each input file's path, sha256, size and modification time
    (the optional ones when given); known: the `inputs` of the store being resumed, whose digests
    are kept for files unchanged since (compute/store/inputs.py input_record)."""
    names = (*INPUT_NAMES, *OPTIONAL_INPUTS)
    return input_records({name: getattr(files, name) for name in names}, known)


def resumed_inputs(out: str | Path) -> dict[str, Any] | None:
    """The `inputs` recorded by the manifest of a store at `out`, None when there is none yet."""
    try:
        return json.loads((Path(out) / "manifest.json").read_text()).get("inputs")
    except (OSError, ValueError, AttributeError):
        return None


class _InBackground:
    """`func(*args)` in a daemon thread (a run refused for bad input exits without waiting for it);
    `result()` waits for its value or raises its error."""

    def __init__(self, func: Callable[..., Any], *args: Any):
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(func, *args), daemon=True)
        self._thread.start()

    def _run(self, func: Callable[..., Any], *args: Any) -> None:
        try:
            self._value = func(*args)
        except BaseException as err:  # raised again by result(), in the caller's thread
            self._error = err

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def run_manifest(
    files: CohortFiles,
    settings: RunSettings,
    gene_ids: Sequence[str],
    cohort: Cohort | None = None,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """inputs: `cohort_inputs(files)` computed already (else here)."""
    inputs = cohort_inputs(files) if inputs is None else inputs
    recorded = to_manifest(settings)
    recorded["model"]["weights_sha256"] = weights_digest(settings.model.weights)
    if settings.model.all_tracks is not None:
        recorded["model"]["all_tracks_sha256"] = file_digest(settings.model.all_tracks)
    return {
        "dataset": "computed",
        "inputs": inputs,
        "missing_genotypes": files.missing,  # how missing calls were read (compute/run/on_demand.py)
        "ref_mismatch": files.ref_mismatch,  # records whose REF disagrees with the FASTA
        **recorded,
        "packages": package_versions(),
        "genes": list(gene_ids),
        "has_people": True,
        "has_null_draws": True,
        "has_all_variants": True,
        **({"input_report": cohort.report()} if cohort is not None else {}),
    }


def select_genes(cohort: Cohort, genes: Iterable[str] | None, genes_path: str | Path) -> list[str]:
    """The cohort's genes, or the asked ones (in order, once each) checked against it; raises InputError."""
    known = cohort.genes["gene_id"].tolist()
    gene_ids = known if genes is None else list(dict.fromkeys(genes))
    unknown = sorted(set(gene_ids) - set(known))
    if unknown:
        raise InputError(
            f"{genes_path}: genes not in the cohort (genes table and expression matrix): {unknown[:5]}"
        )
    for gene_id in gene_ids:
        safe_gene_id(gene_id)
    return gene_ids


def precompute(
    files: CohortFiles,
    settings: RunSettings,
    out: str | Path,
    genes: Iterable[str] | None = None,
    backend: Backend | None = None,
    progress: bool = True,
    command: str | None = None,
    announce: Callable[[str], None] | None = None,
    shard: tuple[int, int] | None = None,
) -> ResultsStore:
    """Compute every gene not yet in the store at `out`, then finalize it.

    Inputs are validated in full before the first gene. A gene that fails is
    recorded with its error and the others go on; a rerun retries it.
    backend: where genes run (compute/run/backends.py; default: this process, statistics here too).
    command: what started the run, for the store's progress record (default: this process's
    command line).
    announce: called with the cohort's summary (what was read, dropped and counted) before any gene.
    shard: (I, N), this process is shard I of a job array of N writing the same store: it computes
    the genes it can claim, starting at its own place in the gene list, and finalizes only when it
    finds every gene done or failed after its own work (else `precompute --finalize` does).
    """
    from compute.run.backends import LocalBackend
    from compute.run.queue import ClaimingQueue, GeneQueue

    backend = backend or LocalBackend()
    backend.prepare()
    # The inputs' digests (the VCF's takes seconds per GB) are computed while the model loads and the
    # cohort is read, in a thread: hashing and file reads leave the interpreter free for them.
    resumed = resumed_inputs(out)
    digests = _InBackground(cohort_inputs, files, resumed)
    # A backend whose workers load their own model (Ray) has it checked here on the CPU only,
    # leaving the GPUs to them.
    check_options = settings.model if backend.loads_model_here else replace(settings.model, device="cpu")
    model, _, window = prepare_model(check_options, settings.window)
    prepare_track_weights(settings.model, model)
    settings = replace(settings, window=window)
    if settings.model.readout == "exons":
        from compute.cohort.inputs import read_exons

        read_exons(files.genes)  # a genes TSV (or none) has no exons: refused before the cohort is read
    cohort = files.load(window, settings.stats.normalize)
    gene_ids = select_genes(cohort, genes, files.genes_source)
    if announce is not None:
        announce(cohort.summary())
    manifest = run_manifest(files, settings, gene_ids, cohort, digests.result())
    problems = changed_inputs(resumed, manifest.get("inputs"))
    if problems:  # genes of two cohorts in one store would be compared as one
        raise InputError(
            f"{Path(out) / 'manifest.json'}: {'; '.join(problems)}; use another --out directory, or delete "
            "this one to compute every gene again"
        )
    store = ResultsStore.create(out, manifest, same_run)
    todo = [g for g in gene_ids if g not in store.done_genes()]
    bar = _progress(len(gene_ids), len(gene_ids) - len(todo), progress)
    record = RunProgress(
        store.path, planned=len(gene_ids), done=len(gene_ids) - len(todo), failed=0,
        device=str(settings.model.device), backend=backend.name, command=command or shlex.join(sys.argv),
        shard=shard,
    )  # fmt: skip
    local_model = model if backend.loads_model_here else None
    del model
    claims = None
    if shard is None:
        queue = GeneQueue(todo, store.path)
    else:
        claims = GeneClaims(store.path, f"{shard[0]}/{shard[1]}")
        queue = ClaimingQueue(shard_order(todo, *shard), store.path, claims)
    outcomes = backend.run(
        files, settings, queue, local_model,
        on_plan=lambda plan: store.update_manifest(ray=plan), cohort=cohort,
    )  # fmt: skip
    try:
        for gene_id, result, error in outcomes:
            if claims is not None and not claims.holds(gene_id):  # its claim lapsed and another took it
                bar.set_postfix_str(f"{gene_id} taken over by another shard")
                continue
            if error is None:
                store.write_gene(
                    gene_id, gene=result.gene, people=result.people, variants=result.variants,
                    null=result.null, genotypes=result.genotypes,
                )  # fmt: skip
                bar.set_postfix_str(f"{gene_id} {result.seconds:.1f}s")
            else:
                store.write_failure(gene_id, error)
                bar.set_postfix_str(f"{gene_id} failed")
            if claims is not None:
                claims.finish(gene_id)
            node = getattr(result, "node", "")
            if shard is not None:  # status counts genes per shard
                node = f"{node or socket.gethostname()} (shard {shard[0]}/{shard[1]})"
            record.gene(gene_id, failed=error is not None, node=node)
            bar.update(1)
        bar.close()
        if claims is not None:
            return _end_shard(store, claims, record)
        record.state("finalizing")
        finalize(store)
    except BaseException:
        record.finish("stopped")
        raise
    finally:
        if claims is not None:
            claims.close()  # genes claimed and not written go back at once
    record.finish()
    return store


def _end_shard(store: ResultsStore, claims: GeneClaims, record: RunProgress) -> ResultsStore:
    """A shard whose work is over finalizes if it finds every planned gene done or failed, no
    other shard computing one, and is first to claim the finalize; else it leaves it to them."""
    record.finish()  # before looking: a shard that finalizes merges the records of the others
    if unsettled_genes(store) or not claims.claim(FINALIZE):
        return store
    record.state("finalizing")
    finalize_shards(store)  # the shards' records become progress.json: this one is not written again
    return store


def unsettled_genes(store: ResultsStore) -> list[str]:
    """Planned genes neither done nor failed, or failed before and being computed again now."""
    done, failed = store.done_genes(), store.failures()
    left = [g for g in store.manifest.get("genes", []) if g not in done]
    return [g for g in left if g not in failed] + live_claims(store.path, [g for g in left if g in failed])


def finalize_shards(store: ResultsStore) -> None:
    """Finalize a store that a job array's shards wrote, then forget their claims and merge their
    progress records."""
    finalize(store)
    remove_claims(store.path)
    settle_shards(store.path)


def finalize_after_shards(path: str | Path) -> ResultsStore:
    """`precompute --finalize STORE`: finalize a store once its shards have ended; InputError
    (nothing written) while genes are left or a shard still computes one."""
    store = ResultsStore(path)
    manifest = store.manifest
    if (
        manifest.get("finalized") and not (store.path / CLAIMS_DIR).exists()
        and manifest.get("genes_done") == len(store.done_genes())
        and manifest.get("genes_failed") == len(store.failures())
    ):  # fmt: skip
        return store  # the last shard finalized it, and nothing landed since
    left = unsettled_genes(store)
    if left:
        running = live_claims(store.path, left)
        planned = len(store.manifest.get("genes", []))
        raise InputError(
            f"{store.path}: {len(left)} of {planned} genes not done yet ({len(running)} being computed by "
            f"shards now; first: {', '.join(left[:3])}); finalize after every shard has ended, and "
            "rerun the shards that stopped early (they resume)"
        )
    finalize_shards(store)
    return store


def finalize(store: ResultsStore) -> None:
    """Gather the store's parts into its tables with the cross-gene statistics (null p-values, BH)
    of the convention its manifest records: no gene is computed again."""
    from compute.stats import cohort_statistics

    convention = ((store.manifest.get("settings") or {}).get("stats") or {}).get("convention") or "published"
    store.finalize(lambda frame: cohort_statistics(frame, convention=convention))


def _progress(total: int, done: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, unit="gene", disable=not enabled, dynamic_ncols=True)


def store_status(path: str | Path) -> dict[str, Any]:
    """What a store holds: genes done, failed (with errors) and left."""
    store = ResultsStore(path)
    manifest = store.manifest
    planned = manifest.get("genes", [])
    done = store.done_genes()
    failed = store.failures()
    left = [g for g in planned if g not in done and g not in failed]
    planned = list(dict.fromkeys([*planned, *sorted(done)]))  # genes added on demand count as planned
    genes = store.genes()
    no_result = {}
    if "reason" in genes.columns:
        with_reason = genes.loc[genes["reason"].notna(), ["gene_id", "reason"]]
        no_result = dict(zip(with_reason["gene_id"], with_reason["reason"], strict=True))
    return {
        "planned": len(planned) or len(done),
        "done": len(done),
        "failed": failed,
        "no_result": no_result,  # genes done without an r, with the reason (no SNV in the window, ...)
        "left": left,
        "finalized": bool(manifest.get("finalized")),
        "run": read_progress(store.path),  # the last precompute's record, None before any
    }


def recompute_statistics(path: str | Path, convention: str = "published") -> pd.DataFrame:
    """Redo the cross-gene statistics (null p-values, BH) of a finalized store."""
    from compute.stats import cohort_statistics

    store = ResultsStore(path)
    if not store.has_table("genes"):
        raise InputError(f"{path}: the store is not finalized yet (no genes.parquet); rerun precompute")
    genes = cohort_statistics(store.genes(), convention=convention)
    store.write_table("genes", genes)
    settings = store.manifest.get("settings", {})
    settings.setdefault("stats", {})["convention"] = convention
    store.update_manifest(settings=settings)
    return genes
