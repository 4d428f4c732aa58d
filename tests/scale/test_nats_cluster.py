"""Ingest through a three-node JetStream cluster with the market stream replicated three
times, while the node leading the stream is killed and later restarted."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from petrosa_core.market import open_market_store
from tests.harness.servers import NatsCluster
from tests.ingestor._support import Ingest, agg_trade_frames, stored_keys, wait_ready
from tests.ingestor.test_processes import SYMBOLS, Proc, meta_url, wait_total_at_least
from tests.scale._support import (
    cluster_bus,
    publish_once,
    replicas_current,
    stream_leader,
)

FRAMES = 30_000
REPLICATED = {"NATS_STREAM_REPLICAS": "3", "NATS_STREAM_STORAGE": "file"}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    nodes = NatsCluster(tmp_path / "cluster")
    nodes.start()
    yield nodes
    nodes.stop()


async def test_a_node_killed_and_restarted_mid_ingest_loses_and_duplicates_nothing(
    cluster: NatsCluster, sqlite_url: str, tmp_path: Path
) -> None:
    ingest = Ingest(cluster.url, sqlite_url, meta_url(tmp_path))
    frames = agg_trade_frames(FRAMES, SYMBOLS)
    bus = await cluster_bus(cluster, "cluster-test")
    store = await open_market_store(sqlite_url)
    ingestor = Proc(ingest, **REPLICATED)
    try:
        await wait_ready(ingestor.port, timeout=60)
        info = await bus.js.stream_info(ingest.stream)
        consumer = await bus.js.consumer_info(ingest.stream, "ingestor")
        first_leader = await stream_leader(bus, ingest.stream)

        await publish_once(bus.js, ingest.subject, frames, range(FRAMES // 3))
        await wait_total_at_least(store, 1_000)
        cluster.kill(first_leader)
        second_leader = await stream_leader(bus, ingest.stream, not_=first_leader)
        await publish_once(bus.js, ingest.subject, frames, range(FRAMES // 3, 2 * FRAMES // 3))
        cluster.start_node(first_leader)
        await replicas_current(bus, ingest.stream, 3)
        await publish_once(bus.js, ingest.subject, frames, range(2 * FRAMES // 3, FRAMES))
        await ingest.wait_consumed(bus, published=FRAMES)
        stored = {s: await stored_keys(store, f"trades:{s}") for s in SYMBOLS}
        in_stream = (await bus.js.stream_info(ingest.stream)).state.messages
        alive = ingestor.proc.poll() is None
    finally:
        ingestor.stop(signal.SIGKILL)
        await store.close()
        await bus.close()

    # The consumer follows its stream: its state lives on the leader and two peers.
    assert consumer.cluster is not None and len(consumer.cluster.replicas or []) == 2
    assert info.config.num_replicas == 3
    assert second_leader != first_leader
    assert in_stream == FRAMES
    per_symbol = FRAMES // len(SYMBOLS)
    assert stored == {s: [("agg", i) for i in range(per_symbol)] for s in SYMBOLS}
    assert alive
