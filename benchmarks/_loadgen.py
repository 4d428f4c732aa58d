"""A closed-loop HTTP/1.1 load generator, run as its own process: ``python -m benchmarks._loadgen``.

Keep-alive connections on raw asyncio streams: an httpx client spends about a millisecond
of CPU per request, which on a small machine would measure the client, not the server.
Prints one JSON line: requests, seconds, requests/s, p50/p99 latency (ms), errors.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from collections.abc import Iterator


async def _one(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str
) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def _connection(
    host: str, port: int, paths: Iterator[str], budget: list[int], latencies: list[float]
) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    errors = 0
    try:
        while budget[0] > 0:
            budget[0] -= 1
            started = time.perf_counter()
            status = await _one(reader, writer, host, next(paths))
            latencies.append(time.perf_counter() - started)
            errors += status != 200
    finally:
        writer.close()
    return errors


async def load(
    host: str, port: int, paths: list[str], requests: int, concurrency: int
) -> dict[str, float]:
    """Send ``requests`` GETs over ``concurrency`` connections, cycling through ``paths``."""
    latencies: list[float] = []
    budget = [requests]
    cycle = itertools.cycle(paths)
    started = time.perf_counter()
    errors = await asyncio.gather(
        *(_connection(host, port, cycle, budget, latencies) for _ in range(concurrency))
    )
    seconds = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": seconds,
        "rps": len(latencies) / seconds,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "errors": sum(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    if args.warmup:
        asyncio.run(load(args.host, args.port, args.paths, args.warmup, args.concurrency))
    result = asyncio.run(load(args.host, args.port, args.paths, args.requests, args.concurrency))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
