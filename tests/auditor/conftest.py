"""Fixtures the auditor tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from petrosa_core.metadata import MetadataStore


@pytest.fixture
async def metadata(tmp_path: Path) -> AsyncIterator[MetadataStore]:
    """A fresh metadata store of the test's own, closed after it."""
    store = await MetadataStore.open(f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}")
    yield store
    await store.close()
