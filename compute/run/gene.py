"""One gene end to end: the worker that scores a gene's people, ISM and
gradients with the model, and the statistics that turn those outputs into the store's rows."""

from __future__ import annotations

import socket
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from compute.cohort.haplotypes import WindowVariants
from compute.errors import InputError
from compute.run.settings import CohortFiles, ModelOptions, RunSettings, StatsOptions
from compute.store.genotypes import genotype_row

if TYPE_CHECKING:
    from compute.cohort.inputs import Cohort
    from compute.engine.model import Model, ModelSpec
    from compute.engine.track_heads import TrackWeights


@dataclass
class ModelOutputs:
    """What the model gives for one gene: the contract between the worker (or any other scorer: the
    CNN baseline, a fine-tuned model, a store's saved scores) and `assemble_gene`."""

    gene: pd.Series  # the gene's row of the cohort's genes table (gene_name, chrom, tss, strand)
    window: WindowVariants  # the window's SNVs and the people's alleles
    hap_scores: np.ndarray  # float (n_people, 2): each haplotype's score
    ref_score: float  # the reference sequence's score
    ism: np.ndarray  # float (n_snvs,): score with the SNV's ALT minus the reference's
    grad_x_input: np.ndarray  # float (n_snvs,), NaN when gradients were not asked for
    # the all-track head's scores (hap_scores (n_people, 2), ref_score), when the run has one
    all_tracks: tuple[np.ndarray, float] | None = None


@dataclass
class GeneResult:
    gene_id: str
    gene: dict[str, Any]
    people: pd.DataFrame
    variants: pd.DataFrame
    null: pd.DataFrame
    seconds: float = 0.0
    genotypes: dict[str, Any] | None = None  # the gene's row of the store's genotypes table
    node: str = ""  # where it ran: host name, and under Ray "/" + the first 8 hex digits of the node id


def model_spec(options: ModelOptions) -> ModelSpec:
    """The engine's scoring spec from the run's model options (shift 0 always included)."""
    from compute.engine.model import ModelSpec

    return ModelSpec(
        track=options.track,
        head=options.head,
        summary=options.summary,
        precision=options.precision,
        compile=options.compile,
        reverse_complement=options.reverse_complement,
        shifts=tuple(sorted({0, *options.shifts})),
    )


def prepare_model(options: ModelOptions, window: int | None) -> tuple[Model, ModelSpec, int]:
    """Load the model and check track, bins, ensemble and window against it; raises ModelError.

    Returns the model, its spec and the window length the run uses.
    """
    from compute.engine.model import check_window
    from compute.engine.models import load_model

    model = load_model(options.weights, model=options.model, device=options.device, tf_gamma=options.tf_gamma)
    window = model.window if window is None else int(window)
    if model.flexible_window and window != model.window:
        model = model.with_window(window)  # AlphaGenome: the run's window, checked there
    spec = model_spec(options)
    model.resolve_bins(spec)
    check_window(model, window)
    return model, spec, window


def prepare_track_weights(options: ModelOptions, model: Model) -> TrackWeights | None:
    """The all-track head's weights, checked against the model's track count; None when not asked."""
    if options.all_tracks is None:
        return None
    from compute.engine.track_heads import check_track_count, load_track_weights

    weights = load_track_weights(options.all_tracks)
    check_track_count(model, weights, model_spec(options).head)
    return weights


# The steps of one gene, in order, as `GeneWorker.run` reports them.
STAGES = ("haplotypes", "forwards", "ISM", "gradients", "statistics")
StageHook = Callable[[str], None]


def _no_stage(name: str) -> None:
    pass


class GeneWorker:
    """Opens a cohort and a model once, then computes one gene at a time.

    `settings.window` must be resolved (not None); `model` may be passed in when
    the caller already loaded it.
    """

    def __init__(
        self, files: CohortFiles, settings: RunSettings, model: Model | None = None,
        cohort: Cohort | None = None,
    ):  # fmt: skip
        """model, cohort: already loaded (precompute's own, validated once), else loaded here."""
        self.settings = settings
        if model is None:
            model, self.spec, _ = prepare_model(settings.model, settings.window)
        else:
            self.spec = model_spec(settings.model)
        self.model = model
        self.track_weights = prepare_track_weights(settings.model, model)
        self.cohort = cohort if cohort is not None else files.load(settings.window, settings.stats.normalize)
        self.genes = self.cohort.genes.set_index("gene_id")
        self.genes_file = files.genes
        self.exons = None  # gene_id -> exon intervals, for the exons readout
        if settings.model.readout == "exons":
            from compute.cohort.inputs import read_exons

            self.exons = read_exons(files.genes)

    def gene_spec(self, gene_id: str, start0: int) -> ModelSpec:
        """The scoring spec of one gene: the run's, with the bins over its exons for the exons readout
        (window offsets of the exons: chromosome positions minus the window's 0-based start)."""
        if self.exons is None:
            return self.spec
        exons = self.exons.get(gene_id)
        if exons is None:
            raise InputError(f"gene {gene_id}: no exon records in {self.genes_file} (the exons readout)")
        bins = self.model.exon_bins(exons - start0)
        if not bins:
            raise InputError(
                f"gene {gene_id}: none of its exons lies in the model's {self.model.n_bins} output bins "
                f"({self.model.n_bins * self.model.bin_size:,} bp around the TSS)"
            )
        return replace(self.spec, bins=bins)

    def model_outputs(self, gene_id: str, stage: StageHook | None = None) -> ModelOutputs:
        """Haplotype scores, reference score, ISM and gradients of one gene.

        stage: called with each step's name as it starts (STAGES), for a progress display."""
        stage = stage or _no_stage
        stage("haplotypes")
        from compute.cohort.reference import gene_window
        from compute.engine.attribution import grad_x_input, ism
        from compute.engine.model import score_haplotypes, score_tokens

        gene = self.genes.loc[gene_id]
        start0, end0 = gene_window(int(gene["tss"]), self.settings.window)
        ref_tokens = self.cohort.reference.tokens(gene["chrom"], start0, end0)
        window = self.cohort.window_variants(gene["chrom"], start0, end0)
        offsets = window.variants["pos"].to_numpy(np.int64) - 1 - start0
        alt_tokens = window.alt_tokens
        spec = self.gene_spec(gene_id, start0)
        hap_offsets, carried, carries = haplotype_snvs(window, offsets)
        batch = self.settings.model.batch_size
        stage("forwards")
        if self.track_weights is None:
            hap_scores = score_haplotypes(
                self.model, spec, ref_tokens, hap_offsets, carried, carries, batch_size=batch
            )
            ref_score = float(score_tokens(self.model, ref_tokens[None], spec, batch_size=1)[0])
        else:
            from compute.engine.track_heads import score_haplotypes_heads, score_tokens_heads

            tw = self.track_weights
            heads = score_haplotypes_heads(
                self.model, spec, tw, ref_tokens, hap_offsets, carried, carries, batch_size=batch
            )
            ref_heads = score_tokens_heads(self.model, spec, tw, ref_tokens[None], batch_size=1)
            hap_scores, ref_score = heads.single, float(ref_heads.single[0])
        stage("ISM")
        ism_values = ism(self.model, spec, ref_tokens, offsets, alt_tokens, batch_size=batch)
        if self.settings.gradients:
            stage("gradients")
        grads = (
            grad_x_input(self.model, spec, ref_tokens, offsets, alt_tokens)
            if self.settings.gradients
            else np.full(len(offsets), np.nan)
        )
        all_tracks = None
        if self.track_weights is not None:
            all_tracks = (heads.all_tracks, float(ref_heads.all_tracks[0]))
        return ModelOutputs(gene, window, hap_scores, ref_score, ism_values, grads, all_tracks)

    def run(self, gene_id: str, stage: StageHook | None = None) -> GeneResult:
        started = time.perf_counter()
        outputs = self.model_outputs(gene_id, stage)
        (stage or _no_stage)("statistics")
        result = assemble_gene(
            gene_id, outputs, self.cohort.observed(gene_id), self.cohort.people, self.settings.stats,
            covariates=self.cohort.covariate_matrix, observed_raw=self.cohort.observed_raw(gene_id),
        )  # fmt: skip
        result.seconds = time.perf_counter() - started
        return result


def haplotype_snvs(window: WindowVariants, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each haplotype carries, one column per distinct window offset.

    Returns (offsets (m,), carried bases (n_people, 2, m) uint8, carries a non-REF base
    (n_people, 2, m) bool): exact at multi-allelic records, and where several records
    share a position the first one a haplotype carries wins (as `apply_snvs` and
    bcftools consensus do). Carried bases are 0 where a haplotype carries REF.
    """
    n = window.n_snvs
    carries = window.codes > 0
    carried = window.allele_tokens[np.arange(n)[None, None, :], window.codes]
    carried = np.where(carries, carried, 0).astype(np.uint8)
    unique, group = np.unique(offsets, return_inverse=True)
    if unique.size == n:
        return offsets, carried, carries
    first = np.searchsorted(offsets, unique)  # offsets are sorted: records come in VCF order
    out_carried, out_carries = carried[..., first], carries[..., first]
    for g in np.flatnonzero(np.bincount(group) > 1):
        members = np.flatnonzero(group == g)
        has = carries[..., members]
        pick = has.argmax(axis=-1)[..., None]
        out_carries[..., g] = has.any(axis=-1)
        out_carried[..., g] = np.where(
            out_carries[..., g], np.take_along_axis(carried[..., members], pick, -1)[..., 0], 0
        )
    return unique, out_carried, out_carries


def assemble_gene(
    gene_id: str,
    outputs: ModelOutputs,
    observed: np.ndarray,
    people: Sequence[str],
    stats_options: StatsOptions,
    covariates: np.ndarray | None = None,
    observed_raw: np.ndarray | None = None,
) -> GeneResult:
    """Statistics of one gene from its model outputs and observed expression.

    With covariates (people x k), `observed` is the expression residualised on them (Cohort.observed)
    and `observed_raw` the input's; the people table keeps both (observed, observed_raw)."""
    from compute.stats import gene_statistics

    gene, window = outputs.gene, outputs.window
    hap_scores = np.asarray(outputs.hap_scores, dtype=float)
    predicted = hap_scores.mean(axis=1)
    stats = gene_statistics(
        gene_id=gene_id,
        score=predicted,
        observed=observed,
        dosage=window.dosage,
        ism=outputs.ism,
        pos=window.variants["pos"].to_numpy(),
        tss=int(gene["tss"]),
        strand=gene["strand"],
        seed=stats_options.seed,
        n_draws=stats_options.null_draws,
        predixcan=stats_options.predixcan,
        covariates=covariates,
    )
    row = dict(stats.gene)
    row.update(
        gene_name=gene["gene_name"],
        chrom=str(gene["chrom"]),
        tss=int(gene["tss"]),
        strand=gene["strand"],
        ref_score=outputs.ref_score,
    )
    variants = window.variants[["variant_id", "chrom", "pos", "ref", "alt"]].reset_index(drop=True)
    variants = pd.concat([variants, stats.variants.reset_index(drop=True)], axis=1)
    variants["ism"] = outputs.ism
    variants["grad_x_input"] = outputs.grad_x_input
    people_frame = pd.DataFrame(
        {
            "person_id": list(people),
            "hap1": hap_scores[:, 0],
            "hap2": hap_scores[:, 1],
            "predicted": predicted,
            "observed": observed,
        }
    )
    if observed_raw is not None and not np.array_equal(observed_raw, observed, equal_nan=True):
        people_frame["observed_raw"] = observed_raw  # the input's values, before normalising and covariates
    if outputs.all_tracks is not None:
        from compute.stats.correlation import pearson

        all_track_haps, all_track_ref = outputs.all_tracks
        all_tracks = np.asarray(all_track_haps, dtype=float).mean(axis=1)
        people_frame["predicted_all_tracks"] = all_tracks
        has = ~np.isnan(np.asarray(observed, dtype=float))  # people with observed expression
        r_all, p_all = pearson(all_tracks[has], np.asarray(observed, dtype=float)[has])
        row.update(
            r_all_tracks=r_all,
            p_r_all_tracks=p_all,
            ref_score_all_tracks=float(all_track_ref),
        )
    null = pd.DataFrame({"draw": np.arange(len(stats.null_r)), "r": stats.null_r})
    genotypes = genotype_row(gene_id, window.people, variants["variant_id"], window.alleles)
    node = socket.gethostname()
    return GeneResult(gene_id, row, people_frame, variants, null, genotypes=genotypes, node=node)


def format_error(err: BaseException) -> str:
    """One line for the store's failure record; the last frame says where."""
    if isinstance(err, InputError):
        return str(err)
    frame = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    where = f" ({Path(frame.filename).name}:{frame.lineno})" if frame else ""
    return f"{type(err).__name__}: {err}{where}"
