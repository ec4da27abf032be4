"""Shared fixtures. Debian example data lives in data/external/ (data/fetch_debian_data.sh)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = ROOT / "data" / "external"
PUBLISHED_SOURCE = ROOT / "data" / "published" / "source"  # the paper's files, shipped unmodified


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
