"""Loading a model: from a local weights directory (never from a hub), or a small random
configuration for tests and the demo. Each architecture's own code is in its module
(compute/engine/enformer.py, borzoi.py, alphagenome.py); this one picks it by name (--model) and
checks the directory holds that model."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from compute.engine.alphagenome import EXPORT_HINT as ALPHAGENOME_HINT
from compute.engine.borzoi import EXPORT_HINT as BORZOI_HINT
from compute.engine.catalog import MODELS
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

__all__ = [
    "export_weights", "full_size_model", "load_model", "parameters_digest", "save_recipe", "save_weights",
    "small_model",
]  # fmt: skip

# A small random model's recipe in place of its weights (a store whose model is too large to ship: the
# demo's Borzoi): what small_model was called with and the digest of what it built.
RECIPE_FILE = "recipe.json"


def load_model(
    weights_dir: str | Path | None,
    *,
    model: str = "enformer",
    small: bool | dict = False,
    device: str | torch.device = "auto",
    tf_gamma: str = "auto",
) -> Model:
    """A model from a local weights directory, or a small random one.

    weights_dir: directory with the model's weights in its published format; never fetched from a hub.
    model: enformer, borzoi or alphagenome; the directory must hold that model.
    small: True or a dict of hyper-parameters builds `small_model(**dict)` instead
    (tests and the demo); weights_dir must then be None.
    tf_gamma: Enformer's TensorFlow gamma positions: auto (the config's word, else on for an
    official-size model), on or off (compute.engine.enformer.tf_gamma_for).
    """
    if model not in MODELS:
        raise ModelError(f"model {model!r}: expected one of {', '.join(MODELS)}")
    hint = {"enformer": EXPORT_HINT, "borzoi": BORZOI_HINT, "alphagenome": ALPHAGENOME_HINT}[model]
    if small:
        if weights_dir is not None:
            raise ModelError("give either a weights directory or a small configuration, not both")
        return small_model(model=model, device=device, **(small if isinstance(small, dict) else {}))
    if weights_dir is None:
        raise ModelError(f"no weights directory given (--weights DIR); {hint}")
    path = Path(weights_dir)
    if not path.is_dir():
        raise ModelError(f"weights directory {path} does not exist; {hint}")
    if (path / RECIPE_FILE).is_file():
        return load_recipe(path, model=model, device=device)
    found = weights_kind(path)
    if found is not None and found != model:
        raise ModelError(f"weights directory {path} holds {found} weights; run it with --model {found}")
    if model == "alphagenome":
        if found is None:
            raise ModelError(f"weights directory {path} holds no AlphaGenome weights; {hint}")
        from compute.engine.alphagenome import load_alphagenome

        return load_alphagenome(path, device)
    if not (path / "config.json").is_file():
        raise ModelError(f"weights directory {path} has no config.json (not made by save_pretrained); {hint}")
    weight_files = [p for p in path.iterdir() if p.name.endswith((".safetensors", ".bin"))]
    if not weight_files:
        raise ModelError(
            f"weights directory {path} has config.json but no model.safetensors or pytorch_model.bin; {hint}"
        )
    if model == "borzoi":
        from compute.engine.borzoi import load_borzoi

        return load_borzoi(path, device)
    return load_enformer(path, device, tf_gamma)


def weights_kind(path: Path) -> str | None:
    """Which model a weights directory holds, from its config: config.json's model_type (Enformer,
    Borzoi), AlphaGenome's metadata files; None when it cannot tell."""
    import json

    from compute.engine.alphagenome import is_alphagenome_dir

    if is_alphagenome_dir(path):
        return "alphagenome"
    try:
        if (path / RECIPE_FILE).is_file():
            kind = json.loads((path / RECIPE_FILE).read_text()).get("model")
            return kind if kind in MODELS else None
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    kind = config.get("model_type") if isinstance(config, dict) else None
    return kind if kind in ("enformer", "borzoi") else None


def small_model(
    seed: int = 0,
    *,
    model: str = "enformer",
    window: int = 4096,
    device: str | torch.device = "auto",
    **hparams,
) -> Model:
    """A small random model of the named kind (compute.engine.enformer.small_enformer,
    compute.engine.borzoi.small_borzoi, compute.engine.alphagenome.small_alphagenome)."""
    if model == "borzoi":
        from compute.engine.borzoi import small_borzoi

        return small_borzoi(seed, window=window, device=device, **hparams)
    if model == "alphagenome":
        from compute.engine.alphagenome import small_alphagenome

        return small_alphagenome(seed, window=window, device=device, **hparams)
    return small_enformer(seed, window=window, device=device, **hparams)


def full_size_model(seed: int = 0, *, model: str = "enformer", device: str | torch.device = "auto") -> Model:
    """The published architecture of the named model with random weights (benchmarks)."""
    if model == "borzoi":
        from compute.engine.borzoi import full_size_borzoi

        return full_size_borzoi(seed, device=device)
    if model == "alphagenome":
        from compute.engine.alphagenome import full_size_alphagenome

        return full_size_alphagenome(seed, device=device)
    return full_size_enformer(seed, device=device)


def save_weights(model: Model | nn.Module, out_dir: str | Path) -> Path:
    """Save a model (or a bare enformer-pytorch module) so that `load_model(out_dir)` rebuilds it."""
    if isinstance(model, Model):
        return model.save(Path(out_dir))
    return save_enformer(model, out_dir)


def parameters_digest(net: nn.Module) -> str:
    """sha256 over a network's state: every parameter and buffer (batch-norm statistics decide the
    numbers too) by name, dtype, shape and bytes, in state_dict order."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        value = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_recipe(model: Model, out_dir: str | Path, *, seed: int, hparams: dict | None = None) -> Path:
    """Write `out_dir/recipe.json` in place of weights: `small_model(seed, model=model.name,
    window=model.window, **hparams)` rebuilds `model` (checked here), and `load_model(out_dir)` does
    so and compares the rebuilt parameters with the digest recorded."""
    import json
    from importlib import metadata

    hparams = dict(hparams or {})
    digest = parameters_digest(model.net)
    rebuilt = small_model(seed, model=model.name, window=model.window, device="cpu", **hparams)
    if parameters_digest(rebuilt.net) != digest:
        raise ModelError(f"small_model(seed={seed}, model={model.name}, window={model.window}, {hparams}) "
                         "does not rebuild the model given: not its recipe")  # fmt: skip
    packages = {}
    for name in ("torch", "borzoi-pytorch", "enformer-pytorch", "alphagenome-pt"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    recipe = {
        "model": model.name,
        "builder": "compute.engine.models.small_model",
        "seed": int(seed),
        "window": int(model.window),
        "hparams": hparams,
        "parameters_sha256": digest,
        "packages": packages,  # those that drew the weights: another torch may draw others
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / RECIPE_FILE).write_text(json.dumps(recipe, indent=1, sort_keys=True) + "\n")
    return out


def load_recipe(path: str | Path, *, model: str | None = None, device: str | torch.device = "auto") -> Model:
    """The small random model a recipe directory (save_recipe) describes, rebuilt on the CPU, its
    parameters checked against the recorded digest (ModelError naming the directory if they differ),
    then moved to `device`."""
    import json

    from compute.engine.model import pick_device

    path = Path(path)
    where = path / RECIPE_FILE
    try:
        recipe = json.loads(where.read_text())
        name, seed, window = str(recipe["model"]), int(recipe["seed"]), int(recipe["window"])
        hparams, expected = dict(recipe.get("hparams") or {}), str(recipe["parameters_sha256"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelError(f"{where}: expected a model recipe (model, seed, window, hparams, "
                         f"parameters_sha256), found an unreadable one ({err!r})") from None  # fmt: skip
    if model is not None and name != model:
        raise ModelError(f"weights directory {path} holds a {name} recipe; run it with --model {name}")
    rebuilt = small_model(seed, model=name, window=window, device="cpu", **hparams)
    found = parameters_digest(rebuilt.net)
    if found != expected:
        raise ModelError(
            f"{where}: the {name} rebuilt from this recipe (seed {seed}, window {window:,} bp, {hparams}) "
            f"has parameters digest {found[:12]}..., the recipe records {expected[:12]}...: these packages "
            f"draw other weights than those that built it ({recipe.get('packages')}); install those"
        )
    target = pick_device(device)
    if target != rebuilt.device:
        rebuilt.net.to(target)
        rebuilt.device = target
    rebuilt.source = f"recipe:{path}"
    return rebuilt
