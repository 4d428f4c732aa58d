"""POST /api/v1/raw/mongodb: an operator's MongoDB read on the market data, and its abuses refused.

Each attack goes to a running API over the MongoDB wire server; it must come back 400 with
every collection's document count unchanged. Reads on the recorded data answer their rows.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from tests.api._generic_support import ADMIN, Backend, backend_fixture

backend = backend_fixture(["mongodb"])

C = "candles_XRPUSDT_5m"
JS = {"body": "function() { return 1 }", "args": [], "lang": "js"}
LOOKUP = {"localField": "a", "foreignField": "b", "as": "c"}
ATTACKS: list[dict[str, Any]] = [
    {"collection": C, "find": {"$where": "sleep(1000) || true"}},
    {"collection": C, "find": {"$and": [{"open": {"$gt": 0}}, {"$where": "true"}]}},
    {"collection": C, "find": {}, "projection": {"x": {"$function": JS}}},
    {"collection": C, "count": {"$where": "true"}},
    {"collection": C, "distinct": "open", "filter": {"$where": "true"}},
    {"collection": C, "aggregate": [{"$out": "evil"}]},
    {"collection": C, "aggregate": [{"$merge": {"into": C}}]},
    {"collection": C, "aggregate": [
        {"$group": {"_id": None, "x": {"$accumulator": {**JS, "init": "f", "accumulate": "f"}}}}
    ]},
    {"collection": C, "aggregate": [{"$addFields": {"x": {"$function": JS}}}]},
    {"collection": C, "aggregate": [{"$lookup": {"from": "x", "db": "admin", **LOOKUP}}]},
    {"collection": C, "aggregate": [{"$lookup": {"from": "system.users", **LOOKUP}}]},
    {"collection": C, "aggregate": [{"$unionWith": {"coll": "users", "db": "admin"}}]},
    {"collection": C, "aggregate": [{"$facet": {"a": [{"$out": "evil"}]}}]},
    {"collection": C, "aggregate": [
        {"$lookup": {"from": C, "as": "z", "pipeline": [{"$merge": {"into": "evil"}}]}}
    ]},
    {"collection": C, "aggregate": [{"$currentOp": {}}]},
    {"collection": C, "aggregate": [{"$collStats": {"count": {}}}]},
    {"collection": C, "aggregate": [{"$listSessions": {}}]},
    {"collection": C, "aggregate": {"$out": "evil"}},
    {"collection": "system.users", "find": {}},
    {"collection": "$cmd", "find": {}},
    {"collection": C, "find": {}, "aggregate": [{"$out": "evil"}]},
    {"collection": C, "mapReduce": {"map": "f", "reduce": "f", "out": "evil"}},
    {"collection": C, "find": {"open": {"$regex": "(a+)+" * 100}}},
    {"query": C + ': {"find": {"$where": "true"}}'},
    {"query": json.dumps({"collection": C, "aggregate": [{"$out": "evil"}]})},
]  # fmt: skip


async def _counts(backend: Backend) -> dict[str, int]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(backend.market_url)
    try:
        db = client.get_default_database()
        return {n: await db[n].count_documents({}) for n in await db.list_collection_names()}
    finally:
        await client.close()


async def _raw(backend: Backend, body: dict[str, Any]) -> Any:
    async with backend.client(ADMIN) as client:
        return await client.post("/api/v1/raw/mongodb", json=body, timeout=30)


@pytest.mark.parametrize("body", ATTACKS)
async def test_an_attack_is_refused_and_changes_nothing(
    backend: Backend, body: dict[str, Any]
) -> None:
    before = await _counts(backend)
    response = await _raw(backend, body)
    after = await _counts(backend)

    assert response.status_code == 400, (body, response.text)
    assert response.json()["error"]["code"] == "query_refused"
    assert after == before


def test_the_attack_table_is_as_large_as_promised() -> None:
    assert len(ATTACKS) >= 20


async def test_find_count_and_distinct_answer_from_the_recorded_candles(backend: Backend) -> None:
    t0 = 1_636_934_400_000
    found = await _raw(backend, {
        "collection": C, "find": {"close": {"$gt": 1.19}}, "sort": {"open_time": 1},
        "projection": {"close": 1, "_id": 0}, "limit": 3,
    })  # fmt: skip
    counted = await _raw(backend, {"collection": C, "count": {}})
    distinct = await _raw(backend, {"collection": C, "distinct": "symbol"})
    original = await _raw(backend, {"query": C + ': {"find": {}}', "limit": 2})

    assert found.status_code == 200, found.text
    assert len(found.json()["data"]) == 3
    assert all(row["close"] > 1.19 and list(row) == ["close"] for row in found.json()["data"])
    assert counted.json()["data"] > 1000
    assert distinct.json()["data"] == ["XRPUSDT"]
    assert original.json()["data"][0]["open_time"] == t0
    assert original.json()["meta"]["truncated"] is True


async def test_an_aggregate_of_allowed_stages_answers(backend: Backend) -> None:
    response = await _raw(backend, {"collection": C, "aggregate": [
        {"$match": {"symbol": "XRPUSDT"}},
        {"$group": {"_id": "$symbol", "n": {"$sum": 1}, "high": {"$max": "$high"}}},
    ]})  # fmt: skip
    assert response.status_code == 200, response.text
    (row,) = response.json()["data"]
    assert row["_id"] == "XRPUSDT" and row["n"] > 1000 and row["high"] > 1
