"""Backfill throughput and use of the rate budget, against the fake exchange as a process.

- ceiling: the REST client alone walks a year of generated 1m candles (no store, no job);
- jobs: the same year as one backfill job into a fresh SQLite store, and as four
  quarterly jobs at once (the job engine as the service runs it, burst mode, no NATS);
- budget: six months as four jobs under a budget compressed in time at both sides
  (the fake enforces it and answers 429 over it): the share of each full window used
  and the 429s drawn. The limiter keeps 5% for other clients, so 95% is the ceiling.

Candles per unit of weight: 1000-candle pages cost 5, so the optimum is 200.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks._report import median_seconds, table
from petrosa_backfiller.binance import BinanceClient, WeightLimiter
from petrosa_backfiller.events import NoEvents
from petrosa_backfiller.jobs import JobContext
from petrosa_backfiller.scheduler import JobScheduler
from petrosa_core.market import open_market_store
from petrosa_core.metadata import MetadataStore
from petrosa_core.models import DatasetId
from tests.fakes.binance_data import listing_time
from tests.harness.servers import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[1]
MINUTE_MS = 60_000
DAY_MS = 1440 * MINUTE_MS
YEAR_MS = 365 * DAY_MS
SYMBOL = "BENCHUSDT"
REPEATS = int(os.environ.get("BENCH_BACKFILL_REPEATS", "3"))
UNLIMITED = 10**9
# 75 weight/s (15 pages/s): below what the engine sustains, so the budget is the limit.
BUDGET_LIMIT, BUDGET_WINDOW = 150, 2.0
BUDGET_SPAN_MS = 182 * DAY_MS


@contextmanager
def fake_exchange(weight_limit: int, window: float) -> Iterator[str]:
    """``python -m tests.fakes.binance_exchange`` on a free port; its base URL."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "tests.fakes.binance_exchange",
        "--port",
        str(port),
        "--weight-limit",
        str(weight_limit),
        "--window",
        str(window),
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


def first_day() -> int:
    return listing_time(SYMBOL) // DAY_MS * DAY_MS + DAY_MS


def client_for(url: str, limit: int, window: float) -> BinanceClient:
    return BinanceClient(url, WeightLimiter(limit, window), backoff=0.05, max_backoff=1.0)


async def fetch_only(url: str) -> None:
    """The ceiling: every page of the year fetched and decoded, nothing written."""
    start = first_day()
    async with client_for(url, UNLIMITED, 60.0) as client:
        async for _ in client.klines(SYMBOL, "1m", start, start + YEAR_MS):
            pass


async def run_jobs(client: BinanceClient, jobs: int, span_ms: int) -> dict[str, Any]:
    """``span_ms`` of candles as ``jobs`` equal jobs run at once into fresh SQLite stores."""
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        market = await open_market_store(f"sqlite+aiosqlite:///{tmp}/market.db")
        metadata = await MetadataStore.open(f"sqlite+aiosqlite:///{tmp}/meta.db")
        try:
            dataset, start, step = (
                DatasetId.parse(f"candles:{SYMBOL}:1m"),
                first_day(),
                span_ms // jobs,
            )
            for i in range(jobs):
                await metadata.create_job(
                    dataset, data_type="candles", start=start + i * step, end=start + (i + 1) * step
                )
            ctx = JobContext(metadata, market, client, NoEvents(), "bench", 60.0)
            began = time.perf_counter()
            await JobScheduler(ctx, max_jobs=jobs, poll_interval=1.0).run(
                asyncio.Event(), burst=True
            )
            seconds = time.perf_counter() - began
            done = await metadata.list_jobs()
            candles = await market.count(dataset)
        finally:
            await metadata.close()
            await market.close()
    weight = sum(j.weight_used for j in done)
    return {"seconds": seconds, "candles": candles, "weight": weight, "jobs": done}


async def timed_jobs(url: str, jobs: int, repeats: int) -> tuple[float, dict[str, Any]]:
    """Median seconds of a year as ``jobs`` jobs, and the last run's figures."""
    runs: list[dict[str, Any]] = []

    async def once() -> None:
        async with client_for(url, UNLIMITED, 60.0) as client:
            runs.append(await run_jobs(client, jobs, YEAR_MS))

    return await median_seconds(once, repeats), runs[-1]


async def throughput(url: str) -> list[list[str]]:
    """Rows of the unlimited runs: ceiling, one yearly job, four quarterly jobs (one run)."""
    year_candles = YEAR_MS // MINUTE_MS
    ceiling = await median_seconds(lambda: fetch_only(url), REPEATS)
    rows = [["REST client alone (ceiling)", f"{year_candles / ceiling:,.0f}", "-", "-"]]
    for jobs, repeats in ((1, REPEATS), (4, 1)):
        seconds, last = await timed_jobs(url, jobs, repeats)
        assert last["candles"] == year_candles, f"{last['candles']} != {year_candles}"
        rows.append(
            [
                f"{jobs} job(s) into SQLite",
                f"{year_candles / seconds:,.0f}",
                f"{last['candles'] / last['weight']:.1f}",
                f"{ceiling / seconds:.0%}",
            ]
        )
    return rows


def full_window_share(weight_by_window: dict[str, int], limit: int) -> tuple[float, int]:
    """Mean share of the limit used in the windows between the first and the last."""
    windows = sorted(int(w) for w in weight_by_window)
    inner = [weight_by_window[str(w)] for w in range(windows[0] + 1, windows[-1])]
    return (sum(inner) / (limit * len(inner)) if inner else float("nan")), len(inner)


async def budget(url: str) -> list[list[str]]:
    """Rows of the compressed-budget run: 429s, 418s and the share of the budget used."""
    async with client_for(url, BUDGET_LIMIT, BUDGET_WINDOW) as client:
        result = await run_jobs(client, 4, BUDGET_SPAN_MS)
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        stats = (await http.get("/_fake/stats")).json()
    share, windows = full_window_share(stats["weight_by_window"], BUDGET_LIMIT)
    peak = max(stats["weight_by_window"].values())
    return [
        [
            f"{BUDGET_LIMIT} weight / {BUDGET_WINDOW:g} s",
            f"{result['candles']:,}",
            str(windows),
            f"{share:.1%}",
            f"{peak}",
            str(stats["rate_limited"]),
            str(stats["banned"]),
        ]
    ]


async def run() -> None:
    with fake_exchange(UNLIMITED, 60.0) as url:
        rows = await throughput(url)
    print(
        table(
            f"Backfill: one year of 1m candles, no rate limit (median of {REPEATS}; 4 jobs: 1 run)",
            ["run", "candles/s", "candles/weight", "of ceiling"],
            rows,
        )
    )
    with fake_exchange(BUDGET_LIMIT, BUDGET_WINDOW) as url:
        rows = await budget(url)
    print(
        table(
            "Backfill under a compressed budget (four jobs, six months; targets >= 90%, 0)",
            ["budget", "candles", "full windows", "budget used", "peak window", "429s", "418s"],
            rows,
        )
    )
