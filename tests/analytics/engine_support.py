"""Stored candles for the engine's tests: the recorded klines, renamed and thinned at will."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import msgspec

from petrosa_core.market import MarketStore
from petrosa_core.models import Candle, DatasetId, DatasetKind
from tests.harness.recorded import RECORDINGS, csv_candles

MINUTE = 60_000
FIVE_MINUTES = 5 * MINUTE
HOUR = 60 * MINUTE


def xrp_5m(symbol: str = "XRPUSDT") -> list[Candle]:
    """The 1,999 recorded 5m candles of XRPUSDT (no gaps), under ``symbol``."""
    found = csv_candles(RECORDINGS / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", FIVE_MINUTES)
    return [msgspec.structs.replace(c, symbol=symbol) for c in found]


def xrpeth_1m_with_gaps() -> list[Candle]:
    """Recorded 1m candles of XRPETH with the gaps the recording has."""
    return csv_candles(RECORDINGS / "xrpeth_spot_1m_klines_with_gaps.csv", "XRPETH", "1m", MINUTE)


def candles_id(symbol: str, interval: str) -> DatasetId:
    return DatasetId.of(DatasetKind.CANDLES, symbol, interval)


async def store_candles(store: MarketStore, candles: Iterable[Candle]) -> None:
    by_dataset: dict[DatasetId, list[Candle]] = {}
    for candle in candles:
        by_dataset.setdefault(candles_id(candle.symbol, candle.interval), []).append(candle)
    await store.write_many(by_dataset)


def unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"
