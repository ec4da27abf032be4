"""Borzoi (borzoi-pytorch) behind the model interface of compute/engine/model.py: loading a local
`save_pretrained` directory (config.json + pytorch_model.bin, the published format) or a small random
configuration, the trunk (the DNA convolution and the residual tower, down to the 32-bp output
bins), the U-Net, transformer and final convolutions up to the human head, and the gene readout of
`AnnotatedBorzoi.predict_gene_count`. The only module of compute/ that knows borzoi-pytorch.

The readout, as predict_gene_count computes it for one track t (a row of the package's targets.txt):
the forward strand reads t at the gene's bins, the reverse complement reads t's strand pair at the
mirrored bins (an unstranded track is its own pair), the two are averaged bin by bin, the squashed
scale is undone with t's clip_soft, scale and sum_stat, and the bins are summed and log1p taken. Here
the strand average is the reverse-complement member of the ensemble (`member_track` names the pair),
the unsquashing is `to_counts`, and the sum and log1p are the summary `log1p_sum`.

Flashzoi (`flashed=True`) needs flash-attn on a CUDA GPU; the weights load the same way, so a Flashzoi
directory runs where flash-attn is installed.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from compute.engine.catalog import BORZOI
from compute.engine.model import Model, Step, pick_device, randomize_weights, ready
from compute.errors import ModelError

FULL_WINDOW = BORZOI.window
FULL_BINS = 6_144
EXPORT_HINT = (
    "save one with borzoi-pytorch on a machine with internet access "
    "(Borzoi.from_pretrained('johahi/borzoi-replicate-0').save_pretrained(DIR)), then copy DIR here"
)


def track_table():
    """borzoi-pytorch's targets.txt (index, identifier, clip_soft, scale, sum_stat, strand_pair,
    description), one row per human track, as the package ships it."""
    from borzoi_pytorch.pytorch_borzoi_model import TRACKS_DF

    return TRACKS_DF


def list_tracks() -> list[tuple[int, str]]:
    """(index, 'identifier description') of every human track, from the package's targets.txt."""
    table = track_table()
    return [(int(i), f"{ident} {desc}") for i, ident, desc in
            zip(table["index"], table["identifier"], table["description"], strict=True)]  # fmt: skip


class BorzoiModel(Model):
    """A borzoi-pytorch `Borzoi` (in `net`)."""

    name = "borzoi"

    @property
    def bin_size(self) -> int:
        return 32  # the DNA convolution's pool and the residual tower's four: 2^5

    @property
    def heads(self) -> dict[str, int]:
        return {"human": int(self.net.human_head.out_channels)}

    @property
    def crop(self) -> tuple[int, int]:
        """As TargetLengthCrop does it: the central `bins_to_return` positions."""
        target = int(self.net.crop.target_length)
        return (self.n_tower - target) // 2, target

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The DNA convolution and residual tower: `x_unet0` of get_embs_after_crop, at 32 bp."""
        return self.net.res_tower(self.net.conv_dna(x.transpose(1, 2)))

    def trunk_steps(self) -> list[Step]:
        """Batch norm and GELU act position by position; each 'same' convolution widens by kernel // 2
        on each side, each max pool pools."""
        steps = []
        modules = [self.net.conv_dna.conv_layer, self.net.conv_dna.max_pool, *self.net.res_tower]
        for module in modules:
            conv = module.conv_layer if hasattr(module, "conv_layer") else module
            if isinstance(conv, nn.Conv1d):
                k = conv.kernel_size[0]
                if conv.padding != "same" or k % 2 == 0 or conv.stride[0] != 1 or conv.dilation[0] != 1:
                    raise ModelError(f"trunk layer {conv} is not an odd 'same'-padded stride-1 convolution")
                if k > 1:
                    steps.append(Step("conv", k // 2))
            elif isinstance(conv, nn.MaxPool1d):
                steps.append(Step("pool", int(conv.kernel_size)))
        return steps

    def embed(self, t: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """get_embs_after_crop from `x_unet0` on, then the final joined convolutions, at the positions:
        (B, len(positions), 1920). The crop is the positions (trunk positions of the output bins)."""
        net = self.net
        x_unet1 = net.unet1(t)
        x = net._max_pool(x_unet1)
        x_unet1 = net.horizontal_conv1(x_unet1)
        x_unet0 = net.horizontal_conv0(t)
        x = net.transformer(x.permute(0, 2, 1)).permute(0, 2, 1)
        x = net.separable1(net.upsampling_unet1(x) + x_unet1)
        x = net.separable0(net.upsampling_unet0(x) + x_unet0)
        return net.final_joined_convs(x[:, :, positions]).transpose(1, 2)

    def head_values(self, t: torch.Tensor, positions: torch.Tensor, head: str, track: int) -> torch.Tensor:
        """The human head is a width-1 convolution: its row `track` as a linear layer, then softplus
        (in fp32, as Borzoi's forward runs its head outside autocast)."""
        conv = self._head(head)
        weight = conv.weight[track : track + 1, :, 0]
        embedded = self.embed(t, positions)
        with torch.autocast(self.device.type, enabled=False):
            value = F.linear(embedded.float(), weight.float(), conv.bias[track : track + 1].float())
        return F.softplus(value.squeeze(-1))

    def head_linear(self, head: str) -> nn.Linear:
        raise ModelError(
            "Borzoi's head is a convolution read through head_values; fine-tuning and the all-track head "
            "are Enformer's only"
        )

    def head_parameters(self, head: str):
        return self._head(head).parameters()

    def _head(self, head: str) -> nn.Conv1d:
        if head != "human":
            raise ModelError(f"head {head!r} is not in the model (heads: human)")
        return self.net.human_head

    # -- the readout

    @cached_property
    def _tracks(self) -> dict[str, np.ndarray]:
        table = track_table()
        if len(table) != self.n_tracks():
            raise ModelError(
                f"borzoi-pytorch's targets.txt has {len(table):,} tracks, the model's head "
                f"{self.n_tracks():,}"
            )
        return {
            "strand_pair": table["strand_pair"].to_numpy(np.int64),
            "clip_soft": table["clip_soft"].to_numpy(np.float64),
            "scale": table["scale"].to_numpy(np.float64),
            "transform": np.where(table["sum_stat"].to_numpy() == "sum_sqrt", 0.75, 1.0),
        }

    def member_track(self, head: str, track: int, rc: bool) -> int:
        """The reverse complement reads the strand pair (predict_gene_count's antisense tracks)."""
        return int(self._tracks["strand_pair"][track]) if rc else track

    def to_counts(self, values: torch.Tensor, head: str, track: int) -> torch.Tensor:
        """AnnotatedBorzoi._undo_squashed_scale (old_transform, as predict_gene_count calls it) with the
        track's constants: / scale, soft clip undone above clip_soft, then the power of 1 / transform."""
        tracks = self._tracks
        clip, scale, power = (float(tracks[k][track]) for k in ("clip_soft", "scale", "transform"))
        x = values / scale
        x = torch.where(x > clip, (x - clip) ** 2 + clip, x)
        return x ** (1.0 / power)

    # -- checks, saving, fine-tuning

    def window_problem(self, length: int) -> str | None:
        if length % 128:
            return "Borzoi pools to 128-bp positions before its transformer: expected a multiple of 128"
        return None

    def save(self, out_dir: Path) -> Path:
        """save_pretrained; config.json records the window as sequence_length."""
        self.net.config.sequence_length = self.window
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.net.save_pretrained(out, safe_serialization=False)
        return out

    def with_window(self, window: int) -> Model:
        if window == self.window:
            return self
        raise ModelError(f"Borzoi takes the window it was built for ({self.window:,} bp), not {window:,}")

    def add_head(self, name: str, track: int) -> None:
        raise ModelError("fine-tuning with a new head is Enformer's only")


def wrap(net: nn.Module, device: str | torch.device, window: int, source: str) -> BorzoiModel:
    return ready(BorzoiModel(net, pick_device(device), int(window), source))


def load_borzoi(path: Path, device: str | torch.device) -> BorzoiModel:
    """A Borzoi from a local `save_pretrained` directory (config.json + pytorch_model.bin or
    model.safetensors; checked by the caller to exist). The window is config.json's sequence_length,
    else the published 524,288 bp."""
    from borzoi_pytorch import Borzoi

    try:
        net = Borzoi.from_pretrained(path, local_files_only=True)
    except Exception as err:  # any failure here means the directory is not usable weights
        raise ModelError(
            f"weights directory {path}: cannot load Borzoi weights ({err}); {EXPORT_HINT}"
        ) from None
    window = int(getattr(net.config, "sequence_length", FULL_WINDOW))
    return wrap(net, device, window, source=f"weights:{path}")


SMALL_DEFAULTS = dict(dim=32, depth=1, heads=2, attn_dim_key=8, attn_dim_value=16)


def small_borzoi(
    seed: int = 0,
    *,
    window: int = 4096,
    bins: int | None = None,
    device: str | torch.device = "auto",
    **hparams,
) -> BorzoiModel:
    """A small random Borzoi: the published layers (their widths are fixed by borzoi-pytorch: DNA
    convolution, residual tower, U-Net, 7,611-track head), a narrow one-layer transformer and a short
    window; `bins` output bins (default: all but 16 at each end, as the full model crops 5,120).
    Batch-norm statistics are drawn from `seed` too and weights keep unit variance, so that every
    layer changes the output."""
    from borzoi_pytorch import Borzoi
    from borzoi_pytorch.config_borzoi import BorzoiConfig

    n_tower = window // 32
    bins = n_tower - 32 if bins is None else int(bins)
    params = {**SMALL_DEFAULTS, **hparams, "bins_to_return": bins, "sequence_length": int(window)}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = randomize_weights(Borzoi(BorzoiConfig(**params)))
    return wrap(net, device, window, source=f"small-borzoi(seed={seed})")


def full_size_borzoi(seed: int = 0, *, device: str | torch.device = "auto") -> BorzoiModel:
    """The published architecture (524,288 bp, 6,144 bins), random weights: for benchmarks."""
    from borzoi_pytorch import Borzoi
    from borzoi_pytorch.config_borzoi import BorzoiConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Borzoi(BorzoiConfig(bins_to_return=FULL_BINS, sequence_length=FULL_WINDOW))
    return wrap(net, device, FULL_WINDOW, source=f"full-size-borzoi(seed={seed})")
