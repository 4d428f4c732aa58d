"""The fake Binance exchange answers like Binance: rows, weights, limits, errors, faults."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.binance_data import (
    FUNDING_PERIOD_MS,
    HOUR_MS,
    MINUTE_MS,
    agg_trade_time,
    first_agg_id_at,
    generated_agg_trade,
    generated_funding,
    generated_kline,
    listing_time,
    read_csv,
)
from tests.fakes.binance_exchange import FakeBinance, ManualClock
from tests.harness.servers import free_port, wait_for_port

KLINES = "/fapi/v1/klines"
FUNDING = "/fapi/v1/fundingRate"
AGG_TRADES = "/fapi/v1/aggTrades"
DEPTH = "/fapi/v1/depth"
WEIGHT = "X-MBX-USED-WEIGHT-1M"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock() -> ManualClock:
    # 0.25 s into a 10-second window, so weight sums never straddle a reset.
    return ManualClock(1_700_000_000.25)


@pytest.fixture
def fake(shared_data: Path, clock: ManualClock) -> Iterator[FakeBinance]:
    with FakeBinance(
        data_dir=shared_data, window=10.0, clock=clock, unknown_symbols={"NOPEUSDT"}
    ) as exchange:
        yield exchange


@pytest.fixture
def http(fake: FakeBinance) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, timeout=5.0) as client:
        yield client


def test_serves_the_recorded_xrpusdt_5m_candles_verbatim(
    http: httpx.Client, shared_data: Path
) -> None:
    recorded = read_csv(shared_data / "xrpusdt_perp_5m_klines.csv")
    first = http.get(
        KLINES, params={"symbol": "XRPUSDT", "interval": "5m", "startTime": 0, "limit": 1500}
    ).json()
    rest = http.get(
        KLINES,
        params={
            "symbol": "XRPUSDT",
            "interval": "5m",
            "startTime": first[-1][0] + 1,
            "limit": 1500,
        },
    ).json()
    rows = first + rest
    assert [r[:6] for r in rows] == [
        [int(c["open_time_ms"]), c["open"], c["high"], c["low"], c["close"], c["volume"]]
        for c in recorded
    ]
    assert all(r[6] == r[0] + 5 * MINUTE_MS - 1 and r[11] == "0" for r in rows)
    assert {tuple(type(v).__name__ for v in r) for r in rows} == {
        ("int", "str", "str", "str", "str", "str", "int", "str", "int", "str", "str", "str")
    }


def test_derives_missing_kline_fields_from_the_recorded_ones(http: httpx.Client) -> None:
    row = http.get(
        KLINES,
        params={"symbol": "XRPUSDT", "interval": "5m", "startTime": 1636934400000, "limit": 1},
    ).json()[0]
    # volume 9289043.5, open 1.1893, close 1.1941: quote = volume * (open + close) / 2
    assert row == [
        1636934400000,
        "1.1893",
        "1.1954",
        "1.1891",
        "1.1941",
        "9289043.5",
        1636934699999,
        "11069753.13895000",
        1 + 9289043 % 4999,
        "4644521.75000000",
        "5534876.56947500",
        "0",
    ]


def test_klines_window_rules(http: httpx.Client) -> None:
    def opens(**params: int) -> list[int]:
        rows = http.get(KLINES, params={"symbol": "XRPUSDT", "interval": "1h", **params}).json()
        return [r[0] for r in rows]

    first, last = 1637110800000, 1637467200000
    assert opens(startTime=first + 1, endTime=first + 3 * HOUR_MS, limit=10) == [
        first + HOUR_MS,
        first + 2 * HOUR_MS,
        first + 3 * HOUR_MS,
    ]
    assert opens(endTime=first + HOUR_MS, limit=5) == [first, first + HOUR_MS]
    assert opens(limit=2) == [last - HOUR_MS, last]
    assert len(opens()) == 100


def test_serves_the_recorded_funding_rates(http: httpx.Client, shared_data: Path) -> None:
    recorded = read_csv(shared_data / "xrpusdt_perp_funding_rates.csv")
    rows = http.get(FUNDING, params={"symbol": "XRPUSDT", "startTime": 0, "limit": 1000}).json()
    assert rows == [
        {
            "symbol": "XRPUSDT",
            "fundingTime": int(r["funding_time_ms"]),
            "fundingRate": r["funding_rate"],
            "markPrice": "",
        }
        for r in recorded
    ]
    assert http.get(FUNDING, params={"symbol": "XRPUSDT", "limit": 2}).json() == rows[-2:]
    assert len(http.get(FUNDING, params={"symbol": "NEWCOINUSDT", "startTime": 0}).json()) == 100


@pytest.mark.parametrize(
    ("path", "params", "weight"),
    [
        (KLINES, {"limit": 99}, 1),
        (KLINES, {"limit": 100}, 2),
        (KLINES, {}, 5),
        (KLINES, {"limit": 1000}, 5),
        (KLINES, {"limit": 1001}, 10),
        (FUNDING, {}, 1),
        (AGG_TRADES, {"fromId": 0, "limit": 1}, 20),
        (DEPTH, {"limit": 50}, 2),
        (DEPTH, {"limit": 100}, 5),
        (DEPTH, {}, 10),
        (DEPTH, {"limit": 1000}, 20),
    ],
)
def test_weight_by_endpoint_and_limit(
    http: httpx.Client, fake: FakeBinance, path: str, params: dict[str, int], weight: int
) -> None:
    query: dict[str, Any] = {"symbol": "XRPUSDT", "interval": "1h", **params}
    assert http.get(path, params=query).headers[WEIGHT] == str(weight)
    assert http.get(path, params=query).headers[WEIGHT] == str(2 * weight)
    assert list(fake.stats().weight_by_window.values()) == [2 * weight]


def test_over_budget_draws_429_and_a_request_during_retry_after_draws_418(
    shared_data: Path, clock: ManualClock
) -> None:
    query: dict[str, Any] = {"symbol": "XRPUSDT", "interval": "5m", "limit": 1000}
    with (
        FakeBinance(
            data_dir=shared_data, weight_limit=12, window=10.0, ban_seconds=30, clock=clock
        ) as fake,
        httpx.Client(base_url=fake.url) as http,
    ):
        assert [http.get(KLINES, params=query).status_code for _ in range(2)] == [200, 200]
        limited = http.get(KLINES, params=query)
        assert (limited.status_code, limited.headers["Retry-After"], limited.headers[WEIGHT]) == (
            429,
            "10",
            "10",
        )
        assert limited.json()["code"] == -1003
        banned = http.get(KLINES, params=query)
        assert (banned.status_code, banned.headers["Retry-After"]) == (418, "30")
        clock.advance(20)
        assert http.get(KLINES, params=query).headers["Retry-After"] == "10"
        clock.advance(10)
        after = http.get(KLINES, params=query)
        assert (after.status_code, after.headers[WEIGHT]) == (200, "5")
        stats = fake.stats()
    assert (stats.rate_limited, stats.banned, stats.requests_by_path[KLINES]) == (1, 2, 6)
    assert [f.status for f in stats.fetches] == [200, 200, 429, 418, 418, 200]


def test_weight_resets_with_each_clock_aligned_window(
    http: httpx.Client, clock: ManualClock
) -> None:
    query: dict[str, Any] = {"symbol": "XRPUSDT", "interval": "5m", "limit": 1000}
    assert http.get(KLINES, params=query).headers[WEIGHT] == "5"
    clock.advance(9.7)  # 9.95 s into the window: still the same one
    assert http.get(KLINES, params=query).headers[WEIGHT] == "10"
    clock.advance(0.1)
    assert http.get(KLINES, params=query).headers[WEIGHT] == "5"


def test_scripted_server_errors_then_data(http: httpx.Client, fake: FakeBinance) -> None:
    fake.script("500", "503", path=KLINES)
    query: dict[str, Any] = {"symbol": "XRPUSDT", "interval": "5m", "limit": 1}
    answers = [http.get(KLINES, params=query) for _ in range(3)]
    assert [a.status_code for a in answers] == [500, 503, 200]
    assert answers[0].json() == {
        "code": -1001,
        "msg": "Internal error; unable to process your request.",
    }
    assert [a.headers[WEIGHT] for a in answers] == ["1", "2", "3"]
    assert [f.fault for f in fake.stats().fetches] == ["500", "503", None]


def test_timeout_fault_holds_the_answer_past_the_client_timeout(shared_data: Path) -> None:
    with FakeBinance(data_dir=shared_data, timeout_delay=3.0, slow_delay=0.2) as fake:
        fake.script("timeout", "slow")
        query: dict[str, Any] = {"symbol": "XRPUSDT", "interval": "5m", "limit": 1}
        with httpx.Client(base_url=fake.url, timeout=0.3) as http, pytest.raises(httpx.ReadTimeout):
            http.get(KLINES, params=query)
        with httpx.Client(base_url=fake.url, timeout=5.0) as http:
            assert len(http.get(KLINES, params=query).json()) == 1
        assert [f.fault for f in fake.stats().fetches] == ["timeout", "slow"]


def test_random_faults_follow_the_seed(shared_data: Path) -> None:
    def statuses() -> list[int]:
        with (
            FakeBinance(data_dir=shared_data, error_rate=0.5, seed=11) as fake,
            httpx.Client(base_url=fake.url) as http,
        ):
            return [http.get("/fapi/v1/ping").status_code for _ in range(12)]

    first = statuses()
    assert first == statuses()
    assert set(first) == {200, 503}


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        (KLINES, {"symbol": "NOPEUSDT", "interval": "1m"}, -1121),
        (KLINES, {"symbol": "xrpusdt", "interval": "1m"}, -1121),
        (KLINES, {"interval": "1m"}, -1102),
        (KLINES, {"symbol": "XRPUSDT", "interval": "7m"}, -1120),
        (KLINES, {"symbol": "XRPUSDT", "interval": "1m", "limit": 1501}, -1130),
        (KLINES, {"symbol": "XRPUSDT", "interval": "1m", "startTime": 5, "endTime": 4}, -1023),
        (KLINES, {"symbol": "XRPUSDT", "interval": "1m", "startTime": "x"}, -1100),
        (FUNDING, {"symbol": "NOPEUSDT"}, -1121),
        (AGG_TRADES, {"symbol": "XRPUSDT", "startTime": 0, "endTime": HOUR_MS}, -1127),
        (DEPTH, {"symbol": "XRPUSDT", "limit": 7}, -1130),
    ],
)
def test_bad_requests_answer_400_with_binance_codes(
    http: httpx.Client, path: str, params: dict[str, Any], code: int
) -> None:
    answer = http.get(path, params=params)
    assert (answer.status_code, answer.json()["code"]) == (400, code)
    assert set(answer.json()) == {"code", "msg"}


def test_unknown_symbol_message_is_binances(http: httpx.Client) -> None:
    answer = http.get(KLINES, params={"symbol": "NOPEUSDT", "interval": "1m"})
    assert answer.json() == {"code": -1121, "msg": "Invalid symbol."}


def test_generated_klines_begin_at_listing(shared_data: Path) -> None:
    symbol = "NEWCOINUSDT"
    listed = listing_time(symbol)
    with FakeBinance(data_dir=shared_data) as fake, httpx.Client(base_url=fake.url) as http:
        query: dict[str, Any] = {"symbol": symbol, "interval": "1m", "limit": 3}
        before = http.get(
            KLINES, params={**query, "startTime": listed - 3 * 24 * HOUR_MS, "endTime": listed - 1}
        ).json()
        across = http.get(KLINES, params={**query, "startTime": listed - 24 * HOUR_MS}).json()
    assert before == []
    assert across == [generated_kline(symbol, "1m", listed + i * MINUTE_MS) for i in range(3)]


def test_generated_funding_every_eight_hours(shared_data: Path) -> None:
    symbol = "NEWCOINUSDT"
    first = -(-listing_time(symbol) // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS
    with FakeBinance(data_dir=shared_data) as fake, httpx.Client(base_url=fake.url) as http:
        rows = http.get(FUNDING, params={"symbol": symbol, "startTime": 0, "limit": 4}).json()
    assert rows == [generated_funding(symbol, first + i * FUNDING_PERIOD_MS) for i in range(4)]
    assert [r["fundingTime"] // FUNDING_PERIOD_MS * FUNDING_PERIOD_MS for r in rows] == [
        first + i * FUNDING_PERIOD_MS for i in range(4)
    ]


def test_generated_agg_trades_have_contiguous_ids(shared_data: Path) -> None:
    symbol = "NEWCOINUSDT"
    start = listing_time(symbol) + 5 * HOUR_MS + 1234
    with FakeBinance(data_dir=shared_data) as fake, httpx.Client(base_url=fake.url) as http:
        by_time = http.get(
            AGG_TRADES,
            params={"symbol": symbol, "startTime": start, "endTime": start + 60_000, "limit": 1000},
        ).json()
        by_id = http.get(
            AGG_TRADES, params={"symbol": symbol, "fromId": by_time[-1]["a"] + 1, "limit": 5}
        ).json()
    first = first_agg_id_at(symbol, start)
    assert [t["a"] for t in by_time + by_id] == list(range(first, first + len(by_time) + 5))
    assert by_time[0]["T"] >= start > agg_trade_time(symbol, first - 1)
    assert by_time[-1]["T"] <= start + 60_000 < agg_trade_time(symbol, by_time[-1]["a"] + 1)
    assert by_id == [generated_agg_trade(symbol, first + len(by_time) + i) for i in range(5)]
    assert all(b["f"] == a["l"] + 1 for a, b in zip(by_time, by_time[1:], strict=False))


def test_depth_snapshot_has_limit_levels(http: httpx.Client) -> None:
    book = http.get(DEPTH, params={"symbol": "XRPUSDT", "limit": 5}).json()
    assert (len(book["bids"]), len(book["asks"])) == (5, 5)
    assert float(book["bids"][0][0]) < float(book["asks"][0][0])


def test_stats_list_every_requested_range(http: httpx.Client, fake: FakeBinance) -> None:
    for start in (10, 20, 10):
        http.get(KLINES, params={"symbol": "XRPUSDT", "interval": "5m", "startTime": start})
    assert [(f.symbol, f.interval, f.start_time) for f in fake.stats().served(KLINES)] == [
        ("XRPUSDT", "5m", 10),
        ("XRPUSDT", "5m", 20),
        ("XRPUSDT", "5m", 10),
    ]


def test_runs_as_a_separate_process(shared_data: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.binance_exchange",
            "--port",
            str(port),
            "--data-dir",
            str(shared_data),
            "--weight-limit",
            "100",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc=proc)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            rows = http.get(
                KLINES, params={"symbol": "XRPETH", "interval": "1m", "limit": 2}
            ).json()
            stats = json.loads(http.get("/_fake/stats").content)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert [r[0] for r in rows] == [1570965480000, 1570965540000]
    assert stats["requests_by_path"] == {KLINES: 1}
    assert (proc.returncode, out.decode().strip()) == (
        0,
        f"fake-binance listening on http://127.0.0.1:{port}",
    )
