"""Analytics processes on one NATS: each dataset computed once per round by whichever replica
pulls it, a replica killed mid-round replaced by the other, and /analysis answered by the
running API from what the ingestor and the backfiller stored."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from petrosa_analytics.metrics import Bars, compute
from petrosa_core.bus import connect
from petrosa_core.contracts import BackfillReply, BackfillRequest, DataType, decode_reply
from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.metadata import FINAL_STATUSES, MetadataStore
from petrosa_core.models import DatasetId
from tests.analytics.engine_support import candles_id, store_candles, xrp_5m
from tests.analytics.process_support import (
    Service,
    computed,
    eventually,
    launch,
    rounds,
)
from tests.backfiller.test_jobs_support import Backfill
from tests.fakes.binance_data import generated_kline
from tests.fakes.binance_exchange import FakeBinance
from tests.harness.servers import NatsServer
from tests.ingestor._support import Ingest, publish

pytestmark = pytest.mark.slow
MINUTE = 60_000
DATASETS = 24
# Long enough for the second replica to be up and pulling when the leader's next round
# comes: the first round is published the moment the first process leads.
INTERVAL = 15
# Fast to compute: the long seasonality and regime windows are not what these tests are about.
WINDOWS = json.dumps({"volatility": [30], "seasonality": [288], "regime": [300]})


def tag(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def analytics_env(
    nats_url: str, market_url: str, metadata_url: str, **extra: str
) -> dict[str, str]:
    work = tag("work")
    return {
        "NATS_URL": nats_url,
        "MARKET_STORE_URL": market_url,
        "METADATA_STORE_URL": metadata_url,
        "LOG_LEVEL": "INFO",
        "ANALYTICS_INTERVAL": str(INTERVAL),
        "ANALYTICS_WINDOWS": WINDOWS,
        "ANALYTICS_WORK_STREAM": work.upper(),
        "ANALYTICS_WORK_SUBJECT": f"test.{work}",
        "ANALYTICS_ACK_WAIT": "3",
        "ANALYTICS_REQUEST_SUBJECT": f"test.{tag('analytics_request')}",
        "ANALYTICS_LEASE_NAME": tag("analytics"),
        "ENABLE_LEADER_ELECTION": "true",
        "LEADER_ELECTION_HEARTBEAT_INTERVAL": "0.3",
        "LEADER_ELECTION_TIMEOUT": "2",
        **extra,
    }


@pytest.fixture
async def services() -> AsyncIterator[list[Service]]:
    started: list[Service] = []
    yield started
    await asyncio.gather(*(asyncio.to_thread(s.stop) for s in started))


@pytest.fixture
async def many(
    tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[str, list[DatasetId]]]:
    """A market store of ``DATASETS`` candle datasets (or as many as the test parametrizes)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'market.db'}"
    count = getattr(request, "param", DATASETS)
    names = [f"P{i:03d}{uuid.uuid4().hex[:4].upper()}USDT" for i in range(count)]
    store = await open_market_store(url)
    try:
        await store_candles(store, [c for n in names for c in xrp_5m(n)[-600:]])
    finally:
        await store.close()
    yield url, [candles_id(n, "5m") for n in names]


async def round_done(market: MarketStore, round_id: str, count: int) -> bool | None:
    return True if len(await market.analytics_rounds(round_id)) == count else None


async def test_two_replicas_compute_every_dataset_of_a_round_exactly_once(
    nats_server: NatsServer,
    services: list[Service],
    many: tuple[str, list[DatasetId]],
    tmp_path: Path,
) -> None:
    url, datasets = many
    env = analytics_env(nats_server.url, url, f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    first = await launch(services, "petrosa_analytics", env, tmp_path / "a.log")
    second = await launch(services, "petrosa_analytics", env, tmp_path / "b.log")
    round_id = await next_round([first, second], services)
    market = await open_market_store(url)
    try:
        await eventually(lambda: round_done(market, round_id, DATASETS), "round done", services)
        stored = await market.latest_analytics(datasets[0], "volatility")
    finally:
        await market.close()
    by_dataset = Counter(computed(services, round_id))
    assert by_dataset == Counter({str(d): 1 for d in datasets})
    assert computed([first], round_id) and computed([second], round_id)
    assert stored and {r.round_id for r in stored} == {round_id}


@pytest.mark.parametrize("many", [120], indirect=True)
async def test_a_replica_killed_mid_round_leaves_the_round_to_the_other(
    nats_server: NatsServer,
    services: list[Service],
    many: tuple[str, list[DatasetId]],
    tmp_path: Path,
) -> None:
    url, datasets = many
    env = analytics_env(nats_server.url, url, f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    pair = [
        await launch(services, "petrosa_analytics", env, tmp_path / "a.log"),
        await launch(services, "petrosa_analytics", env, tmp_path / "b.log"),
    ]
    round_id = await next_round(pair, services)
    await eventually(lambda: _first(computed(pair, round_id)), "a first item", services)
    leader = next(s for s in pair if round_id in rounds(s))
    survivor = next(s for s in pair if s is not leader)
    leader.kill()
    before = len(computed([leader], round_id))
    market = await open_market_store(url)
    try:
        await eventually(
            lambda: round_done(market, round_id, len(datasets)), "round done", services
        )
    finally:
        await market.close()
    assert before < len(datasets), "the kill did not land mid-round"
    assert Counter(computed(pair, round_id)) == Counter({str(d): 1 for d in datasets})
    assert len(computed([survivor], round_id)) > 0


async def next_round(pair: list[Service], services: list[Service]) -> str:
    """The first round published once both replicas are up (ready, so pulling work)."""
    seen = {r for s in pair for r in rounds(s)}

    async def published() -> str | None:
        fresh = [r for s in pair for r in rounds(s) if r not in seen]
        return fresh[0] if fresh else None

    return await eventually(published, "a round after both replicas started", services)


async def _first(values: list[str]) -> str | None:
    return values[0] if values else None


# --- /analysis through the running API, fed by the ingestor and the backfiller ---------


def kline_frame(symbol: str, row: list[Any]) -> bytes:
    """A closed 1m kline frame carrying a REST kline row's values."""
    t, o, h, low, c, v, close_time, q, n, taker_base, taker_quote, _ = row
    k = {
        **{"t": t, "T": close_time, "s": symbol, "i": "1m", "f": 0, "L": n - 1},
        **{"o": o, "c": c, "h": h, "l": low, "v": v, "n": n, "x": True},
        **{"q": q, "V": taker_base, "Q": taker_quote, "B": "0"},
    }
    data = {"e": "kline", "E": close_time + 1, "s": symbol, "k": k}
    return json.dumps({"stream": f"{symbol.lower()}@kline_1m", "data": data}).encode()


async def backfilled(backfill: Backfill, metadata: MetadataStore, request: BackfillRequest) -> None:
    bus = await connect(backfill.nats_url, name="analytics-e2e-backfill")
    try:
        raw = await bus.request(backfill.subjects["request"], request.encode(), within=10)
    finally:
        await bus.close()
    reply = decode_reply(raw, BackfillReply.decode)
    assert isinstance(reply, BackfillReply), reply
    for job_id in reply.job_ids:

        async def finished(job_id: str = job_id) -> bool | None:
            job = await metadata.get_job(job_id)
            return True if job is not None and job.status in FINAL_STATUSES else None

        await eventually(finished, f"backfill job {job_id}", [])


async def test_analysis_endpoints_serve_what_the_ingestor_and_backfiller_stored(
    nats_server: NatsServer,
    fake: FakeBinance,
    services: list[Service],
    tmp_path: Path,
) -> None:
    live, history = f"LIVE{uuid.uuid4().hex[:4].upper()}USDT", "HISTUSDT"
    now = time.time_ns() // 1_000_000
    first_open = (now // MINUTE - 240) * MINUTE
    rows = [generated_kline(live, "1m", first_open + i * MINUTE) for i in range(240)]
    ingest = Ingest(
        nats_server.url,
        f"sqlite+aiosqlite:///{tmp_path / 'market.db'}",
        f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}",
    )
    backfill = Backfill(nats_server.url, ingest.market_url, ingest.metadata_url, fake.url)
    market = await open_market_store(ingest.market_url)
    metadata = await MetadataStore.open(ingest.metadata_url)
    bus = await connect(nats_server.url, name="analytics-e2e")
    try:
        await launch(services, "petrosa_ingestor", ingest.env(), tmp_path / "ingestor.log")
        await publish(bus.client, ingest.subject, [kline_frame(live, r) for r in rows])
        await ingest.wait_consumed(bus, published=len(rows))
        await launch(services, "petrosa_backfiller", backfill.env(), tmp_path / "backfill.log")
        await backfilled(
            backfill,
            metadata,
            BackfillRequest(
                symbol=history, data_type=DataType.CANDLES, interval="1m",
                start=first_open, end=first_open + 240 * MINUTE, origin="test",
            ),
        )  # fmt: skip
        env = analytics_env(
            nats_server.url,
            ingest.market_url,
            ingest.metadata_url,
            ENABLE_LEADER_ELECTION="false",
            ANALYTICS_INTERVAL="3600",
        )
        analytics = await launch(services, "petrosa_analytics", env, tmp_path / "analytics.log")
        round_id = await eventually(lambda: _first(rounds(analytics)), "a round", services)
        await eventually(lambda: round_done(market, round_id, 2), "the round", services)
        api_env = {
            **ingest.env(),
            "API_HOST": "127.0.0.1",
            "LOG_LEVEL": "INFO",
            "ANALYTICS_REQUEST_SUBJECT": env["ANALYTICS_REQUEST_SUBJECT"],
        }
        api = await launch(services, "petrosa_api", api_env, tmp_path / "api.log")
        answers = await _ask_everything(api.port, live, history)
        candles = await market.scan(candles_id(live, "1m"), limit=None)

        async def lineage() -> set[str] | None:
            found = await metadata.lineage_from(candles_id(live, "1m"))
            return {r.dataset_id for r in found} or None

        downstream = await eventually(lineage, "lineage of the live dataset", services)
        async with httpx.AsyncClient(timeout=10) as client:
            figures = (await client.get(f"http://127.0.0.1:{analytics.port}/metrics")).text
    finally:
        await bus.close()
        await metadata.close()
        await market.close()

    stored = answers["stored"]
    bars = Bars.from_arrow(candles.table, MINUTE)
    (expected,) = compute("volatility", bars, method="close_to_close", window=30)
    assert (stored.status_code, stored.json()["data"]["source"]) == (200, "stored")
    data = stored.json()["data"]
    assert (data["value"], data["as_of_time"]) == (expected.value, expected.as_of_time)
    assert (data["completeness"], data["complete"], data["round_id"]) == (1.0, True, round_id)
    assert data["lineage"]["source"] == str(candles_id(live, "1m"))
    assert data["annualized"] == expected.extra["annualized"]

    assert f"analytics:{live}:volatility" in downstream
    assert 'data_manager_analytics_items_processed_total{result="computed"} 2.0' in figures
    assert 'data_manager_analytics_requests_total{result="ok"} 2.0' in figures

    fresh, again = answers["fresh"], answers["again"]
    assert (fresh.status_code, fresh.json()["data"]["source"]) == (200, "computed")
    assert again.json()["data"]["source"] == "stored"
    assert again.json()["data"]["value"] == fresh.json()["data"]["value"]
    (seventeen,) = compute("volatility", bars, method="parkinson", window=17)
    assert fresh.json()["data"]["value"] == seventeen.value

    history_trend = answers["history"].json()["data"]
    assert (history_trend["pair"], history_trend["source"]) == (history, "stored")

    matrix = answers["correlation"].json()["data"]
    assert matrix["pairs"] == sorted([live, history])
    assert matrix["value"]["matrix"][0][0] == pytest.approx(1.0)
    assert matrix["completeness"] == 1.0

    assert answers["unknown"].status_code == 404
    assert answers["unknown"].json()["error"]["code"] == "unknown_dataset"
    refused = {
        "no_pair": (400, "missing_pair"),
        "one_pair": (400, "bad_pairs"),
        "bad_method": (400, "unknown_method"),
        "bad_window": (422, "invalid_request"),  # the API's answer to a malformed query
    }
    for name, (status, code) in refused.items():
        answer = answers[name]
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), name


async def _ask_everything(port: int, live: str, history: str) -> dict[str, httpx.Response]:
    base = f"http://127.0.0.1:{port}/analysis"
    asks = {
        "stored": f"/volatility?pair={live}&period=1m&window=30",
        "fresh": f"/volatility?pair={live}&period=1m&method=parkinson&window=17",
        "again": f"/volatility?pair={live}&period=1m&method=parkinson&window=17",
        "history": f"/trend?pair={history}&period=1m",
        "correlation": f"/correlation?pairs={live},{history}&period=1m&window=100",
        "unknown": "/volatility?pair=NOSUCHUSDT&period=1m&window=30",
        "no_pair": "/volatility?period=1m",
        "one_pair": f"/correlation?pairs={live}&period=1m",
        "bad_method": f"/volatility?pair={live}&period=1m&method=astrology",
        "bad_window": f"/volatility?pair={live}&period=1m&window=1",
    }
    async with httpx.AsyncClient(timeout=30) as client:
        return {name: await client.get(base + path) for name, path in asks.items()}
