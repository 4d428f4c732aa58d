"""Shared pieces of the auditor tests: recorded data as records, stores, a running service."""

from __future__ import annotations

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
from petrosa_core.models import DatasetId, DatasetKind, FundingRate, Record
from tests.harness.recorded import csv_candles as csv_candles
from tests.harness.recorded import csv_rows

MIN = 60_000


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
