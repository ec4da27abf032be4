"""One settings schema (compute/run/settings.py): the command line, the manifest round trip and
the resume check all come from the same declared fields."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest

from compute.cli import build_parser
from compute.engine.catalog import ENFORMER
from compute.run.settings import (
    DEFAULT_TRACK,
    ModelOptions,
    RunSettings,
    StatsOptions,
    add_options,
    from_args,
    from_manifest,
    option,
    recorded,
    run_settings_from_args,
    same_run,
    to_manifest,
)

COHORT = ["--fasta", "f.fa", "--vcf", "c.vcf.gz", "--genes", "g.tsv", "--expression", "e.tsv"]


def parse(*args: str):
    return build_parser().parse_args(["precompute", *COHORT, "--weights", "W", "--out", "S", *args])


def test_command_line_defaults_are_the_declared_defaults():
    settings = run_settings_from_args(parse())
    assert settings == RunSettings(window=None, model=ModelOptions(weights="W"))
    assert settings.model.track == DEFAULT_TRACK == ENFORMER.default_track
    assert settings.stats == StatsOptions() and settings.gradients and settings.stats.predixcan


def test_command_line_options_reach_the_settings():
    args = parse(
        "--track", "12", "--output-head", "cohort", "--summary", "sum", "--precision", "bf16", "--compile",
        "--reverse-complement", "--shifts", "1", "--shifts", "-2", "--batch-size", "9", "--device", "cpu",
        "--null-draws", "7", "--seed", "3", "--convention", "textbook", "--no-predixcan", "--no-gradients",
        "--window", "4096", "--gene", "A", "--gene", "B", "C",
    )  # fmt: skip
    settings = run_settings_from_args(args)
    assert settings.window == 4096 and not settings.gradients
    assert settings.model == ModelOptions(
        weights="W", track=12, head="cohort", summary="sum", precision="bf16", compile=True,
        reverse_complement=True, shifts=(1, -2), batch_size=9, device="cpu",
    )  # fmt: skip
    assert settings.stats == StatsOptions(null_draws=7, seed=3, convention="textbook", predixcan=False)
    assert args.gene == ["A", "B", "C"]  # a repeated option adds, it does not replace


def test_every_command_with_several_values_takes_them_repeated():
    parser = build_parser()
    assert parser.parse_args(["add-genes", "S", "A", "B"]).gene == ["A", "B"]
    demo = parser.parse_args(["demo", "build", "out", "--genes", "A", "--genes", "B"])
    assert demo.genes == ["A", "B"]
    haps = parser.parse_args(["haplotypes", "--fasta", "f", "--vcf", "v", "--region", "1:1-2", "--out", "o",
                              "--samples", "P1", "--samples", "P2"])  # fmt: skip
    assert haps.samples == ["P1", "P2"]


def test_the_manifest_round_trip_gives_the_same_settings():
    settings = RunSettings(
        window=4096,
        model=ModelOptions(weights="W", track=3, summary="sum", shifts=(-1, 0, 1), reverse_complement=True,
                           batch_size=16, device="cpu"),  # fmt: skip
        stats=StatsOptions(null_draws=9, seed=4, convention="textbook", predixcan=False),
        gradients=False,
    )
    manifest = to_manifest(settings)
    assert "batch_size" not in manifest["model"] and "device" not in manifest["model"]  # not the numbers
    assert "all_tracks" not in manifest["model"]  # absent when not asked, as older stores have it
    back = from_manifest(manifest, "manifest.json", device="cpu", batch_size=16)
    assert back == settings
    assert from_manifest(manifest, "m", device="cuda", batch_size=2).model.device == "cuda"


def test_a_manifest_without_newer_fields_reads_their_defaults():
    manifest = {"model": {"weights": "W", "track": 5}, "settings": {"window": 2048}}
    settings = from_manifest(manifest, "m")
    assert settings.model == ModelOptions(weights="W", track=5)
    assert settings.stats == StatsOptions() and settings.gradients


@pytest.mark.parametrize("manifest", [{"model": {"track": 5}, "settings": {"window": 1}},
                                      {"model": {"weights": "W"}, "settings": {}}])  # fmt: skip
def test_a_manifest_without_weights_or_window_is_refused(manifest):
    from compute.errors import InputError

    with pytest.raises(InputError, match="manifest.json: records no"):
        from_manifest(manifest, "store/manifest.json")


def test_same_run_ignores_the_weights_path_when_their_digest_agrees():
    old = {"weights": "/a/w", "weights_sha256": "x", "track": 1, "recipe": "demo"}
    assert same_run(old, {"weights": "/b/w", "weights_sha256": "x", "track": 1})
    assert not same_run(old, {"weights": "/a/w", "weights_sha256": "y", "track": 1})
    assert not same_run(old, {"weights": "/a/w", "weights_sha256": "x", "track": 2})
    new = {"weights": "/a/w", "weights_sha256": "x", "track": 1}
    assert not same_run({**old, "all_tracks": "t.csv"}, new)


def test_a_store_made_before_an_option_resumes_with_its_default():
    """The settings section nests the statistics options: an option added to them since a store was
    made agrees with it at its default, and only then (the shipped demo store resumes)."""
    settings = RunSettings(window=2048, model=ModelOptions(weights="W"))
    recorded = to_manifest(settings)["settings"]
    before = {**recorded, "stats": {k: v for k, v in recorded["stats"].items() if k != "normalize"}}
    assert same_run(before, recorded)
    changed = to_manifest(replace(settings, stats=StatsOptions(normalize="inverse-normal")))["settings"]
    assert not same_run(before, changed)


def test_a_new_option_is_one_field():
    """What adding an option takes: a field. Its flag, default, manifest entry and resume check follow."""

    @dataclasses.dataclass(frozen=True)
    class WithReadout(ModelOptions):
        readout: str = option("tss", choices=("tss", "exons"), help="where the gene's expression is read")

    import argparse

    parser = argparse.ArgumentParser()
    add_options(parser, WithReadout)
    options = from_args(WithReadout, parser.parse_args(["--weights", "W", "--readout", "exons"]))
    assert options.readout == "exons" and options.track == DEFAULT_TRACK
    assert recorded(options)["readout"] == "exons"
    assert not same_run(recorded(options), recorded(dataclasses.replace(options, readout="tss")))
