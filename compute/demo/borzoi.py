"""`python -m compute demo borzoi OUT`: the demo cohort scored by a small random Borzoi (DEMO_BORZOI,
weights from the demo's seed, not trained: fine-tuning is Enformer's only), read as Borzoi reads a
gene (AnnotatedBorzoi.predict_gene_count: RNA-seq track BORZOI.default_track over the gene's exon
bins, both strands averaged, the squashed scale undone, summed, log1p). The store's layout:
compute/demo/second_model.py.

Its window is DEMO_BORZOI_WINDOW (4,096 bp), not the demo's 16,384: borzoi-pytorch fixes its
convolution widths (the DNA convolution, the residual tower and the U-Net are the published ones), so
even this narrow random configuration costs about 1.2 CPU s a haplotype at 16,384 bp, about 3 CPU
minutes a demo gene; at 8,192 bp a gene took 55 CPU s. At 4,096 bp the model's 96 output bins of
32 bp cover the central 3,072 bp, so a gene's score reads the exon bins inside them.

Its weights (about 134 MB: the fixed-width layers and the 7,611-track head) are not shipped: the
store's model/ holds the recipe (compute/engine/models.py save_recipe: small_model with the seed,
window and hyper-parameters, and the digest of the parameters it built), and every load of the store's
model (on-demand genes, add-genes, a resumed run) rebuilds it and checks the digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from compute.demo import EXTERNAL
from compute.demo.second_model import DEMO_STORE, build_scored_demo
from compute.store import ResultsStore

DEMO_BORZOI_WINDOW = 4_096
# small_borzoi's hyper-parameters, written out so that the recipe does not depend on its defaults;
# bins: all 128 trunk positions but 16 at each end, as small_borzoi's default
DEMO_BORZOI = {"dim": 32, "depth": 1, "heads": 2, "attn_dim_key": 8, "attn_dim_value": 16, "bins": 96}
BORZOI_NOTE = (
    "demo model: small random Borzoi, not trained; a 4,096-bp window (the published Borzoi reads "
    "524,288 bp), its RNA-seq read over the exon bins inside the central 3,072 bp"
)


def save_demo_borzoi(seed: int, out_dir: Path) -> Path:
    """The demo's small random Borzoi (DEMO_BORZOI on DEMO_BORZOI_WINDOW, weights from seed), saved as
    its recipe."""
    from compute.engine.models import save_recipe, small_model

    model = small_model(seed, model="borzoi", window=DEMO_BORZOI_WINDOW, device="cpu", **DEMO_BORZOI)
    return save_recipe(model, out_dir, seed=seed, hparams=DEMO_BORZOI)


def build_demo_borzoi(
    out: str | Path,
    demo: str | Path = DEMO_STORE,
    genes: Sequence[str] | None = None,
    progress: bool = True,
    external: str | Path = EXTERNAL,
) -> ResultsStore:
    """Score the demo store's cohort (its inputs, its computed genes, or `genes` among them) with the
    small random Borzoi into a new store at `out`."""
    return build_scored_demo(
        out, demo, model="borzoi", window=DEMO_BORZOI_WINDOW, save_model=save_demo_borzoi,
        demo_config=DEMO_BORZOI, note=BORZOI_NOTE, genes=genes, progress=progress, external=external,
    )  # fmt: skip
