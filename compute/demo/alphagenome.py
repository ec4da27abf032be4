"""`python -m compute demo alphagenome OUT`: the demo cohort scored by a small random AlphaGenome
(DEMO_ALPHAGENOME, weights from the demo's seed, not trained: fine-tuning is Enformer's only) on the
demo's 16,384-bp window, read as `rna_seq` over each gene's exons; its weights are shipped in the
store's model/ (AlphaGenome.save layout). The store's layout: compute/demo/second_model.py.

Borzoi is built the same way (compute/demo/borzoi.py), on a shorter window: borzoi-pytorch fixes its
convolution widths, so even a narrow random Borzoi costs about 3 CPU minutes a gene at 16,384 bp
(docs/benchmarks.md); the small AlphaGenome costs a few CPU seconds a gene.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from compute.demo import EXTERNAL
from compute.demo.build import DEMO_WINDOW
from compute.demo.second_model import DEMO_STORE, build_scored_demo
from compute.store import ResultsStore

DEMO_ALPHAGENOME = {"num_channels": 24, "transformer_layers": 1, "num_tracks": 4}
ALPHAGENOME_NOTE = "demo model: small random AlphaGenome, not trained"
HEAD = "rna_seq"


def save_demo_alphagenome(seed: int, out_dir: Path) -> Path:
    """The demo's small random AlphaGenome (DEMO_ALPHAGENOME on DEMO_WINDOW, weights from seed), saved."""
    from compute.engine.models import save_weights, small_model

    model = small_model(seed, model="alphagenome", window=DEMO_WINDOW, device="cpu", **DEMO_ALPHAGENOME)
    return save_weights(model, out_dir)


def build_demo_alphagenome(
    out: str | Path,
    demo: str | Path = DEMO_STORE,
    genes: Sequence[str] | None = None,
    progress: bool = True,
    external: str | Path = EXTERNAL,
) -> ResultsStore:
    """Score the demo store's cohort (its inputs, its computed genes, or `genes` among them) with the
    small random AlphaGenome into a new store at `out`."""
    return build_scored_demo(
        out, demo, model="alphagenome", window=DEMO_WINDOW, save_model=save_demo_alphagenome,
        demo_config=DEMO_ALPHAGENOME, note=ALPHAGENOME_NOTE, head=HEAD, genes=genes, progress=progress,
        external=external,
    )  # fmt: skip
