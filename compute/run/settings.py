"""Every option of a run, declared once: its default, its command-line flag and help, and whether
it decides the store's numbers (then it is recorded in the manifest and compared when a store
resumes). The command line (`add_options`, `from_args`), the manifest (`to_manifest`,
`from_manifest`, `same_run`), precompute, on-demand genes, dashboard jobs, Ray workers and
fine-tuning all read these classes, so a new option is one field here plus its use.

Torch-free: the command line and the dashboard's jobs import it without loading a model.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compute.engine.catalog import BORZOI, ENFORMER, MODELS, READOUTS, model_card, track_by_description
from compute.errors import InputError

if TYPE_CHECKING:
    from compute.cohort.inputs import Cohort

DEFAULT_TRACK = ENFORMER.default_track
SUMMARIES = ("sum_log", "sum", "log1p_sum")  # compute.engine.model.SUMMARIES
DEVICE_HELP = "auto (CUDA when present), cpu, cuda, cuda:N"


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str = "",
    flag: str | None = None,
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
    type: Any = None,
    nargs: str | None = None,
    recorded: bool = True,
) -> Any:
    """A settings field. flag: the command-line flag (default: --field-name; a bool that defaults
    to True gets '--no-NAME' and turns it off); recorded: part of what decides the numbers."""
    meta = {"help": help, "flag": flag, "choices": choices, "metavar": metavar, "type": type,
            "nargs": nargs, "recorded": recorded}  # fmt: skip
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class CohortFiles:
    """Where a cohort's inputs are and how its genotypes are read; workers reopen them."""

    fasta: str = option(help="reference FASTA (plain or bgzip, indexed)")
    vcf: str = option(
        help="phased VCF/BCF, bgzip + index; a path with {chrom} reads one file per chromosome "
        "(e.g. 'cohort.chr{chrom}.vcf.gz', the same samples in each)"
    )
    # None: each gene's chrom and TSS from the expression, a phenotype BED (the command line's default)
    genes: str | None = option(
        help="genes TSV (gene_id, gene_name, chrom, tss, strand) or GTF; optional when --expression is a "
        "phenotype BED (TSS = its end, strand +)"
    )
    expression: str = option(
        help="expression: genes x samples TSV/CSV (or transposed), tensorQTL/FastQTL phenotype BED, GCT or "
        "Parquet; NA leaves that person out of that gene's statistics (counted)"
    )
    missing: str = option(
        "error", choices=("error", "reference"),
        help="unphased or missing genotypes: stop with an error, or read as REF and report the count",
    )  # fmt: skip
    ref_mismatch: str = option(
        "skip", choices=("skip", "error"),
        help="a REF allele that disagrees with the FASTA: skip the record (counted; the run is refused when "
        "more than 0.1%% of records do, another build), or stop at the first",
    )  # fmt: skip
    sample_map: str | None = option(
        None, metavar="TSV",
        help="expression sample ID -> VCF sample ID, two tab-separated columns (GTEx: tissue sample -> "
        "participant); a first line naming the columns is allowed",
    )  # fmt: skip

    covariates: str | None = option(
        None, metavar="FILE",
        help="covariates regressed out of expression per gene (genotype PCs, PEER factors, sex, batch): "
        "tensorQTL's layout (ID, then one column per sample) or its transpose, TSV or CSV",
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.genes is None:  # only a phenotype BED has positions: anything else refused before any work
            from compute.cohort.inputs import gene_positions

            gene_positions(self.genes, self.expression)

    @property
    def genes_source(self) -> str:
        """The file the genes' positions come from: the genes table, else the expression BED."""
        return self.genes if self.genes is not None else self.expression

    def load(self, window: int, normalize: str = "none", only_genes: Sequence[str] | None = None) -> Cohort:
        """Read and validate the cohort for gene windows of `window` bp (cohort.inputs.load_cohort);
        normalize: of each gene's expression before the covariates (StatsOptions.normalize);
        only_genes: a cohort of these genes, only their windows read (genes added to a store)."""
        from compute.cohort.inputs import load_cohort

        return load_cohort(
            fasta=self.fasta, vcf=self.vcf, genes=self.genes, expression=self.expression,
            window=window, missing=self.missing, sample_map=self.sample_map, ref_mismatch=self.ref_mismatch,
            covariates=self.covariates, normalize=normalize, only_genes=only_genes,
        )  # fmt: skip


@dataclass(frozen=True)
class ModelOptions:
    """How to build and run the model (DESIGN §4).

    track, head, readout and summary left as None take the model's own (compute.engine.catalog), so
    `--model borzoi` alone reads Borzoi's brain RNA-seq track over the exons; the settings always
    hold (and the manifest records) the resolved values."""

    weights: str = option(help="local weights directory in the model's published format (README: Models)")
    model: str = option(
        "enformer", choices=tuple(MODELS),
        help="sequence model: enformer (CAGE at the TSS), borzoi (RNA-seq over the exons, needs a GTF), "
        "alphagenome (rna_seq over the exons or cage at the TSS)",
    )  # fmt: skip
    track: int | None = option(
        None, type=int,
        help=f"output track index (default: the model's; Enformer {DEFAULT_TRACK}: "
        f"{ENFORMER.default_track_label}, Borzoi {BORZOI.default_track}: {BORZOI.default_track_label}); "
        "`python -m compute tracks` lists them",
    )  # fmt: skip
    track_description: str | None = option(
        None, metavar="TEXT",
        help="choose the track by description instead (Borzoi: the first track of its targets.txt whose "
        "description holds TEXT, e.g. 'RNA:brain'); the index it resolves to is recorded as --track",
    )  # fmt: skip
    head: str | None = option(
        None, flag="--output-head", metavar="NAME",
        help="output head: human (Enformer, Borzoi; or one added by `finetune --new-head NAME`, then "
        "--track 0), rna_seq or cage (AlphaGenome)",
    )  # fmt: skip
    readout: str | None = option(
        None, choices=READOUTS,
        help="the bins a gene is read from: tss (the TSS bin and its neighbours) or exons (every bin "
        "over the gene's exons, from --genes as a GTF); default: the model's (Enformer tss, Borzoi and "
        "AlphaGenome exons; AlphaGenome's cage head tss)",
    )  # fmt: skip
    summary: str | None = option(
        None, choices=SUMMARIES,
        help="gene score over the readout's bins: sum_log, sum, or log1p_sum (log1p of the sum); "
        "default: the model's (Enformer sum_log, Borzoi log1p_sum, AlphaGenome sum)",
    )  # fmt: skip
    precision: str = option("fp32", choices=("fp32", "bf16"), help="fp32 (ISM needs it) or bf16")
    compile: bool = option(False, help="torch.compile the model")
    reverse_complement: bool = option(
        False, help="average with the reverse complement (always on for Borzoi: its readout averages strands)"
    )
    shifts: tuple[int, ...] = option((), type=int, nargs="*", help="also average over these bp shifts")
    tf_gamma: str = option(
        "auto", choices=("auto", "on", "off"),
        help="Enformer's TensorFlow gamma positions: auto (as config.json says; on for an official-size "
        "model whose config does not say, as the hub snapshot's), on or off",
    )  # fmt: skip
    batch_size: int = option(4, recorded=False, help="sequences per forward pass")
    device: str = option("auto", recorded=False, help=DEVICE_HELP)
    # The paper's elastic net over all tracks (a `tracks,weights` CSV such as GTExWeights.csv):
    # when given, every person also gets the all-track score, in the same forward pass.
    all_tracks: str | None = option(
        None, metavar="CSV",
        help="also score with an elastic net over all tracks (tracks,weights CSV with an offset row, "
        "e.g. data/published/source/GTExWeights.csv): people column predicted_all_tracks, gene r_all_tracks "
        "(Enformer only)",
    )  # fmt: skip

    def __post_init__(self) -> None:
        card = model_card(self.model)
        head = card.default_head if self.head is None else self.head
        # AlphaGenome's cage head is read at the TSS, as Enformer's CAGE is; other heads as the card says.
        readout = self.readout or ("tss" if (self.model, head) == ("alphagenome", "cage") else card.readout)
        track = card.default_track if self.track is None else int(self.track)
        if self.track_description is not None:
            # a manifest read back holds both, the index being the one the description resolved to
            found = track_by_description(self.model, self.track_description)
            if self.track is not None and track != found:
                raise InputError(
                    f"--track {track} and --track-description {self.track_description!r} (track {found}) "
                    "disagree: give one"
                )
            track = found
        resolved = dict(
            track=track,
            head=head,
            readout=readout,
            summary=self.summary or card.summary,
        )
        if self.model == "borzoi":
            resolved["reverse_complement"] = True  # predict_gene_count averages the two strands
        for name, value in resolved.items():
            object.__setattr__(self, name, value)  # frozen: the resolved values are the settings
        if self.all_tracks is not None and self.model != "enformer":
            raise InputError(
                f"--all-tracks: the all-track elastic net is Enformer's (GTExWeights.csv), not {self.model}'s"
            )


@dataclass(frozen=True)
class StatsOptions:
    """How the statistics of DESIGN §5 are computed."""

    null_draws: int = option(50, help="random linear predictors of the gene-specific null")
    seed: int = option(0, help="seed of the null draws and the baseline's folds")
    convention: str = option("published", choices=("published", "textbook"), help="null-model t-test")
    predixcan: bool = option(True, help="skip the elastic-net baseline")
    normalize: str = option(
        "none", choices=("none", "inverse-normal"),
        help="each gene's expression before anything else: as given, or rank-based inverse normal (GTEx)",
    )  # fmt: skip


@dataclass(frozen=True)
class RunSettings:
    """Everything that decides a store's numbers; recorded in its manifest.

    window: bp around each TSS; None takes the model's own input length.
    """

    window: int | None = option(None, help="bp around each TSS (default: the model's window)")
    model: ModelOptions = field(kw_only=True)
    stats: StatsOptions = field(default_factory=StatsOptions)
    gradients: bool = option(True, help="skip gradient x input")


# --------------------------------------------------------------------------- the command line


def _flag(f: dataclasses.Field) -> str:
    if f.metadata.get("flag"):
        return f.metadata["flag"]
    name = f.name.replace("_", "-")
    return f"--no-{name}" if f.default is True else f"--{name}"


def add_options(
    parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (), **defaults: Any
) -> None:
    """Add the fields of a settings class as options (its defaults, or those given here)."""
    for f in dataclasses.fields(cls):
        if f.name in skip or "help" not in f.metadata:
            continue
        meta, default = f.metadata, defaults.get(f.name, f.default)
        kwargs: dict[str, Any] = {"dest": f.name, "help": meta["help"]}
        if isinstance(f.default, bool):
            kwargs["action"] = "store_false" if f.default is True else "store_true"
        else:
            if default is dataclasses.MISSING:
                kwargs["required"] = True
            else:
                kwargs["default"] = list(default) if isinstance(default, tuple) else default
            for key in ("choices", "metavar", "type", "nargs"):
                if meta.get(key) is not None:
                    kwargs[key] = meta[key]
            if meta.get("nargs") is not None:
                kwargs["action"] = "extend"  # `--shifts 1 --shifts 2` means both, as `--shifts 1 2` does
            if kwargs.get("type") is None and isinstance(default, int) and not isinstance(default, bool):
                kwargs["type"] = int
            if f.name == "window":
                kwargs["type"] = int
        parser.add_argument(_flag(f), **kwargs)


def add_device(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """--device, the same everywhere a model runs."""
    parser.add_argument("--device", default=default, help=DEVICE_HELP)


def from_args(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """A settings object from parsed options (fields the parser lacks keep their defaults)."""
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in overrides:
            values[f.name] = overrides[f.name]
        elif hasattr(args, f.name):
            value = getattr(args, f.name)
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def run_settings_from_args(args: argparse.Namespace) -> RunSettings:
    """The run settings of a `precompute`-like command line."""
    return RunSettings(
        window=args.window,
        model=from_args(ModelOptions, args),
        stats=from_args(StatsOptions, args),
        gradients=args.gradients,
    )


# --------------------------------------------------------------------------- the manifest


def recorded(options: Any) -> dict[str, Any]:
    """The fields of a settings object that decide the numbers, as the manifest stores them."""
    out = {}
    for f in dataclasses.fields(options):
        if f.metadata.get("recorded", True):
            value = getattr(options, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def to_manifest(settings: RunSettings) -> dict[str, Any]:
    """The manifest's `model` and `settings` sections of a run (digests are the caller's to add)."""
    model = recorded(settings.model)
    if settings.model.all_tracks is None:
        model.pop("all_tracks")  # so that stores made before the option existed still resume
    model["readout_note"] = readout_note(settings.model)
    return {
        "model": model,
        "settings": {
            "window": settings.window,
            "stats": recorded(settings.stats),
            "gradients": settings.gradients,
        },
    }


def read_section(cls: type, section: dict[str, Any], **values: Any) -> Any:
    """A settings object from a manifest section: recorded fields as recorded, the rest default."""
    for f in dataclasses.fields(cls):
        if f.name in values or f.name not in section or not f.metadata.get("recorded", True):
            continue
        value, default = section[f.name], f.default
        if isinstance(default, tuple):
            value = tuple(value)
        elif isinstance(default, bool):
            value = bool(value)
        elif isinstance(default, int) and value is not None:
            value = int(value)
        values[f.name] = value
    return cls(**values)


def from_manifest(
    manifest: dict[str, Any],
    where: str | Path,
    resolve=lambda p: p,
    device: str = "auto",
    batch_size: int = 4,
) -> RunSettings:
    """The run settings a store's manifest records (`where` names it in errors; `resolve` turns a
    recorded path into one to open); device and batch size are the caller's."""
    model = dict(manifest.get("model") or {})
    if "weights" not in model:
        raise InputError(f"{where}: records no model weights")
    settings = manifest.get("settings") or {}
    if not settings.get("window"):
        raise InputError(f"{where}: records no window under settings")
    all_tracks = str(resolve(model["all_tracks"])) if model.get("all_tracks") else None
    options = read_section(ModelOptions, model, weights=str(resolve(model["weights"])), all_tracks=all_tracks,
                    batch_size=batch_size, device=device)  # fmt: skip
    stats = read_section(StatsOptions, settings.get("stats") or {})
    return RunSettings(window=int(settings["window"]), model=options, stats=stats,
                       gradients=bool(settings.get("gradients", True)))  # fmt: skip


def same_run(old: Any, new: Any) -> bool:
    """Whether a run's recorded model or settings section is the one a store holds: every field
    agrees but the weights' path (their sha256 names them, so a moved weights directory still
    resumes). Fields recorded only beside the run's (a demo's model recipe) are not compared;
    an all-tracks head is. A field the store's manifest lacks (an option added since) agrees
    when the run has its default: the numbers are those the store was made with."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return old == new
    keys = set(new) | {k for k in old if k.startswith("all_tracks")}
    keys.discard("readout_note")  # words, not numbers (and absent from stores made before it)
    if "weights_sha256" in new:
        keys.discard("weights")
    defaults = _recorded_defaults()

    def agrees(k: str) -> bool:
        if isinstance(old.get(k), dict) and isinstance(new.get(k), dict):  # the statistics options
            return same_run(old[k], new[k])
        return old.get(k) == new.get(k) or (k not in old and k in defaults and new.get(k) == defaults[k])

    return all(agrees(k) for k in keys)


def _recorded_defaults() -> dict[str, Any]:
    """The default of every recorded field of the model options (Enformer's, resolved: a store made
    before --model existed is an Enformer store) and of the statistics options, as recorded."""
    model = recorded(ModelOptions(weights=""))
    model.pop("weights")
    return {**model, **recorded(StatsOptions())}


_READOUT_WORDS = {"tss": "the TSS bin and its two neighbours", "exons": "every output bin over the exons"}
_SUMMARY_WORDS = {"sum_log": "sum of the log values", "sum": "summed", "log1p_sum": "summed, log1p"}
_MODEL_WORDS = {
    "enformer": "",
    "borzoi": "; the two strands averaged (the reverse complement reads the strand pair at mirrored bins) "
    "and the squashed scale undone per bin before the sum, as AnnotatedBorzoi.predict_gene_count",
    "alphagenome": "; 128-bp predictions on the experimental scale (the head's unscale) before the sum",
}


def readout_note(options: ModelOptions) -> str:
    """The gene readout of a run in words (the manifest's model.readout_note)."""
    o = options
    return (f"{o.model} {o.head} track {o.track}: {_READOUT_WORDS[o.readout]}, {_SUMMARY_WORDS[o.summary]}"
            f"{_MODEL_WORDS[o.model]}")  # fmt: skip
