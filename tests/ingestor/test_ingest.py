"""The recorded Binance frames, replayed through NATS JetStream into each store backend."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import create_async_engine

from petrosa_core.contracts import AuditEvent
from petrosa_core.market import open_market_store
from petrosa_core.models import Candle, DatasetId, DatasetKind, DepthUpdate, Trade
from tests.harness.servers import NatsServer
from tests.ingestor._support import Ingest, expected_keys, publish, stored_keys

TIMINGS = ("data_manager_message_processing_seconds", "data_manager_ingest_latency_seconds")
EXTRA_FRAMES = Path(__file__).resolve().parents[1] / "fixtures" / "ws_frames_extra.jsonl"


def recorded(shared_data: Path) -> list[bytes]:
    lines = (shared_data / "binance_usdm_ws_frames.jsonl").read_bytes().splitlines()
    return [*lines, *EXTRA_FRAMES.read_bytes().splitlines()]


@pytest.fixture(params=["sqlite", "mongo"])
def market_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def ingest(nats_server: NatsServer, market_url: str, tmp_path: Path) -> Ingest:
    return Ingest(nats_server.url, market_url, f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")


async def replay(ingest: Ingest, frames: list[bytes], times: int = 1) -> None:
    bus = await ingest.bus()
    try:
        async with ingest.running():
            for _ in range(times):
                await publish(bus.client, ingest.subject, frames)
            await ingest.wait_consumed(bus)
    finally:
        await bus.close()


async def test_every_dataset_holds_exactly_what_the_frames_imply(
    ingest: Ingest, shared_data: Path
) -> None:
    frames = recorded(shared_data)
    await replay(ingest, frames)
    expected = expected_keys(json.loads(f) for f in frames)
    market, metadata = await ingest.stores()
    try:
        stored = {str(i.dataset): i.count for i in await market.datasets()}
        expected_counts = {d: len(k) for d, k in expected.items()}
        assert stored == expected_counts
        for dataset, keys in expected.items():
            assert set(await stored_keys(market, dataset)) == keys
        registered = {r.id for r in await metadata.list_datasets()}
        assert registered == set(expected_counts)
        lineage = await metadata.lineage_for("trades:SUSHIUSDT")
        assert [(r.source, r.process) for r in lineage] == [(f"nats:{ingest.subject}", "ingestor")]
    finally:
        await market.close()
        await metadata.close()


async def test_sample_records_carry_the_exact_frame_values(
    ingest: Ingest, shared_data: Path
) -> None:
    await replay(ingest, recorded(shared_data))
    market, metadata = await ingest.stores()
    try:
        lines = (shared_data / "binance_usdm_ws_frames.jsonl").read_text().splitlines()
        payloads = [json.loads(line)["data"] for line in lines]
        aggs = [d for d in payloads if d["e"] == "aggTrade" and d["s"] == "SUSHIUSDT"]
        a = min(aggs, key=lambda d: (d["T"], d["a"]))
        trades = await market.query(DatasetId.parse("trades:SUSHIUSDT"), limit=1)
        assert trades.records == [
            Trade(
                "SUSHIUSDT",
                "agg",
                a["a"],
                float(a["p"]),
                float(a["q"]),
                a["T"],
                a["m"],
                a["E"],
                a["f"],
                a["l"],
            )
        ]
        depths = [d for d in payloads if d["e"] == "depthUpdate" and d["s"] == "KEEPUSDT"]
        u = max(depths, key=lambda d: (d["E"], d["u"]))
        newest = await market.latest(DatasetId.parse("depth:KEEPUSDT"), 1)
        pairs = lambda side: tuple((float(p), float(q)) for p, q in side)  # noqa: E731
        assert newest == [
            DepthUpdate(
                "KEEPUSDT", u["E"], u["T"], u["U"], u["u"], u["pu"], pairs(u["b"]), pairs(u["a"])
            )
        ]
    finally:
        await market.close()
        await metadata.close()


def _final_candles(shared_data: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """For each candle, the version a reader must see: the closed one, else the last."""
    final: dict[tuple[str, int], dict[str, Any]] = {}
    for line in (shared_data / "binance_usdm_ws_frames.jsonl").read_text().splitlines():
        d = json.loads(line)["data"]
        if d["e"] != "kline":
            continue
        key = (d["s"], d["k"]["t"])
        if key in final and final[key]["x"]:
            continue
        final[key] = d["k"]
    return final


async def test_an_open_candle_is_replaced_and_the_closed_one_is_final(
    ingest: Ingest, shared_data: Path
) -> None:
    await replay(ingest, recorded(shared_data))
    market, metadata = await ingest.stores()
    try:
        for (symbol, open_time), k in _final_candles(shared_data).items():
            page = await market.query(
                DatasetId.parse(f"candles:{symbol}:1m"), open_time, open_time + 1
            )
            assert page.records == [
                Candle(
                    symbol,
                    "1m",
                    k["t"],
                    k["T"],
                    float(k["o"]),
                    float(k["h"]),
                    float(k["l"]),
                    float(k["c"]),
                    float(k["v"]),
                    float(k["q"]),
                    k["n"],
                    float(k["V"]),
                    float(k["Q"]),
                    k["x"],
                )
            ]
    finally:
        await market.close()
        await metadata.close()


async def test_publishing_the_frames_twice_changes_nothing(
    ingest: Ingest, shared_data: Path
) -> None:
    frames = recorded(shared_data)
    await replay(ingest, frames, times=2)
    market, metadata = await ingest.stores()
    try:
        once = {d: len(k) for d, k in expected_keys(json.loads(f) for f in frames).items()}
        twice = {
            str(i.dataset): i.count
            for i in await market.datasets()
            if i.dataset.kind is not DatasetKind.FUNDING_RATES
        }
        assert twice == once
    finally:
        await market.close()
        await metadata.close()


async def test_metrics_count_and_time_every_stored_frame(ingest: Ingest, shared_data: Path) -> None:
    frames = recorded(shared_data)
    kinds = Counter(json.loads(f).get("data", json.loads(f))["e"] for f in frames)

    def samples() -> dict[str, float]:
        found = {
            f"{name}:{kind}": REGISTRY.get_sample_value(name, {"event_type": kind}) or 0.0
            for name in (
                "data_manager_messages_received_total",
                "data_manager_messages_processed_total",
            )
            for kind in kinds
        }
        for name in TIMINGS:
            for suffix in ("_count", "_bucket"):
                labels = {"le": "+Inf"} if suffix == "_bucket" else {}
                found[name + suffix] = REGISTRY.get_sample_value(name + suffix, labels) or 0.0
        return found

    before = samples()
    await replay(ingest, frames)
    grown = {name: value - before[name] for name, value in samples().items()}
    per_kind = {f"data_manager_messages_{m}_total:{k}": float(n) for k, n in kinds.items()
                for m in ("received", "processed")}  # fmt: skip
    timed = {f"{name}{suffix}": float(len(frames))
             for name in TIMINGS
             for suffix in ("_count", "_bucket")}  # fmt: skip
    assert grown == per_kind | timed


async def test_sequence_breaks_are_published_with_the_missing_range(
    ingest: Ingest, shared_data: Path
) -> None:
    frames = [f for f in recorded(shared_data) if b'"aggTrade"' in f and b"SUSHIUSDT" in f]
    ids = sorted(json.loads(f)["data"]["a"] for f in frames)
    dropped = ids[len(ids) // 2]
    kept = [f for f in frames if json.loads(f)["data"]["a"] != dropped]
    bus = await ingest.bus()
    events: asyncio.Queue[bytes] = asyncio.Queue(100)

    async def collect(msg: Any) -> None:
        await events.put(msg.data)

    sub = await bus.client.subscribe(ingest.events, cb=collect)
    try:
        async with ingest.running():
            await publish(bus.client, ingest.subject, kept)
            await ingest.wait_consumed(bus)
        raw = await asyncio.wait_for(events.get(), 10)
    finally:
        await sub.unsubscribe()
        await bus.close()
    event = json.loads(raw)
    assert (event["check"], event["symbol"], event["missing_from"], event["missing_to"]) == (
        "agg_trade_ids",
        "SUSHIUSDT",
        dropped,
        dropped,
    )
    envelope = AuditEvent.decode(raw)  # the one envelope of petrosa.audit.events
    assert (envelope.type, envelope.dataset_id) == ("sequence_break", "trades:SUSHIUSDT")


def mark_price(symbol: str, event_time: int, rate: str, funding_time: int) -> bytes:
    return json.dumps(
        {
            "e": "markPriceUpdate",
            "E": event_time,
            "s": symbol,
            "p": "100.5",
            "i": "100.4",
            "P": "100.45",
            "r": rate,
            "T": funding_time,
        }
    ).encode()


async def test_mark_prices_settle_the_rate_in_force_at_each_funding_time(ingest: Ingest) -> None:
    t1, t2 = 1_637_193_600_000, 1_637_222_400_000
    frames = [
        mark_price("XRPUSDT", t1 - 3000, "0.00010000", t1),
        mark_price("XRPUSDT", t1 - 1000, "0.00012000", t1),
        mark_price("XRPUSDT", t1 + 1000, "0.00007000", t2),
    ]
    bus = await ingest.bus()
    try:
        async with ingest.running():
            await publish(bus.client, ingest.subject, frames)
            await ingest.wait_consumed(bus)
    finally:
        await bus.close()
    market, metadata = await ingest.stores()
    try:
        funding = await market.query(DatasetId.parse("funding_rates:XRPUSDT"))
        marks = await market.count(DatasetId.parse("mark_prices:XRPUSDT"))
    finally:
        await market.close()
        await metadata.close()
    assert [(f.funding_time, f.funding_rate) for f in funding.records] == [(t1, 0.00012)]
    assert marks == 3


MALFORMED: dict[str, bytes] = {
    "invalid_json": b'{"stream": "x", "data": {',
    "not_an_object": b"[1, 2, 3]",
    "unknown_event_type": b'{"e": "forceOrder", "E": 1, "s": "BTCUSDT"}',
    "missing_field": b'{"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": 1}',
    "wrong_type": b'{"e": "aggTrade", "E": "soon", "s": "BTCUSDT", "a": 1, "p": "1", "q": "1",'
    b' "f": 1, "l": 1, "T": 1, "m": false}',
    "bad_value": b'{"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": 1, "p": "one", "q": "1",'
    b' "f": 1, "l": 1, "T": 1, "m": false}',
    "oversize": b'{"e": "depthUpdate", "pad": "' + b"x" * 70_000 + b'"}',
    "out_of_range": b'{"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": 1, "p": "1", "q": "1",'
    b' "f": 1, "l": 1, "T": 1000000000000000, "m": false}',
}


async def test_malformed_frames_go_to_the_dead_letter_subject_and_good_ones_are_stored(
    ingest: Ingest, shared_data: Path
) -> None:
    good = recorded(shared_data)[:200]
    frames: list[bytes] = []
    for i, bad in enumerate(MALFORMED.values()):
        frames += [*good[i * 25 : (i + 1) * 25], bad]
    frames += good[len(MALFORMED) * 25 :]
    bus = await ingest.bus()
    dead: asyncio.Queue[Any] = asyncio.Queue(100)

    async def collect(msg: Any) -> None:
        await dead.put(msg)

    sub = await bus.client.subscribe(ingest.deadletter, cb=collect)
    try:
        async with ingest.running(ingest_max_frame_bytes=65_536):
            await publish(bus.client, ingest.subject, frames)
            await ingest.wait_consumed(bus)
        letters = [await asyncio.wait_for(dead.get(), 10) for _ in MALFORMED]
    finally:
        await sub.unsubscribe()
        await bus.close()
    assert {m.headers["Petrosa-Error-Reason"]: m.data for m in letters} == MALFORMED
    assert {m.headers["Petrosa-Original-Subject"] for m in letters} == {ingest.subject}
    market, metadata = await ingest.stores()
    try:
        stored = {str(i.dataset): i.count for i in await market.datasets()}
    finally:
        await market.close()
        await metadata.close()
    assert stored == {d: len(k) for d, k in expected_keys(json.loads(f) for f in good).items()}


async def test_a_record_the_store_refuses_is_dead_lettered_and_the_rest_are_stored(
    nats_server: NatsServer, mysql_url: str, tmp_path: Path
) -> None:
    # A check constraint stands in for a value the database cannot hold: a record error.
    await (await open_market_store(mysql_url)).close()
    engine = create_async_engine(mysql_url)
    async with engine.begin() as conn:
        await conn.execute(sa.text("ALTER TABLE trades ADD CONSTRAINT no_7 CHECK (trade_id <> 7)"))
    await engine.dispose()
    ingest = Ingest(nats_server.url, mysql_url, f"sqlite+aiosqlite:///{tmp_path / 'meta.db'}")
    frames = [_agg_trade(i) for i in range(20)]
    bus = await ingest.bus()
    dead: asyncio.Queue[Any] = asyncio.Queue(10)

    async def collect(msg: Any) -> None:
        await dead.put(msg)

    sub = await bus.client.subscribe(ingest.deadletter, cb=collect)
    try:
        async with ingest.running():
            await publish(bus.client, ingest.subject, frames)
            await ingest.wait_consumed(bus)
        letter = await asyncio.wait_for(dead.get(), 10)
    finally:
        await sub.unsubscribe()
        await bus.close()
    assert (letter.headers["Petrosa-Error-Reason"], letter.data) == ("store_rejected", frames[7])
    market, metadata = await ingest.stores()
    try:
        keys = await stored_keys(market, "trades:BTCUSDT")
    finally:
        await market.close()
        await metadata.close()
    assert keys == [("agg", i) for i in range(20) if i != 7]


def _agg_trade(i: int, symbol: str = "BTCUSDT") -> bytes:
    frame = {
        "e": "aggTrade",
        "E": 1_700_000_000_000 + i,
        "s": symbol,
        "a": i,
        "p": "100.5",
        "q": "1",
        "f": i,
        "l": i,
        "T": 1_700_000_000_000 + i,
        "m": False,
    }
    return json.dumps(frame).encode()
