"""Request bodies: the key is checked before a byte is read, and size and nesting are capped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.conftest import READER, WRITER, Api, Launch

MIB = 1 << 20
DEFAULT_CAP = MIB
REQUEST = {
    "symbol": "XRPUSDT",
    "data_type": "candles",
    "interval": "5m",
    "start": 1_636_934_400_000,
    "end": 1_637_020_800_000,
}
# A refusal that does not wait for the body arrives in milliseconds; a read of it never does.
ANSWER_TIMEOUT = 5.0


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


async def _read_answer(reader: asyncio.StreamReader) -> Answer:
    status = int((await reader.readline()).split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:
        return Answer(status, headers, None)  # streamed: the status is what matters here
    body = await reader.readexactly(int(headers["content-length"]))
    if not headers.get("content-type", "").startswith("application/json"):
        return Answer(status, headers, None)  # a page of CSV: the status is what matters
    return Answer(status, headers, json.loads(body))


async def post_partly(
    api: Api, declared: int, sent: int, target: str = "POST /backfill/start", **headers: str
) -> Answer:
    """Declare a ``declared``-byte body, send ``sent`` bytes of it, then wait for the answer.

    The rest of the body is never sent: an answer proves the API did not wait to read it.
    """
    url = urlsplit(api.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = {"Host": url.netloc, "Content-Type": "application/json"} | headers
    lines = [f"{target} HTTP/1.1", f"Content-Length: {declared}"]
    lines += [f"{name}: {value}" for name, value in head.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + b"[" + b"0," * (sent // 2))
    try:
        await writer.drain()
        async with asyncio.timeout(ANSWER_TIMEOUT):
            return await _read_answer(reader)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def streamed(body: bytes, piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    """``body`` sent in pieces with no Content-Length (chunked transfer encoding)."""
    for begin in range(0, len(body), piece):
        yield body[begin : begin + piece]


async def post_body(api: Api, content: Any, **headers: str) -> httpx.Response:
    async with api.client() as client:
        return await client.post(
            "/backfill/start",
            content=content,
            headers={"Content-Type": "application/json", **headers},
        )


def padded(size: int) -> bytes:
    """A valid backfill request padded with trailing whitespace to exactly ``size`` bytes."""
    return json.dumps(REQUEST).encode().ljust(size)


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "guess-0000-aaaaaaaaaaaa"}, {"X-API-Key": READER}],
    ids=["no key", "wrong key", "read-only key"],
)
async def test_a_huge_body_without_a_write_key_is_refused_before_it_is_read(
    keyed: Api, headers: dict[str, str]
) -> None:
    answer = await post_partly(keyed, declared=27 * MIB, sent=64 * 1024, **headers)

    assert answer.status in (401, 403)
    assert answer.body["error"]["code"] in (
        "missing_api_key",
        "invalid_api_key",
        "insufficient_scope",
    )


async def test_every_route_with_a_body_checks_the_key_before_reading_it(keyed: Api) -> None:
    async with keyed.client() as client:
        document = (await client.get("/openapi.json")).json()
    targets = [
        f"{method.upper()} {_filled(path)}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]

    # The generic and raw APIs read their bodies themselves (the shape depends on the
    # collection, or is the original's string form).
    targets += [
        "POST /api/v1/mysql/orders",
        "PUT /api/v1/mysql/orders",
        "POST /api/v1/mysql/orders/batch",
        "POST /api/v1/raw/mysql",
        "POST /api/v1/raw/mongodb",
    ]
    answers = [await post_partly(keyed, 27 * MIB, 64 * 1024, target) for target in targets]

    # Every writer of the suite: backfills, the schema registry, the generic and raw APIs.
    assert {"POST /backfill/start", "POST /schemas/mongodb/candle_v1"} <= set(targets)
    assert "POST /api/v1/raw/mysql" in targets
    # Checking a record or a schema is a read, open here: those refuse the declared size.
    reads = {"POST /schemas/validate", "POST /schemas/compatibility"}
    expected = {t: 413 if t in reads else 401 for t in targets}
    assert {t: a.status for t, a in zip(targets, answers, strict=True)} == expected


# Path parameters of the body routes, filled with values each route accepts.
_PATH_VALUES = {
    "{database}": "mysql",
    "{collection}": "orders",
    "{name}": "candle_v1",
    "{version}": "1",
}


def _filled(path: str) -> str:
    for placeholder, value in _PATH_VALUES.items():
        path = path.replace(placeholder, value)
    return path.replace("/schemas/mysql/candle_v1", "/schemas/mongodb/candle_v1")


@pytest.mark.parametrize("data_format", ["json", "csv"])
async def test_a_body_sent_to_a_route_that_takes_none_is_never_read(
    keyed: Api, data_format: str
) -> None:
    target = f"GET /data/candles?pair=XRPUSDT&period=5m&limit=2&format={data_format}"

    answer = await post_partly(keyed, 27 * MIB, 64 * 1024, target)

    assert answer.status == 200
    assert not [e for e in keyed.logs if e.get("level") == "ERROR"]


async def test_a_body_declared_larger_than_the_cap_is_refused_before_it_is_read(
    keyed: Api,
) -> None:
    answer = await post_partly(keyed, declared=2 * MIB, sent=64 * 1024, **{"X-API-Key": WRITER})

    assert answer.status == 413
    assert answer.body["error"]["code"] == "body_too_large"
    assert answer.body["error"]["message"] == (
        f"the request body is larger than {DEFAULT_CAP} bytes (API_MAX_BODY_BYTES)"
    )
    assert answer.body["error"]["request_id"] == answer.headers["x-request-id"]


async def test_a_streamed_body_is_cut_off_at_the_cap(keyed: Api) -> None:
    at_cap = await post_body(keyed, streamed(padded(DEFAULT_CAP)), **{"X-API-Key": WRITER})
    past_cap = await post_body(keyed, streamed(padded(DEFAULT_CAP + 1)), **{"X-API-Key": WRITER})

    assert at_cap.json()["error"]["code"] == "backfill_unavailable"  # read, parsed, passed on
    assert past_cap.status_code == 413
    assert past_cap.json()["error"]["code"] == "body_too_large"


async def test_the_body_cap_is_a_setting(launch: Launch) -> None:
    api = await launch(API_KEYS=f"{WRITER}:read+write", API_MAX_BODY_BYTES="4096")

    at_cap = await post_body(api, padded(4096), **{"X-API-Key": WRITER})
    past_cap = await post_body(api, padded(4097), **{"X-API-Key": WRITER})
    streamed_past = await post_body(api, streamed(padded(4097), 1000), **{"X-API-Key": WRITER})

    assert at_cap.json()["error"]["code"] == "backfill_unavailable"
    assert (past_cap.status_code, streamed_past.status_code) == (413, 413)
    assert past_cap.json()["error"]["message"] == (
        "the request body is larger than 4096 bytes (API_MAX_BODY_BYTES)"
    )


def nested(levels: int) -> Any:
    return [] if levels == 1 else [nested(levels - 1)]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({**REQUEST, "symbol": nested(32)}).encode(),
    ],
    ids=["100000 arrays", "33 levels"],
)
async def test_a_deeply_nested_body_is_refused_quickly(keyed: Api, body: bytes) -> None:
    started = time.perf_counter()
    response = await post_body(keyed, body, **{"X-API-Key": WRITER})
    elapsed = time.perf_counter() - started

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_deep"
    assert response.json()["error"]["message"] == (
        "the JSON body nests deeper than 32 levels of arrays and objects"
    )
    assert elapsed < 1.0
    request_id = response.headers["x-request-id"]
    assert not [e for e in keyed.logs if e.get("request_id") == request_id and "exception" in e]


async def test_a_body_just_inside_the_depth_cap_is_parsed(keyed: Api) -> None:
    body = json.dumps({**REQUEST, "symbol": nested(31)}).encode()
    response = await post_body(keyed, body, **{"X-API-Key": WRITER})

    assert response.json()["error"]["code"] == "bad_symbol"


async def test_a_body_that_is_not_json_is_a_422_saying_what_to_send(keyed: Api) -> None:
    response = await post_body(keyed, b"symbol=XRPUSDT", **{"X-API-Key": WRITER})

    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "body: send a JSON object with Content-Type: application/json"
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [(True, "true"), (False, "false"), (1.5, "1.5"), (None, "null"), ("soon", "'soon'")],
)
async def test_a_time_that_is_not_epoch_ms_or_iso_text_is_a_bad_time(
    keyed: Api, value: Any, shown: str
) -> None:
    body = json.dumps({**REQUEST, "start": value}).encode()
    response = await post_body(keyed, body, **{"X-API-Key": WRITER})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_time"
    assert response.json()["error"]["message"] == (
        f"start {shown} is neither epoch milliseconds nor ISO-8601"
    )


@pytest.mark.parametrize("symbol", ["ßUSDT", "XRPUSDT/../x", "A" * 28, "XRP USDT", ""])
async def test_a_backfill_symbol_follows_the_binance_symbol_rule(keyed: Api, symbol: str) -> None:
    body = json.dumps({**REQUEST, "symbol": symbol}).encode()
    response = await post_body(keyed, body, **{"X-API-Key": WRITER})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_symbol"
