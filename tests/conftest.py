"""Shared fixtures. Debian example data lives in data/external/ (data/fetch_debian_data.sh)."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL = ROOT / "data" / "external"
SHARED_PUBLISHED = ROOT.parent / "shared" / "published" / "sasse2023"


@pytest.fixture(scope="session")
def external_data() -> Path:
    """Real public data from Debian packages; fetched by the test setup."""
    if not (EXTERNAL / ".complete").exists():
        pytest.fail("data/external/ is missing: run `bash data/fetch_debian_data.sh`")
    return EXTERNAL
