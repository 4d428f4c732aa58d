"""Columnar reads and audits of 1,000,000 one-minute candles, and audits of 300 symbols x 1 day.

Run with ``python -m benchmarks audit``. Each scenario runs on SQLite and on MariaDB (a
fresh database, dropped afterwards). Side by side on the same 1M rows: the raw driver
reading them straight into Arrow (ADBC's SQLite driver, connectorx on MariaDB), the
store's ``scan`` (target: at least 0.8 of the raw read's speed), and a whole audit, read
plus every check (target: at most 2x the raw read). Store-read time is reported apart
from check time; target under 10 s in all for 300 x 1 day.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import sqlalchemy as sa

from benchmarks._report import median_seconds, table
from petrosa_auditor.audit import Auditor, intervals_of
from petrosa_auditor.context import AuditConfig, Scope
from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.models import Candle, DatasetId, DatasetKind
from tests.harness.servers import MariaDB

MIN = 60_000
T0 = 1_600_000_000_000 // MIN * MIN  # 2020-09-13, on the minute grid
BIG = 1_000_000
SYMBOLS, DAY = 300, 1440
REPEATS = 3
BATCH = 10_000


def walk(symbol: str, count: int, seed: int, first: int = T0) -> Iterator[Candle]:
    """A random-walk price path as closed, internally consistent 1m candles from ``first``."""
    rng = random.Random(seed)
    price = 100.0
    for i in range(count):
        t = first + i * MIN
        close = price * (1 + rng.gauss(0, 0.001))
        high, low = max(price, close) * 1.0005, min(price, close) * 0.9995
        volume = rng.uniform(10, 1000)
        yield Candle(
            symbol,
            "1m",
            t,
            t + MIN - 1,
            price,
            high,
            low,
            close,
            volume,
            volume * close,
            50,
            volume / 2,
            volume * close / 2,
            True,
        )
        price = close


async def fill(store: MarketStore, dataset: DatasetId, candles: Iterator[Candle]) -> None:
    batch: list[Candle] = []
    for candle in candles:
        batch.append(candle)
        if len(batch) == BATCH:
            await store.write(dataset, batch)
            batch = []
    if batch:
        await store.write(dataset, batch)


class Timing:
    """Medians of total, store-read and check seconds over repeated audits."""

    def __init__(self) -> None:
        self.total: list[float] = []
        self.read: list[float] = []
        self.checks: list[float] = []

    def row(self, name: str) -> list[str]:
        cells = (statistics.median(v) for v in (self.total, self.read, self.checks))
        return [name, *(f"{c:.3f}" for c in cells)]


async def audit_one(store: MarketStore) -> Timing:
    dataset = DatasetId.of(DatasetKind.CANDLES, "BENCH", "1m")
    timing = Timing()
    for _ in range(REPEATS):
        started = time.perf_counter()
        report = await Auditor(store, AuditConfig()).audit(
            dataset, Scope.between(T0, T0 + BIG * MIN), ("1m",)
        )
        timing.total.append(time.perf_counter() - started)
        timing.read.append(report.read_seconds)
        timing.checks.append(report.check_seconds)
        assert report.records == BIG, report.records
    return timing


async def audit_many(store: MarketStore) -> Timing:
    """The scheduled audit: every dataset over the last day, as the leader runs it."""
    timing = Timing()
    auditor = Auditor(store, AuditConfig())
    for _ in range(REPEATS):
        started = time.perf_counter()
        datasets = await auditor.datasets()
        read = checks = 0.0
        for dataset in datasets:
            intervals = intervals_of(datasets, dataset.symbol)
            report = await auditor.audit(dataset, Scope.last(DAY * 60), intervals)
            read, checks = read + report.read_seconds, checks + report.check_seconds
        timing.total.append(time.perf_counter() - started)
        timing.read.append(read)
        timing.checks.append(checks)
        assert len(datasets) == SYMBOLS
    return timing


RAW_SQL = "SELECT * FROM candles WHERE symbol = 'BENCH' AND `interval` = '1m' ORDER BY open_time"


def raw_read(url: str) -> int:
    """The driver alone: the 1M rows into one Arrow table, no casts, one query."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        import adbc_driver_sqlite.dbapi as adbc

        # The store's reader processes hold no write lock and nothing writes meanwhile, so
        # this in-process second SQLite library is harmless here (never in the services).
        with adbc.connect(parsed.database) as conn, conn.cursor() as cursor:
            cursor.execute(RAW_SQL.replace("`", '"'))
            return int(cursor.fetch_arrow_table().num_rows)
    import connectorx

    plain = parsed.set(drivername="mysql").render_as_string(hide_password=False)
    return int(connectorx.read_sql(plain, RAW_SQL, return_type="arrow").num_rows)


async def columnar(store: MarketStore, url: str) -> tuple[float, float, float]:
    """Median seconds of the raw read, the store's whole-range scan, and its 100k batches."""
    dataset = DatasetId.of(DatasetKind.CANDLES, "BENCH", "1m")

    async def raw() -> None:
        assert await asyncio.to_thread(raw_read, url) == BIG

    async def scan() -> None:
        assert (await store.scan(dataset, limit=None)).table.num_rows == BIG

    async def batches() -> None:
        rows = 0
        async for batch in store.scan_batches(dataset):
            rows += batch.num_rows
        assert rows == BIG

    await scan()  # starts the SQLite reader processes, as a running service has them
    return (
        await median_seconds(raw, REPEATS),
        await median_seconds(scan, REPEATS),
        await median_seconds(batches, REPEATS),
    )


COLUMNAR: list[list[str]] = []


async def scenario(url: str, name: str) -> list[list[str]]:
    """Load both datasets into the store at ``url`` and time their reads and audits."""
    store = await open_market_store(url)
    try:
        started = time.perf_counter()
        await fill(store, DatasetId.of(DatasetKind.CANDLES, "BENCH", "1m"), walk("BENCH", BIG, 1))
        loaded_big = time.perf_counter() - started
        raw, scan, batches = await columnar(store, url)
        one = await audit_one(store)
        audit = statistics.median(one.total)
        COLUMNAR.append(
            [
                name,
                f"{raw:.3f}",
                f"{scan:.3f} ({raw / scan:.2f})",
                f"{batches:.3f} ({raw / batches:.2f})",
                f"{audit:.3f} ({audit / raw:.2f}x)",
            ]
        )
        await store.delete_range(DatasetId.of(DatasetKind.CANDLES, "BENCH", "1m"))
        started = time.perf_counter()
        # The last day up to the minute that closed last, as live ingestion leaves it.
        first = (time.time_ns() // 1_000_000 // MIN - DAY) * MIN
        for n in range(SYMBOLS):
            symbol = f"S{n:03d}USDT"
            dataset = DatasetId.of(DatasetKind.CANDLES, symbol, "1m")
            await fill(store, dataset, walk(symbol, DAY, n, first))
        loaded_many = time.perf_counter() - started
        many = await audit_many(store)
    finally:
        await store.close()
    print(f"{name}: loaded 1M candles in {loaded_big:.1f} s, 300 x 1 day in {loaded_many:.1f} s")
    return [one.row(f"{name}: 1M x 1m, one dataset"), many.row(f"{name}: 300 symbols x 1 day")]


async def on_sqlite() -> list[list[str]]:
    with tempfile.TemporaryDirectory() as folder:
        return await scenario(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", "sqlite")


async def on_mariadb() -> list[list[str]]:
    with tempfile.TemporaryDirectory() as folder:
        server = MariaDB(Path(folder))
        server.start()
        url = server.create_database()
        try:
            return await scenario(url, "mariadb")
        finally:
            server.drop_database(url)
            server.stop()


async def run() -> None:
    rows: list[list[str]] = []
    backends: list[Callable[[], Awaitable[list[list[str]]]]] = [on_sqlite, on_mariadb]
    for backend in backends:
        rows += await backend()
    print(
        table(
            f"Audit time, median of {REPEATS} (seconds; all checks)",
            ["scenario", "total", "store read", "checks"],
            rows,
        )
    )
    print(
        table(
            f"1M x 1m candles into Arrow, median of {REPEATS} (seconds; ratio to the raw read)",
            ["backend", "raw driver", "store scan", "scan_batches 100k", "audit, read+checks"],
            COLUMNAR,
        )
    )
    print("targets: scan >= 0.8 of raw; audit <= 2x raw; 300 x 1 day < 10 s in all")
