"""Shared fixtures. Debian example data lives in data/external/ (data/fetch_debian_data.sh)."""

from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = ROOT / "data" / "external"
PUBLISHED_SOURCE = ROOT / "data" / "published" / "source"  # the paper's files, shipped unmodified


def pytest_collection_modifyitems(config, items):
    """Files with the most slow tests first (a test function counts once, however parametrized), the
    rest in their own order: scripts/pytest.sh's workers take whole files, the first ones first
    (xdist's own reorder, by count of tests, would leave the one-test minute-long files for last)."""
    slow = defaultdict(set)
    for item in items:
        if item.get_closest_marker("slow"):
            slow[item.path].add(item.originalname)
    files = {path: i for i, path in enumerate(dict.fromkeys(item.path for item in items))}
    items.sort(key=lambda item: (-len(slow[item.path]), files[item.path]))


@pytest.fixture(scope="session")
def external_data() -> Path:
    """Real public data from Debian packages; fetched by the test setup."""
    if not (EXTERNAL / ".complete").exists():
        pytest.fail("data/external/ is missing: run `bash data/fetch_debian_data.sh`")
    return EXTERNAL


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small convolutions run fastest on one thread, above all on a shared machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    """A small, fast model (window 2,048 bp) saved as weights, for the tests that run precompute."""
    from compute.engine.models import save_weights, small_model

    model = small_model(seed=4, window=2048, device="cpu", dim=24, depth=1, heads=1)
    return save_weights(model, tmp_path_factory.mktemp("w") / "tiny")
