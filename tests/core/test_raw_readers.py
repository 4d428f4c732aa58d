"""The second wall of raw SQL: a statement that slipped past the guard still cannot write or hang.

The readers are handed statements the guard would refuse, on SQLite and MariaDB; writes fail
inside the read-only connection or transaction, and runaway reads stop at their deadline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from petrosa_core.errors import ValidationError
from petrosa_core.metadata import MetadataStore
from petrosa_core.metadata.tables import TABLE_NAMES
from petrosa_core.models import DatasetId, DatasetKind
from petrosa_core.rawquery._sql_run import SqlReader, open_reader

BOMB = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r"
WRITES = [
    "DELETE FROM datasets",
    "UPDATE datasets SET symbol = 'X'",
    "INSERT INTO datasets (id, kind, symbol, source, description, created_at, updated_at) "
    "VALUES ('x', 'candles', 'X', 's', 'd', '2021-01-01', '2021-01-01')",
    "DROP TABLE audit_logs",
    "CREATE TABLE evil (x INT)",
]


@pytest.fixture(params=["sqlite", "mariadb"])
async def store_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    url: str = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "mysql_url")
    store = await MetadataStore.open(url)
    await store.register_dataset(DatasetId.of(DatasetKind.CANDLES, "XRPUSDT", "5m"), source="t")
    await store.close()
    yield url


async def _counts(url: str) -> dict[str, int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
            quote = conn.dialect.identifier_preparer.quote
            return {
                n: int(await conn.scalar(sa.text(f"SELECT COUNT(*) FROM {quote(n)}")) or 0)
                for n in sorted(set(names) & TABLE_NAMES)
            }
    finally:
        await engine.dispose()


async def _run(reader: SqlReader, sql: str, seconds: float = 2.0) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        await reader.run(sql, {}, 100, seconds)
    return caught.value


@pytest.mark.parametrize("sql", WRITES)
async def test_a_write_past_the_guard_fails_in_the_read_only_session(
    store_url: str, sql: str
) -> None:
    reader = open_reader(store_url)
    before = await _counts(store_url)
    try:
        error = await _run(reader, sql)
    finally:
        await reader.close()
    assert error.reason == "query_failed"
    assert await _counts(store_url) == before
    assert before["datasets"] == 1


async def test_a_runaway_read_past_the_guard_stops_at_its_deadline(store_url: str) -> None:
    reader = open_reader(store_url)
    slow = BOMB if store_url.startswith("sqlite") else "SELECT SLEEP(5)"
    try:
        error = await _run(reader, slow, seconds=0.5)
        answered = await reader.run("SELECT COUNT(*) AS n FROM datasets", {}, 10, 2.0)
    finally:
        await reader.close()
    assert error.reason == "query_timeout"
    assert answered.rows == [{"n": 1}]
