"""The schema registry's rows in the metadata store, on SQLite and MariaDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from petrosa_core.errors import ValidationError
from petrosa_core.metadata import MetadataStore, fingerprint

CANDLE = {"type": "object", "properties": {"close": {"type": "number"}}, "required": ["close"]}


@pytest.fixture(params=["sqlite", "mariadb"])
def url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "mysql_url"))


@pytest.fixture
async def store(url: str) -> AsyncIterator[MetadataStore]:
    opened = await MetadataStore.open(url)
    yield opened
    await opened.close()


async def test_a_version_number_is_claimed_once_by_racing_replicas(url: str) -> None:
    replicas = [await MetadataStore.open(url) for _ in range(4)]
    try:
        claims = await asyncio.gather(
            *(
                r.add_schema_version("mongodb", "candle", 1, {**CANDLE, "title": str(i)})
                for i, r in enumerate(replicas)
            )
        )
        winners = [c for c in claims if c is not None]
        stored = await replicas[0].schema_versions("mongodb", "candle")
    finally:
        for r in replicas:
            await r.close()
    assert len(winners) == 1
    assert [(v.version, v.document) for v in stored] == [(1, winners[0].document)]


async def test_one_name_lives_apart_in_each_store(store: MetadataStore) -> None:
    await store.add_schema_version("mongodb", "order", 1, CANDLE, description="market")
    await store.add_schema_version("mysql", "order", 1, {"type": "object"}, describes="orders")
    mongo = await store.get_schema("order", store="mongodb")
    mysql = await store.get_schema("order", store="mysql")
    assert mongo is not None and mysql is not None
    assert (mongo.document, mongo.description, mongo.fingerprint) == (
        CANDLE, "market", fingerprint(CANDLE)
    )  # fmt: skip
    assert (mysql.document, mysql.describes, mysql.status) == (
        {"type": "object"},
        "orders",
        "active",
    )
    assert [r.store for r in await store.list_schemas()] == ["mongodb", "mysql"]
    assert [r.name for r in await store.list_schemas("mysql")] == ["order"]
    assert [r.store for r in await store.schemas_describing(["orders"])] == ["mysql"]


async def test_only_description_and_status_change(store: MetadataStore) -> None:
    await store.add_schema_version("mysql", "audit", 1, CANDLE)
    changed = await store.update_schema_version(
        "mysql", "audit", 1, description="d", status="deprecated"
    )
    assert changed is not None
    assert (changed.description, changed.status, changed.document) == ("d", "deprecated", CANDLE)
    assert await store.update_schema_version("mysql", "audit", 2, status="active") is None
    with pytest.raises(ValidationError) as refused:
        await store.update_schema_version("mysql", "audit", 1, status="erased")
    assert refused.value.reason == "bad_schema_status"


async def test_a_name_keeps_its_own_mode(store: MetadataStore) -> None:
    assert await store.schema_mode("mongodb", "candle") is None
    await store.set_schema_mode("mongodb", "candle", "FULL")
    await store.set_schema_mode("mongodb", "candle", "NONE")
    assert await store.schema_mode("mongodb", "candle") == "NONE"
    assert await store.schema_mode("mysql", "candle") is None


@pytest.mark.parametrize(
    ("store_name", "name", "reason"),
    [("postgres", "x", "bad_schema_store"), ("mysql", "", "bad_schema_name"),
     ("mysql", "n" * 129, "bad_schema_name")],
)  # fmt: skip
async def test_bad_keys_are_refused(
    store: MetadataStore, store_name: str, name: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        await store.add_schema_version(store_name, name, 1, CANDLE)
    assert refused.value.reason == reason
    assert await store.list_schemas() == []


def test_equal_documents_share_a_fingerprint() -> None:
    assert fingerprint({"a": 1.0, "b": [2]}) == fingerprint({"b": [2], "a": 1})
    assert fingerprint({"a": True}) != fingerprint({"a": 1})
