"""The ingest benchmark's ceiling, as its own process: fetch and ack, importing only nats.

``python -m benchmarks._bare_consumer URL STREAM DURABLE TOTAL FETCH_BATCH`` prints its
peak RSS in MiB when done; importing nothing else keeps that figure the client's own.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import nats
import nats.errors


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bare_consumer(url: str, stream: str, durable: str, total: int, batch: int) -> None:
    """Fetch as the ingestor does and ack each frame, nothing else."""
    nc = await nats.connect(url)
    sub = await nc.jetstream().pull_subscribe_bind(durable=durable, stream=stream)
    done = 0
    while done < total:
        try:
            msgs = await sub.fetch(batch, timeout=1.0)
        except nats.errors.TimeoutError:
            continue
        for msg in msgs:
            await msg.ack()
        done += len(msgs)
    await nc.flush()
    await nc.close()
    print(peak_rss_mib(os.getpid()))  # read by the benchmark


if __name__ == "__main__":
    url, stream, durable, total, batch = sys.argv[1:6]
    asyncio.run(bare_consumer(url, stream, durable, int(total), int(batch)))
