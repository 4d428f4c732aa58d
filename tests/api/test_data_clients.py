"""Data clients read the /data URLs directly: polars, pandas and pyarrow, value for value.

Each format is fetched by the client library itself from the running API (no download
step in between) and compared with the JSON answer of the same request. Also here: HEAD
on every data route, gzip, whole-range exports and the book tickers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import math
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from petrosa_core.models import DatasetId, DatasetKind
from tests.api.conftest import XRP_5M, Api, Stores

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ONE_MS = dt.timedelta(milliseconds=1)

# (path, params) of a page on every GET data route, each with stored records.
PAGES: list[tuple[str, dict[str, Any]]] = [
    ("/data/candles", {"pair": "XRPUSDT", "period": "5m", "limit": 700}),
    ("/data/trades", {"pair": "SUSHIUSDT"}),
    ("/data/depth", {"pair": "SUSHIUSDT", "limit": 50}),
    ("/data/funding", {"pair": "XRPUSDT"}),
    ("/data/tickers", {"pair": "AKROUSDT"}),
    ("/data/mark-prices", {"pair": "SUSHIUSDT"}),
    ("/data/book-tickers", {"pair": "SUSHIUSDT"}),
    ("/api/v1/klines", {"symbol": "XRPUSDT", "interval": "5m", "limit": 50}),
]
# Headers that differ between any two answers, whatever the method.
PER_RESPONSE = {"date", "x-request-id"}


def url(api: Api, path: str, params: dict[str, Any]) -> str:
    return f"{api.url}{path}?{urlencode(params)}"


async def json_rows(api: Api, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    async with api.client() as client:
        response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    assert rows, f"{path} has no rows to compare"
    return rows


def plain(value: Any) -> Any:
    """A client's value as JSON writes it: times in epoch ms, arrays as lists, NaN as null."""
    if isinstance(value, np.ndarray | list):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dt.datetime):
        return (value - EPOCH) // ONE_MS
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def from_csv(value: Any, like: Any) -> Any:
    """A CSV cell as typed by the client, read as the JSON value it should equal."""
    if isinstance(like, str) and isinstance(value, dt.datetime):
        # pyarrow reads the ISO column as timestamps: written back, it must be the same text.
        return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    value = plain(value)
    if isinstance(like, list) and isinstance(value, str):
        return json.loads(value)
    if isinstance(like, bool) and isinstance(value, str):
        return value == "true"
    return value


def assert_rows_equal(rows: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(rows) == len(expected)
    for row, wanted in zip(rows, expected, strict=True):
        assert row.keys() == wanted.keys()
        assert {k: from_csv(v, wanted[k]) for k, v in row.items()} == wanted


def without_iso(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if not k.endswith("_iso")} for row in rows]


def _polars_csv(address: str) -> list[dict[str, Any]]:
    # Depth levels are JSON text in CSV; polars would otherwise guess numbers for the ids.
    return pl.read_csv(address, infer_schema_length=None).to_dicts()


def _pandas_csv(address: str) -> list[dict[str, Any]]:
    # pandas' default float parser may miss the nearest double by one ulp; round_trip does not.
    frame = pd.read_csv(address, float_precision="round_trip")
    records: list[dict[str, Any]] = frame.to_dict("records")
    return records


def _pyarrow_csv(address: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(address) as body:
        options = pacsv.ConvertOptions(strings_can_be_null=True)
        rows: list[dict[str, Any]] = pacsv.read_csv(body, convert_options=options).to_pylist()
        return rows


CSV_READERS: dict[str, Callable[[str], list[dict[str, Any]]]] = {
    "polars": _polars_csv,
    "pandas": _pandas_csv,
    "pyarrow": _pyarrow_csv,
}


@pytest.mark.parametrize("reader", list(CSV_READERS))
@pytest.mark.parametrize(("path", "params"), PAGES)
async def test_csv_read_from_the_url_by_each_client_equals_the_json_rows(
    api: Api, path: str, params: dict[str, Any], reader: str
) -> None:
    expected = await json_rows(api, path, params)

    rows = await asyncio.to_thread(CSV_READERS[reader], url(api, path, params | {"format": "csv"}))

    assert_rows_equal(rows, expected)


def _polars_parquet(address: str) -> list[dict[str, Any]]:
    return pl.read_parquet(address).to_dicts()


def _pandas_parquet(address: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = pd.read_parquet(address).to_dict("records")
    return records


def _pyarrow_stream(address: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(address) as body:
        rows: list[dict[str, Any]] = pa.ipc.open_stream(body).read_all().to_pylist()
        return rows


def _polars_arrow(address: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(address) as body:
        return pl.read_ipc_stream(body).to_dicts()


TYPED_READERS: dict[str, tuple[str, Callable[[str], list[dict[str, Any]]]]] = {
    "polars parquet": ("parquet", _polars_parquet),
    "pandas parquet": ("parquet", _pandas_parquet),
    "pyarrow arrow": ("arrow", _pyarrow_stream),
    "polars arrow": ("arrow", _polars_arrow),
}


@pytest.mark.parametrize("reader", list(TYPED_READERS))
@pytest.mark.parametrize(("path", "params"), PAGES)
async def test_parquet_and_arrow_read_from_the_url_equal_the_json_rows(
    api: Api, path: str, params: dict[str, Any], reader: str
) -> None:
    expected = without_iso(await json_rows(api, path, params))
    fmt, read = TYPED_READERS[reader]

    rows = await asyncio.to_thread(read, url(api, path, params | {"format": fmt}))

    assert_rows_equal(rows, expected)


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet", "arrow"])
@pytest.mark.parametrize(("path", "params"), PAGES)
async def test_head_answers_every_data_route_with_the_headers_of_get_and_no_body(
    api: Api, path: str, params: dict[str, Any], fmt: str
) -> None:
    query = params | {"format": fmt, "limit": 3} if "limit" in params else params | {"format": fmt}
    async with api.client() as client:
        got = await client.get(path, params=query)
        head = await client.head(path, params=query)

    assert (got.status_code, head.status_code) == (200, 200)
    assert head.content == b""
    drop = PER_RESPONSE

    assert {k: v for k, v in head.headers.items() if k not in drop} == {
        k: v for k, v in got.headers.items() if k not in drop
    }


async def test_head_of_an_unknown_pair_is_the_404_of_get_without_a_body(api: Api) -> None:
    async with api.client() as client:
        head = await client.head("/data/candles", params={"pair": "NOPEUSDT", "period": "1m"})

    assert head.status_code == 404
    assert head.content == b""


async def _raw(api: Api, path: str, params: dict[str, Any], encoding: str) -> httpx.Response:
    """The response as sent, body still encoded: httpx would otherwise decode gzip."""
    async with api.client() as client:
        request = client.build_request(
            "GET", path, params=params, headers={"Accept-Encoding": encoding}
        )
        response = await client.send(request, stream=True)
        response._content = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
    return response


@pytest.mark.parametrize("fmt", ["json", "csv", "arrow"])
async def test_gzip_is_sent_when_the_client_accepts_it_and_decodes_to_the_plain_body(
    api: Api, fmt: str
) -> None:
    params = {"pair": "XRPUSDT", "period": "5m", "limit": 500, "format": fmt}

    plain_body = await _raw(api, "/data/candles", params, "identity")
    zipped = await _raw(api, "/data/candles", params, "gzip, deflate")

    assert "content-encoding" not in plain_body.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(zipped.content) == plain_body.content
    assert len(zipped.content) < len(plain_body.content) / 2


async def test_parquet_is_never_gzipped_again(api: Api) -> None:
    params = {"pair": "XRPUSDT", "period": "5m", "limit": 500, "format": "parquet"}

    response = await _raw(api, "/data/candles", params, "gzip")

    assert "content-encoding" not in response.headers
    assert response.content.startswith(b"PAR1")


EXPORT = {"pair": "XRPUSDT", "period": "5m", "all": "true"}


async def _all_pages(api: Api) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    async with api.client() as client:
        while True:
            params = {"pair": "XRPUSDT", "period": "5m", "limit": 400}
            page = (
                await client.get(
                    "/data/candles", params=params | ({"cursor": cursor} if cursor else {})
                )
            ).json()
            rows += page["data"]
            if (cursor := page["pagination"]["next_cursor"]) is None:
                return rows


async def test_an_export_streams_the_whole_range_in_every_file_format(
    api: Api, stores: Stores
) -> None:
    expected = await _all_pages(api)
    address = url(api, "/data/candles", EXPORT)

    csv_rows = await asyncio.to_thread(_pandas_csv, f"{address}&format=csv")
    parquet_rows = await asyncio.to_thread(_pandas_parquet, f"{address}&format=parquet")
    arrow_rows = await asyncio.to_thread(_pyarrow_stream, f"{address}&format=arrow")

    assert len(expected) == len({c.open_time for c in stores.written[XRP_5M]}) == 1999
    assert_rows_equal(csv_rows, expected)
    assert_rows_equal(parquet_rows, without_iso(expected))
    assert_rows_equal(arrow_rows, without_iso(expected))


async def test_an_export_is_gzipped_as_one_stream_when_accepted(api: Api) -> None:
    plain_body = await _raw(api, "/data/candles", EXPORT | {"format": "csv"}, "identity")
    zipped = await _raw(api, "/data/candles", EXPORT | {"format": "csv"}, "gzip")

    assert zipped.headers["content-encoding"] == "gzip"
    assert plain_body.headers["transfer-encoding"] == "chunked"
    assert gzip.decompress(zipped.content) == plain_body.content
    assert plain_body.content.count(b"\n") == 2000  # the header line and 1999 candles


async def test_a_window_limits_the_export_and_head_reads_nothing(api: Api) -> None:
    window = EXPORT | {"format": "csv", "start": 1_636_934_400_000, "end": 1_636_935_000_000}
    async with api.client() as client:
        got = await client.get("/data/candles", params=window)
        head = await client.head("/data/candles", params=window)

    assert got.text.splitlines()[1].startswith("XRPUSDT,5m,1636934400000,")
    assert len(got.text.splitlines()) == 3
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-disposition"] == got.headers["content-disposition"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"format": "json"}, "all=true streams csv, parquet or arrow"),
        ({"format": "csv", "limit": 5}, "drop limit"),
        ({"format": "csv", "cursor": "MTYzNjkzNDcwMDAwMA"}, "drop cursor"),
        ({"format": "parquet", "offset": 3}, "drop offset"),
        ({"format": "arrow", "order": "desc"}, "ascending time order only"),
    ],
)
async def test_an_export_with_paging_or_json_is_a_clear_400(
    api: Api, extra: dict[str, Any], message: str
) -> None:
    async with api.client() as client:
        response = await client.get("/data/candles", params=EXPORT | extra)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_export"
    assert message in response.json()["error"]["message"]


async def test_an_export_of_an_unknown_pair_is_a_404_before_any_byte(api: Api) -> None:
    async with api.client() as client:
        response = await client.get(
            "/data/candles", params=EXPORT | {"pair": "NOPEUSDT", "format": "csv"}
        )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_dataset"


@pytest.mark.parametrize("pair", ["SUSHIUSDT", "CTKUSDT", "AKROUSDT", "KEEPUSDT"])
async def test_book_tickers_are_served_with_every_stored_record(
    api: Api, stores: Stores, pair: str
) -> None:
    written = stores.written[DatasetId.of(DatasetKind.BOOK_TICKERS, pair)]

    rows = await json_rows(api, "/data/book-tickers", {"pair": pair, "limit": 10_000})

    stored = {(b.event_time, b.update_id): b for b in written}
    assert [(r["event_time"], r["update_id"]) for r in rows] == sorted(stored)
    first = stored[min(stored)]
    assert (rows[0]["bid_price"], rows[0]["ask_quantity"]) == (first.bid_price, first.ask_quantity)
    assert rows[0]["transaction_time_iso"].endswith("Z")


DATA_PATHS = [path for path, _ in PAGES]


async def test_the_openapi_document_names_the_formats_headers_and_exports(api: Api) -> None:
    async with api.client() as client:
        document = (await client.get("/openapi.json")).json()

    for path in DATA_PATHS:
        operation = document["paths"][path]["get"]
        success, limited = operation["responses"]["200"], operation["responses"]["429"]
        parameters = {p["name"]: p for p in operation["parameters"]}
        assert {"X-Next-Cursor", "X-Request-ID", "Content-Encoding"} <= success["headers"].keys()
        assert "Retry-After" in limited["headers"]
        assert {
            "application/json",
            "text/csv",
            "application/vnd.apache.parquet",
            "application/vnd.apache.arrow.stream",
        } <= success["content"].keys()
        [fmt] = [s for s in parameters["format"]["schema"]["anyOf"] if s.get("enum")]
        assert fmt["enum"] == ["json", "csv", "parquet", "arrow"]
        assert parameters["all"]["schema"]["type"] == "boolean"


PAGE = {"pair": "XRPUSDT", "period": "5m", "limit": 200}


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet", "arrow"])
async def test_byte_ranges_of_a_page_put_together_make_the_whole_body(api: Api, fmt: str) -> None:
    params = PAGE | {"format": fmt}
    async with api.client() as client:
        whole = await client.get(
            "/data/candles", params=params, headers={"Accept-Encoding": "identity"}
        )
        size = len(whole.content)
        spans = [(0, 99), (100, size - 11), (size - 10, size + 500)]
        parts = [
            await client.get(
                "/data/candles",
                params=params,
                headers={"Range": f"bytes={a}-{b}", "If-Range": whole.headers["etag"]},
            )
            for a, b in spans
        ]
        suffix = await client.get("/data/candles", params=params, headers={"Range": "bytes=-10"})

    assert whole.headers["accept-ranges"] == "bytes"
    assert [p.status_code for p in parts] == [206, 206, 206]
    assert parts[2].headers["content-range"] == f"bytes {size - 10}-{size - 1}/{size}"
    assert b"".join(p.content for p in parts) == whole.content
    assert suffix.content == whole.content[-10:]
    assert all("content-encoding" not in p.headers for p in parts)


async def test_a_range_past_the_end_is_a_416_naming_the_size(api: Api) -> None:
    async with api.client() as client:
        whole = await client.get(
            "/data/candles", params=PAGE, headers={"Accept-Encoding": "identity"}
        )
        response = await client.get(
            "/data/candles", params=PAGE, headers={"Range": f"bytes={len(whole.content)}-"}
        )

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(whole.content)}"
    assert response.json()["error"]["code"] == "range_not_satisfiable"


@pytest.mark.parametrize(
    "header", ["bytes=0-5,10-20", "items=0-5", "bytes=abc-", "bytes=9-3", "bytes=-"]
)
async def test_a_range_the_api_does_not_serve_gets_the_whole_body(api: Api, header: str) -> None:
    async with api.client() as client:
        whole = await client.get("/data/candles", params=PAGE)
        response = await client.get("/data/candles", params=PAGE, headers={"Range": header})

    assert response.status_code == 200
    assert response.content == whole.content


async def test_a_stale_if_range_or_a_matching_if_none_match_is_honoured(api: Api) -> None:
    async with api.client() as client:
        whole = await client.get("/data/candles", params=PAGE)
        stale = await client.get(
            "/data/candles", params=PAGE, headers={"Range": "bytes=0-9", "If-Range": '"0"'}
        )
        unchanged = await client.get(
            "/data/candles",
            params=PAGE,
            headers={"If-None-Match": f'"other",W/{whole.headers["etag"]}'},
        )
        other_page = await client.get("/data/candles", params=PAGE | {"limit": 201})

    assert stale.status_code == 200 and stale.content == whole.content
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == whole.headers["etag"] != other_page.headers["etag"]
