"""Hostile frames against a running ingestor: each is dead-lettered and kept, none stops it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from petrosa_core.market import open_market_store
from petrosa_ingestor.deadletters import DeadLetter, DeadLetters
from tests.harness.servers import NatsServer
from tests.ingestor._support import (
    REPO,
    Ingest,
    agg_trade_frames,
    publish,
    stored_keys,
    wait_ready,
)
from tests.ingestor.test_processes import Proc, meta_url, procs  # noqa: F401 - fixture

SYMBOLS = ("BTCUSDT", "ETHUSDT")


@pytest.fixture
def ingest(nats_server: NatsServer, sqlite_url: str, tmp_path: Path) -> Ingest:
    return Ingest(nats_server.url, sqlite_url, meta_url(tmp_path))


def _agg(**changes: object) -> bytes:
    data: dict[str, object] = {
        "e": "aggTrade",
        "E": 1_700_000_000_000,
        "s": "BTCUSDT",
        "a": 10**9,
        "p": "100.5",
        "q": "1",
        "f": 1,
        "l": 1,
        "T": 1_700_000_000_000,
        "m": False,
    }
    data.update(changes)
    return json.dumps(data).encode()


# Each reason with frames a broken or hostile publisher could send.
HOSTILE: dict[bytes, str] = {
    b'{"e":"aggTrade","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}": "too_deep",
    b'{"data":{"e":"kline","k":' + b'{"k":' * 10_000 + b"1" + b"}" * 10_001 + b"}": "too_deep",
    _agg(s="A" * 4000): "bad_symbol",
    _agg(s=""): "bad_symbol",
    _agg(s="btcusdt"): "bad_symbol",
    _agg(s="../../etc/passwd"): "bad_symbol",
    _agg(s="BTC\u0000USDT"): "bad_symbol",
    _agg(s="ΒTCUSDT"): "bad_symbol",  # a Greek capital beta
    _agg(p="Infinity"): "bad_value",
    _agg(p="NaN"): "bad_value",
    _agg(p="-5"): "bad_value",
    _agg(q="0"): "bad_value",
    _agg(p="1e400"): "bad_value",
    b'{"e":"aggTrade","s":"BTC\xff\xfe"}': "invalid_json",
    b"\x00\x01\x02": "invalid_json",
    b'{"e":"depthUpdate","pad":"' + b"x" * 400_000 + b'"}': "oversize",
}


async def test_hostile_frames_are_dead_lettered_with_reasons_and_the_ingestor_never_restarts(
    ingest: Ingest,
    sqlite_url: str,
    procs: list[Proc],  # noqa: F811 - the fixture
) -> None:
    good = agg_trade_frames(4_000, SYMBOLS)
    hostile = list(HOSTILE)
    mixed = []
    for i, frame in enumerate(good):
        mixed.append(frame)
        if i % 250 == 0 and hostile:
            mixed.append(hostile.pop())
    bus = await ingest.bus()
    store = await open_market_store(sqlite_url)
    try:
        procs.append(Proc(ingest, INGEST_MAX_FRAME_BYTES="300000"))
        await wait_ready(procs[0].port)
        await publish(bus.client, ingest.subject, mixed[: len(mixed) // 2])
        await ingest.wait_consumed(bus)
        # A restart in the middle redelivers nothing that was already dead-lettered.
        assert procs[0].stop() == 0
        procs.append(Proc(ingest, INGEST_MAX_FRAME_BYTES="300000"))
        await wait_ready(procs[1].port)
        await publish(bus.client, ingest.subject, mixed[len(mixed) // 2 :])
        await ingest.wait_consumed(bus, published=len(mixed))
        assert procs[1].proc.poll() is None
        letters = await _dead_letters(ingest)
        for symbol in SYMBOLS:
            keys = await stored_keys(store, f"trades:{symbol}")
            assert keys == [("agg", i) for i in range(2_000)]
    finally:
        await store.close()
        await bus.close()
    assert sorted((letter.data, letter.reason) for letter in letters) == sorted(HOSTILE.items())
    assert {letter.original_subject for letter in letters} == {ingest.subject}


async def _dead_letters(ingest: Ingest) -> list[DeadLetter]:
    env = ingest.env()
    bus = await ingest.bus()
    try:
        letters = DeadLetters(bus, env["DEADLETTER_SUBJECT"], env["DEADLETTER_STREAM_NAME"])
        return await letters.entries(limit=1000)
    finally:
        await bus.close()


async def test_a_frame_delivered_more_than_max_deliver_times_is_dead_lettered_unparsed(
    ingest: Ingest, sqlite_url: str
) -> None:
    frame = agg_trade_frames(1)[0]
    bus = await ingest.bus()
    try:
        async with ingest.running(ingest_max_deliver=3):
            pass  # provisions the stream and the durable consumer, then stops
        await publish(bus.client, ingest.subject, [frame])
        # Stand in for three processes that each died holding the frame.
        sub = await bus.js.pull_subscribe_bind(durable="ingestor", stream=ingest.stream)
        for _ in range(3):
            (msg,) = await sub.fetch(1, timeout=10)
            await msg.nak()
        await sub.unsubscribe()
        async with ingest.running(ingest_max_deliver=3):
            await ingest.wait_consumed(bus, published=1)
    finally:
        await bus.close()
    (letter,) = await _dead_letters(ingest)
    assert (letter.reason, letter.data) == ("max_deliver", frame)
    store = await open_market_store(sqlite_url)
    try:
        assert await store.datasets() == []
    finally:
        await store.close()


async def test_dead_letters_are_listed_and_replayed_by_the_cli_once_the_cause_is_fixed(
    ingest: Ingest, sqlite_url: str
) -> None:
    padded = _agg(a=7, pad="x" * 2000)  # a good trade, too large for the first limit
    bad = _agg(a=8, s="btcusdt")
    bus = await ingest.bus()
    try:
        async with ingest.running(ingest_max_frame_bytes=1024):
            await publish(bus.client, ingest.subject, [padded, bad])
            await ingest.wait_consumed(bus)
    finally:
        await bus.close()
    listing = [json.loads(line) for line in _cli(ingest, "list", "--json").splitlines()]
    assert [(e["reason"], e["bytes"]) for e in listing] == [
        ("oversize", len(padded)),
        ("bad_symbol", len(bad)),
    ]
    assert _cli(ingest, "replay").strip() == "replayed 2 dead letter(s)"
    bus = await ingest.bus()
    try:
        async with ingest.running():  # the default limit takes the padded frame
            await ingest.wait_consumed(bus, published=4)
    finally:
        await bus.close()
    store = await open_market_store(sqlite_url)
    try:
        assert await stored_keys(store, "trades:BTCUSDT") == [("agg", 7)]
    finally:
        await store.close()
    # The replayed entries were deleted; the one still bad is back once, not twice.
    (letter,) = await _dead_letters(ingest)
    assert (letter.reason, letter.data) == ("bad_symbol", bad)


def _cli(ingest: Ingest, *args: str) -> str:
    env = {**os.environ, **ingest.env()}
    done = subprocess.run(
        [sys.executable, "-m", "petrosa_cli", "deadletters", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
