"""What each supported sequence model is, read without loading it (torch-free): its input window,
output bins, default head, track and gene readout. The command line, the settings and the engine
take these numbers from here."""

from __future__ import annotations

from dataclasses import dataclass

from compute.errors import InputError

# How a gene's score is read from a model's output track (docs/architecture.md, "Gene readouts"):
#   tss    the output bin holding the TSS and its two neighbours
#   exons  every output bin that overlaps one of the gene's exons (exons from a GTF)
READOUTS = ("tss", "exons")


@dataclass(frozen=True)
class ModelCard:
    name: str
    window: int  # bp of input (AlphaGenome: the published model's longest; --window picks another)
    bin_size: int  # bp per output bin
    n_tracks: int  # tracks of the default head (0 where the weights' metadata says)
    default_track: int
    default_track_label: str
    default_head: str = "human"
    readout: str = "tss"  # the default readout
    summary: str = "sum_log"  # the default summary of the readout's bins
    note: str = ""  # what the default readout is, in words (the manifest's readout_note says the run's)


# The paper's model and track: 'CAGE:brain, adult' is row 4980 of GTExWeights.csv (Enformer's human
# tracks in output order).
ENFORMER = ModelCard("enformer", 196_608, 128, 5_313, 4980, "CAGE:brain, adult",
                     note="CAGE at the TSS bin and its neighbours")  # fmt: skip
# Borzoi (Linder et al. 2025): 524,288 bp in, 6,144 bins of 32 bp, 7,611 human tracks. Track 7539 is
# the first GTEx brain RNA-seq track of borzoi-pytorch's targets.txt ('RNA:brain', unstranded); the
# readout is AnnotatedBorzoi.predict_gene_count's.
BORZOI = ModelCard(
    "borzoi", 524_288, 32, 7_611, 7539, "RNA:brain (GTEx)", readout="exons", summary="log1p_sum",
    note="RNA-seq coverage over the gene's exon bins, strands averaged, squashed scale undone, summed, log1p",
)  # fmt: skip
# AlphaGenome (Avsec et al. 2026): any multiple of 2,048 bp up to 1,048,576; its rna_seq and cage
# heads read at 128 bp. Track numbers depend on the weights' metadata (python -m compute tracks).
ALPHAGENOME = ModelCard(
    "alphagenome", 1_048_576, 128, 0, 0, "the head's first track", default_head="rna_seq", readout="exons",
    summary="sum", note="rna_seq over the gene's exon bins (or cage at the TSS), experimental scale, summed",
)  # fmt: skip

MODELS = {card.name: card for card in (ENFORMER, BORZOI, ALPHAGENOME)}
MODEL_NAMES = {"enformer": "Enformer", "borzoi": "Borzoi", "alphagenome": "AlphaGenome"}  # as written in text


def track_descriptions(name: str) -> list[str] | None:
    """Each human track's description where the model's package ships them, read without importing it
    (torch-free: the settings resolve --track-description): Borzoi's targets.txt ('identifier
    description' per track, in output order); None for the others (`python -m compute tracks` lists
    Enformer's from GTExWeights.csv and AlphaGenome's from its weights' metadata)."""
    if name != "borzoi":
        return None
    import csv
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("borzoi_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("--track-description: borzoi-pytorch is not installed (requirements.txt)")
    path = Path(list(spec.submodule_search_locations)[0]) / "precomputed" / "targets.txt"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [f"{row['identifier']} {row['description']}" for row in rows]


def track_by_description(name: str, text: str) -> int:
    """The first track (in output order) whose description holds `text` (case-insensitive)."""
    descriptions = track_descriptions(name)
    if descriptions is None:
        raise InputError(
            f"--track-description: {name} ships no track descriptions with its package; choose --track by "
            f"index (python -m compute tracks --model {name})"
        )
    found = [i for i, d in enumerate(descriptions) if text.lower() in d.lower()]
    if not found:
        raise InputError(f"--track-description {text!r}: no {name} track's description holds it")
    return found[0]


def model_card(name: str) -> ModelCard:
    """The card of a model name; InputError names the known ones."""
    if name not in MODELS:
        raise InputError(f"model {name!r}: expected one of {', '.join(MODELS)}")
    return MODELS[name]
