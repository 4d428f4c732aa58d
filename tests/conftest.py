"""Session-wide real servers, per-test fresh stores, and the pieces several test packages
share: a bus connection, the fake exchange and a backfiller's configuration.

Servers: nats-server (JetStream), a MongoDB wire server (nx-27017, or a real MongoDB from
``PETROSA_TEST_MONGODB_URL``) and MariaDB (``PETROSA_TEST_MYSQL_URL``, the local server
with a fresh database, or a private mariadbd). A missing server fails the run with a
message saying how to install it; nothing is skipped silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from petrosa_core.bus import Bus, connect
from tests.backfiller.test_jobs_support import Backfill
from tests.fakes.binance_exchange import FakeBinance
from tests.harness.recorded import RECORDINGS
from tests.harness.servers import MariaDB, MongoWireServer, NatsServer


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of recorded real market data, ``tests/fixtures``."""
    return RECORDINGS


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if url := os.environ.get("PETROSA_TEST_MONGODB_URL"):
        yield url.rstrip("/")
        return
    server = MongoWireServer(tmp_path_factory.mktemp("mongo"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def mongo_url(mongo_server_url: str) -> str:
    """A MongoDB URL naming a database no other test uses."""
    return f"{mongo_server_url}/petrosa_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    server = MariaDB(tmp_path_factory.mktemp("mariadb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mysql_url(mariadb: MariaDB) -> Iterator[str]:
    """An asyncmy URL of a freshly created database, dropped after the test."""
    url = mariadb.create_database()
    yield url
    mariadb.drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
async def bus(nats_server: NatsServer, request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    """A connection to the session's NATS server, named after the test, closed after it."""
    connection = await connect(nats_server.url, name=request.node.name, initial_timeout=10)
    yield connection
    await connection.close()


@pytest.fixture
def fake(shared_data: Path) -> Iterator[FakeBinance]:
    """The fake exchange over the recorded data; a module wanting faults overrides it."""
    with FakeBinance(data_dir=shared_data) as exchange:
        yield exchange


@pytest.fixture
def backfill(
    nats_server: NatsServer, fake: FakeBinance, sqlite_url: str, tmp_path: Path
) -> Backfill:
    """A backfiller configuration over ``fake``, with a metadata store of its own."""
    return Backfill(
        nats_server.url, sqlite_url, f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}", fake.url
    )
