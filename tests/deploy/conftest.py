"""The Helm binary, fetched once per machine (tests/harness/tools.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.tools import compose_binary, helm_binary


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    return helm_binary()


@pytest.fixture(scope="session")
def compose_bin() -> Path:
    return compose_binary()
