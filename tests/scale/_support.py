"""Pieces of the scale-out tests: a JetStream cluster ready for work, a publisher that gets
every frame into the stream exactly once across a node's death, and a stream's leader."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext

from petrosa_core.bus import Bus, connect
from petrosa_core.errors import BusError
from tests.harness.servers import NatsCluster

# JetStream elects a meta leader a few seconds after the routes connect.
CLUSTER_READY = 30.0
# Acks wanted at once: enough to keep three nodes busy, few enough to retry cheaply.
PUBLISH_WINDOW = 256
RETRYABLE = (nats.errors.Error, nats.js.errors.Error, TimeoutError, OSError)


async def cluster_bus(cluster: NatsCluster, name: str) -> Bus:
    """A connection to every node that returns once the cluster's JetStream answers."""
    bus = await connect(cluster.url, name=name, initial_timeout=10, reconnect_wait=0.2)
    async with asyncio.timeout(CLUSTER_READY):
        while True:
            with contextlib.suppress(*RETRYABLE):
                await bus.js.account_info()
                return bus
            await asyncio.sleep(0.2)


async def publish_once(
    js: JetStreamContext, subject: str, frames: Sequence[bytes], part: range | None = None
) -> None:
    """Store frames ``part`` (all by default) in the stream once each: a frame carries its
    index as ``Nats-Msg-Id`` and an unacknowledged publish is retried until acked; the
    stream's duplicate window drops copies of a publish stored but whose ack was lost."""
    part = range(len(frames)) if part is None else part
    for first in range(part.start, part.stop, PUBLISH_WINDOW):
        batch = range(first, min(first + PUBLISH_WINDOW, part.stop))
        await asyncio.gather(*(_until_acked(js, subject, i, frames[i]) for i in batch))


async def _until_acked(js: JetStreamContext, subject: str, index: int, frame: bytes) -> None:
    while True:
        try:
            await js.publish(subject, frame, timeout=2.0, headers={"Nats-Msg-Id": str(index)})
            return
        except RETRYABLE:
            await asyncio.sleep(0.1)


async def stream_leader(bus: Bus, stream: str, *, not_: str | None = None) -> str:
    """The node leading ``stream``'s raft group (other than ``not_``), once there is one."""
    async with asyncio.timeout(CLUSTER_READY):
        while True:
            with contextlib.suppress(*RETRYABLE, BusError):
                cluster = (await bus.js.stream_info(stream)).cluster
                if cluster is not None and cluster.leader and cluster.leader != not_:
                    return cluster.leader
            await asyncio.sleep(0.2)


async def replicas_current(bus: Bus, stream: str, count: int) -> None:
    """Until every one of ``count`` replicas of ``stream`` is online and caught up."""
    async with asyncio.timeout(CLUSTER_READY * 2):
        while True:
            with contextlib.suppress(*RETRYABLE, BusError):
                cluster = (await bus.js.stream_info(stream)).cluster
                peers = (cluster.replicas or []) if cluster else []
                if len(peers) == count - 1 and all(p.current and not p.offline for p in peers):
                    return
            await asyncio.sleep(0.3)
