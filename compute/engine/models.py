"""Loading a model: from a local weights directory (never from a hub), or a small random
configuration for tests and the demo. Each architecture's own code is in its module
(compute/engine/enformer.py); this one picks it."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from compute.engine.enformer import (
    EXPORT_HINT,
    export_weights,
    full_size_enformer,
    load_enformer,
    save_enformer,
    small_enformer,
)
from compute.engine.model import Model
from compute.errors import ModelError

__all__ = ["export_weights", "full_size_model", "load_model", "save_weights", "small_model"]


def load_model(
    weights_dir: str | Path | None,
    *,
    small: bool | dict = False,
    device: str | torch.device = "auto",
    tf_gamma: str = "auto",
) -> Model:
    """A model from a local weights directory, or a small random one.

    weights_dir: directory with config.json and model weights; never fetched from a hub.
    small: True or a dict of hyper-parameters builds `small_model(**dict)` instead
    (tests and the demo); weights_dir must then be None.
    tf_gamma: Enformer's TensorFlow gamma positions: auto (the config's word, else on for an
    official-size model), on or off (compute.engine.enformer.tf_gamma_for).
    """
    if small:
        if weights_dir is not None:
            raise ModelError("give either a weights directory or a small configuration, not both")
        return small_model(device=device, **(small if isinstance(small, dict) else {}))
    if weights_dir is None:
        raise ModelError(f"no weights directory given (--weights DIR); {EXPORT_HINT}")
    path = Path(weights_dir)
    if not path.is_dir():
        raise ModelError(f"weights directory {path} does not exist; {EXPORT_HINT}")
    if not (path / "config.json").is_file():
        raise ModelError(
            f"weights directory {path} has no config.json (not made by save_pretrained); {EXPORT_HINT}"
        )
    weight_files = [p for p in path.iterdir() if p.name.endswith((".safetensors", ".bin"))]
    if not weight_files:
        raise ModelError(
            f"weights directory {path} has config.json but no model.safetensors or "
            f"pytorch_model.bin; {EXPORT_HINT}"
        )
    return load_enformer(path, device, tf_gamma)


def small_model(
    seed: int = 0, *, window: int = 4096, device: str | torch.device = "auto", **hparams
) -> Model:
    """A small random Enformer (compute.engine.enformer.small_enformer)."""
    return small_enformer(seed, window=window, device=device, **hparams)


def full_size_model(seed: int = 0, *, device: str | torch.device = "auto") -> Model:
    """The published Enformer architecture with random weights (benchmarks)."""
    return full_size_enformer(seed, device=device)


def save_weights(model: Model | nn.Module, out_dir: str | Path) -> Path:
    """Save a model (or a bare enformer-pytorch module) so that `load_model(out_dir)` rebuilds it."""
    if isinstance(model, Model):
        return model.save(Path(out_dir))
    return save_enformer(model, out_dir)
