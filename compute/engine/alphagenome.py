"""AlphaGenome (alphagenome-pt) behind the model interface of compute/engine/model.py: loading local
safetensors (the package's own `AlphaGenome.save` directory, or the converted DeepMind release:
alphagenome_metadata.json + alphagenome_<fold>.safetensors) or a small random configuration; the
trunk (the sequence encoder: convolutions and max pools down to 128 bp), the transformer tower and the
128-bp output embedder up to the rna_seq and cage heads, and the heads' unscaling to the
experimental scale. The only module of compute/ that knows alphagenome-pt.

Why alphagenome-pt rather than alphagenome-pytorch: it has a 1.0 release, needs only torch,
safetensors, einops, einx and huggingface-hub, loads local safetensors without a hub, and ships a
small random configuration; alphagenome-pytorch pulls Jupyter, matplotlib, accelerate and aiohttp
into the run time and is at 0.2/0.3.

Why 128-bp outputs: the 128-bp embeddings depend on the encoder and the transformer only, so ISM
caches the encoder as it caches Enformer's conv tower (the 1-bp decoder would need every encoder
resolution cached). A gene is read at 128-bp bins: `rna_seq` over the bins of its exons, `cage` at
the TSS bin and its neighbours, on the experimental scale (the head's unscale: soft clip undone,
squashing undone for rna_seq, times the track mean and 128), summed.

The window is any multiple of 2,048 bp up to the weights' max_seq_len (1,048,576 for the published
model); the run's --window picks it and the manifest records it.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from compute.engine.catalog import ALPHAGENOME
from compute.engine.model import Model, Step, pick_device, ready
from compute.errors import ModelError

FULL_WINDOW = ALPHAGENOME.window
RESOLUTION = 128
READ_HEADS = ("rna_seq", "cage")
EXPORT_HINT = (
    "put the converted release there (alphagenome_metadata.json and alphagenome_all_folds.safetensors, "
    "from `alphagenome-pt download` on a machine with internet access, under the AlphaGenome model terms), "
    "or a directory written by AlphaGenome.save (config.json, metadata.json, model.safetensors)"
)


def list_tracks(path: Path, head: str) -> list[tuple[int, str]]:
    """(index, description) of the human tracks of a head, from a weights directory's metadata: the
    metadata's per-track names where it has them, else the track mean."""
    import json

    from alphagenome_pt.checkpoint import DEFAULT_CONVERTED_METADATA_FILENAME

    file = (
        path / "metadata.json"
        if (path / "metadata.json").is_file()
        else path / DEFAULT_CONVERTED_METADATA_FILENAME
    )
    try:
        metadata = json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise ModelError(f"{file}: cannot read AlphaGenome metadata ({err}); {EXPORT_HINT}") from None
    organisms = list(metadata.get("organisms", []))
    organism = organisms.index("human") if "human" in organisms else 0
    info = (metadata.get("heads") or {}).get(head)
    if info is None:
        raise ModelError(f"{file}: no head {head!r} (heads: {', '.join(metadata.get('heads') or {})})")
    n = int(info["num_tracks"][organism])
    names = next((info[k] for k in ("names", "track_names", "descriptions") if k in info), None)
    if names is not None:
        names = names[organism] if names and isinstance(names[0], list) else names
        return [(i, str(names[i])) for i in range(n)]
    means = info.get("means")
    return [(i, f"mean {float(means[organism][i]):.3g}" if means else "") for i in range(n)]


class AlphaGenomeModel(Model):
    """An alphagenome-pt `AlphaGenome` (in `net`), read at 128 bp for the human organism."""

    name = "alphagenome"
    flexible_window = True

    @property
    def bin_size(self) -> int:
        return RESOLUTION

    @property
    def heads(self) -> dict[str, int]:
        metadata = self.net.metadata
        return {h: int(metadata.get_num_tracks_organism(self.organism, h)) for h in READ_HEADS
                if h in self.net._heads}  # fmt: skip

    @property
    def crop(self) -> tuple[int, int]:
        return 0, self.n_tower  # 128-bp predictions cover the whole window

    @property
    def organism(self) -> int:
        organisms = self.net.metadata.get_organisms()
        return organisms.index("human") if "human" in organisms else 0

    @contextmanager
    def _policy(self):
        """alphagenome-pt reads its dtype policy from a context: fp32 (float32), or under our bf16
        autocast the package's own bf16-compute policy (deepmind)."""
        from alphagenome_pt.precision import dtype_policy_context, get_dtype_policy

        autocast = torch.is_autocast_enabled(self.device.type)
        policy = get_dtype_policy("deepmind" if autocast else "float32")
        with dtype_policy_context(policy, self.device.type):
            yield

    def _organism(self, batch: int) -> torch.Tensor:
        return torch.full((batch,), self.organism, dtype=torch.long, device=self.device)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The sequence encoder (_encode_sequence without sequence parallelism): (B, C', L / 128)."""
        with self._policy():
            t, _ = self.net.sequence_encoder(x.transpose(1, 2))
        return t

    def trunk_steps(self) -> list[Step]:
        """The DNA embedder (a first convolution, one residual block) and six down-residual blocks of
        two convolutions, each stage followed by a max pool of 2; RMS batch norm (running statistics
        in eval) and GELU act position by position."""
        cfg = self.net.cfg
        first, block = int(cfg.first_conv_width), int(cfg.block_width)
        steps = [Step("conv", first // 2), Step("conv", block // 2), Step("pool", 2)]
        for _ in range(self.net.stages - 1):
            steps += [Step("conv", block // 2), Step("conv", block // 2), Step("pool", 2)]
        return steps

    def embed(self, t: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """_embed_batch from the encoder output to the 128-bp embeddings (organism embedding,
        transformer tower, output embedder), at the positions: (B, len(positions), 2C')."""
        net, organism = self.net, self._organism(t.shape[0])
        with self._policy():
            t = t + net.org_embedder(organism)[:, :, None]
            t, _ = net.transformer_tower(t.transpose(1, 2))
            return net.output_t(t[:, positions], organism)

    def head_values(self, t: torch.Tensor, positions: torch.Tensor, head: str, track: int) -> torch.Tensor:
        """GenomeTracksHead._forward at 128 bp for one track: softplus(linear) * softplus(residual
        scale), the head's scaled predictions (in fp32 also under bf16 autocast)."""
        h, o = self._head(head), self.organism
        linear = h.multiorg_linear[str(RESOLUTION)]
        e = self.embed(t, positions)
        with torch.autocast(self.device.type, enabled=False):  # as MultiOrganismLinear: fp32 operands
            value = e.float() @ linear.weight[o, :, track].float() + linear.bias[o, track].float()
            scale = F.softplus(h.residual_scales[str(RESOLUTION)][o, track].float())
        return F.softplus(value) * scale

    def to_counts(self, values: torch.Tensor, head: str, track: int) -> torch.Tensor:
        """The head's unscale (predictions_scaling) for one track: the predictions_128bp scale."""
        from alphagenome_pt.heads import predictions_scaling

        h = self._head(head)
        means = h._track_means[self.organism, track : track + 1].float().expand(values.shape[0], 1)
        return predictions_scaling(values[..., None].float(), means, RESOLUTION, h._apply_squashing)[..., 0]

    def _head(self, head: str):
        if head not in self.heads:
            raise ModelError(f"head {head!r} is not in the model (heads: {', '.join(self.heads)})")
        return self.net._heads[head]

    def head_linear(self, head: str) -> nn.Linear:
        raise ModelError(
            "AlphaGenome's heads are per-organism layers read through head_values; fine-tuning and the "
            "all-track head are Enformer's only"
        )

    def head_parameters(self, head: str):
        return self._head(head).parameters()

    # -- checks, saving, fine-tuning

    def window_problem(self, length: int) -> str | None:
        if length % 2048:
            return "AlphaGenome takes a multiple of 2,048 bp"
        if length > int(self.net.max_seq_len):
            return f"the weights take at most {int(self.net.max_seq_len):,} bp (max_seq_len)"
        return None

    def save(self, out_dir: Path) -> Path:
        """AlphaGenome.save: config.json, metadata.json, model.safetensors."""
        out = Path(out_dir)
        self.net.save(out)
        return out

    def with_window(self, window: int) -> Model:
        """The same network on another window (any multiple of 2,048 bp up to max_seq_len)."""
        if window == self.window:
            return self
        return ready(AlphaGenomeModel(self.net, self.device, int(window), self.source))

    def add_head(self, name: str, track: int) -> None:
        raise ModelError("fine-tuning with a new head is Enformer's only")


def wrap(net: nn.Module, device: str | torch.device, window: int, source: str) -> AlphaGenomeModel:
    return ready(AlphaGenomeModel(net, pick_device(device), int(window), source))


# alphagenome_pt.checkpoint.DEFAULT_CONVERTED_METADATA_FILENAME, named here: importing alphagenome_pt
# to read it took 1.7 s of CPU at the start of every run, Enformer's too (tests check the two agree)
CONVERTED_METADATA = "alphagenome_metadata.json"


def is_alphagenome_dir(path: Path) -> bool:
    """A directory of AlphaGenome weights in either layout."""
    return (path / CONVERTED_METADATA).is_file() or (path / "metadata.json").is_file()


def load_alphagenome(path: Path, device: str | torch.device) -> AlphaGenomeModel:
    """An AlphaGenome from local safetensors, never from a hub: AlphaGenome.load for a directory it
    saved, deepmind_model(load_state=True, local_dir=path) for the converted release only when both of
    its files are there (it would download what is missing). The window is max_seq_len."""
    from alphagenome_pt import AlphaGenome
    from alphagenome_pt.checkpoint import (
        DEFAULT_CONVERTED_METADATA_FILENAME,
        FOLD_NAMES,
        deepmind_model,
        fold_filename,
    )

    try:
        if (path / "metadata.json").is_file():
            net = AlphaGenome.load(path)
        else:
            folds = [f for f in FOLD_NAMES if (path / fold_filename(f)).is_file()]
            if not (path / DEFAULT_CONVERTED_METADATA_FILENAME).is_file() or not folds:
                raise ModelError(f"weights directory {path}: no AlphaGenome weights; {EXPORT_HINT}")
            net = deepmind_model(load_state=True, local_dir=path, fold=folds[0], dtype_policy="float32")
    except ModelError:
        raise
    except Exception as err:  # any failure here means the directory is not usable weights
        raise ModelError(
            f"weights directory {path}: cannot load AlphaGenome ({err}); {EXPORT_HINT}"
        ) from None
    return wrap(net, device, int(net.max_seq_len), source=f"weights:{path}")


SMALL_DEFAULTS = dict(num_channels=24, transformer_layers=1, num_tracks=4)


def small_alphagenome(
    seed: int = 0, *, window: int = 4096, device: str | torch.device = "auto", **hparams
) -> AlphaGenomeModel:
    """A small random AlphaGenome (alphagenome-pt's small_alphagenome): the published layout with
    narrow channels, one transformer block, the human organism only and its rna_seq and cage heads
    (`num_tracks` each, synthetic track means), on a `window`-bp window (a multiple of 2,048)."""
    from alphagenome_pt import small_alphagenome as build
    from alphagenome_pt.heads import HeadName
    from alphagenome_pt.synthetic import synthetic_metadata

    params = {**SMALL_DEFAULTS, **hparams}
    num_tracks = int(params.pop("num_tracks"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        metadata = synthetic_metadata(
            [HeadName.RNA_SEQ, HeadName.CAGE], organisms=["human"], num_tracks=num_tracks
        )
        net = build(metadata, max_seq_len=int(window), dtype_policy="float32", **params)
    return wrap(net, device, window, source=f"small-alphagenome(seed={seed})")


def full_size_alphagenome(seed: int = 0, *, device: str | torch.device = "auto") -> AlphaGenomeModel:
    """The published architecture (1,048,576 bp) with random weights and synthetic human rna_seq and
    cage heads: for benchmarks."""
    from alphagenome_pt import AlphaGenome
    from alphagenome_pt.checkpoint import deepmind_config
    from alphagenome_pt.heads import HeadName
    from alphagenome_pt.synthetic import synthetic_metadata

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        metadata = synthetic_metadata([HeadName.RNA_SEQ, HeadName.CAGE], organisms=["human"])
        net = AlphaGenome(deepmind_config(metadata=metadata, dtype_policy="float32"))
    return wrap(net, device, FULL_WINDOW, source=f"full-size-alphagenome(seed={seed})")
