"""Generic API throughput: 1000 candles through /api/v1/mongodb/candles_XRPUSDT_5m against
/data/candles for the same rows, in the same API process and run.

The API runs as its own process over a SQLite market store holding the recorded XRPUSDT 5m
candles; the load generator keeps 16 requests in flight. Both endpoints are asked for the
same 64 different 1000-row pages in rotation (every request reads the store), and for one
page asked by every client; three alternating rounds, medians reported. Target: the generic
GET at least 0.8 of /data's requests/s.
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
# Alternating rounds: neither endpoint always runs on a colder cache than the other.
ROUNDS = 3
# The first /data read starts its reader processes: on a busy machine that takes a while.
WARM_SECONDS = 90


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
    """Both endpoints answer the same rows for the first page (which also warms /data's
    readers); one that does not answer within WARM_SECONDS answers False."""
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=url, timeout=WARM_SECONDS) as client:
        try:
            data = (await client.get(data_paths(1)[0])).json()["data"]
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            print(f"/data/candles did not answer: {type(exc).__name__} {exc}")
            return False
        generic = (await client.get(generic_paths(1)[0])).json()["data"]
    if data != generic:
        print(f"/data and the generic API differ: {len(data)} and {len(generic)} rows")
    return bool(data == generic and len(data) == 1000)


async def measure(port: int, with_data: bool) -> dict[str, dict[str, Any]]:
    """ROUNDS alternating runs of each mix; per figure the median run (by requests/s)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    mixes = {"rotating": PAGES, "one page": 1}
    for _ in range(ROUNDS):
        for mix, pages in mixes.items():
            requests = REQUESTS["rotating" if pages > 1 else "one_page"]
            endpoints = (
                {"generic": generic_paths, "data": data_paths}
                if with_data
                else {"generic": generic_paths}
            )
            for name, paths in endpoints.items():
                result = await generate(port, requests, paths(pages))
                runs.setdefault(f"{name} {mix}", []).append(result)
    return {name: _median(results) for name, results in runs.items()}


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(results, key=lambda r: float(r["rps"]))[len(results) // 2]


def report(results: dict[str, dict[str, Any]], same: bool) -> None:
    rows = [
        [name, f"{r['rps']:.0f}", f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", str(r["errors"])]
        for name, r in results.items()
    ]
    header = ["GET 1000 candles", "req/s", "p50 ms", "p99 ms", "errors"]
    print(table(f"Generic API vs /data, concurrency {CONCURRENCY}, SQLite store", header, rows))
    if not same:
        print("/data/candles did not answer the same 1000 rows: no ratio to report")
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
