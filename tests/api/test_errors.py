"""Bad input is a 4xx in one JSON shape that says what is wrong; every answer has a request id."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api

CANDLES = {"pair": "XRPUSDT", "period": "5m"}


@pytest.mark.parametrize(
    ("path", "params", "status", "code", "message"),
    [
        (
            "/data/candles", {"pair": "BTCUSDT", "period": "5m"}, 404, "unknown_dataset",
            "no dataset candles:BTCUSDT:5m: nothing is stored or registered for it; "
            "GET /catalog/datasets lists the datasets that exist",
        ),
        (
            "/data/candles", {"pair": "XRPUSDT", "period": "7m"}, 422, "invalid_request",
            "query.period: Input should be '1m', '3m', '5m', '15m', '30m', '1h', '2h', "
            "'4h', '6h', '8h', '12h', '1d', '3d', '1w' or '1M'",
        ),
        (
            "/data/trades", {"pair": "BTC/USDT"}, 422, "invalid_request",
            "query.pair: String should match pattern '^[A-Za-z0-9_]{1,32}$'",
        ),
        (
            "/data/candles", CANDLES | {"start": "2021-11-16", "end": "2021-11-15"}, 400,
            "bad_range", "start 1637020800000 is after end 1636934400000",
        ),
        (
            "/data/candles", CANDLES | {"limit": 10_001}, 422, "invalid_request",
            "query.limit: Input should be less than or equal to 10000",
        ),
        (
            "/data/candles", CANDLES | {"limit": 0}, 422, "invalid_request",
            "query.limit: Input should be greater than or equal to 1",
        ),
        (
            "/data/candles", CANDLES | {"end": "yesterday"}, 400, "bad_time",
            "end 'yesterday' is neither epoch milliseconds nor ISO-8601",
        ),
        (
            "/data/candles", CANDLES | {"start": "99999999999999999999"}, 400, "bad_time",
            "start '99999999999999999999' is outside 1970-01-01 .. 9999-12-31 (UTC)",
        ),
        (
            "/data/candles", CANDLES | {"cursor": "bm9wZQ"}, 400, "bad_cursor",
            "the cursor was not issued for this dataset",
        ),
        (
            "/data/candles", CANDLES | {"cursor": "MTYzNjkzNDcwMDAwMA", "offset": 5}, 400,
            "bad_pagination", "give cursor or offset, not both",
        ),
        (
            "/data/funding", {"pair": "XRPUSDT", "format": "xml"}, 422, "invalid_request",
            "query.format: Input should be 'json', 'csv' or 'parquet'",
        ),
        (
            "/catalog/datasets/candles:XRPUSDT", {}, 400, "missing_interval",
            "'candles:XRPUSDT' is not a dataset id (candles need an interval); use "
            "kind:SYMBOL[:interval] with kind one of candles, trades, depth, mark_prices, "
            "funding_rates, tickers, book_tickers, e.g. candles:BTCUSDT:1m",
        ),
        (
            "/catalog/lineage/trades:NOPEUSDT", {}, 404, "unknown_dataset",
            "no dataset trades:NOPEUSDT: nothing is stored or registered for it; "
            "GET /catalog/datasets lists the datasets that exist",
        ),
        ("/backfill/jobs/nope", {}, 404, "unknown_job", "no backfill job 'nope'"),
        ("/health", {"pair": "NOPEUSDT"}, 404, "unknown_pair",
         "no dataset of NOPEUSDT; see GET /catalog/datasets"),
        ("/no/such/thing", {}, 404, "not_found", "no such endpoint: GET /no/such/thing; see /docs"),
    ],
)  # fmt: skip
async def test_bad_input_answers_a_clear_4xx(
    api: Api, path: str, params: dict[str, Any], status: int, code: str, message: str
) -> None:
    async with api.client() as client:
        response = await client.get(path, params=params)

    assert response.status_code == status
    assert response.json() == {
        "error": {"code": code, "message": message, "request_id": response.headers["x-request-id"]}
    }


async def test_a_wrong_method_is_a_405_in_the_same_shape(api: Api) -> None:
    async with api.client() as client:
        response = await client.delete("/data/candles")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.json()["error"]["message"] == "DELETE is not allowed on /data/candles"


async def test_a_registered_dataset_without_data_is_an_empty_page_not_a_404(api: Api) -> None:
    async with api.client() as client:
        response = await client.get("/data/candles", params={"pair": "BTCUSDT", "period": "1h"})

    assert response.status_code == 200
    assert response.json()["data"] == []


async def test_the_callers_request_id_is_echoed_and_a_fresh_one_is_made_otherwise(
    api: Api,
) -> None:
    async with api.client() as client:
        given = await client.get("/health/liveness", headers={"X-Request-ID": "trace-42"})
        made = await client.get("/health/liveness")
        unsafe = await client.get("/health/liveness", headers={"X-Request-ID": "a b\tc"})

    assert given.headers["x-request-id"] == "trace-42"
    assert len(made.headers["x-request-id"]) == 32
    assert unsafe.headers["x-request-id"] not in ("a b\tc", made.headers["x-request-id"])


async def test_metrics_count_requests_durations_and_errors(api: Api) -> None:
    async with api.client() as client:
        await client.get("/data/candles", params={"pair": "XRPUSDT", "period": "5m", "limit": 1})
        await client.get("/data/candles", params={"pair": "XRPUSDT", "period": "5m", "limit": 0})
        text = (await client.get("/metrics")).text

    assert 'data_manager_requests_total{endpoint="/data/candles",method="GET",status="200"}' in text
    assert 'data_manager_request_duration_seconds_bucket{endpoint="/data/candles"' in text
    assert 'data_manager_errors_total{code="invalid_request"}' in text
