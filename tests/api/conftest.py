"""The API as operators run it: ``python -m petrosa_api`` over stores filled with recorded data."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from petrosa_core.binance import parse_frame
from petrosa_core.errors import ParseError
from petrosa_core.health import weighted_score
from petrosa_core.market import open_market_store
from petrosa_core.metadata import MetadataStore
from petrosa_core.models import Candle, DatasetId, DatasetKind, FundingRate, Record
from tests.harness.recorded import csv_candles
from tests.harness.servers import NatsServer

EXTRA_FRAMES = Path(__file__).resolve().parents[1] / "fixtures" / "ws_frames_extra.jsonl"
START_TIMEOUT = 30.0
XRP_5M = DatasetId.of(DatasetKind.CANDLES, "XRPUSDT", "5m")
XRP_FUNDING = DatasetId.of(DatasetKind.FUNDING_RATES, "XRPUSDT")
EMPTY_REGISTERED = DatasetId.of(DatasetKind.CANDLES, "BTCUSDT", "1h")
FIVE_MIN = 300_000
# API keys of the tests: long enough for the API's minimum, and never a real secret.
WRITER, READER = "w-7f3a9c2e41d8b605", "r-51be02c9a7f3e184"


def xrp_candles(shared_data: Path) -> list[Candle]:
    """The recorded XRPUSDT 5m candles; the CSV carries OHLCV, the rest is derived."""
    return csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", FIVE_MIN)


def xrp_funding(shared_data: Path) -> list[FundingRate]:
    with (shared_data / "xrpusdt_perp_funding_rates.csv").open() as f:
        return [
            FundingRate("XRPUSDT", int(r["funding_time_ms"]), float(r["funding_rate"]))
            for r in csv.DictReader(f)
        ]


def recorded_records(shared_data: Path) -> dict[DatasetId, list[Record]]:
    """Every recorded websocket frame (and the documented extras), parsed, by dataset."""
    lines = (shared_data / "binance_usdm_ws_frames.jsonl").read_text().splitlines()
    lines += EXTRA_FRAMES.read_text().splitlines()
    by_dataset: dict[DatasetId, list[Record]] = defaultdict(list)
    for line in lines:
        try:
            record = parse_frame(line)
        except ParseError:
            continue  # the extras include frames built to be refused
        by_dataset[record.dataset].append(record)
    return by_dataset


async def fill_market(url: str, shared_data: Path) -> dict[DatasetId, list[Record]]:
    """Write the recorded data; return what was written (before de-duplication) by dataset."""
    written = recorded_records(shared_data)
    written[XRP_5M] = list(xrp_candles(shared_data))
    written[XRP_FUNDING] = list(xrp_funding(shared_data))
    store = await open_market_store(url)
    try:
        for dataset, records in written.items():
            await store.write(dataset, records)
    finally:
        await store.close()
    return written


async def fill_metadata(url: str) -> dict[str, Any]:
    """Register datasets, health, findings, lineage and jobs as the other services would."""
    store = await MetadataStore.open(url)
    try:
        await store.register_dataset(XRP_5M, source="binance_ws", description="XRPUSDT 5m")
        await store.register_dataset(EMPTY_REGISTERED, source="binance_rest")
        # Scored as the auditor scores: the weighted components on the 0..100 scale.
        stale = {"completeness": 0.99, "validity": 0.5, "freshness": 0.0, "consistency": 0.95}
        latest = {"completeness": 0.99, "validity": 1.0, "freshness": 1.0, "consistency": 0.95}
        for measured_at, parts in ((1_637_534_000_000, stale), (1_637_534_112_000, latest)):
            await store.add_health(
                XRP_5M, score=weighted_score(parts), **parts, details={"gaps": 0},
                measured_at=measured_at,
            )  # fmt: skip
        funding = {"completeness": 0.5, "validity": 1.0, "freshness": 0.2, "consistency": 1.0}
        await store.add_health(
            XRP_FUNDING, score=weighted_score(funding), **funding, details={},
            measured_at=1_637_534_000_000,
        )  # fmt: skip
        finding = await store.add_finding(
            XRP_5M, "gaps", "warning", 1_636_934_400_000, 1_636_935_000_000, {"missing": 2}
        )
        job = await store.create_job(
            XRP_5M, data_type="candles", start=1_636_934_400_000, end=1_637_020_800_000
        )
        await store.add_lineage(
            XRP_5M, source="binance_rest:/fapi/v1/klines", process="backfill", job_id=job.id,
            start=1_636_934_400_000, end=1_637_020_800_000, record_count=288,
        )  # fmt: skip
        await store.add_lineage(
            "analytics:XRPUSDT:volatility", source=str(XRP_5M), process="analytics"
        )
    finally:
        await store.close()
    return {"job_id": job.id, "finding_id": finding}


@dataclass
class Api:
    """A running API process, its base URL and its JSON log lines."""

    proc: asyncio.subprocess.Process
    url: str = ""
    logs: list[dict[str, Any]] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10, **kwargs)

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(START_TIMEOUT):
                await self.proc.wait()
        if self.reader is not None:
            await self.reader
        return self.proc.returncode or 0


async def _read_logs(api: Api, port_found: asyncio.Future[int]) -> None:
    assert api.proc.stderr is not None
    async for raw in api.proc.stderr:
        try:
            entry = json.loads(raw)
        except ValueError:
            entry = {"message": raw.decode(errors="replace")}
        api.logs.append(entry)
        if entry.get("message") == "http listening" and not port_found.done():
            port_found.set_result(int(entry["port"]))
    if not port_found.done():
        port_found.set_exception(AssertionError(f"the API exited: {api.logs[-5:]}"))


async def launch_api(env: dict[str, str], *, ready: bool = True) -> Api:
    """Start the API with ``env`` on a free port; wait for readiness unless told not to."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "petrosa_api", env={**os.environ, "API_PORT": "0", **env},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    api = Api(proc)
    port_found: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    api.reader = asyncio.create_task(_read_logs(api, port_found))
    try:
        async with asyncio.timeout(START_TIMEOUT):
            api.url = f"http://127.0.0.1:{await port_found}"
            if ready:
                await _until_ready(api)
    except BaseException:
        # No fixture will stop an API that never came up: left running, it loads the machine.
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise
    return api


async def _until_ready(api: Api) -> None:
    async with api.client() as client:
        while (await client.get("/health/readiness")).status_code != 200:
            if api.proc.returncode is not None:
                raise AssertionError(f"the API exited: {api.logs[-5:]}")
            await asyncio.sleep(0.05)


@dataclass(frozen=True)
class Stores:
    market_url: str
    metadata_url: str
    written: dict[DatasetId, list[Record]]
    ids: dict[str, Any]

    def env(self, nats_url: str, **extra: str) -> dict[str, str]:
        return {
            "NATS_URL": nats_url,
            "MARKET_STORE_URL": self.market_url,
            "METADATA_STORE_URL": self.metadata_url,
            "API_RATE_LIMIT_PER_MINUTE": "0",
            **extra,
        }


@pytest.fixture(scope="package")
async def stores(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Stores:
    folder = tmp_path_factory.mktemp("api-stores")
    market_url = f"sqlite+aiosqlite:///{folder / 'market.db'}"
    metadata_url = f"sqlite+aiosqlite:///{folder / 'metadata.db'}"
    written = await fill_market(market_url, shared_data)
    ids = await fill_metadata(metadata_url)
    return Stores(market_url, metadata_url, written, ids)


@pytest.fixture(scope="package")
async def api(stores: Stores, nats_server: NatsServer) -> AsyncIterator[Api]:
    """One API over the filled stores, open reads, no keys, no rate limit."""
    running = await launch_api(stores.env(nats_server.url))
    yield running
    await running.stop()


@pytest.fixture(scope="package")
async def keyed(stores: Stores, nats_server: NatsServer) -> AsyncIterator[Api]:
    """An API with a read+write key and a read-only key."""
    env = stores.env(nats_server.url, API_KEYS=f"{WRITER}:read+write,{READER}:read")
    running = await launch_api(env)
    yield running
    await running.stop()


Launch = Callable[..., Awaitable[Api]]


@pytest.fixture
async def launch(stores: Stores, nats_server: NatsServer) -> AsyncIterator[Launch]:
    """Start an API with extra settings for one test; stopped afterwards."""
    started: list[Api] = []

    async def start(ready: bool = True, **env: str) -> Api:
        running = await launch_api(stores.env(nats_server.url, **env), ready=ready)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.proc.returncode is None:
            running.proc.kill()
        await running.stop()
