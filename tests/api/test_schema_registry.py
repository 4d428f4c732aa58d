"""The schema registry through the running API, over SQLite and MariaDB metadata stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import READER, WRITER, Launch

ADMIN = "a-9d41c7e25b3f0a86"
KEYS = f"{WRITER}:read+write,{READER}:read,{ADMIN}:read+write+admin"
ORDER: dict[str, Any] = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "side": {"enum": ["BUY", "SELL"]}},
    "required": ["id"],
}


@pytest.fixture(params=["sqlite", "mariadb"])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A metadata store of the test's own, so registrations never meet other tests."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}"
    return str(request.getfixturevalue("mysql_url"))


@pytest.fixture
async def client(launch: Launch, registry_url: str) -> httpx.AsyncClient:
    api = await launch(API_KEYS=KEYS, METADATA_STORE_URL=registry_url)
    return api.client(headers={"X-API-Key": WRITER})


def error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


async def test_a_schema_lives_through_its_versions(client: httpx.AsyncClient) -> None:
    async with client:
        created = await client.post(
            "/schemas/mysql/order", json={"schema": ORDER, "description": "v1"}
        )
        assert created.status_code == 201, created.text
        assert created.json()["data"] | {"schema": ORDER} == created.json()["data"]
        assert (created.json()["data"]["version"], created.json()["data"]["status"]) == (
            1,
            "active",
        )
        same = await client.post("/schemas/mysql/order", json={"schema": ORDER})
        assert (
            same.status_code,
            same.json()["data"]["version"],
            same.json()["data"]["created"],
        ) == (200, 1, False)

        breaking = {**ORDER, "required": ["id", "side"]}
        refused = await client.post("/schemas/mysql/order", json={"schema": breaking})
        assert refused.status_code == 409
        assert error(refused)["code"] == "incompatible_schema"
        assert [c["pointer"] for c in error(refused)["breaking_changes"]] == ["/required"]

        wider = {**ORDER, "properties": {**ORDER["properties"], "note": {"type": "string"}}}
        wider["additionalProperties"] = False
        refused = await client.post("/schemas/mysql/order", json={"schema": wider})
        messages = [c["message"] for c in error(refused)["breaking_changes"]]
        assert any("content model is closed" in m for m in messages), messages
        v2 = {**ORDER, "properties": {**ORDER["properties"], "id": {"type": "number"}}}
        assert (await client.post("/schemas/mysql/order", json={"schema": v2})).status_code == 201

        latest = (await client.get("/schemas/mysql/order")).json()["data"]
        assert (latest["version"], latest["schema"], latest["compatibility"]) == (2, v2, "BACKWARD")
        listed = (await client.get("/schemas/mysql/order/versions")).json()["data"]
        assert [(v["version"], "schema" in v) for v in listed] == [(1, False), (2, False)]
        first = (await client.get("/schemas/mysql/order/versions/1")).json()["data"]
        assert (first["schema"], first["description"]) == (ORDER, "v1")

        changed = await client.put("/schemas/mysql/order/versions/1", json={"description": "first"})
        assert changed.json()["data"]["description"] == "first"
        body_change = await client.put("/schemas/mysql/order/versions/1", json={"schema": v2})
        assert body_change.status_code == 422
        assert "never changes" in error(body_change)["message"]

        gone = await client.delete("/schemas/mysql/order/versions/2")
        assert gone.json()["data"]["status"] == "deprecated"
        assert (await client.get("/schemas/mysql/order")).json()["data"]["version"] == 1
        kept = await client.get("/schemas/mysql/order/versions/2")
        assert (kept.status_code, kept.json()["data"]["schema"]) == (200, v2)


async def test_validation_lists_every_error_with_its_pointer(client: httpx.AsyncClient) -> None:
    async with client:
        await client.post("/schemas/mongodb/order", json={"schema": ORDER})
        one = await client.post("/schemas/validate", json={
            "database": "mongodb", "schema_name": "order", "data": {"id": 1, "side": "BUY"},
        })  # fmt: skip
        assert one.json()["data"] | {"valid": True, "errors": []} == one.json()["data"]
        batch = await client.post("/schemas/validate", json={
            "database": "mongodb", "schema_name": "order",
            "data": [{"id": 1}, {"id": "x", "side": "HOLD"}, {}],
        })  # fmt: skip
        data = batch.json()["data"]
        assert (data["valid"], data["invalid_records"], data["version"]) == (False, [1, 2], 1)
        assert [(e["index"], e["pointer"]) for e in data["errors"]] == [
            (1, "/id"),
            (1, "/side"),
            (2, ""),
        ]
        missing = await client.post("/schemas/validate", json={
            "database": "mysql", "schema_name": "order", "data": {},
        })  # fmt: skip
        assert (missing.status_code, error(missing)["code"]) == (404, "schema_not_found")


async def test_compatibility_questions_both_ways(client: httpx.AsyncClient) -> None:
    async with client:
        await client.post("/schemas/mysql/order", json={"schema": ORDER, "compatibility": "NONE"})
        await client.post("/schemas/mysql/order", json={"schema": {"type": "string"}})
        pair = await client.post("/schemas/compatibility", json={
            "database": "mysql", "schema_name": "order", "old_version": 1, "new_version": 2,
            "mode": "FULL",
        })  # fmt: skip
        answer = pair.json()["data"]
        assert (answer["compatible"], answer["mode"]) == (False, "FULL")
        assert {c["direction"] for c in answer["breaking_changes"]} == {"BACKWARD", "FORWARD"}
        assert answer["messages"] == [c["message"] for c in answer["breaking_changes"]]
        candidate = await client.post("/schemas/compatibility", json={
            "database": "mysql", "schema_name": "order", "schema": {"type": "string", "title": "x"},
        })  # fmt: skip
        assert (
            candidate.json()["data"] | {"compatible": True, "mode": "NONE"}
            == candidate.json()["data"]
        )
        neither = await client.post("/schemas/compatibility", json={
            "database": "mysql", "schema_name": "order", "old_version": 1,
        })  # fmt: skip
        assert (neither.status_code, error(neither)["code"]) == (400, "bad_compatibility_request")


async def test_listing_search_bootstrap_and_catalog(client: httpx.AsyncClient) -> None:
    async with client:
        boot = await client.post("/schemas/bootstrap")
        assert len(boot.json()["data"]["registered"]) == 11
        again = await client.post("/schemas/bootstrap", json={"overwrite_existing": False})
        assert len(again.json()["data"]["skipped"]) == 11
        mysql = (await client.get("/schemas", params={"database": "mysql"})).json()["data"]
        assert sorted(s["name"] for s in mysql) == [
            "audit_log_v1", "health_metrics_v1", "order_v1", "strategy_signal_v1",
        ]  # fmt: skip
        assert len((await client.get("/schemas")).json()["data"]) == 11
        found = (await client.get("/schemas/search", params={"query": "FUNDING"})).json()["data"]
        assert {s["name"] for s in found} >= {"funding_v1", "mark_price_v1"}
        catalog = (await client.get("/catalog/schemas/candles:XRPUSDT:5m")).json()["data"]
        assert [(s["database"], s["name"], s["version"]) for s in catalog["registered"]] == [
            ("mongodb", "candle_v1", 1)
        ]


async def test_the_cache_counts_and_only_admins_clear_it(
    client: httpx.AsyncClient, launch: Launch
) -> None:
    async with client:
        await client.post("/schemas/mysql/order", json={"schema": ORDER})
        body = {"database": "mysql", "schema_name": "order", "data": {"id": 1}}
        for _ in range(3):
            await client.post("/schemas/validate", json=body)
        stats = (await client.get("/schemas/cache/stats")).json()["data"]
        assert (stats["compilations"], stats["misses"], stats["hits"]) == (1, 1, 2)
        refused = await client.post("/schemas/cache/clear")
        assert (refused.status_code, error(refused)["code"]) == (403, "insufficient_scope")
        cleared = await client.post("/schemas/cache/clear", headers={"X-API-Key": ADMIN})
        # Two entries: version 1, and the same validator under the name's "latest".
        assert (cleared.json()["data"]["cleared"], cleared.json()["data"]["entries"]) == (2, 0)


async def test_writes_need_the_write_scope(client: httpx.AsyncClient) -> None:
    async with client:
        anonymous = await client.post(
            "/schemas/mysql/order", json={"schema": ORDER}, headers={"X-API-Key": ""}
        )
        assert anonymous.status_code == 401
        reader = {"X-API-Key": READER}
        for call in (
            client.post("/schemas/mysql/order", json={"schema": ORDER}, headers=reader),
            client.put(
                "/schemas/mysql/order/versions/1", json={"status": "active"}, headers=reader
            ),
            client.delete("/schemas/mysql/order/versions/1", headers=reader),
            client.post("/schemas/bootstrap", headers=reader),
        ):
            assert (await call).status_code == 403
        assert (await client.get("/schemas", headers=reader)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("post", "/schemas/postgres/order", {"schema": ORDER}, 422, "invalid_request"),
        ("post", "/schemas/mysql/" + "n" * 129, {"schema": ORDER}, 422, "invalid_request"),
        ("post", "/schemas/mysql/bad%20name", {"schema": ORDER}, 400, "bad_schema_name"),
        ("post", "/schemas/mysql/order", {"schema": {"type": "nosuch"}}, 422, "invalid_schema"),
        ("post", "/schemas/mysql/order", {"schema": ["x"]}, 422, "invalid_request"),
        ("post", "/schemas/mysql/order", {"schema": ORDER, "extra": 1}, 422, "invalid_request"),
        ("post", "/schemas/mysql/o", {"schema": {"$ref": "http://127.0.0.1:9/"}}, 422,
         "invalid_schema"),
        ("get", "/schemas/mysql/order/versions/0", None, 422, "invalid_request"),
        ("get", "/schemas/mysql/order/versions/7", None, 404, "schema_not_found"),
        ("get", "/schemas/search", None, 422, "invalid_request"),
        ("post", "/schemas/validate", {"database": "mysql", "schema_name": "o", "data": 5}, 422,
         "invalid_request"),
    ],
)  # fmt: skip
async def test_bad_requests_say_why(
    client: httpx.AsyncClient, method: str, path: str, body: Any, status: int, code: str
) -> None:
    async with client:
        response = await client.request(method, path, json=body)
    assert (response.status_code, error(response)["code"]) == (status, code), response.text


async def test_hostile_bodies_are_refused(client: httpx.AsyncClient) -> None:
    async with client:
        bomb = '{"schema": ' + '{"not": ' * 200 + "{}" + "}" * 200 + "}"
        deep = await client.post(
            "/schemas/mysql/x", content=bomb, headers={"Content-Type": "application/json"}
        )
        assert (deep.status_code, error(deep)["code"]) == (400, "too_deep")
        huge = {"schema": {"type": "object", "description": "x" * (2 << 20)}}
        assert (await client.post("/schemas/mysql/x", json=huge)).status_code == 413
        assert (await client.get("/schemas", params={"database": "mysql"})).json()["data"] == []
