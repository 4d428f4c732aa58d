"""Analytics engine end to end on SQLite: 300 symbols x 1 day of 1m candles, every metric.

One round as a worker runs it, per dataset: the round check, a columnar scan of the
candles, every method of every family at the default windows, and the write of the
results with the round record. The baseline runs the same round in the same process but
reads the candles through the record API (``query`` pages of Candle structs turned into
columns), which is how a store without ``scan`` would feed the metrics. Target: a round
under 10 s. Figures are wall seconds, medians of ``REPEATS`` rounds on a warm store.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import numpy as np

from benchmarks._report import table
from petrosa_analytics.engine import Engine, Schedule
from petrosa_analytics.metrics import Bars
from petrosa_analytics.worker import Worker
from petrosa_core.contracts import AnalyticsWork
from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.models import Candle, DatasetId, DatasetKind

SYMBOLS = 300
BARS = 1440  # one day of 1m candles
MINUTE = 60_000
START = 1_764_547_200_000  # 2025-12-01 00:00 UTC
REPEATS = 3
TARGET_SECONDS = 10.0


def synthetic_day(symbol: str, seed: int) -> list[Candle]:
    """A day of 1m candles on a random walk: plausible OHLC, volumes and trade counts."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.001, BARS)))
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0, 0.0007, BARS)) * close
    high, low = np.maximum(open_, close) + spread, np.minimum(open_, close) - spread
    volume = rng.gamma(2.0, 50.0, BARS)
    return [
        Candle(
            symbol=symbol, interval="1m", open_time=START + i * MINUTE,
            close_time=START + (i + 1) * MINUTE - 1, open=float(open_[i]), high=float(high[i]),
            low=float(low[i]), close=float(close[i]), volume=float(volume[i]),
            quote_volume=float(volume[i] * close[i]), trade_count=int(volume[i] * 3),
            taker_buy_base_volume=float(volume[i] / 2),
            taker_buy_quote_volume=float(volume[i] * close[i] / 2), is_closed=True,
        )
        for i in range(BARS)
    ]  # fmt: skip


class RecordEngine(Engine):
    """The baseline: the same engine, reading candles as records rather than columns."""

    async def read(self, dataset: DatasetId, bars: int) -> Bars:
        records: list[Any] = []
        cursor = None
        while len(records) < bars:
            page = await self.market.query(dataset, order="desc", limit=10_000, cursor=cursor)
            records.extend(page.records)
            if (cursor := page.next_cursor) is None:
                break
        closed = [c for c in reversed(records[:bars]) if c.is_closed]
        names = ("open_time", "open", "high", "low", "close", "volume", "quote_volume",
                 "taker_buy_base_volume", "taker_buy_quote_volume", "trade_count")  # fmt: skip
        return Bars.from_columns(
            MINUTE, **{n: np.array([getattr(c, n) for c in closed]) for n in names}
        )


async def one_round(worker: Worker, datasets: list[DatasetId], round_id: str) -> float:
    started = time.perf_counter()
    for dataset in datasets:
        await worker.handle(AnalyticsWork(round_id, str(dataset), 0, 0))
    return time.perf_counter() - started


def worker_over(engine: Engine, market: MarketStore) -> Worker:
    # ``handle`` uses neither NATS nor the consumer: only settling an item does.
    return Worker(
        engine, market, None, cast(Any, None), cast(Any, None),
        name="bench", ack_wait=30, deadletter_subject="",
    )  # fmt: skip


async def fill(market: MarketStore) -> list[DatasetId]:
    datasets = []
    for i in range(SYMBOLS):
        symbol = f"B{i:03d}USDT"
        dataset = DatasetId.of(DatasetKind.CANDLES, symbol, "1m")
        await market.write(dataset, synthetic_day(symbol, i))
        datasets.append(dataset)
    return datasets


async def run() -> None:
    with tempfile.TemporaryDirectory() as folder:
        market = await open_market_store(f"sqlite+aiosqlite:///{Path(folder) / 'market.db'}")
        try:
            datasets = await fill(market)
            schedule = Schedule.of({})
            columnar = worker_over(Engine(market, schedule, max_bars=50_000), market)
            records = worker_over(RecordEngine(market, schedule, max_bars=50_000), market)
            await columnar.engine.warm_up()
            rows = []
            for name, worker in (("columnar scan", columnar), ("record query", records)):
                times = [await one_round(worker, datasets, f"{name}-{n}") for n in range(REPEATS)]
                rows.append((name, statistics.median(times)))
            stored = len(await market.latest_analytics(datasets[0], "volatility"))
        finally:
            await market.close()
    base = rows[1][1]
    print(
        table(
            f"Analytics round, {SYMBOLS} symbols x {BARS} 1m candles on SQLite, "
            f"every family at default windows, median of {REPEATS} rounds",
            ["read path", "round s", "per dataset ms", "vs record query"],
            [
                [name, f"{s:.2f}", f"{1000 * s / SYMBOLS:.1f}", f"{base / s:.2f}x"]
                for name, s in rows
            ],
        )
    )
    print(f"volatility results stored per dataset: {stored}")
    print(f"target: a round under {TARGET_SECONDS:.0f} s (columnar: {rows[0][1]:.2f} s)")
