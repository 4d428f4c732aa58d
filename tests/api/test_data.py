"""GET /data/*: what a strategy or notebook reads back from recorded Binance data."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import polars as pl
import pytest

from petrosa_core.models import DatasetId, DatasetKind
from tests.api.conftest import XRP_5M, Api, Stores

T0 = 1_636_934_400_000  # first recorded XRPUSDT 5m open time, 2021-11-15T00:00Z


async def get_json(api: Api, path: str, **params: Any) -> dict[str, Any]:
    async with api.client() as client:
        response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_candles_come_back_in_time_order_with_iso_times_and_field_meanings(
    api: Api,
) -> None:
    body = await get_json(api, "/data/candles", pair="xrpusdt", period="5m", limit=2)

    first = body["data"][0]
    assert first["open_time"] == T0
    assert first["open_time_iso"] == "2021-11-15T00:00:00.000Z"
    assert first["close_time_iso"] == "2021-11-15T00:04:59.999Z"
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        1.1893, 1.1954, 1.1891, 1.1941,
    )  # fmt: skip
    assert [c["open_time"] for c in body["data"]] == [T0, T0 + 300_000]
    assert body["pagination"]["count"] == 2
    assert body["pagination"]["has_more"] is True
    assert body["fields"]["open_time"] == "Candle open time, epoch ms UTC"
    assert body["fields"]["open_time_iso"] == "open_time as ISO-8601 UTC"


async def test_a_window_given_in_iso_and_in_epoch_ms_selects_the_same_half_open_range(
    api: Api,
) -> None:
    iso = await get_json(
        api, "/data/candles", pair="XRPUSDT", period="5m",
        start="2021-11-15T00:00:00Z", end="2021-11-15T01:00:00+00:00",
    )  # fmt: skip
    epoch = await get_json(
        api, "/data/candles", pair="XRPUSDT", period="5m", start=T0, end=T0 + 3_600_000
    )

    assert iso["data"] == epoch["data"]
    assert [c["open_time"] for c in epoch["data"]] == [T0 + i * 300_000 for i in range(12)]


async def test_paging_with_cursors_walks_the_whole_range_without_loss_or_overlap(
    api: Api, stores: Stores
) -> None:
    expected = sorted(c.open_time for c in stores.written[XRP_5M])
    seen: list[int] = []
    cursor = None
    async with api.client() as client:
        while True:
            params = {"pair": "XRPUSDT", "period": "5m", "limit": 300}
            response = await client.get(
                "/data/candles", params=params | ({"cursor": cursor} if cursor else {})
            )
            page = response.json()
            seen += [c["open_time"] for c in page["data"]]
            cursor = page["pagination"]["next_cursor"]
            if cursor is None:
                break

    assert len(expected) == 1999
    assert seen == expected


async def test_paging_backwards_with_desc_order_returns_the_range_reversed(
    api: Api, stores: Stores
) -> None:
    expected = sorted((c.open_time for c in stores.written[XRP_5M]), reverse=True)
    seen: list[int] = []
    cursor = None
    async with api.client() as client:
        while True:
            params: dict[str, Any] = {"pair": "XRPUSDT", "period": "5m", "limit": 700}
            params["order"] = "desc"
            if cursor:
                params["cursor"] = cursor
            page = (await client.get("/data/candles", params=params)).json()
            seen += [c["open_time"] for c in page["data"]]
            if (cursor := page["pagination"]["next_cursor"]) is None:
                break

    assert seen == expected


async def test_offset_pages_match_cursor_pages(api: Api, stores: Stores) -> None:
    expected = sorted(c.open_time for c in stores.written[XRP_5M])
    seen: list[int] = []
    async with api.client() as client:
        for offset in range(0, 2400, 400):
            params = {"pair": "XRPUSDT", "period": "5m", "limit": 400, "offset": offset}
            page = (await client.get("/data/candles", params=params)).json()
            assert page["pagination"]["offset"] == offset
            seen += [c["open_time"] for c in page["data"]]

    assert seen == expected


async def test_the_old_sort_order_parameter_still_works(api: Api) -> None:
    body = await get_json(api, "/data/funding", pair="XRPUSDT", sort_order="desc", limit=1)

    assert body["data"][0]["funding_time"] == 1_639_785_600_014
    assert body["pagination"]["order"] == "desc"


async def test_trades_include_aggregate_and_raw_unless_filtered(api: Api, stores: Stores) -> None:
    written = stores.written[DatasetId.of(DatasetKind.TRADES, "SUSHIUSDT")]
    raw_ids = sorted(t.trade_id for t in written if t.trade_type == "raw")

    both = await get_json(api, "/data/trades", pair="SUSHIUSDT", limit=10_000)
    raw = await get_json(api, "/data/trades", pair="SUSHIUSDT", trade_type="raw")

    assert {t["trade_type"] for t in both["data"]} == {"agg", "raw"}
    assert len(both["data"]) == len({(t.trade_type, t.trade_id) for t in written})
    assert [t["trade_id"] for t in raw["data"]] == raw_ids == [126902924]


@pytest.mark.parametrize(
    ("path", "pair", "time_field"),
    [
        ("/data/depth", "SUSHIUSDT", "event_time"),
        ("/data/funding", "XRPUSDT", "funding_time"),
        ("/data/tickers", "AKROUSDT", "event_time"),
        ("/data/mark-prices", "SUSHIUSDT", "event_time"),
    ],
)
async def test_each_kind_is_served_with_every_stored_record(
    api: Api, stores: Stores, path: str, pair: str, time_field: str
) -> None:
    kind = {
        "/data/depth": DatasetKind.DEPTH,
        "/data/funding": DatasetKind.FUNDING_RATES,
        "/data/tickers": DatasetKind.TICKERS,
        "/data/mark-prices": DatasetKind.MARK_PRICES,
    }[path]
    written = stores.written[DatasetId.of(kind, pair)]

    body = await get_json(api, path, pair=pair, limit=10_000)

    assert [r[time_field] for r in body["data"]] == sorted({r.time for r in written})
    assert body["data"][0]["symbol"] == pair
    assert body["data"][0][f"{time_field}_iso"].endswith("Z")


async def test_depth_rows_carry_price_levels_as_pairs(api: Api) -> None:
    body = await get_json(api, "/data/depth", pair="SUSHIUSDT", limit=1)

    assert body["data"][0]["bids"][:2] == [[7.504, 813.0], [7.609, 0.0]]
    assert body["data"][0]["final_update_id"] == 600859600917


def csv_value(text: str, like: Any) -> Any:
    """A CSV cell read back as the type of the JSON value it should equal."""
    if like is None:
        assert text == ""
        return None
    if isinstance(like, bool):
        return text == "true"
    if isinstance(like, list):
        return json.loads(text)
    return type(like)(text)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/data/candles", {"pair": "XRPUSDT", "period": "5m", "limit": 1200}),
        ("/data/trades", {"pair": "SUSHIUSDT"}),
        ("/data/depth", {"pair": "AKROUSDT"}),
        ("/data/funding", {"pair": "XRPUSDT"}),
    ],
)
async def test_csv_rows_equal_the_json_rows(api: Api, path: str, params: dict[str, Any]) -> None:
    async with api.client() as client:
        as_json = (await client.get(path, params=params)).json()
        response = await client.get(path, params=params | {"format": "csv"})

    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    reader = csv.DictReader(io.StringIO(response.text))
    rows = list(reader)
    assert reader.fieldnames == list(as_json["fields"])
    assert len(rows) == len(as_json["data"])
    for row, expected in zip(rows, as_json["data"], strict=True):
        assert {k: csv_value(v, expected[k]) for k, v in row.items()} == expected


async def test_accept_header_picks_csv_and_the_next_cursor_comes_as_a_header(api: Api) -> None:
    async with api.client() as client:
        response = await client.get(
            "/data/candles",
            params={"pair": "XRPUSDT", "period": "5m", "limit": 5},
            headers={"Accept": "text/csv"},
        )
        following = await client.get(
            "/data/candles",
            params={"pair": "XRPUSDT", "period": "5m", "limit": 1,
                    "cursor": response.headers["x-next-cursor"]},
        )  # fmt: skip

    assert len(response.text.splitlines()) == 6
    assert following.json()["data"][0]["open_time"] == T0 + 5 * 300_000


def as_json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows of a Parquet or Arrow frame as the JSON answer writes them: times in epoch ms."""
    times = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime)]
    return frame.with_columns(pl.col(name).dt.epoch("ms") for name in times).to_dicts()


def without_iso(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if not k.endswith("_iso")} for row in rows]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/data/candles", {"pair": "XRPUSDT", "period": "5m", "limit": 1500}),
        ("/data/trades", {"pair": "CTKUSDT"}),
        ("/data/depth", {"pair": "KEEPUSDT"}),
    ],
)
async def test_parquet_read_back_with_polars_equals_the_json_rows(
    api: Api, path: str, params: dict[str, Any]
) -> None:
    async with api.client() as client:
        as_json = (await client.get(path, params=params)).json()
        response = await client.get(
            path, params=params, headers={"Accept": "application/vnd.apache.parquet"}
        )

    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    frame = pl.read_parquet(io.BytesIO(response.content))
    assert frame.columns == [name for name in as_json["fields"] if not name.endswith("_iso")]
    assert as_json_rows(frame) == without_iso(as_json["data"])


async def test_parquet_times_are_utc_millisecond_timestamps_and_levels_are_lists(api: Api) -> None:
    async with api.client() as client:
        response = await client.get(
            "/data/depth", params={"pair": "SUSHIUSDT", "limit": 1, "format": "parquet"}
        )

    frame = pl.read_parquet(io.BytesIO(response.content))
    assert frame.schema["event_time"] == pl.Datetime("ms", "UTC")
    assert frame.schema["bids"] == pl.List(pl.List(pl.Float64))
    assert frame["bids"][0].to_list()[:2] == [[7.504, 813.0], [7.609, 0.0]]


async def test_an_empty_page_in_parquet_keeps_its_typed_columns(api: Api) -> None:
    async with api.client() as client:
        response = await client.get(
            "/data/candles",
            params={"pair": "XRPUSDT", "period": "5m", "start": 0, "end": 1, "format": "parquet"},
        )

    frame = pl.read_parquet(io.BytesIO(response.content))
    assert frame.height == 0
    assert frame.schema["open_time"] == pl.Datetime("ms", "UTC")
    assert frame.schema["is_closed"] == pl.Boolean
