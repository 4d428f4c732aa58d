"""Bad input is a 4xx in one JSON shape that says what is wrong; every answer has a request id."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import httpx
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
            "/data/trades", {"pair": "BTC/USDT"}, 400, "bad_symbol",
            "'BTC/USDT' is not a Binance symbol",
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
            "query.format: Input should be 'json', 'csv', 'parquet' or 'arrow'",
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


# One dataset with data behind every /data endpoint.
DATA_ENDPOINTS = [
    ("/data/candles", CANDLES),
    ("/data/trades", {"pair": "SUSHIUSDT"}),
    ("/data/depth", {"pair": "SUSHIUSDT"}),
    ("/data/funding", {"pair": "XRPUSDT"}),
    ("/data/tickers", {"pair": "AKROUSDT"}),
    ("/data/mark-prices", {"pair": "SUSHIUSDT"}),
]


def _parts(cursor: str) -> list[str]:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split(":")


def _token(parts: list[str]) -> str:
    return base64.urlsafe_b64encode(":".join(parts).encode()).decode().rstrip("=")


def _with_numbers(value: str) -> Callable[[str], str]:
    """A forger that puts ``value`` in place of every number the real cursor holds."""
    return lambda cursor: _token([value if p.isdigit() else p for p in _parts(cursor)])


# A cursor is opaque to clients, but nothing stops one from decoding and editing it.
FORGERIES: dict[str, Callable[[str], str]] = {
    "after year 9999": lambda c: _token(["253402300800000", *_parts(c)[1:]]),
    "past int64": _with_numbers(str(2**63)),
    "below int64": _with_numbers(str(-(2**63) - 1)),
    "a hundred digits": _with_numbers("9" * 100),
    "not ascii": lambda c: base64.urlsafe_b64encode(b"\xff\xfe:1").decode(),
    "garbage": lambda c: "not-a-cursor",
}


async def issued_cursor(client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> str:
    """A cursor as the endpoint issues it: the next page's, or one naming its only record."""
    page = (await client.get(path, params=params | {"limit": 1})).json()
    if cursor := page["pagination"]["next_cursor"]:
        return str(cursor)
    return _token([str(page["data"][0]["event_time"])])  # tickers, mark prices: time only


@pytest.mark.parametrize("forgery", list(FORGERIES))
@pytest.mark.parametrize(("path", "params"), DATA_ENDPOINTS)
async def test_a_forged_cursor_is_a_bad_cursor_on_every_data_endpoint(
    api: Api, path: str, params: dict[str, Any], forgery: str
) -> None:
    async with api.client() as client:
        cursor = FORGERIES[forgery](await issued_cursor(client, path, params))
        response = await client.get(path, params=params | {"cursor": cursor})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_cursor"
    request_id = response.headers["x-request-id"]
    assert not [e for e in api.logs if e.get("request_id") == request_id and "exception" in e]


@pytest.mark.parametrize(("path", "params"), DATA_ENDPOINTS)
async def test_offset_and_limit_together_stay_within_ten_thousand_records(
    api: Api, path: str, params: dict[str, Any]
) -> None:
    async with api.client() as client:
        within = await client.get(path, params=params | {"offset": 9_000, "limit": 1_000})
        beyond = await client.get(path, params=params | {"offset": 9_001, "limit": 1_000})
        far = await client.get(path, params=params | {"offset": 1_000_000})

    assert within.status_code == 200
    assert (beyond.status_code, far.status_code) == (400, 400)
    assert beyond.json()["error"] == {
        "code": "offset_too_large",
        "message": "offset + limit may be at most 10000; to read further, page with "
        "cursor= set to the previous page's next_cursor",
        "request_id": beyond.headers["x-request-id"],
    }


@pytest.mark.parametrize("symbol", ["ßUSDT", "xrpusdtß", "../XRPUSDT", "XRPUSDT%2F..", "A" * 28])
@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/data/candles", {"period": "5m"}, "pair"),
        ("/data/trades", {}, "pair"),
        ("/data/funding", {}, "pair"),
        ("/health", {}, "pair"),
        ("/health", {"period": "5m"}, "pair"),
        ("/catalog/datasets", {}, "symbol"),
        ("/backfill/jobs", {}, "symbol"),
    ],
)
async def test_a_symbol_that_is_not_a_binance_symbol_is_a_bad_symbol(
    api: Api, path: str, params: dict[str, Any], name: str, symbol: str
) -> None:
    async with api.client() as client:
        response = await client.get(path, params=params | {name: symbol})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_symbol"


@pytest.mark.parametrize("path", ["/catalog/datasets", "/backfill/jobs"])
async def test_only_ascii_letters_are_upper_cased_into_a_symbol(api: Api, path: str) -> None:
    """``"ſ".upper()`` is ``"S"`` and ``"ß".upper()`` is ``"SS"``: neither may reach a pair."""
    async with api.client() as client:
        plain = await client.get(path, params={"symbol": "xrpusdt"})
        folded = [await client.get(path, params={"symbol": s}) for s in ("xrpuſdt", "xrpußdt")]

    assert {d["symbol"] for d in plain.json()["data"]} == {"XRPUSDT"}
    assert [r.status_code for r in folded] == [400, 400]


@pytest.mark.parametrize("route", ["datasets", "schemas", "lineage"])
@pytest.mark.parametrize(
    ("dataset_id", "code"),
    [
        ("candles:XRPUSDT:5m:extra", "bad_dataset_id"),
        ("candles:XRPUSDTß:5m", "bad_symbol"),
        ("trades:ẞUSDT", "bad_symbol"),
    ],
)
async def test_a_catalog_id_with_extra_parts_or_a_non_ascii_symbol_is_a_400(
    api: Api, route: str, dataset_id: str, code: str
) -> None:
    async with api.client() as client:
        response = await client.get(f"/catalog/{route}/{dataset_id}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
