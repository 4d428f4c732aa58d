"""A running API per backend for the generic and raw endpoints, with keys of every scope."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api, fill_market, fill_metadata, launch_api
from tests.harness.servers import MariaDB, NatsServer

# Test keys: long enough for the API's minimum, never a real secret.
ADMIN, WRITER, READER = "adm-3c9f0e7a51d2b846", "wrt-8a41c6e09f2d7b35", "rdr-0f6b2e8d4c1a9357"
KEYS = f"{ADMIN}:admin,{WRITER}:read+write,{READER}:read"
BACKENDS = ["sqlite", "mariadb", "mongodb"]
READY_SECONDS = 120


@dataclass
class Backend:
    """An API over one backend, and the URLs of its stores."""

    name: str
    api: Api
    market_url: str
    metadata_url: str

    def client(self, key: str = WRITER) -> httpx.AsyncClient:
        return self.api.client(headers={"X-API-Key": key})


async def start_backend(
    name: str,
    folder: Path,
    nats_url: str,
    shared_data: Path,
    mariadb: MariaDB | None,
    mongo_server_url: str | None,
) -> tuple[Backend, Any]:
    """Fill the stores with the recorded data and start an API over them."""
    metadata_url = f"sqlite+aiosqlite:///{folder / 'metadata.db'}"
    cleanup = None
    if name == "sqlite":
        market_url = f"sqlite+aiosqlite:///{folder / 'market.db'}"
    elif name == "mariadb":
        assert mariadb is not None
        market_url = metadata_url = mariadb.create_database()
        cleanup = market_url
    else:
        assert mongo_server_url is not None
        market_url = f"{mongo_server_url}/petrosa_generic_{uuid.uuid4().hex[:12]}"
    await fill_market(market_url, shared_data)
    await fill_metadata(metadata_url)
    env = {
        "NATS_URL": nats_url,
        "MARKET_STORE_URL": market_url,
        "METADATA_STORE_URL": metadata_url,
        "API_RATE_LIMIT_PER_MINUTE": "0",
        "API_KEYS": KEYS,
        "API_MAX_BODY_BYTES": str(8 << 20),
    }
    api = await launch_api(env, ready=False)
    try:
        await until_ready(api)
    except BaseException:
        api.proc.kill()  # an API that never got ready must not outlive the test run
        await api.stop()
        raise
    return Backend(name, api, market_url, metadata_url), cleanup


async def until_ready(api: Api) -> None:
    """Readiness, with room for a machine busy with other test runs."""
    async with api.client() as client, asyncio.timeout(READY_SECONDS):
        while (await client.get("/health/readiness")).status_code != 200:
            if api.proc.returncode is not None:
                raise AssertionError(f"the API exited: {api.logs[-5:]}")
            await asyncio.sleep(0.1)


def backend_fixture(backends: list[str] = BACKENDS) -> Any:
    """A module-scoped fixture running one API per backend named in ``backends``."""

    @pytest.fixture(scope="module", params=backends)
    async def backend(
        request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory,
        nats_server: NatsServer,
        shared_data: Path,
    ) -> AsyncIterator[Backend]:
        name = request.param
        mariadb = request.getfixturevalue("mariadb") if name == "mariadb" else None
        mongo = request.getfixturevalue("mongo_server_url") if name == "mongodb" else None
        folder = tmp_path_factory.mktemp(f"generic-{name}")
        running, cleanup = await start_backend(
            name, folder, nats_server.url, shared_data, mariadb, mongo
        )
        yield running
        await running.api.stop()
        if cleanup is not None and mariadb is not None:
            mariadb.drop_database(cleanup)

    return backend


async def row_counts(backend: Backend) -> dict[str, int]:
    """Rows in every table of both stores, read behind the API's back."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    from petrosa_core.rawquery import MARKET_TABLES, METADATA_TABLES

    counts: dict[str, int] = {}
    urls = {backend.metadata_url: METADATA_TABLES}
    if not backend.market_url.startswith("mongodb"):
        urls[backend.market_url] = urls.get(backend.market_url, frozenset()) | MARKET_TABLES
    for url, tables in urls.items():
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                for table in sorted(tables):
                    quoted = conn.dialect.identifier_preparer.quote(table)
                    counts[f"{url}:{table}"] = int(
                        await conn.scalar(sa.text(f"SELECT COUNT(*) FROM {quoted}")) or 0
                    )
        finally:
            await engine.dispose()
    return counts
