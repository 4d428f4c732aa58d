"""A schema registry over a real metadata store (SQLite, and MariaDB where asked)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from petrosa_api.registry import RegistryOptions, SchemaRegistry
from petrosa_core.metadata import MetadataStore


@pytest.fixture(params=["sqlite", "mariadb"])
def metadata_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "mysql_url"))


@pytest.fixture
async def metadata(metadata_url: str) -> AsyncIterator[MetadataStore]:
    store = await MetadataStore.open(metadata_url)
    yield store
    await store.close()


@pytest.fixture
def registry(metadata: MetadataStore) -> SchemaRegistry:
    return SchemaRegistry(metadata, RegistryOptions())
