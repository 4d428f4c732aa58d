"""MarketStore batch-write throughput per backend, next to the raw driver on the same rows.

Each figure is the median of ``REPEATS`` runs on fresh databases. Raw baselines send
pre-built rows (encoding untimed) into the store's own SQL tables or an equally indexed
collection, so the ratio is what the store costs over the bare driver.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiosqlite
import asyncmy
import msgspec
from bson import DatetimeMS
from pymongo import AsyncMongoClient, ReplaceOne

from benchmarks._report import table
from petrosa_core.market import WriteResult, open_market_store
from petrosa_core.models import Candle, DatasetId, DatasetKind, Record, Trade
from tests.harness.recorded import RECORDINGS
from tests.harness.servers import MariaDB, MongoWireServer

KLINES = RECORDINGS / "xrpusdt_perp_5m_klines.csv"
REPEATS = 5
BATCH = 2_000  # the ingestor's default flush size
SQL_ROWS = 50_000
# nx-27017 writes 2k-10k rows/s; 10k rows keep its share of the run near a minute.
MONGO_ROWS = 10_000
FIVE_MIN = 300_000
EPOCH = datetime.fromtimestamp(0, UTC).replace(tzinfo=None)
ONE_MS = timedelta(milliseconds=1)
CANDLES = DatasetId.of(DatasetKind.CANDLES, "XRPUSDT", "5m")
TRADES = DatasetId.of(DatasetKind.TRADES, "XRPUSDT")
# The store's paging index per collection, rebuilt here so raw Mongo inserts maintain it too.
MONGO_INDEX = {
    DatasetKind.CANDLES: ["open_time"],
    DatasetKind.TRADES: ["trade_time", "trade_id", "trade_type"],
}


@dataclass(frozen=True)
class Workload:
    dataset: DatasetId
    records: list[Record]

    def batches(self, rows: int) -> list[list[Record]]:
        head = self.records[:rows]
        return [head[i : i + BATCH] for i in range(0, len(head), BATCH)]


def xrp_candles(rows: int) -> list[Record]:
    """The recorded 5m candles, repeated end to end in time until there are ``rows``."""
    if not KLINES.is_file():
        raise SystemExit(f"bench store needs the recorded candles at {KLINES}")
    with KLINES.open() as f:
        recorded = [[float(x) for x in line] for line in list(csv.reader(f))[1:]]
    first = int(recorded[0][0])
    return [candle(first + i * FIVE_MIN, *recorded[i % len(recorded)][1:]) for i in range(rows)]


def candle(open_time: int, o: float, h: float, low: float, c: float, v: float) -> Candle:
    """A closed candle whose REST-only fields follow from OHLCV, as the fake exchange does."""
    taker = 0.55 if c >= o else 0.45  # buyers lead on up candles
    return Candle(
        symbol="XRPUSDT",
        interval="5m",
        open_time=open_time,
        close_time=open_time + FIVE_MIN - 1,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=v,
        quote_volume=round(v * (o + h + low + c) / 4, 4),
        trade_count=max(1, round(v / 2_500)),
        taker_buy_base_volume=round(v * taker, 1),
        taker_buy_quote_volume=round(v * taker * c, 4),
        is_closed=True,
    )


def agg_trades(rows: int) -> list[Record]:
    """A seeded random walk of XRPUSDT aggregate trades, about 16 per second."""
    rng = random.Random(20211115)
    price, at, raw_id = 1.1941, 1_636_934_400_000, 900_000_000
    trades: list[Record] = []
    for agg_id in range(300_000_000, 300_000_000 + rows):
        at += int(rng.expovariate(1 / 60))
        price = round(price * (1 + rng.gauss(0, 0.0002)), 4)
        fills = rng.randint(1, 4)
        trades.append(
            Trade(
                symbol="XRPUSDT",
                trade_type="agg",
                trade_id=agg_id,
                price=price,
                quantity=round(rng.lognormvariate(4, 1.2), 1),
                trade_time=at,
                is_buyer_maker=rng.random() < 0.5,
                event_time=at + rng.randint(1, 30),
                first_trade_id=raw_id,
                last_trade_id=raw_id + fills - 1,
            )
        )
        raw_id += fills
    return trades


def time_text(ms: int) -> str:
    """The bound form of a time in both SQL dialects: naive UTC, microsecond text."""
    return (EPOCH + ms * ONE_MS).isoformat(" ", "microseconds")


def sql_row(record: Record) -> tuple[Any, ...]:
    fields = record.__struct_fields__
    return tuple(
        time_text(v) if v is not None and name.endswith("_time") else v
        for name, v in zip(fields, msgspec.structs.astuple(record), strict=True)
    )


def sql_insert(dataset: DatasetId, quote: str, mark: str, tail: str = "") -> str:
    fields = (
        Candle.__struct_fields__ if dataset.kind is DatasetKind.CANDLES else Trade.__struct_fields__
    )
    columns = ", ".join(f"{quote}{name}{quote}" for name in fields)
    values = ", ".join(mark for _ in fields)
    return f"INSERT INTO {dataset.kind.value} ({columns}) VALUES ({values}){tail}"


def collection_name(dataset: DatasetId) -> str:
    """The original service's collection names, which the store keeps."""
    suffix = f"_{dataset.interval}" if dataset.interval else ""
    return f"{dataset.kind.value}_{dataset.symbol}{suffix}"


def mongo_doc(record: Record) -> dict[str, Any]:
    """The store's document: deterministic ``_id``, every field, times as BSON dates."""
    doc: dict[str, Any] = msgspec.structs.asdict(record)
    doc["_id"] = f"agg:{record.key}" if isinstance(record, Trade) else str(record.key)
    for name, value in doc.items():
        if name.endswith("_time") and value is not None:
            doc[name] = DatetimeMS(value)
    return doc


async def timed(run: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await run()
    return time.perf_counter() - started


class Backend(Protocol):
    name: str
    rows: int
    baseline: str

    async def fresh(self) -> str: ...
    async def discard(self, url: str) -> None: ...
    async def raw(self, url: str, batches: list[list[Record]], upsert: bool) -> float: ...


async def make_tables(url: str) -> None:
    """Create the store's tables on a fresh database through the store's own migration."""
    store = await open_market_store(url)
    await store.close()


class Sqlite:
    name, rows = "sqlite", SQL_ROWS
    baseline = "aiosqlite executemany, BEGIN IMMEDIATE..COMMIT per batch, WAL + synchronous=NORMAL"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    async def fresh(self) -> str:
        return f"sqlite+aiosqlite:///{self.workdir / uuid.uuid4().hex}.db"

    async def discard(self, url: str) -> None:
        database = Path(url.removeprefix("sqlite+aiosqlite:///"))
        for path in database.parent.glob(f"{database.name}*"):  # with its -wal and -shm
            path.unlink()

    async def raw(self, url: str, batches: list[list[Record]], upsert: bool) -> float:
        await make_tables(url)
        dataset = batches[0][0].dataset
        sql = sql_insert(dataset, '"', "?", " ON CONFLICT DO NOTHING" if upsert else "")
        rows = [[sql_row(r) for r in batch] for batch in batches]
        async with aiosqlite.connect(
            url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None
        ) as db:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")

            async def insert() -> None:
                for batch in rows:
                    await db.execute("BEGIN IMMEDIATE")
                    await db.executemany(sql, batch)
                    await db.execute("COMMIT")

            return await timed(insert)


class Maria:
    name, rows = "mariadb", SQL_ROWS
    baseline = "asyncmy cursor.executemany (multi-row INSERT), one commit per batch"

    def __init__(self, server: MariaDB) -> None:
        self.server = server

    async def fresh(self) -> str:
        return await asyncio.to_thread(self.server.create_database)

    async def discard(self, url: str) -> None:
        await asyncio.to_thread(self.server.drop_database, url)

    async def raw(self, url: str, batches: list[list[Record]], upsert: bool) -> float:
        await make_tables(url)
        dataset = batches[0][0].dataset
        tail = " ON DUPLICATE KEY UPDATE `symbol` = `symbol`" if upsert else ""
        sql = sql_insert(dataset, "`", "%s", tail)
        rows = [[sql_row(r) for r in batch] for batch in batches]
        s = self.server
        conn = await asyncmy.connect(
            host=s.host,
            port=s.port,
            user=s.user,
            password=s.password,
            database=urlsplit(url).path.lstrip("/"),
            charset="utf8mb4",
        )
        try:

            async def insert() -> None:
                async with conn.cursor() as cursor:
                    for batch in rows:
                        await cursor.executemany(sql, batch)
                        await conn.commit()

            return await timed(insert)
        finally:
            conn.close()


class Mongo:
    name, rows = "mongodb (nx-27017)", MONGO_ROWS
    baseline = "pymongo AsyncMongoClient, w=majority, one call per batch"

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.admin: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server_url)

    async def fresh(self) -> str:
        return f"{self.server_url}/bench_{uuid.uuid4().hex[:12]}"

    async def discard(self, url: str) -> None:
        await self.admin.drop_database(urlsplit(url).path.lstrip("/"))

    async def raw(self, url: str, batches: list[list[Record]], upsert: bool) -> float:
        dataset = batches[0][0].dataset
        docs = [[mongo_doc(r) for r in batch] for batch in batches]
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, w="majority")
        try:
            collection = client.get_default_database()[collection_name(dataset)]
            await collection.create_index([(f, 1) for f in MONGO_INDEX[dataset.kind]])

            async def insert() -> None:
                for batch in docs:
                    if upsert:
                        ops = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in batch]
                        await collection.bulk_write(ops, ordered=False)
                    else:
                        await collection.insert_many(batch, ordered=False)

            return await timed(insert)
        finally:
            await client.close()


async def store_run(url: str, batches: Sequence[Sequence[Record]]) -> tuple[float, float]:
    """Seconds to write every batch into an empty store, then to replay them all."""
    store = await open_market_store(url)
    try:
        await store.ping()
        results: list[WriteResult] = []

        async def write_all() -> None:
            results.extend([await store.write(b[0].dataset, b) for b in batches])

        fresh = await timed(write_all)
        replay = await timed(write_all)
    finally:
        await store.close()
    total = sum(len(b) for b in batches)
    inserted = sum(r.inserted for r in results[: len(batches)])
    unchanged = sum(r.unchanged for r in results[len(batches) :])
    if (inserted, unchanged) != (total, total):
        raise AssertionError(f"{url}: {inserted} inserted, {unchanged} replayed of {total}")
    return fresh, replay


async def on_fresh(backend: Backend, use: Callable[[str], Awaitable[Any]]) -> Any:
    url = await backend.fresh()
    try:
        return await use(url)
    finally:
        await backend.discard(url)


async def measure(backend: Backend, workload: Workload) -> list[str]:
    batches = workload.batches(backend.rows)
    print(f"bench store: {backend.name} {workload.dataset}", file=sys.stderr, flush=True)
    fresh: list[float] = []
    replay: list[float] = []
    raw: list[float] = []
    upsert: list[float] = []
    for _ in range(REPEATS):  # interleaved, so drift in machine load hits every column alike
        store_s, replay_s = await on_fresh(backend, lambda url: store_run(url, batches))
        fresh.append(store_s)
        replay.append(replay_s)
        raw.append(await on_fresh(backend, lambda url: backend.raw(url, batches, False)))
        upsert.append(await on_fresh(backend, lambda url: backend.raw(url, batches, True)))
    rows = sum(len(b) for b in batches)
    rate = [rows / statistics.median(s) for s in (fresh, raw, upsert, replay)]
    return [
        backend.name,
        workload.dataset.kind.value,
        f"{rows:,}",
        f"{rate[0]:,.0f}",
        f"{rate[1]:,.0f}",
        f"{rate[0] / rate[1]:.2f}",
        f"{rate[2]:,.0f}",
        f"{rate[3]:,.0f}",
    ]


HEADER = (
    "backend|dataset|rows|store rows/s|raw insert rows/s|store/raw|raw upsert rows/s|"
    "store replay rows/s".split("|")
)


def notes(backends: Sequence[Backend]) -> str:
    lines = [
        f"median of {REPEATS} runs on fresh databases; batches of {BATCH:,}; candles are the "
        "recorded XRPUSDT 5m klines repeated forward in time, aggTrades a seeded random walk.",
        "store: MarketStore.write per batch (candles read stored keys first, then upsert).",
        "raw insert: plain INSERT / insert_many of pre-built rows into the store's own tables.",
        "raw upsert: INSERT .. ON CONFLICT DO NOTHING (SQLite), INSERT .. ON DUPLICATE KEY "
        "UPDATE symbol=symbol (MariaDB), bulk_write of ReplaceOne upserts (MongoDB).",
        "replay: the same batches written again into the filled store (the idempotent no-op).",
        f"nx-27017 is a slow SQLite-backed wire server: it gets {MONGO_ROWS:,} rows, not "
        f"{SQL_ROWS:,}; its numbers say little about a real MongoDB.",
    ]
    lines += [f"{b.name}: {b.baseline}" for b in backends]
    return "\n".join(lines)


async def run() -> None:
    # asyncmy logs each server warning; the migration's named primary key draws one per run.
    logging.getLogger("asyncmy").setLevel(logging.ERROR)
    workloads = [Workload(CANDLES, xrp_candles(SQL_ROWS)), Workload(TRADES, agg_trades(SQL_ROWS))]
    with tempfile.TemporaryDirectory(prefix="bench_store_") as tmp:
        workdir = Path(tmp)
        mariadb, mongo = MariaDB(workdir), MongoWireServer(workdir)
        await asyncio.to_thread(mariadb.start)
        try:
            await asyncio.to_thread(mongo.start)
            rows, backends = await measure_all(workdir, mariadb, mongo.url, workloads)
        finally:
            await asyncio.to_thread(mongo.stop)
            await asyncio.to_thread(mariadb.stop)
    print(table("MarketStore batch writes", HEADER, rows))
    print(notes(backends))


async def measure_all(
    workdir: Path, mariadb: MariaDB, mongo_url: str, workloads: list[Workload]
) -> tuple[list[list[str]], list[Backend]]:
    (workdir / "sqlite").mkdir()
    mongo = Mongo(mongo_url)
    backends: list[Backend] = [Sqlite(workdir / "sqlite"), Maria(mariadb), mongo]
    try:
        return [await measure(b, w) for b in backends for w in workloads], backends
    finally:
        await mongo.admin.close()
