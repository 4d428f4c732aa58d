"""Shared pieces of the auditor tests: recorded data as records, stores, a running service."""

from __future__ import annotations

import csv
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from petrosa_auditor.audit import Auditor
from petrosa_auditor.context import AuditConfig
from petrosa_auditor.report import DatasetReport
from petrosa_core.binance import parse_frame
from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.metadata import FindingIn
from petrosa_core.models import Candle, DatasetId, DatasetKind, FundingRate, Record

MIN = 60_000


def candle(symbol: str, interval: str, step: int, row: list[str]) -> Candle:
    """A closed candle from a CSV row ``open_time_ms,open,high,low,close,volume``.

    The CSV lacks the quote and taker fields; they are derived consistently here.
    """
    t = int(row[0])
    o, h, low, c, v = (float(x) for x in row[1:6])
    return Candle(
        symbol=symbol,
        interval=interval,
        open_time=t,
        close_time=t + step - 1,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=v,
        quote_volume=v * c,
        trade_count=100,
        taker_buy_base_volume=v / 2,
        taker_buy_quote_volume=v * c / 2,
        is_closed=True,
    )


def csv_rows(path: Path) -> list[list[str]]:
    with path.open() as f:
        return list(csv.reader(f))[1:]


def csv_candles(path: Path, symbol: str, interval: str, step: int) -> list[Candle]:
    return [candle(symbol, interval, step, row) for row in csv_rows(path)]


def funding_rates(path: Path, symbol: str = "XRPUSDT") -> list[FundingRate]:
    return [FundingRate(symbol, int(r[0]), float(r[1])) for r in csv_rows(path)]


def recorded_records(shared: Path) -> list[Record]:
    """Every record of the recorded websocket frames, parsed."""
    with (shared / "binance_usdm_ws_frames.jsonl").open("rb") as f:
        return [parse_frame(line) for line in f if line.strip()]


async def write(store: MarketStore, records: Iterable[Record]) -> None:
    by_dataset: dict[DatasetId, list[Record]] = {}
    for record in records:
        by_dataset.setdefault(record.dataset, []).append(record)
    for dataset, batch in by_dataset.items():
        for i in range(0, len(batch), 5000):
            await store.write(dataset, batch[i : i + 5000])


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[MarketStore]:
    store = await open_market_store(url)
    try:
        yield store
    finally:
        await store.close()


def auditor(store: MarketStore, **config: float) -> Auditor:
    return Auditor(store, AuditConfig(**config))  # type: ignore[arg-type]


def findings(report: DatasetReport, check: str) -> list[FindingIn]:
    result = report.check(check)
    assert result is not None, f"{report.dataset} ran no {check} check"
    return result.findings


def ranges(report: DatasetReport, check: str) -> list[tuple[int | None, int | None]]:
    return [(f.range_start, f.range_end) for f in findings(report, check)]


def unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def candles_id(symbol: str, interval: str) -> DatasetId:
    return DatasetId.of(DatasetKind.CANDLES, symbol, interval)
