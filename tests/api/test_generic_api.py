"""/api/v1/{database}/{collection}: another service keeps its orders here and reads market data
through the same API, on SQLite, MariaDB and the MongoDB wire server alike."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.api._generic_support import ADMIN, READER, WRITER, Backend, backend_fixture

backend = backend_fixture()

T0 = 1_636_934_400_000  # first recorded XRPUSDT 5m open time
FIVE_MIN = 300_000

# Documents every backend stores the same way; filters below are checked against them.
DOCS: list[dict[str, Any]] = [
    {"_id": "o1", "symbol": "BTCUSDT", "qty": 1, "price": 100.5, "open": True,
     "meta": {"src": "ui"}},
    {"_id": "o2", "symbol": "ETHUSDT", "qty": 2.5, "price": 90, "open": False},
    {"_id": "o3", "symbol": "btcusdt", "qty": "3", "price": None, "tags": "x"},
    {"_id": "o4", "symbol": "XRPUSDT", "qty": 10, "open": True, "meta": {"src": "bot"}},
    {"_id": "o5", "symbol": "BTCUSDT", "qty": -1, "price": 101, "open": False},
]  # fmt: skip
FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    ({}, ["o1", "o2", "o3", "o4", "o5"]),
    ({"symbol": "BTCUSDT"}, ["o1", "o5"]),
    ({"qty": {"$gt": 1}}, ["o2", "o4"]),
    ({"qty": {"$gte": 1, "$lt": 10}}, ["o1", "o2"]),
    ({"qty": {"$ne": 1}}, ["o2", "o3", "o4", "o5"]),
    ({"qty": {"$in": [1, 10, "3"]}}, ["o1", "o3", "o4"]),
    ({"qty": {"$nin": [1, 10]}}, ["o2", "o3", "o5"]),
    ({"price": None}, ["o3", "o4"]),
    ({"price": {"$exists": False}}, ["o4"]),
    ({"price": {"$exists": True}}, ["o1", "o2", "o3", "o5"]),
    ({"open": True}, ["o1", "o4"]),
    ({"open": {"$ne": True}}, ["o2", "o3", "o5"]),
    ({"meta.src": "bot"}, ["o4"]),
    ({"symbol": {"$regex": "^btc", "$options": "i"}}, ["o1", "o3", "o5"]),
    ({"symbol": {"$regex": "^btc"}}, ["o3"]),
    ({"$or": [{"qty": {"$lt": 0}}, {"symbol": "ETHUSDT"}]}, ["o2", "o5"]),
    ({"$and": [{"open": False}, {"price": {"$gt": 95}}]}, ["o5"]),
    ({"qty": {"$not": {"$gt": 1}}}, ["o1", "o3", "o5"]),
    ({"symbol": {"$gt": "C"}}, ["o2", "o3", "o4"]),
    ({"_id": {"$in": ["o2", "o9"]}}, ["o2"]),
]


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def _insert(backend: Backend, path: str, docs: Any, **params: Any) -> Any:
    async with backend.client() as client:
        return await client.post(path, json={"data": docs}, params=params)


@pytest.mark.parametrize("database", ["mysql", "mongodb"])
async def test_a_document_goes_in_comes_back_changes_and_goes_away(
    backend: Backend, database: str
) -> None:
    path = f"/api/v1/{database}/{_name('orders')}"
    created = await _insert(backend, path, {"symbol": "BTCUSDT", "qty": 1})
    assert created.status_code == 201, created.text
    (doc_id,) = created.json()["data"]["ids"]

    async with backend.client() as client:
        one = await client.get(f"{path}/{doc_id}")
        changed = await client.put(
            path, json={"filter": {"_id": doc_id}, "data": {"qty": 2, "fill.price": 5.5}},
            headers={"If-Match": one.headers["etag"]},
        )  # fmt: skip
        after = await client.get(f"{path}/{doc_id}")
        gone = await client.delete(path, params={"filter": f'{{"_id": "{doc_id}"}}'})
        missing = await client.get(f"{path}/{doc_id}")

    assert one.json()["data"] == {"_id": doc_id, "symbol": "BTCUSDT", "qty": 1}
    assert changed.json()["data"] == {"matched": 1, "modified": 1}
    assert after.json()["data"] == {
        "_id": doc_id, "symbol": "BTCUSDT", "qty": 2, "fill": {"price": 5.5}
    }  # fmt: skip
    assert after.headers["etag"] != one.headers["etag"]
    assert gone.json()["data"] == {"deleted": 1}
    assert missing.status_code == 404


async def test_an_update_with_a_stale_etag_is_refused_and_changes_nothing(
    backend: Backend,
) -> None:
    path = f"/api/v1/mongodb/{_name('orders')}"
    await _insert(backend, path, {"_id": "a", "qty": 1})
    async with backend.client() as client:
        stale = (await client.get(f"{path}/a")).headers["etag"]
        await client.put(path, json={"filter": {"_id": "a"}, "data": {"qty": 2}})
        refused = await client.put(
            path, json={"filter": {"_id": "a"}, "data": {"qty": 3}}, headers={"If-Match": stale}
        )
        now = await client.get(f"{path}/a")

    assert refused.status_code == 412
    assert refused.json()["error"]["code"] == "precondition_failed"
    assert now.json()["data"]["qty"] == 2


async def test_filters_mean_the_same_on_every_backend(backend: Backend) -> None:
    path = f"/api/v1/mysql/{_name('orders')}"
    assert (await _insert(backend, path, DOCS)).status_code == 201
    async with backend.client(READER) as client:
        for filter_, expected in FILTERS:
            response = await client.get(path, params={"filter": _json(filter_), "limit": 50})
            assert response.status_code == 200, (filter_, response.text)
            found = sorted(d["_id"] for d in response.json()["data"])
            assert found == expected, filter_


def _json(value: Any) -> str:
    return json.dumps(value)


async def test_sort_and_projection_shape_the_page(backend: Backend) -> None:
    path = f"/api/v1/mongodb/{_name('orders')}"
    await _insert(backend, path, DOCS)
    async with backend.client(READER) as client:
        response = await client.get(
            path, params={
                "filter": _json({"qty": {"$exists": True}}), "sort": _json({"qty": -1}),
                "projection": _json({"qty": 1, "_id": 0}), "limit": 3,
            },
        )  # fmt: skip
    # Numbers before strings, as MongoDB orders mixed types; descending puts strings first.
    assert response.json()["data"] == [{"qty": "3"}, {"qty": 10}, {"qty": 2.5}]


async def test_ten_thousand_documents_page_by_cursor_without_loss_or_overlap(
    backend: Backend,
) -> None:
    path = f"/api/v1/mongodb/{_name('signals')}"
    docs = [{"_id": f"s{i:05d}", "n": i} for i in range(10_000)]
    async with backend.client() as client:
        stored = await client.post(f"{path}/batch", json={"data": docs}, timeout=120)
        assert stored.status_code == 200, stored.text
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(path, params=params, timeout=30)).json()
            seen += [d["_id"] for d in page["data"]]
            cursor = page["pagination"]["next_cursor"]
            if cursor is None:
                break
    assert seen == [d["_id"] for d in docs]


async def test_a_batch_with_a_clashing_id_writes_nothing(backend: Backend) -> None:
    path = f"/api/v1/mysql/{_name('orders')}"
    await _insert(backend, path, {"_id": "taken"})
    batch = {"operations": [
        {"type": "insert", "data": [{"_id": "new1"}, {"_id": "new2"}]},
        {"type": "insert", "data": {"_id": "taken"}},
    ]}  # fmt: skip
    async with backend.client() as client:
        refused = await client.post(f"{path}/batch", json=batch)
        left = await client.get(path)
    assert refused.status_code == 409
    assert [d["_id"] for d in left.json()["data"]] == ["taken"]


async def test_market_collections_read_as_data_serves_them_and_write_idempotently(
    backend: Backend,
) -> None:
    filter_ = _json({"open_time": {"$gte": T0, "$lt": T0 + 12 * FIVE_MIN}})
    async with backend.client(READER) as client:
        # The first read starts the store's reader processes: slow on a busy machine.
        generic = await client.get(
            "/api/v1/mongodb/candles_XRPUSDT_5m", params={"filter": filter_, "limit": 5},
            timeout=90,
        )  # fmt: skip
        data = await client.get(
            "/data/candles",
            params={
                "pair": "XRPUSDT",
                "period": "5m",
                "start": T0,
                "end": T0 + 12 * FIVE_MIN,
                "limit": 5,
            },  # fmt: skip
        )
        mysql_path = await client.get(
            "/api/v1/mysql/candles_XRPUSDT_5m", params={"filter": filter_, "limit": 5}
        )
        newest = await client.get(
            "/api/v1/mongodb/candles_XRPUSDT_5m",
            params={"sort": _json({"open_time": -1}), "fields": "open_time", "limit": 1},
        )
    assert generic.status_code == 200, generic.text
    body = generic.json()
    assert [c["open_time"] for c in body["data"]] == [T0 + i * FIVE_MIN for i in range(5)]
    first = body["data"][0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        1.1893, 1.1954, 1.1891, 1.1941,
    )  # fmt: skip
    assert first["open_time_iso"] == "2021-11-15T00:00:00.000Z"
    assert body["pagination"]["has_more"] is True
    assert mysql_path.json() == body == data.json()
    assert list(newest.json()["data"][0]) == ["open_time"]
    assert newest.json()["data"][0]["open_time"] > T0

    rows = body["data"][:2]
    async with backend.client() as client:
        again = await client.post("/api/v1/mongodb/candles_XRPUSDT_5m", json={"data": rows})
        bad_rows = [{**rows[0], "symbol": "BTCUSDT"}, {"open": 1}]
        wrong = await client.post("/api/v1/mongodb/candles_XRPUSDT_5m", json={"data": bad_rows})
        put = await client.put(
            "/api/v1/mongodb/candles_XRPUSDT_5m", json={"filter": {}, "data": {"open": 1}}
        )
        other_field = await client.get(
            "/api/v1/mongodb/candles_XRPUSDT_5m", params={"filter": _json({"close": 1})}
        )
    assert again.status_code == 201, again.text
    assert again.json()["data"]["inserted"] == 0
    assert again.json()["data"]["unchanged"] == 2
    assert wrong.status_code == 400
    assert [p["index"] for p in wrong.json()["error"]["invalid"]] == [0, 1]
    assert put.status_code == 405
    assert other_field.status_code == 400
    assert "open_time" in other_field.json()["error"]["message"]


async def test_metadata_tables_are_readable_never_writable(backend: Backend) -> None:
    async with backend.client() as client:
        datasets = await client.get(
            "/api/v1/mysql/datasets", params={"filter": _json({"symbol": "XRPUSDT"})}
        )
        written = await client.post("/api/v1/mysql/datasets", json={"data": {"id": "x"}})
        deleted = await client.delete("/api/v1/mysql/audit_logs", params={"filter": '{"id": 1}'})
    assert datasets.status_code == 200, datasets.text
    assert {d["id"] for d in datasets.json()["data"]} == {"candles:XRPUSDT:5m"}
    assert written.status_code == 405
    assert deleted.status_code == 405


@pytest.mark.parametrize(
    ("filter_", "named"),
    [
        ({"$where": "sleep(1000)"}, "$where"),
        ({"a": {"$function": {"body": "x"}}}, "$function"),
        ({"$expr": {"$gt": ["$a", 1]}}, "$expr"),
        ({"a": {"$elemMatch": {"b": 1}}}, "$elemMatch"),
        ({"a": {"$regex": "a" * 300}}, "$regex"),
        ({"a": {"$regex": "^(a+)+$"}}, "exponential"),
        ({"a; DROP TABLE documents": 1}, "field"),
        ({"a": {"b": 1}}, "dotted"),
    ],
)
async def test_a_filter_outside_the_allow_list_is_refused_naming_it(
    backend: Backend, filter_: dict[str, Any], named: str
) -> None:
    async with backend.client(READER) as client:
        response = await client.get("/api/v1/mysql/orders", params={"filter": _json(filter_)})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_filter"
    assert named in response.json()["error"]["message"]


async def test_emptying_a_collection_needs_all_and_an_admin_key(backend: Backend) -> None:
    path = f"/api/v1/mongodb/{_name('orders')}"
    await _insert(backend, path, [{"n": 1}, {"n": 2}])
    async with backend.client(WRITER) as writer, backend.client(ADMIN) as admin:
        no_filter = await writer.delete(path)
        not_admin = await writer.delete(path, params={"all": "true"})
        emptied = await admin.delete(path, params={"all": "true"})
    assert no_filter.status_code == 400
    assert not_admin.status_code == 403
    assert emptied.json()["data"] == {"deleted": 2}


async def test_reads_need_the_read_scope_and_writes_the_write_scope(backend: Backend) -> None:
    async with backend.client(READER) as reader, backend.api.client() as anonymous:
        read = await anonymous.get("/api/v1/mysql/orders")
        refused = await reader.post("/api/v1/mysql/orders", json={"data": {"a": 1}})
        nobody = await anonymous.post("/api/v1/mysql/orders", json={"data": {"a": 1}})
    assert read.status_code == 200
    assert refused.status_code == 403
    assert nobody.status_code == 401


ORDER_SCHEMA = {
    "type": "object",
    "required": ["qty"],
    "properties": {"qty": {"type": "number", "minimum": 0}, "side": {"enum": ["buy", "sell"]}},
}


async def test_a_batch_with_one_invalid_record_writes_nothing_and_names_every_invalid_index(
    backend: Backend,
) -> None:
    schema = _name("order")
    path = f"/api/v1/mysql/{_name('orders')}"
    records = [{"qty": 1}, {"qty": -1}, {"qty": 2, "side": "hold"}, {"side": "buy"}]
    async with backend.client() as client:
        registered = await client.post(f"/schemas/mysql/{schema}", json={"schema": ORDER_SCHEMA})
        assert registered.status_code in (200, 201), registered.text
        checked = {"schema": schema, "validate": "true"}
        refused = await client.post(f"{path}/batch", json={"data": records}, params=checked)
        after_refusal = await client.get(path)
        accepted = await client.post(path, json={"data": records[:1]}, params=checked)
        unknown = await client.post(
            path, json={"data": records[:1]}, params={"schema": _name("none"), "validate": "true"}
        )

    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "validation_failed"
    assert [entry["index"] for entry in error["invalid"]] == [1, 2, 3]
    pointers = [[e["pointer"] for e in entry["errors"]] for entry in error["invalid"]]
    assert pointers == [["/qty"], ["/side"], [""]]
    assert after_refusal.json()["data"] == []
    assert accepted.status_code == 201
    assert unknown.status_code == 404
