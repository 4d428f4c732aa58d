"""Every service scaled out at once on a three-node JetStream cluster: three ingestors on
one durable consumer, two backfillers, two auditors and two analytics processes.

Every frame is stored exactly once, every backfill job runs once (one attempt, each page
fetched from the exchange once), exactly one auditor leads at every sample, and both
analytics processes stay up and ready throughout.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from petrosa_core.market import open_market_store
from petrosa_core.metadata import JobStatus, MetadataStore
from tests.backfiller.test_jobs_support import (
    DAY_MS,
    Backfill,
    candles_request,
    starts,
    wait_for_job,
    wait_ready,
)
from tests.fakes.binance_data import listing_time
from tests.fakes.binance_exchange import FakeBinance
from tests.harness.servers import NatsCluster, free_port
from tests.ingestor._support import REPO, Ingest, agg_trade_frames, stored_keys
from tests.scale._support import cluster_bus, publish_once
from tests.scale.test_db_metrics import scraped

FRAMES = 12_000
SYMBOLS = ("BTCUSDT", "ETHUSDT")
BACKFILLED = ("REPAUSDT", "REPBUSDT", "REPCUSDT")
PAGES = 2
REPLICATED = {"NATS_STREAM_REPLICAS": "3"}
# Leader samples taken while everything runs; the lease is stable unless a process dies.
SAMPLES = 20


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    nodes = NatsCluster(tmp_path / "cluster")
    nodes.start()
    yield nodes
    nodes.stop()


class Processes:
    """Service processes of one test, each with its metrics port; killed at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen[bytes], int]] = []

    def start(self, module: str, env: dict[str, str]) -> int:
        port = free_port()
        log = self.logs / f"{module}-{len(self.started)}.log"
        with log.open("ab") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", module],
                env={**os.environ, **env, "METRICS_PORT": str(port)},
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stderr=sink,
            )
        self.started.append((module, proc, port))
        return port

    def ports(self, module: str) -> list[int]:
        return [port for name, _, port in self.started if name == module]

    def alive(self) -> bool:
        return all(proc.poll() is None for _, proc, _ in self.started)

    def kill(self) -> None:
        for _, proc, _ in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    yield running
    running.kill()


def service_env(cluster: NatsCluster, market: str, metadata: str, **extra: str) -> dict[str, str]:
    return {
        "NATS_URL": cluster.url,
        "MARKET_STORE_URL": market,
        "METADATA_STORE_URL": metadata,
        "LOG_LEVEL": "WARNING",
        # One lease bucket serves both services: the same lease length for both.
        "LEADER_ELECTION_HEARTBEAT_INTERVAL": "0.5",
        "LEADER_ELECTION_TIMEOUT": "3",
        **REPLICATED,
        **extra,
    }


async def leaders(ports: list[int], lease: str) -> int:
    """How many of the processes on ``ports`` believe they lead ``lease``."""
    count = 0
    for port in ports:
        for labels, value in (await scraped(port)).get("data_manager_leader_status", []):
            count += int(labels.get("lease") == lease and value == 1.0)
    return count


async def ready(port: int) -> bool:
    async with httpx.AsyncClient(timeout=2) as client:
        return (await client.get(f"http://127.0.0.1:{port}/health/readiness")).status_code == 200


async def test_every_service_scaled_out_on_a_cluster_does_each_piece_of_work_once(
    cluster: NatsCluster,
    processes: Processes,
    mysql_url: str,
    fake: FakeBinance,
    tmp_path: Path,
) -> None:
    metadata_url = f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}"
    ingest = Ingest(cluster.url, mysql_url, metadata_url)
    backfill = Backfill(cluster.url, mysql_url, metadata_url, fake.url)
    lease = f"auditor_{uuid.uuid4().hex[:8]}"
    bus = await cluster_bus(cluster, "replicas-test")
    for _ in range(3):
        processes.start("petrosa_ingestor", ingest.env(**REPLICATED))
    for _ in range(2):
        processes.start("petrosa_backfiller", backfill.env(**REPLICATED))
    auditor = service_env(
        cluster,
        mysql_url,
        metadata_url,
        AUDIT_LEASE_NAME=lease,
        AUDIT_INTERVAL="1",
        AUDIT_REQUEST_SUBJECT=f"test.audit.request.{lease}",
        BACKFILL_REQUEST_SUBJECT=backfill.subjects["request"],
    )
    for _ in range(2):
        processes.start("petrosa_auditor", auditor)
    analytics = service_env(
        cluster, mysql_url, metadata_url, ANALYTICS_LEASE_NAME=f"analytics_{lease}"
    )
    for _ in range(2):
        processes.start("petrosa_analytics", analytics)
    metadata = await MetadataStore.open(metadata_url)
    store = await open_market_store(mysql_url)
    try:
        for _, _, port in processes.started:
            await wait_ready(port, timeout=120)
        frames = agg_trade_frames(FRAMES, SYMBOLS)
        await publish_once(bus.js, ingest.subject, frames)
        replies = [
            await backfill.ask(
                bus, "request", candles_request(s, listing_time(s) + DAY_MS, PAGES), timeout=30
            )
            for s in BACKFILLED
        ]
        auditors = processes.ports("petrosa_auditor")
        async with asyncio.timeout(60):
            while await leaders(auditors, lease) != 1:  # the first election
                await asyncio.sleep(0.2)
        leading = []
        for _ in range(SAMPLES):
            leading.append(await leaders(auditors, lease))
            await asyncio.sleep(0.25)
        await ingest.wait_consumed(bus, published=FRAMES)
        jobs = [await wait_for_job(metadata, r["job_id"], timeout=120) for r in replies]
        stored = {s: await stored_keys(store, f"trades:{s}") for s in SYMBOLS}
        analytics_ready = [await ready(p) for p in processes.ports("petrosa_analytics")]
        stream = await bus.js.stream_info(ingest.stream)
        all_alive = processes.alive()
    finally:
        await store.close()
        await metadata.close()
        await bus.close()

    per_symbol = FRAMES // len(SYMBOLS)
    assert stream.config.num_replicas == 3
    assert stored == {s: [("agg", i) for i in range(per_symbol)] for s in SYMBOLS}
    assert [(j.status, j.attempts) for j in jobs] == [(JobStatus.COMPLETED, 1)] * len(jobs)
    fetched = starts(fake.stats())
    assert len(fetched) == len(set(fetched)) == len(BACKFILLED) * PAGES
    assert leading == [1] * SAMPLES
    assert analytics_ready == [True, True]
    assert all_alive
