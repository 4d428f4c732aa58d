"""Two auditor processes: only the leader audits; killing it hands the work over, no overlap."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from petrosa_core.bus import connect
from petrosa_core.leader import LEASE_BUCKET
from petrosa_core.metadata import MetadataStore
from petrosa_core.models import DatasetId, DatasetKind
from tests.auditor._support import funding_rates, opened, unique, write
from tests.harness.servers import NatsServer

HEARTBEAT, TIMEOUT = 0.3, 2.0
WAIT = 60.0
# Process start-up and scheduling on a shared two-core machine: not part of the protocol.
SLACK = 5.0
DATASET = DatasetId.of(DatasetKind.FUNDING_RATES, "XRPUSDT")


class Auditor:
    """``python -m petrosa_auditor`` with its JSON log lines collected as they arrive."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.logs: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            async with self._arrived:
                self.logs.append(json.loads(raw))
                self._arrived.notify_all()

    def count(self, message: str) -> int:
        return sum(1 for e in self.logs if e["message"].startswith(message))

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT), self._arrived:
            while not done():
                assert not self._reader.done(), "the auditor exited"
                await self._arrived.wait()

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        code = await self.proc.wait()
        await self._reader
        return code


@pytest.fixture
async def launch(tmp_path: Path, nats_server: NatsServer) -> AsyncIterator[Callable[[], Any]]:
    started: list[Auditor] = []
    env = {
        **os.environ,
        "NATS_URL": nats_server.url,
        "MARKET_STORE_URL": f"sqlite+aiosqlite:///{tmp_path / 'market.db'}",
        "METADATA_STORE_URL": f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}",
        "METRICS_PORT": "0",
        "ENABLE_LEADER_ELECTION": "true",
        "LEADER_ELECTION_HEARTBEAT_INTERVAL": str(HEARTBEAT),
        "LEADER_ELECTION_TIMEOUT": str(TIMEOUT),
        "AUDIT_INTERVAL": "0.2",
        "AUDIT_LEASE_NAME": unique("auditor").replace(".", "_"),
        "AUDIT_REQUEST_SUBJECT": unique("audit.request"),
    }

    async def start() -> Auditor:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "petrosa_auditor",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        started.append(Auditor(proc))
        return started[-1]

    yield start
    for auditor in started:
        await auditor.stop(signal.SIGKILL)


async def lease_ttl(url: str) -> float:
    """The lease bucket's TTL: a bucket made by a longer-lease process keeps its longer TTL."""
    bus = await connect(url, name="ttl-probe")
    try:
        return float((await (await bus.js.key_value(LEASE_BUCKET)).status()).ttl or TIMEOUT)
    finally:
        await bus.close()


@pytest.mark.slow
async def test_the_follower_takes_over_when_the_leader_dies_and_no_audits_overlap(
    launch: Callable[[], Any], nats_server: NatsServer, tmp_path: Path, shared_data: Path
) -> None:
    async with opened(f"sqlite+aiosqlite:///{tmp_path / 'market.db'}") as store:
        await write(store, funding_rates(shared_data / "xrpusdt_perp_funding_rates.csv"))

    first = await launch()
    await first.until(lambda: first.count("audit run finished") >= 1)
    second = await launch()
    await second.until(lambda: second.count("service started") == 1)
    seen = first.count("audit run finished")
    await first.until(lambda: first.count("audit run finished") >= seen + 3)
    assert second.count("elected leader") == 0
    killed_at = time.time()
    await first.stop(signal.SIGKILL)
    await second.until(lambda: second.count("audit run finished") >= 2)
    elected = next(e for e in second.logs if e["message"].startswith("elected leader"))
    took_over = datetime.fromisoformat(elected["time"]).timestamp()
    assert await second.stop() == 0

    metadata = await MetadataStore.open(f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}")
    runs = [h.details for h in await metadata.health_history(DATASET, limit=10_000)]
    await metadata.close()
    by_pid = {pid: [r for r in runs if r["pid"] == pid] for pid in {r["pid"] for r in runs}}
    assert set(by_pid) == {first.proc.pid, second.proc.pid}
    old, new = by_pid[first.proc.pid], by_pid[second.proc.pid]
    assert len({r["token"] for r in old}) == len({r["token"] for r in new}) == 1
    assert new[0]["token"] > old[0]["token"]
    assert max(r["finished_at"] for r in old) <= killed_at * 1000
    assert min(r["started_at"] for r in new) >= killed_at * 1000
    ttl = await lease_ttl(nats_server.url)
    assert took_over - killed_at <= ttl + HEARTBEAT + SLACK
