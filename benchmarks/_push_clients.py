"""The push benchmark's clients, as their own process: ``python -m benchmarks._push_clients``.

Opens SSE and WebSocket clients on the API, each subscribed to one dataset, and a NATS
subscription of ``petrosa.market.updates.>`` that learns each record's durable-write time
(``written_time``): a client's latency is its arrival time minus that write time, on this
machine's clock. With ``--sse 0 --ws 0`` it is the bare NATS subscriber alone, the
baseline, in a process of its own. Prints one JSON line of percentiles and counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from typing import Any

import msgspec
from websockets.asyncio.client import connect as ws_connect

from petrosa_core.bus import Message, connect
from petrosa_core.contracts import MARKET_UPDATES_ALL, MarketUpdate


class Row(msgspec.Struct):
    """The fields of a pushed trade that identify it."""

    symbol: str
    trade_type: str
    trade_id: int


class WsEnvelope(msgspec.Struct):
    event: str
    data: Row | None = None


_row = msgspec.json.Decoder(Row).decode
_envelope = msgspec.json.Decoder(WsEnvelope).decode


class Clock:
    """Write times by record, and latencies of everything that arrived while measuring."""

    def __init__(self) -> None:
        self.written: dict[tuple[str, int], float] = {}
        self.early: dict[tuple[str, int], list[tuple[str, float]]] = defaultdict(list)
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.measuring = False
        self.received: dict[str, int] = defaultdict(int)
        self.closed: list[str] = []

    async def on_update(self, msg: Message) -> None:
        now = time.time()
        update = MarketUpdate.decode(msg.data)
        written = update.written_time / 1000
        for key in update.keys:
            ident = (update.symbol, key)
            self.written[ident] = written
            for kind, arrived in self.early.pop(ident, ()):
                self.note(kind, arrived - written)
        if self.measuring:
            self.latencies["nats"] += [now - written] * len(update.keys)

    def arrived(self, kind: str, row: Row) -> None:
        now = time.time()
        self.received[kind] += 1
        ident = (row.symbol, row.trade_id)
        written = self.written.get(ident)
        if written is None:
            self.early[ident].append((kind, now))
        else:
            self.note(kind, now - written)

    def note(self, kind: str, seconds: float) -> None:
        if self.measuring:
            self.latencies[kind].append(seconds)


async def sse_client(host: str, port: int, dataset: str, clock: Clock) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    writer.write(f"GET /stream?datasets={dataset} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")
    try:
        while line := await reader.readline():
            if line.startswith(b'data: {"symbol"'):
                clock.arrived("sse", _row(line[6:]))
            elif line.startswith(b"event: dropped"):
                clock.closed.append("sse dropped")
                return
    finally:
        writer.close()


async def ws_client(host: str, port: int, dataset: str, clock: Clock) -> None:
    async with ws_connect(f"ws://{host}:{port}/ws", max_queue=None) as ws:
        await ws.send(json.dumps({"action": "subscribe", "datasets": [dataset]}))
        async for message in ws:
            envelope = _envelope(message)
            if envelope.data is not None:
                clock.arrived("ws", envelope.data)
    clock.closed.append(f"ws closed {ws.close_code}")


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    values.sort()

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(len(values) * q))] * 1000

    return {"count": len(values), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0)}


async def main(args: argparse.Namespace) -> None:
    clock = Clock()
    bus = await connect(args.nats_url, name="bench-bare-subscriber")
    await bus.subscribe(MARKET_UPDATES_ALL, handler=clock.on_update)
    datasets = args.datasets.split(",")
    clients = [
        asyncio.create_task(sse_client(args.host, args.port, datasets[i % len(datasets)], clock))
        for i in range(args.sse)
    ] + [
        asyncio.create_task(ws_client(args.host, args.port, datasets[i % len(datasets)], clock))
        for i in range(args.ws)
    ]
    await asyncio.sleep(args.warmup)
    clock.measuring = True
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.sleep(args.seconds)
    clock.measuring = False
    # Near a whole core here means the clients, not the API, set the latency.
    client_cpu = (time.process_time() - cpu) / (time.monotonic() - wall)
    for task in clients:
        task.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    await bus.close()
    result: dict[str, Any] = {k: percentiles(v) for k, v in clock.latencies.items()}
    result["received"] = dict(clock.received)
    result["closed"] = clock.closed[:10]
    result["client_cpu"] = client_cpu
    print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--datasets", required=True)
    parser.add_argument("--sse", type=int, default=200)
    parser.add_argument("--ws", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    asyncio.run(main(parser.parse_args()))
