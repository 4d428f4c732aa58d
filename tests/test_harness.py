"""The harness starts real servers: each answers a real client round trip."""

from __future__ import annotations

import nats
from pymongo import AsyncMongoClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.harness.servers import NatsServer


async def test_nats_server_has_jetstream(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        info = await nc.jetstream().account_info()
    finally:
        await nc.close()
    assert info.limits is not None


async def test_mongo_wire_server_round_trip(mongo_url: str) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    try:
        coll = client.get_default_database()["probe"]
        await coll.insert_one({"_id": "k", "v": 1})
        assert await coll.find_one({"_id": "k"}) == {"_id": "k", "v": 1}
    finally:
        await client.close()


async def test_mariadb_database_is_fresh_and_utf8mb4(mysql_url: str) -> None:
    engine = create_async_engine(mysql_url)
    try:
        async with engine.connect() as conn:
            tables = (await conn.execute(text("SHOW TABLES"))).all()
            charset = (await conn.execute(text("SELECT @@character_set_database"))).scalar()
    finally:
        await engine.dispose()
    assert tables == []
    assert charset == "utf8mb4"
