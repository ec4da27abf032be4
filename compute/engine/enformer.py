"""Enformer (enformer-pytorch) behind the model interface of compute/engine/model.py: loading a
local `save_pretrained` directory or a small random configuration, the trunk (stem + conv tower),
the transformer and final pointwise layer up to the heads, and what fine-tuning changes (window,
a new head). The only module of compute/ that knows enformer-pytorch's internals."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from compute.engine.catalog import ENFORMER
from compute.engine.model import Model, Step, pick_device, randomize_weights, ready
from compute.errors import ModelError

log = logging.getLogger(__name__)
FULL_WINDOW = ENFORMER.window
OFFICIAL_WEIGHTS = "EleutherAI/enformer-official-rough"
EXPORT_HINT = (
    "make one on a machine with internet access with `python -m compute weights export DIR` "
    f"(downloads {OFFICIAL_WEIGHTS} and saves it with save_pretrained), then copy DIR here"
)


class EnformerModel(Model):
    """An enformer-pytorch `Enformer` (in `net`)."""

    name = "enformer"

    @property
    def bin_size(self) -> int:
        return 2 ** int(self.net.config.num_downsamples)

    @property
    def heads(self) -> dict[str, int]:
        return dict(self.net.output_heads)

    @property
    def crop(self) -> tuple[int, int]:
        """As TargetLengthCrop does it: the central `target_length` trunk positions."""
        n, target = self.n_tower, int(self.net.target_length)
        if target == -1:
            return 0, n
        trim = (target - n) // 2
        if trim == 0:
            return 0, n
        return -trim, n + 2 * trim

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.conv_tower(self.net.stem(x.transpose(1, 2)))

    def trunk_steps(self) -> list[Step]:
        """Batch norm, GELU and residual additions act position by position and do not move
        anything; each Conv1d widens by kernel // 2 on each side; each AttentionPool pools."""
        from enformer_pytorch.modeling_enformer import AttentionPool

        steps = []
        for module in (*self.net.stem.modules(), *self.net.conv_tower.modules()):
            if isinstance(module, nn.Conv1d):
                k = module.kernel_size[0]
                if module.padding[0] != k // 2 or module.stride[0] != 1 or module.dilation[0] != 1:
                    raise ModelError(f"conv tower layer {module} is not a same-padded stride-1 convolution")
                if k > 1:
                    steps.append(Step("conv", k // 2))
            elif isinstance(module, AttentionPool):
                steps.append(Step("pool", module.pool_size))
        return steps

    def embed(self, t: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        x = self.net.transformer(t.transpose(1, 2))
        return self.net.final_pointwise(x[:, positions])

    def head_linear(self, head: str) -> nn.Linear:
        return self.net._heads[head][0]

    def window_problem(self, length: int) -> str | None:
        if self.net.use_tf_gamma and length != FULL_WINDOW:
            return f"the model uses TensorFlow gamma positions, which need exactly {FULL_WINDOW:,} bp"
        return None

    def save(self, out_dir: Path) -> Path:
        """config.json records the window; pytorch_model.bin, since enformer-pytorch shares tensors
        between `_trunk` and its named parts, which safetensors refuses."""
        self.net.config.sequence_length = self.window
        return save_enformer(self.net, out_dir)

    def with_window(self, window: int) -> Model:
        """The output crop keeps the same central fraction of the trunk positions (896 of 1,536 for
        the full model); TensorFlow gamma positions exist only for 196,608 bp, so another window
        uses enformer-pytorch's own (the trained transformer adapts during fine-tuning). The
        config records all of it."""
        if window == self.window:
            return self
        if window % self.bin_size:
            raise ModelError(
                f"window of {window:,} bp is not a multiple of the model's {self.bin_size}-bp bins"
            )
        net, old_target = self.net, int(self.net.target_length)
        n_tower = window // self.bin_size
        target = -1 if old_target == -1 else max(1, round(n_tower * old_target / self.n_tower))
        net.set_target_length(target)
        net.target_length = target
        net.config.target_length = target
        if net.use_tf_gamma and window != FULL_WINDOW:
            set_tf_gamma(net, False)
            net.config.use_tf_gamma = False
        return ready(EnformerModel(net, self.device, int(window), self.source))

    def add_head(self, name: str, track: int) -> None:
        net = self.net
        if name in net.output_heads:
            raise ModelError(
                f"head {name!r} already exists in the model (heads: {', '.join(net.output_heads)})"
            )
        source = net._heads["human"][0]
        linear = nn.Linear(source.in_features, 1).to(source.weight.device, source.weight.dtype)
        with torch.no_grad():
            linear.weight.copy_(source.weight[track : track + 1])
            linear.bias.copy_(source.bias[track : track + 1])
        net._heads[name] = nn.Sequential(linear, nn.Softplus())
        heads = {**net.output_heads, name: 1}
        net.output_heads = heads
        net.config.output_heads = heads


def wrap(net: nn.Module, device: str | torch.device, window: int, source: str) -> EnformerModel:
    return ready(EnformerModel(net, pick_device(device), int(window), source))


TF_GAMMA = ("auto", "on", "off")


def tf_gamma_for(config: dict, asked: str = "auto") -> tuple[bool, str | None]:
    """Whether to use TensorFlow's gamma positions, and a line to tell the user when `auto` chose
    them without the config saying so.

    The published weights were trained with TensorFlow's positions; the config.json of the
    enformer-pytorch hub snapshot (2022) does not record `use_tf_gamma`, and read as False the
    outputs drift from TensorFlow's (enformer-pytorch issue 31: 474.7 against 555.5). So an
    official-size Enformer whose config is silent gets them; `weights export` records the key."""
    if asked not in TF_GAMMA:
        raise ModelError(f"--tf-gamma {asked!r}: expected one of {', '.join(TF_GAMMA)}")
    if asked != "auto":
        return asked == "on", None
    if "use_tf_gamma" in config:
        return bool(config["use_tf_gamma"]), None
    heads = config.get("output_heads") or {}
    official = (config.get("dim"), config.get("depth"), heads.get("human")) == (1536, 11, ENFORMER.n_tracks)
    if official:
        return True, (
            "config.json does not record use_tf_gamma: an official-size Enformer (dim 1,536, 11 layers, "
            "5,313 human tracks) is loaded with TensorFlow's gamma positions, as the published weights "
            "need (--tf-gamma off to load without them)"
        )
    return False, None


def load_enformer(path: Path, device: str | torch.device, tf_gamma: str = "auto") -> EnformerModel:
    """An Enformer from a local `save_pretrained` directory (checked by the caller to exist);
    tf_gamma: TensorFlow's gamma positions on, off, or `auto` (`tf_gamma_for`)."""
    import json

    from enformer_pytorch import Enformer

    try:
        config = Enformer.config_class.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise ModelError(
            f"weights directory {path}: config.json is unreadable ({err}); {EXPORT_HINT}"
        ) from None
    if getattr(config, "model_type", None) != "enformer":
        raise ModelError(
            f"weights directory {path}: config.json describes a "
            f"{getattr(config, 'model_type', '?')!r} model, expected 'enformer'; {EXPORT_HINT}"
        )
    try:
        net = Enformer.from_pretrained(path, local_files_only=True)
    except Exception as err:  # any failure here means the directory is not usable weights
        raise ModelError(
            f"weights directory {path}: cannot load the weights ({err}); {EXPORT_HINT}"
        ) from None
    try:
        recorded = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        recorded = {}
    use_tf_gamma, said = tf_gamma_for(recorded, tf_gamma)
    if said:
        log.warning("%s: %s", path, said)
    set_tf_gamma(net, use_tf_gamma)
    net.config.use_tf_gamma = use_tf_gamma
    window = int(getattr(net.config, "sequence_length", FULL_WINDOW))
    return wrap(net, device, window, source=f"weights:{path}")


def set_tf_gamma(net: nn.Module, value: bool) -> None:
    from enformer_pytorch.modeling_enformer import Attention

    net.use_tf_gamma = value
    for module in net.modules():
        if isinstance(module, Attention):
            module.use_tf_gamma = value


def save_enformer(net: nn.Module, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net.save_pretrained(out, safe_serialization=False)
    return out


def export_weights(out_dir: str | Path, name: str = OFFICIAL_WEIGHTS) -> Path:
    """Download the published Enformer weights and save them to `out_dir` (needs internet).

    The saved config records `use_tf_gamma` and `sequence_length` so that
    `load_model(out_dir)` rebuilds exactly the published model offline.
    """
    from enformer_pytorch import from_pretrained
    from enformer_pytorch.modeling_enformer import Attention

    net = from_pretrained(name)  # sets TensorFlow gamma positions on the official weights
    net.config.use_tf_gamma = any(m.use_tf_gamma for m in net.modules() if isinstance(m, Attention))
    net.config.sequence_length = FULL_WINDOW
    return save_enformer(net, out_dir)


SMALL_DEFAULTS = dict(
    dim=48,
    depth=2,
    heads=2,
    attn_dim_key=16,
    dim_divisible_by=4,
    num_downsamples=7,
    target_length=16,
    output_heads=dict(human=ENFORMER.n_tracks),
)


def small_enformer(
    seed: int = 0, *, window: int = 4096, device: str | torch.device = "auto", **hparams
) -> Model:
    """A small random Enformer with the full architecture's layout (tests, demo, CPU benchmark).

    Same stem, conv tower (128-bp bins), transformer and 5,313-track human head
    as the published model, with small widths and a short window. Weights are
    drawn from `seed`; the layers enformer-pytorch initialises to zero or to
    identity statistics (attention output, batch-norm running statistics) are
    drawn too, and weights are scaled to keep unit variance, so that every part of
    the model changes the output.
    """
    params = {**SMALL_DEFAULTS, **hparams, "sequence_length": int(window)}
    return wrap(_random_enformer(seed, params), device, window, source=f"small(seed={seed})")


def full_size_enformer(seed: int = 0, *, device: str | torch.device = "auto") -> Model:
    """The published architecture (dim 1,536, depth 11, 196,608 bp, TF gamma positions), random weights.

    For benchmarks: the cost of a forward pass does not depend on the weights.
    """
    params = dict(output_heads=dict(human=ENFORMER.n_tracks), use_tf_gamma=True, sequence_length=FULL_WINDOW)
    return wrap(_random_enformer(seed, params), device, FULL_WINDOW, source=f"full-size(seed={seed})")


def _random_enformer(seed: int, params: dict) -> nn.Module:
    from enformer_pytorch import Enformer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return randomize_weights(Enformer.from_hparams(**params))
