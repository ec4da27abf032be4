"""Real Enformer weights load right: the hub snapshot's config.json (2022) does not record
use_tf_gamma, and an official-size Enformer read without TensorFlow's gamma positions drifts from
the published outputs (enformer-pytorch issue 31). `--tf-gamma auto` turns them on for such a
config and says so; on/off force it; the manifest records the choice."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from compute.engine.enformer import tf_gamma_for
from compute.engine.model import ModelSpec, score_tokens
from compute.engine.models import load_model, save_weights, small_model
from compute.errors import ModelError

# The keys of the hub snapshot's config.json (EleutherAI/enformer-official-rough), as published.
HUB_CONFIG = {
    "architectures": ["Enformer"], "attn_dim_key": 64, "attn_dim_value": 192, "depth": 11, "dim": 1536,
    "dim_divisible_by": 128, "dropout_rate": 0.4, "heads": 8, "model_type": "enformer",
    "num_downsamples": 7, "output_heads": {"human": 5313, "mouse": 1643}, "pos_dropout": 0.01,
    "target_length": 896, "torch_dtype": "float32", "transformers_version": "4.21.1",
}  # fmt: skip


def test_an_official_size_config_without_the_key_gets_tf_gamma_and_says_so():
    on, said = tf_gamma_for(HUB_CONFIG)
    assert on and "does not record use_tf_gamma" in said and "--tf-gamma off" in said
    assert tf_gamma_for(HUB_CONFIG, "off") == (False, None)
    assert tf_gamma_for({**HUB_CONFIG, "use_tf_gamma": False}) == (False, None)  # the config's word
    assert tf_gamma_for({**HUB_CONFIG, "dim": 768}) == (False, None)  # not the published size
    with pytest.raises(ModelError, match="--tf-gamma 'maybe'"):
        tf_gamma_for(HUB_CONFIG, "maybe")


@pytest.fixture(scope="module")
def silent_weights(tmp_path_factory):
    """A small Enformer of the full window whose config.json does not record use_tf_gamma."""
    # TensorFlow's gammas exist for 192 features a head (dim / heads), as in the full model
    model = small_model(seed=2, window=196_608, device="cpu", dim=192, depth=1, heads=1)
    path = save_weights(model, tmp_path_factory.mktemp("w") / "silent")
    config = json.loads((path / "config.json").read_text())
    config.pop("use_tf_gamma", None)
    (path / "config.json").write_text(json.dumps(config))
    return path


def test_on_and_off_are_forced_and_change_the_outputs(silent_weights, caplog):
    with caplog.at_level(logging.WARNING):
        auto = load_model(silent_weights, device="cpu")
    assert not auto.net.use_tf_gamma and caplog.text == ""  # small: nothing to assume
    on = load_model(silent_weights, device="cpu", tf_gamma="on")
    assert on.net.use_tf_gamma
    tokens = np.random.default_rng(0).integers(0, 4, size=(1, 196_608)).astype(np.uint8)
    spec = ModelSpec(track=3)
    assert abs(score_tokens(on, tokens, spec)[0] - score_tokens(auto, tokens, spec)[0]) > 1e-6


def test_the_run_records_the_choice(silent_weights):
    from compute.run.settings import ModelOptions, RunSettings, same_run, to_manifest

    settings = RunSettings(window=None, model=ModelOptions(weights=str(silent_weights), tf_gamma="on"))
    recorded = to_manifest(settings)["model"]
    assert recorded["tf_gamma"] == "on"
    # a store made before the option existed resumes with its default, not with another choice
    before = {k: v for k, v in recorded.items() if k != "tf_gamma"}
    assert same_run(before, {**recorded, "tf_gamma": "auto"})
    assert not same_run(before, recorded)
