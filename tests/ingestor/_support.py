"""Shared pieces of the ingestor tests: expected datasets computed straight from the
recorded JSON (not through the parser), frame generators, and a running ingestor."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client

from petrosa_core.bus import Bus, connect
from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.metadata import MetadataStore
from petrosa_core.models import DatasetId, DatasetKind
from petrosa_core.runtime import Runtime
from petrosa_ingestor.app import build_ingestor
from petrosa_ingestor.settings import IngestorSettings
from tests.harness.servers import free_port

REPO = Path(__file__).resolve().parents[2]


def expected_keys(frames: Iterable[dict[str, Any]]) -> dict[str, set[tuple[Any, ...]]]:
    """Natural keys per dataset id that the frames imply, from the raw payloads."""
    out: dict[str, set[tuple[Any, ...]]] = {}
    for frame in frames:
        d = frame.get("data", frame)
        e, s = d["e"], d["s"]
        if e == "kline":
            out.setdefault(f"candles:{s}:{d['k']['i']}", set()).add((d["k"]["t"],))
        elif e == "aggTrade":
            out.setdefault(f"trades:{s}", set()).add(("agg", d["a"]))
        elif e == "trade":
            out.setdefault(f"trades:{s}", set()).add(("raw", d["t"]))
        elif e == "depthUpdate":
            out.setdefault(f"depth:{s}", set()).add((d["u"],))
        elif e == "bookTicker":
            out.setdefault(f"book_tickers:{s}", set()).add((d["u"],))
        elif e == "markPriceUpdate":
            out.setdefault(f"mark_prices:{s}", set()).add((d["E"],))
        elif e == "24hrTicker":
            out.setdefault(f"tickers:{s}", set()).add((d["E"],))
    return out


def agg_trade_frames(count: int, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")) -> list[bytes]:
    """``count`` aggTrade frames with contiguous ids per symbol, in the envelope."""
    frames = []
    for i in range(count):
        symbol, n = symbols[i % len(symbols)], i // len(symbols)
        data = {
            "e": "aggTrade",
            "E": 1_700_000_000_000 + n,
            "s": symbol,
            "a": n,
            "p": f"{100 + n % 97}.{n % 10}",
            "q": f"{1 + n % 5}.25",
            "f": n * 2,
            "l": n * 2 + 1,
            "T": 1_700_000_000_000 + n,
            "m": n % 2 == 0,
        }
        frames.append(json.dumps({"stream": f"{symbol.lower()}@aggTrade", "data": data}).encode())
    return frames


async def publish(nc: Client, subject: str, frames: Iterable[bytes]) -> None:
    """Publish through core NATS (the stream captures the subject), then flush."""
    for i, frame in enumerate(frames):
        await nc.publish(subject, frame)
        if i % 5000 == 4999:
            await nc.flush()
    await nc.flush()


@dataclass
class Ingest:
    """Names that keep one test's stream, consumer and subject apart from the others."""

    nats_url: str
    market_url: str
    metadata_url: str

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.subject = f"test.frames.{tag}"
        self.stream = f"FRAMES_{tag}"
        self.deadletter = f"test.deadletter.{tag}"
        self.events = f"test.audit.{tag}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "NATS_URL": self.nats_url,
            "MARKET_STORE_URL": self.market_url,
            "METADATA_STORE_URL": self.metadata_url,
            "NATS_CONSUMER_SUBJECT": self.subject,
            "NATS_STREAM_NAME": self.stream,
            "DEADLETTER_SUBJECT": self.deadletter,
            "DEADLETTER_STREAM_NAME": f"DEAD_{self.stream}",
            "DEADLETTER_MAX_BYTES": str(64 * 1024**2),
            "AUDIT_EVENTS_SUBJECT": self.events,
            "LOG_LEVEL": "WARNING",
            # Streams reserve their max bytes up front; keep many test streams affordable.
            "NATS_STREAM_MAX_BYTES": str(256 * 1024**2),
            **extra,
        }

    def settings(self, **extra: Any) -> IngestorSettings:
        return IngestorSettings(**{k.lower(): v for k, v in self.env().items()}, **extra)

    @asynccontextmanager
    async def running(self, **extra: Any) -> AsyncIterator[Runtime]:
        """The ingestor in this process, stopped (flushed and acked) on exit."""
        runtime = Runtime("ingestor-test", signals=())
        settings = self.settings(metrics_port=0, **extra)
        ingestor = await build_ingestor(runtime, settings)
        task = asyncio.create_task(ingestor.run(runtime.stopping))
        try:
            yield runtime
        finally:
            runtime.stopping.set()
            await task
            for _, closer in reversed(runtime._closers):
                await closer()

    def spawn(self, metrics_port: int, **extra: str) -> subprocess.Popen[bytes]:
        """The ingestor as its own process (``python -m petrosa_ingestor``)."""
        env = {**os.environ, **self.env(METRICS_PORT=str(metrics_port), **extra)}
        return subprocess.Popen(
            [sys.executable, "-m", "petrosa_ingestor"], env=env, cwd=REPO, stdin=subprocess.DEVNULL
        )

    async def bus(self) -> Bus:
        return await connect(self.nats_url, name="ingestor-test-client")

    async def wait_consumed(
        self, bus: Bus, timeout: float = 120.0, durable: str = "ingestor", published: int = 0
    ) -> None:
        """Until the durable consumer has delivered and seen acked every stored frame.

        ``published``: wait first until the stream holds that many frames in all, for a
        consumer that was already idle when the last frames were published.
        """
        async with asyncio.timeout(timeout):
            while (await bus.js.stream_info(self.stream)).state.messages < published:
                await asyncio.sleep(0.05)
            while True:
                info = await bus.js.consumer_info(self.stream, durable)
                if (
                    info.num_pending == 0
                    and info.num_ack_pending == 0
                    and info.delivered.stream_seq
                ):
                    return
                await asyncio.sleep(0.1)

    async def stores(self) -> tuple[MarketStore, MetadataStore]:
        return await open_market_store(self.market_url), await MetadataStore.open(self.metadata_url)


async def readiness(port: int) -> int | None:
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            return (await client.get(f"http://127.0.0.1:{port}/health/readiness")).status_code
    except httpx.HTTPError:
        return None


async def wait_ready(port: int, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while await readiness(port) != 200:
            await asyncio.sleep(0.1)


async def stored_keys(store: MarketStore, dataset: str) -> list[tuple[Any, ...]]:
    """Every stored natural key of ``dataset``, paging through the whole range."""
    did = DatasetId.parse(dataset)
    keys: list[tuple[Any, ...]] = []
    cursor = None
    while True:
        page = await store.query(did, limit=10_000, cursor=cursor)
        for r in page.records:
            keys.append((r.trade_type, r.trade_id) if did.kind is DatasetKind.TRADES else (r.key,))
        if page.next_cursor is None:
            return keys
        cursor = page.next_cursor


__all__ = ["free_port"]
