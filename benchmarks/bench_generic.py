"""Generic API throughput: 1000 candles through /api/v1/mongodb/candles_XRPUSDT_5m against
/data/candles for the same rows, in the same API process and run.

The API runs as its own process over a SQLite market store holding the recorded XRPUSDT 5m
candles; the load generator keeps 16 requests in flight. Both endpoints are asked for the
same 64 different 1000-row pages in rotation (every request reads the store), then for
one page asked by every client. Target: the generic GET at least 0.8 of /data's requests/s.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from benchmarks._report import table
from benchmarks.bench_api import (
    CANDLES_FILE,
    CONCURRENCY,
    FIVE_MIN,
    fill,
    generate,
    recorded_candles,
    start_api,
)
from tests.harness.servers import NatsServer

TARGET_RATIO = 0.8
REQUESTS = {"rotating": 600, "one_page": 1500}
FIRST = 1_636_934_400_000
PAGES = 64


def _starts(count: int) -> list[int]:
    return [FIRST + i * 7 * FIVE_MIN for i in range(count)]


def data_paths(count: int) -> list[str]:
    base = "/data/candles?pair=XRPUSDT&period=5m&limit=1000"
    return [f"{base}&start={start}" for start in _starts(count)]


def generic_paths(count: int) -> list[str]:
    base = "/api/v1/mongodb/candles_XRPUSDT_5m?limit=1000&filter="
    return [
        base + quote(json.dumps({"open_time": {"$gte": start}}, separators=(",", ":")))
        for start in _starts(count)
    ]


async def same_rows(port: int) -> bool:
    """Both endpoints answer the same rows for the first page; a hung one answers False."""
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        try:
            data = (await client.get(data_paths(1)[0])).json()["data"]
        except (httpx.HTTPError, KeyError, ValueError):
            return False
        generic = (await client.get(generic_paths(1)[0])).json()["data"]
    return bool(data == generic and len(data) == 1000)


async def measure(port: int, with_data: bool) -> dict[str, dict[str, Any]]:
    results = {
        "generic rotating": await generate(port, REQUESTS["rotating"], generic_paths(PAGES)),
        "generic one page": await generate(port, REQUESTS["one_page"], generic_paths(1)),
    }
    if with_data:
        results["data rotating"] = await generate(port, REQUESTS["rotating"], data_paths(PAGES))
        results["data one page"] = await generate(port, REQUESTS["one_page"], data_paths(1))
    return results


def report(results: dict[str, dict[str, Any]], same: bool) -> None:
    rows = [
        [name, f"{r['rps']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", str(r["errors"])]
        for name, r in results.items()
    ]
    header = ["GET 1000 candles", "req/s", "p50 ms", "p99 ms", "errors"]
    print(table(f"Generic API vs /data, concurrency {CONCURRENCY}, SQLite store", header, rows))
    if not same:
        print("/data/candles did not answer the same 1000 rows within 15 s: no ratio to report")
        return
    for mix in ("rotating", "one page"):
        ratio = results[f"generic {mix}"]["rps"] / results[f"data {mix}"]["rps"]
        verdict = "met" if ratio >= TARGET_RATIO else "missed"
        print(f"generic/data, {mix}: {ratio:.2f} (target >= {TARGET_RATIO}: {verdict})")


async def run() -> None:
    if not CANDLES_FILE.is_file():
        print(f"skipped: {CANDLES_FILE} is absent")
        return
    with tempfile.TemporaryDirectory(prefix="bench-generic-") as tmp:
        folder = Path(tmp)
        await fill(f"sqlite+aiosqlite:///{folder / 'market.db'}", recorded_candles())
        nats_server = NatsServer(folder / "nats")
        nats_server.start()
        try:
            api = await start_api(folder, nats_server.url)
            try:
                same = await same_rows(api.port)
                results = await measure(api.port, with_data=same)
            finally:
                await api.stop()
        finally:
            nats_server.stop()
    report(results, same)
