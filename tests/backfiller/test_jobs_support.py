"""Shared pieces of the backfill job tests: a backfiller in this process or as its own,
requests over NATS, the events it publishes, and expected data computed from the fake's
own derivation (never through the client under test)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from nats.aio.msg import Msg

from petrosa_backfiller.app import Backfiller, launch
from petrosa_backfiller.settings import BackfillerSettings
from petrosa_core.bus import Bus, connect
from petrosa_core.market import MarketStore
from petrosa_core.metadata import BackfillJob, JobStatus, MetadataStore
from petrosa_core.models import Candle, DatasetId, FundingRate, Trade
from petrosa_core.runtime import Runtime
from tests.fakes.binance_data import (
    candle_from_row,
    generated_agg_trade,
    generated_kline,
    read_csv,
)
from tests.fakes.binance_exchange import ExchangeStats, FakeBinance, Fault, Fetch

REPO = Path(__file__).resolve().parents[2]
KLINES = "/fapi/v1/klines"
FUNDING = "/fapi/v1/fundingRate"
AGG_TRADES = "/fapi/v1/aggTrades"
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
PAGE_MS = 1000 * MINUTE_MS  # one page of 1m klines: the backfiller asks for 1000 at a time
FINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def recorded_funding(path: Path, symbol: str) -> list[FundingRate]:
    return [
        FundingRate(symbol, int(r["funding_time_ms"]), float(r["funding_rate"]), None)
        for r in read_csv(path)
    ]


def generated_candles(symbol: str, start: int, count: int) -> list[Candle]:
    return [
        candle_from_row(symbol, "1m", generated_kline(symbol, "1m", start + i * MINUTE_MS))
        for i in range(count)
    ]


def generated_trades(symbol: str, first_id: int, last_id: int) -> list[Trade]:
    out = []
    for agg_id in range(first_id, last_id + 1):
        t = generated_agg_trade(symbol, agg_id)
        out.append(
            Trade(
                symbol,
                "agg",
                t["a"],
                float(t["p"]),
                float(t["q"]),
                t["T"],
                t["m"],
                None,
                t["f"],
                t["l"],
            )
        )
    return out


def candles_request(symbol: str, start: int, pages: int, interval: str = "1m") -> dict[str, Any]:
    """A candles request from ``start`` spanning ``pages`` pages of 1m klines, any interval."""
    return {
        "symbol": symbol,
        "data_type": "candles",
        "interval": interval,
        "start": start,
        "end": start + pages * PAGE_MS,
    }


def delivered(stats: ExchangeStats, path: str) -> list[Fetch]:
    """Fetches of ``path`` answered with data, slow ones included (slow is not a failure)."""
    return [
        f for f in stats.fetches if f.path == path and f.status == 200 and f.fault in (None, "slow")
    ]


def starts(stats: ExchangeStats, path: str = KLINES) -> list[int]:
    """Start times of the delivered fetches of ``path``, in request order."""
    return [f.start_time for f in delivered(stats, path) if f.start_time is not None]


def slow_pages(fake: FakeBinance, count: int) -> None:
    """Make the next ``count`` klines answers slow, so a job is still running when acted on."""
    slow: list[Fault] = ["slow"] * count
    fake.script(*slow, path=KLINES)


async def stored(store: MarketStore, dataset: str) -> list[Any]:
    """Every stored record of ``dataset`` in time order, paging through the whole range."""
    did = DatasetId.parse(dataset)
    records: list[Any] = []
    cursor = None
    while True:
        page = await store.query(did, limit=10_000, cursor=cursor)
        records.extend(page.records)
        if page.next_cursor is None:
            return records
        cursor = page.next_cursor


@dataclass
class Backfill:
    """One test's backfiller configuration, with subjects no other test uses."""

    nats_url: str
    market_url: str
    metadata_url: str
    binance_url: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:10])

    @property
    def subjects(self) -> dict[str, str]:
        return {
            kind: f"test.backfill.{kind}.{self.tag}"
            for kind in ("request", "cancel", "status", "events")
        }

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "NATS_URL": self.nats_url,
            "MARKET_STORE_URL": self.market_url,
            "METADATA_STORE_URL": self.metadata_url,
            "BINANCE_FAPI_URL": self.binance_url,
            **{f"BACKFILL_{k.upper()}_SUBJECT": v for k, v in self.subjects.items()},
            "BINANCE_TIMEOUT": "5",
            "BACKFILL_POLL_INTERVAL": "0.2",
            "LOG_LEVEL": "WARNING",
            **extra,
        }

    def settings(self, **extra: Any) -> BackfillerSettings:
        values: dict[str, Any] = {k.lower(): v for k, v in self.env().items()}
        return BackfillerSettings(**{**values, "metrics_port": 0, **extra})

    @asynccontextmanager
    async def running(self, **extra: Any) -> AsyncIterator[Backfiller]:
        """The backfiller in this process under a real ``Runtime``, stopped cleanly on exit."""
        runtime = Runtime("backfiller-test", signals=())
        settings = self.settings(**extra)
        built: list[Backfiller] = []

        async def start(rt: Runtime) -> None:
            built.append(await launch(rt, settings))

        task = asyncio.create_task(runtime.run(start))
        async with asyncio.timeout(30):
            while await runtime.readiness():
                assert not task.done(), "the backfiller stopped during startup"
                await asyncio.sleep(0.02)
        try:
            yield built[0]
        finally:
            runtime.stop()
            assert await task == 0

    def spawn(self, metrics_port: int, log: Path, **extra: str) -> subprocess.Popen[bytes]:
        """``python -m petrosa_backfiller`` as its own process, logging to ``log``."""
        env = {**os.environ, **self.env(METRICS_PORT=str(metrics_port), **extra)}
        with log.open("ab") as sink:
            return subprocess.Popen(
                [sys.executable, "-m", "petrosa_backfiller"],
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stderr=sink,
            )

    async def bus(self) -> Bus:
        return await connect(self.nats_url, name="backfill-test-client")

    async def ask(self, bus: Bus, kind: str, body: Any, timeout: float = 20.0) -> dict[str, Any]:
        """Send a request on the ``kind`` subject and return the decoded reply."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        reply = await bus.client.request(self.subjects[kind], data, timeout=timeout)
        return dict(json.loads(reply.data))

    @asynccontextmanager
    async def events(self, bus: Bus) -> AsyncIterator[list[dict[str, Any]]]:
        """Every event published while the block runs, in arrival order."""
        seen: list[dict[str, Any]] = []

        async def on_event(msg: Msg) -> None:
            seen.append(json.loads(msg.data))

        sub = await bus.client.subscribe(self.subjects["events"], cb=on_event)
        await bus.client.flush()
        try:
            yield seen
        finally:
            await bus.client.flush()
            await sub.unsubscribe()


async def wait_for_job(
    metadata: MetadataStore,
    job_id: str,
    statuses: Collection[JobStatus] = FINAL,
    timeout: float = 60.0,
) -> BackfillJob:
    """The job once its status is one of ``statuses``."""
    async with asyncio.timeout(timeout):
        while True:
            job = await metadata.get_job(job_id)
            if job is not None and job.status in statuses:
                return job
            await asyncio.sleep(0.05)


async def wait_until(predicate: Any, timeout: float = 60.0) -> None:
    """Until the async ``predicate()`` is true."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def wait_ready(port: int, timeout: float = 30.0) -> None:
    """Until the process on metrics port ``port`` reports ready."""
    async with httpx.AsyncClient(timeout=1.0) as client, asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/health/readiness")).is_success:
                    return
            await asyncio.sleep(0.05)


def now_ms() -> int:
    return time.time_ns() // 1_000_000
