"""`python -m compute <command>`: the command line of the compute half.

Each command parses its options here and calls one function of the module that
owns the work. User errors (`InputError`) print one line and exit 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from compute.engine.catalog import ENFORMER, MODELS
from compute.errors import InputError
from compute.run.settings import (
    DEFAULT_TRACK,
    CohortFiles,
    ModelOptions,
    RunSettings,
    StatsOptions,
    add_device,
    add_options,
    from_args,
    run_settings_from_args,
)

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    """Register the function that runs `python -m compute <name>`."""

    def register(func: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = func
        return func

    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compute",
        description="Personal gene-expression prediction: inputs, Enformer, statistics, store.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate", help="check cohort inputs and print a summary")
    _add_cohort_args(p)

    p = sub.add_parser("haplotypes", help="write personal haplotype sequences as FASTA")
    add_options(p, CohortFiles, skip=("genes", "expression", "sample_map", "ref_mismatch"))
    p.add_argument("--region", required=True, help="CHR:START-END, 1-based inclusive")
    p.add_argument("--out", required=True)
    _add_repeatable(p, "--samples", "sample IDs (default: all in the VCF)")

    p = sub.add_parser("precompute", help="run a cohort through a model (--model) and write a results store")
    add_options(p, CohortFiles, genes=None)  # --genes optional: a phenotype BED's positions
    add_options(p, RunSettings)
    add_options(p, ModelOptions)
    add_options(p, StatsOptions)
    p.add_argument("--out", required=True, help="results store directory (created or resumed)")
    _add_repeatable(p, "--gene", "only these gene IDs (default: all genes of the cohort)")
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--ray-address", help="address of an existing Ray cluster (default: start one here)")
    p.add_argument(
        "--gpus-per-worker", type=float, metavar="N",
        help="GPUs each Ray worker (one model) asks for; 0.5 puts two on a GPU (--backend ray; "
        "default: 1 where the cluster has GPUs, else 0)",
    )  # fmt: skip
    p.add_argument(
        "--cpus-per-worker", type=float, metavar="N",
        help="CPUs each Ray worker asks for (--backend ray; default: 1 with a GPU, else 2)",
    )  # fmt: skip
    p.add_argument(
        "--stats-workers", type=int, metavar="N",
        help="processes for the per-gene statistics while the model goes on (local backend; "
        "default: all cores but one when the model runs on a GPU, else 0: in this process)",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true")
    p.add_argument(
        "--shard", metavar="I/N",
        help="this process is shard I (0 to N-1) of N writing one store at once (a SLURM or PBS job "
        "array, on a shared file system): each gene is claimed by one shard; the last to end finalizes",
    )  # fmt: skip
    p.add_argument(
        "--finalize", nargs="+", metavar="STORE",
        help="only finalize these stores written by shards, once every shard has ended (no other option)",
    )  # fmt: skip

    p = sub.add_parser(
        "cnn-baseline",
        help="train the simple CNN on reference windows, predict people from haplotypes, write a store",
    )
    _add_cohort_args(p)
    p.set_defaults(window=40_001)
    p.add_argument("--out", required=True, help="results store directory (created or resumed)")
    _add_repeatable(p, "--gene", "only these gene IDs (default: all genes of the cohort)")
    p.add_argument("--kernels", type=int, default=900, help="conv kernels")
    p.add_argument("--kernel-width", type=int, default=10, help="conv kernel width in bp")
    p.add_argument("--pool", type=int, default=900, help="average pooling width in bp")
    p.add_argument("--hidden", type=int, default=200, help="units of the dense layer")
    p.add_argument("--epochs", type=int, default=50, help="most epochs (early stopping on validation)")
    p.add_argument("--patience", type=int, default=5, help="epochs without a better validation MSE")
    p.add_argument("--train-batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--validation", type=float, default=0.1, help="fraction of genes for early stopping")
    p.add_argument("--test", type=float, default=0.1, help="fraction of genes held out for evaluation")
    p.add_argument("--batch-size", type=int, default=32, help="sequences scored at a time")
    add_device(p, default="cpu")  # deterministic
    add_options(p, RunSettings, skip=("window",))
    add_options(p, StatsOptions)
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser(
        "finetune", help="fine-tune on personal genomes (split over people and genes), evaluate into a store"
    )
    _add_cohort_args(p)
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--weights", help="local Enformer directory to start from (save_pretrained)")
    model.add_argument(
        "--small", nargs="?", const="{}", metavar="JSON",
        help="start from a small random Enformer (hyper-parameters as JSON, e.g. '{\"dim\": 24}')",
    )  # fmt: skip
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="fine-tuned model directory")
    p.add_argument("--results", metavar="DIR", help="evaluation store on the held-out people (default: none)")
    p.add_argument("--track", type=int, default=DEFAULT_TRACK, help="track trained (or a new head's start)")
    p.add_argument("--new-head", metavar="NAME", help="train a new one-track output head NAME")
    p.add_argument("--summary", choices=["sum_log", "sum"], default="sum_log")
    p.add_argument("--loss", choices=["mse", "rank", "mse+rank"], default="mse",
                   help="MSE of centred values per gene, pairwise ranking, or both")  # fmt: skip
    p.add_argument("--rank-weight", type=float, default=1.0)
    p.add_argument("--freeze-trunk", action="store_true", help="train the output head only")
    p.add_argument("--dropout", action="store_true", help="keep the model's dropout on while training")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="bf16: mixed precision")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                   help="cosine: decay the learning rate to 0 over all epochs")  # fmt: skip
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--people-per-step", type=int, default=64, help="training people per gene step (0: all)")
    p.add_argument("--accumulate", type=int, default=1, help="genes per optimiser step (accumulation)")
    p.add_argument("--validation", type=float, default=0.15, help="fraction of people for validation")
    p.add_argument("--test", type=float, default=0.15, help="fraction of people held out for the evaluation")
    p.add_argument("--test-genes", type=float, default=0.2, help="fraction of genes held out")
    p.add_argument("--resume", action="store_true", help="carry on from MODEL_DIR/checkpoint.pt")
    add_device(p)
    add_options(p, RunSettings, skip=("window",))
    add_options(p, StatsOptions)
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("status", help="what a results store holds: genes done, failed and left")
    p.add_argument("store")

    p = sub.add_parser("upgrade", help="bring a results store of an earlier version to this one's format")
    p.add_argument("store")

    p = sub.add_parser("stats", help="recompute the cross-gene statistics of a store (no model run)")
    p.add_argument("store")
    p.add_argument("--convention", choices=["published", "textbook"], default="published")
    p.add_argument(
        "--per-gene", action="store_true",
        help="first recompute every gene's statistics from the store's scores, ISM and genotypes",
    )  # fmt: skip
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for --per-gene")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser(
        "genotypes", help="add each gene's packed genotypes to a store from the VCF its manifest records"
    )
    p.add_argument("store")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser(
        "add-genes", help="compute genes of a store's cohort into it, with the settings its manifest records"
    )
    p.add_argument("store", metavar="STORE", help="computed results store")
    p.add_argument("gene", nargs="+", metavar="GENE", help="gene IDs of the store's cohort")
    add_device(p)
    p.add_argument("--batch-size", type=int, default=4)

    p = sub.add_parser("jobs", help="the dashboard's background jobs (app.py --jobs DIR)")
    jobs_sub = p.add_subparsers(dest="jobs_command", required=True)
    listing = jobs_sub.add_parser("list", help="the jobs of a board, oldest first")
    listing.add_argument("--board", required=True, metavar="DIR", help="the dashboard's jobs directory")
    running = jobs_sub.add_parser("run", help="run one job (the dashboard starts these itself)")
    running.add_argument("--board", required=True, metavar="DIR", help="the dashboard's jobs directory")
    running.add_argument("job", metavar="JOB", help="job id")

    p = sub.add_parser("tracks", help="a model's output tracks by index and description (for --track)")
    p.add_argument("--model", choices=tuple(MODELS), default="enformer")
    p.add_argument("--weights", help="AlphaGenome: the weights directory whose metadata lists its tracks")
    p.add_argument("--output-head", dest="head", default=None, help="AlphaGenome: rna_seq (default) or cage")
    p.add_argument("--search", metavar="TEXT", help="only tracks whose description holds TEXT, e.g. brain")

    p = sub.add_parser("weights", help="model weights")
    weights_sub = p.add_subparsers(dest="weights_command", required=True)
    export = weights_sub.add_parser("export", help="download Enformer once (needs internet) into DIR")
    export.add_argument("dir")

    p = sub.add_parser(
        "import-published", help="import the published Sasse et al. 2023 results into a results store"
    )
    p.add_argument("src", metavar="SRC", help="folder with the published files (see its SOURCE.md)")
    p.add_argument("dir", metavar="DIR", help="results store to write (the files are copied to DIR/source)")

    p = sub.add_parser("ism-logo", help="ISM of every base around the driver SNVs of a store (logo panel)")
    p.add_argument("store", metavar="STORE", help="computed results store")
    p.add_argument("--weights", help="local Enformer directory (default: the one the manifest records)")
    p.add_argument("--fasta", help="reference FASTA (default: the one the manifest records)")
    p.add_argument("--flank", type=int, default=10, help="bp each side of the SNV")
    p.add_argument(
        "--snvs", choices=["drivers", "all"], default="drivers",
        help="drivers (plus the largest-|ISM| SNV of genes without drivers), or every SNV",
    )  # fmt: skip
    add_device(p)

    p = sub.add_parser(
        "compare", help="two stores of the same cohort side by side (ensembling on/off, or two models)"
    )
    p.add_argument("a", metavar="A", help="reference store (e.g. without ensembling, or Enformer's)")
    p.add_argument("b", metavar="B", help="store of the same genes computed another way (or another model)")
    _add_repeatable(p, "--gene", "genes whose drivers to show side by side (default: r of differing sign)")
    p.add_argument("--show", type=int, default=10, help="genes listed per section (default 10)")
    p.add_argument("--out", metavar="TSV", help="also write the per-gene comparison to this TSV")

    p = sub.add_parser("motifs", help="JASPAR motifs the driver SNVs of a computed store break or create")
    p.add_argument("store", metavar="STORE", help="results store (computed: it needs REF/ALT and the FASTA)")
    p.add_argument("--fasta", help="reference FASTA (default: the one recorded in the store's manifest)")
    p.add_argument(
        "--out", help="scan table (default: STORE/motifs.parquet); motif_enrichment.parquet goes beside it"
    )
    p.add_argument(
        "--background", type=int, default=10_000,
        help="window SNVs scanned as the background, a seeded sample (0: all)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--p-threshold", type=float, default=1e-4, help="motif site p-value threshold")
    p.add_argument("--jaspar-release", default="JASPAR2024", help="JASPAR release shipped with pyjaspar")
    p = sub.add_parser("demo", help="the demo cohort: simulated people on real chr22 sequence")
    demo = p.add_subparsers(dest="demo_command", required=True, metavar="STEP")
    q = demo.add_parser("simulate", help="write the demo inputs: FASTA, VCF, genes, expression, truth")
    q.add_argument("out", help="output directory")
    q.add_argument("--people", type=int, default=839, help="number of people (default 839)")
    q.add_argument("--seed", type=int, default=2023, help="random seed (default 2023)")
    q.add_argument("--start", type=int, default=20_000_001, help="first chr22 position simulated (1-based)")
    q.add_argument("--end", type=int, default=21_000_000, help="last chr22 position simulated (1-based)")
    q = demo.add_parser("build", help="simulate the inputs, build the demo model, precompute into a store")
    q.add_argument("out", help="results store directory to create (new or empty)")
    q.add_argument("--people", type=int, default=839, help="number of people (default 839)")
    q.add_argument("--seed", type=int, default=2023, help="random seed (default 2023)")
    _add_repeatable(q, "--genes", "gene names or IDs to compute (default: all 25 of the region)")
    q.add_argument(
        "--no-finetune", action="store_true",
        help="keep the small model random instead of fine-tuning it on the training people (minutes)",
    )  # fmt: skip
    q.add_argument("--no-progress", action="store_true")
    q = demo.add_parser(
        "alphagenome", help="score the demo store's cohort with a small random AlphaGenome into a new store"
    )
    q.add_argument("out", help="results store directory to create (new or empty)")
    q.add_argument("--demo", default="data/demo", help="the Enformer demo store to read (default data/demo)")
    q.add_argument("--no-progress", action="store_true")
    q = demo.add_parser(
        "borzoi", help="score the demo store's cohort with a small random Borzoi into a new store"
    )
    q.add_argument("out", help="results store directory to create (new or empty)")
    q.add_argument("--demo", default="data/demo", help="the Enformer demo store to read (default data/demo)")
    q.add_argument("--no-progress", action="store_true")

    p = sub.add_parser(
        "bench", help="throughput of the Enformer engine against a naive loop, with correctness checks"
    )
    add_device(p)
    p.add_argument(
        "--config", choices=["small", "full"], default="small",
        help="small random Enformer, or the full-size architecture (random weights, 196,608 bp)",
    )  # fmt: skip
    p.add_argument("--seconds", type=float, default=5.0, help="time per measurement (at least one call)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--snvs", dest="n_snvs", type=int, default=32, help="SNVs per ISM call")
    p.add_argument("--window", type=int, default=4096, help="window of the small config in bp")
    p.add_argument("--hparams", help="small config: JSON of Enformer hyper-parameters, e.g. '{\"dim\": 24}'")
    p.add_argument("--compile", action="store_true", help="also measure under torch.compile")
    p.add_argument(
        "--compile-backend", default="inductor",
        help="torch.compile's backend (aot_eager: traced as compiled, no code generated; a quick check)",
    )  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="CPU threads building one-hot batches (0: none)")
    p.add_argument("--people", type=int, default=0, help="first N people of the VCF (0: all)")
    p.add_argument("--vcf", help="phased VCF of the haplotype set (default: shapeit4 1000 Genomes example)")
    p.add_argument("--profile", action="store_true", help="print a torch.profiler summary")
    p.add_argument(
        "--threads", type=int, default=0,
        help="torch CPU threads (default: torch's choice; 1 avoids oversubscribing a shared machine)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the figures to this JSON file")

    return parser


def _add_repeatable(p: argparse.ArgumentParser, flag: str, help: str) -> None:
    """An option of several values: `--gene A --gene B` means both, as `--gene A B` does."""
    p.add_argument(flag, nargs="+", action="extend", help=help)


def _add_cohort_args(p: argparse.ArgumentParser) -> None:
    """The cohort's files and a window without a model (validate, cnn-baseline, finetune)."""
    add_options(p, CohortFiles, genes=None)  # --genes optional: a phenotype BED's positions
    p.add_argument("--window", type=int, default=ENFORMER.window, help="window length in bp around each TSS")


@command("validate")
def _validate(args: argparse.Namespace) -> int:
    print(from_args(CohortFiles, args).load(args.window).summary())
    return 0


@command("haplotypes")
def _haplotypes(args: argparse.Namespace) -> int:
    from compute.cohort.haplotypes import write_haplotype_fasta

    write_haplotype_fasta(
        fasta=args.fasta,
        vcf=args.vcf,
        region=args.region,
        out=args.out,
        samples=args.samples,
        missing=args.missing,
    )
    return 0


@command("precompute")
def _precompute(args: argparse.Namespace) -> int:
    from compute.run.pipeline import precompute

    shard = parse_shard(args.shard) if args.shard is not None else None
    if shard is not None:  # a job array's scheduler stops a task with SIGTERM: give its genes back
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    store = precompute(
        from_args(CohortFiles, args),
        run_settings_from_args(args),
        args.out,
        genes=args.gene,
        backend=_backend(args),
        progress=not args.no_progress,
        announce=print,
        shard=shard,
    )
    return _print_status(store.path)


def parse_shard(text: str) -> tuple[int, int]:
    """--shard I/N as (I, N), 0 <= I < N; InputError otherwise."""
    index, sep, count = text.partition("/")
    if not (sep and index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise InputError(
            f"--shard {text}: expected I/N, this process's index I from 0 to N-1 of N shards "
            "(such as 0/4, or $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)"
        )
    return int(index), int(count)


def _finalize_stores(argv: Sequence[str]) -> int:
    """`precompute --finalize STORE...`: finalize stores written by the shards of a job array."""
    from compute.run.pipeline import finalize_after_shards

    parser = argparse.ArgumentParser(prog="python -m compute precompute")
    parser.add_argument("--finalize", nargs="+", required=True, metavar="STORE")
    stores = parser.parse_args(argv).finalize  # other options are refused: finalizing runs no model
    status = 0
    for path in stores:
        finalize_after_shards(path)
        status = max(status, _print_status(path))
    return status


def _backend(args: argparse.Namespace):
    """Where precompute runs genes, from its options."""
    from compute.run.backends import LocalBackend, RayBackend, RayResources

    resources = RayResources(args.gpus_per_worker, args.cpus_per_worker)  # a bad ask fails before any work
    if args.backend == "ray":
        return RayBackend(args.ray_address, resources)
    if resources != RayResources():
        raise InputError("--gpus-per-worker and --cpus-per-worker are for --backend ray")
    return LocalBackend(_stats_workers(args.stats_workers, args.device))


def _stats_workers(asked: int | None, device: str) -> int:
    """Statistics processes: as asked, else the cores the model leaves idle (all but one when it
    runs on a GPU; none on the CPU, where torch already uses every core)."""
    if asked is not None:
        if asked < 0:
            raise InputError(f"--stats-workers: expected a number of processes >= 0, found {asked}")
        return asked
    import torch

    on_gpu = device != "cpu" and torch.cuda.is_available()
    return max((os.cpu_count() or 1) - 1, 0) if on_gpu else 0


def _only_raw_expression(args: argparse.Namespace, command_name: str) -> None:
    """Covariates and normalisation reach precompute's statistics only; refused where they would not."""
    if getattr(args, "covariates", None) is not None or getattr(args, "normalize", "none") != "none":
        raise InputError(
            f"{command_name}: --covariates and --normalize are for precompute (this command uses expression "
            "as given); residualise the expression first, or use precompute"
        )


@command("cnn-baseline")
def _cnn_baseline(args: argparse.Namespace) -> int:
    from compute.analyses.cnn.baseline import CNNSettings, SplitOptions, run_cnn_baseline
    from compute.analyses.cnn.model import CNNConfig, TrainOptions

    _only_raw_expression(args, "cnn-baseline")
    for name in (
        "kernels",
        "kernel_width",
        "pool",
        "hidden",
        "epochs",
        "patience",
        "train_batch_size",
        "batch_size",
    ):
        if getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise InputError(f"{flag}: expected a positive number, found {getattr(args, name)}")
    if not args.lr > 0:
        raise InputError(f"--lr: expected a positive learning rate, found {args.lr}")
    config = CNNConfig(args.window, args.kernels, args.kernel_width, args.pool, args.hidden)
    if config.n_bins < 1:
        raise InputError(
            f"--window {args.window}: too short for --kernel-width {args.kernel_width} and "
            f"--pool {args.pool} (expected at least {args.kernel_width - 1 + args.pool})"
        )
    settings = CNNSettings(
        config=config,
        training=TrainOptions(args.epochs, args.train_batch_size, args.lr, args.patience, args.seed),
        split=SplitOptions(args.validation, args.test, args.seed),
        stats=from_args(StatsOptions, args),
        gradients=args.gradients,
        batch_size=args.batch_size,
        device=args.device,
    )
    files = from_args(CohortFiles, args)
    store = run_cnn_baseline(files, settings, args.out, genes=args.gene, progress=not args.no_progress)
    summary = store.manifest.get("cnn", {})
    print(
        "CNN reference score vs mean expression: "
        + ", ".join(
            f"{s} r = {summary.get(f'r_{s}', float('nan')):.3f} ({summary.get(f'n_{s}', 0)} genes)"
            for s in ("train", "validation", "test")
        )
    )
    return _print_status(store.path)


@command("finetune")
def _finetune(args: argparse.Namespace) -> int:
    import json

    _only_raw_expression(args, "finetune")
    from_args(CohortFiles, args)  # a missing --genes without a phenotype BED refused before any model
    from compute.analyses.finetune.train import FinetuneOptions, run_finetune

    try:
        small = json.loads(args.small) if args.small is not None else None
    except json.JSONDecodeError as err:
        raise InputError(f"--small {args.small!r}: expected a JSON object ({err})") from None
    options = FinetuneOptions(
        window=args.window, track=args.track, new_head=args.new_head, summary=args.summary, loss=args.loss,
        rank_weight=args.rank_weight, freeze_trunk=args.freeze_trunk, dropout=args.dropout,
        precision=args.precision, epochs=args.epochs, learning_rate=args.lr, weight_decay=args.weight_decay,
        lr_schedule=args.lr_schedule, people_per_step=args.people_per_step, accumulate=args.accumulate,
        validation_fraction=args.validation, test_fraction=args.test, test_gene_fraction=args.test_genes,
        seed=args.seed,
    )  # fmt: skip
    stats = from_args(StatsOptions, args)
    files = {"fasta": args.fasta, "vcf": args.vcf, "genes": args.genes, "expression": args.expression}
    if args.sample_map is not None:
        files["sample_map"] = args.sample_map
    result, store = run_finetune(
        files, options, args.out, weights=args.weights, small=small, results=args.results, stats=stats,
        missing=args.missing, device=args.device, resume=args.resume, gradients=args.gradients,
        progress=not args.no_progress,
    )  # fmt: skip
    best = result.history[result.best_epoch]
    print(f"{args.out}: best epoch {result.best_epoch}, mean validation r {best['validation_r']:.3f}")
    if store is not None:
        from compute.analyses.finetune.evaluate import summary_table

        print(f"{store.path}: r on {len(result.split.test_people)} held-out people")
        print(summary_table(store.genes()).to_string(index=False, float_format="%.3f"))
    return 0


@command("upgrade")
def _upgrade(args: argparse.Namespace) -> int:
    from compute.store.upgrade import upgrade_store

    done = upgrade_store(args.store)
    for line in done:
        print(f"{args.store}: {line}")
    if not done:
        print(f"{args.store}: already in this version's format")
    return 0


@command("status")
def _status(args: argparse.Namespace) -> int:
    return _print_status(args.store)


def _print_status(path) -> int:
    from compute.run.pipeline import store_status

    status = store_status(path)
    print(
        f"{path}: {status['done']} of {status['planned']} genes done, "
        f"{len(status['failed'])} failed, {len(status['left'])} left"
        + ("" if status["finalized"] else " (not finalized)")
    )
    run = status["run"]
    if run:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.get("started", 0)))
        line = f"  last run: {run.get('state')}, started {started} on {run.get('device')}"
        line += f" by: {run.get('command')}"
        if run.get("state") == "running" and run.get("rate_per_hour"):
            line += f"; {run['rate_per_hour']:.1f} genes/h, about {(run.get('eta_s') or 0) / 60:.0f} min left"
        print(line)
        for node, count in sorted((run.get("nodes") or {}).items()):
            print(f"  genes computed on {node}: {count}")
    no_result = sorted(status["no_result"].items())
    for gene_id, reason in no_result[:10]:
        print(f"  no r for {gene_id}: {reason}")
    if len(no_result) > 10:
        print(f"  no r for {len(no_result) - 10} more genes (the genes table's reason column says why)")
    for gene_id, error in status["failed"].items():
        print(f"  failed {gene_id}: {error}")
    return 1 if status["failed"] else 0


@command("add-genes")
def _add_genes(args: argparse.Namespace) -> int:
    from compute.run.on_demand import compute_genes

    def report(progress: dict) -> None:
        if progress.get("gene"):
            print(f"{progress['gene']}: {progress['stage']}", file=sys.stderr)

    outcome = compute_genes(
        args.store, args.gene, device=args.device, batch_size=args.batch_size, progress=report
    )
    for gene_id, error in outcome.items():
        print(f"{gene_id}: {'failed: ' + error if error else 'added'}")
    _print_status(args.store)
    return 1 if any(outcome.values()) else 0


@command("jobs")
def _jobs(args: argparse.Namespace) -> int:
    from compute.jobs import JobBoard

    if args.jobs_command == "run":
        from compute.run.jobs import run_job

        return run_job(args.board, args.job)
    for job in JobBoard(args.board).jobs():
        stage = job.progress.get("stage", "")
        genes = " ".join(job.genes)
        print(f"{job.id}  {job.state:<9}  {job.kind:<10}  {Path(job.store).name}  {genes}  {stage}")
    return 0


@command("stats")
def _stats(args: argparse.Namespace) -> int:
    from compute.run.pipeline import recompute_statistics
    from compute.run.statistics import recompute_gene_statistics

    if args.per_gene:
        if args.workers < 1:
            raise InputError(f"--workers: expected a number of processes >= 1, found {args.workers}")
        recompute_gene_statistics(args.store, workers=args.workers, progress=not args.no_progress)
    genes = recompute_statistics(args.store, convention=args.convention)
    print(
        f"{args.store}: {len(genes)} genes, {int(genes.significant.sum())} significant at BH 0.05 "
        f"({args.convention} convention)"
    )
    return 0


@command("genotypes")
def _genotypes(args: argparse.Namespace) -> int:
    from compute.run.genotypes import add_genotypes

    n = add_genotypes(args.store, progress=not args.no_progress)
    print(f"{args.store}: genotypes of {n} genes written to genotypes.parquet")
    return 0


@command("import-published")
def _import_published(args: argparse.Namespace) -> int:
    from compute.store.published import import_published

    store = import_published(args.src, args.dir)
    summary = store.manifest["summary"]
    print(
        f"{store.path}: {summary['genes']} genes ({summary['significant']} significant), "
        f"{summary['drivers']} drivers in {summary['driver_genes']} genes"
    )
    return 0


@command("ism-logo")
def _ism_logo(args: argparse.Namespace) -> int:
    from compute.analyses.logo_ism import LOGO_TABLE, store_logo_ism

    table = store_logo_ism(
        args.store,
        weights=args.weights,
        fasta=args.fasta,
        flank=args.flank,
        device=args.device,
        snvs=args.snvs,
    )
    print(f"{args.store}/{LOGO_TABLE}.parquet: ISM of {table.variant_id.nunique()} SNVs, +/-{args.flank} bp")
    return 0


@command("compare")
def _compare(args: argparse.Namespace) -> int:
    import numpy as np

    from compute.analyses.sensitivity import WHERE, compare_stores, drivers_side_by_side

    result = compare_stores(args.a, args.b)
    agreement, genes = result["agreement"], result["genes"]
    print(f"A: {result['models'][0]}\nB: {result['models'][1]}")
    print(
        f"{agreement.n_shared} genes in both; of {agreement.n_significant} significant in A, "
        f"{agreement.n_same_sign} keep the sign of r in B ({agreement.fraction:.1%}); "
        f"{agreement.n_significant_both} significant in both"
    )
    print(f"r across genes of r(A) vs r(B): {result['r_across_genes']:.3f}")
    if result["only_a"] or result["only_b"]:
        print(f"genes only in A: {result['only_a']}, only in B: {result['only_b']} (left out)")
    counts = genes["where"].value_counts()
    print("significant: " + ", ".join(f"{w} {int(counts.get(w, 0))}" for w in WHERE))
    differs = genes[genes["sign_differs"]]
    print(f"genes whose r differs in sign: {len(differs)}")
    order = (genes["r_a"] - genes["r_b"]).abs().sort_values(ascending=False).index
    print("per-gene r, largest |r(A) - r(B)| first:\n  gene\tr_A\tr_B\tsignificant in")
    for row in genes.loc[order[: args.show]].itertuples():
        flag = "  (sign differs)" if row.sign_differs else ""
        print(f"  {row.gene_name}\t{row.r_a:+.3f}\t{row.r_b:+.3f}\t{row.where}{flag}")
    if args.out:
        genes.to_csv(args.out, sep="\t", index=False)
        print(f"per-gene comparison of {len(genes)} genes written to {args.out}")
    store_a, store_b = result["stores"]
    shown = args.gene or differs["gene_id"].tolist()[: args.show]
    for gene_id in shown:
        table, r2 = drivers_side_by_side(store_a, store_b, gene_id)
        print(f"drivers of {gene_id} (store, SNV, ISM, eQTL slope, support):")
        if table.empty:
            print("  none in either store")
        for row in table.itertuples():
            support = "supported" if bool(row.supported) else "unsupported"
            print(f"  {row.store}\t{row.variant_id}\t{row.ism:+.3g}\t{row.eqtl_slope:+.3g}\t{support}")
        if r2.size:
            best = np.nanmax(r2, axis=1) if np.isfinite(r2).any() else np.full(r2.shape[0], np.nan)
            ids_a = table.loc[table["store"] == "A", "variant_id"].tolist()
            print("  LD: r² of each driver of A with its closest driver of B: "
                  + ", ".join(f"{v} {b:.2f}" for v, b in zip(ids_a, best, strict=True)))  # fmt: skip
    return 0


@command("motifs")
def _motifs(args: argparse.Namespace) -> int:
    from compute.analyses.motifs import scan_store

    result = scan_store(
        args.store,
        fasta=args.fasta,
        out=args.out,
        background_snvs=args.background,
        seed=args.seed,
        p_threshold=args.p_threshold,
        release=args.jaspar_release,
    )
    print(f"{result.scan_path}: {len(result.scan)} motif changes at {result.scan.variant_id.nunique()} SNVs")
    for row in result.enrichment.itertuples():
        print(
            f"  {row.group_a} {row.changed_a}/{row.n_a} vs {row.group_b} {row.changed_b}/{row.n_b}: "
            f"odds ratio {row.odds_ratio:.3g}, Fisher p = {row.p_value:.3g}"
        )
    return 0


@command("bench")
def _bench(args: argparse.Namespace) -> int:
    import json

    from compute.engine.bench import run_benchmark

    result = run_benchmark(args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


@command("tracks")
def _tracks(args: argparse.Namespace) -> int:
    if args.model == "borzoi":
        from compute.engine.borzoi import list_tracks

        tracks = list_tracks()
    elif args.model == "alphagenome":
        from compute.engine.alphagenome import list_tracks

        if args.weights is None:
            raise InputError("tracks --model alphagenome: give --weights DIR (its metadata lists the tracks)")
        tracks = list_tracks(Path(args.weights), args.head or "rna_seq")
    else:
        from compute.engine.track_heads import load_track_weights

        # Enformer's human tracks in output order are the rows of the paper's GTExWeights.csv.
        table = Path(__file__).resolve().parents[1] / "data" / "published" / "source" / "GTExWeights.csv"
        tracks = list(enumerate(load_track_weights(table).names))
    text = (args.search or "").lower()
    shown = [(i, d) for i, d in tracks if text in d.lower()]
    for index, description in shown:
        print(f"{index}\t{description}")
    print(f"{len(shown):,} of {len(tracks):,} tracks", file=sys.stderr)
    return 0


@command("weights")
def _weights(args: argparse.Namespace) -> int:
    from compute.engine.models import export_weights

    export_weights(args.dir)
    print(f"saved Enformer weights to {args.dir}; use --weights {args.dir}")
    return 0


@command("demo")
def _demo(args: argparse.Namespace) -> int:
    from compute.demo import build_demo_inputs

    if args.demo_command == "simulate":
        paths = build_demo_inputs(
            args.out, n_people=args.people, seed=args.seed, start=args.start, end=args.end
        )
        for name, path in paths.items():
            print(f"{name}\t{path}")
        return 0
    started = time.perf_counter()
    if args.demo_command == "alphagenome":
        from compute.demo.alphagenome import build_demo_alphagenome

        store = build_demo_alphagenome(args.out, demo=args.demo, progress=not args.no_progress)
        print(f"demo AlphaGenome store built in {time.perf_counter() - started:.0f} s")
        return _print_status(store.path)
    if args.demo_command == "borzoi":
        from compute.demo.borzoi import build_demo_borzoi

        store = build_demo_borzoi(args.out, demo=args.demo, progress=not args.no_progress)
        print(f"demo Borzoi store built in {time.perf_counter() - started:.0f} s")
        return _print_status(store.path)
    from compute.demo.build import build_demo

    store = build_demo(
        args.out,
        n_people=args.people,
        seed=args.seed,
        genes=args.genes,
        progress=not args.no_progress,
        finetune=not args.no_finetune,
    )
    print(f"demo store built in {time.perf_counter() - started:.0f} s")
    return _print_status(store.path)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["precompute"] and "--finalize" in argv:  # needs none of the cohort's options
            return _finalize_stores(argv[1:])
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
