"""Push notifications as subscribers read them: one dataset per update, records typed."""

from __future__ import annotations

import json

import pytest

from petrosa_core.contracts import (
    INLINE_RECORDS,
    HealthUpdate,
    MarketUpdate,
    market_updates_subject,
)
from petrosa_core.errors import ParseError
from petrosa_core.models import Candle, DatasetId, DatasetKind, Trade

DATASET = DatasetId.of(DatasetKind.CANDLES, "BTCUSDT", "1m")


def candle(minute: int) -> Candle:
    start = 1_767_225_600_000 + minute * 60_000
    return Candle(
        "BTCUSDT", "1m", start, start + 59_999, 1.0, 2.0, 0.5, 1.5, 10.0, 15.0, 3, 4.0, 6.0, True
    )


def test_a_few_records_travel_inline_and_come_back_typed() -> None:
    records = [candle(0), candle(1)]
    update = MarketUpdate.of(DATASET, records, written_time=5, publisher="p", seq=1)
    back = MarketUpdate.decode(update.encode())
    assert back.inline_records() == records
    assert (back.dataset, back.count, back.keys) == (DATASET, 2, [r.open_time for r in records])
    assert (back.first_time, back.last_time) == (records[0].open_time, records[1].open_time)


def test_many_records_travel_as_keys_and_times_only() -> None:
    records = [candle(i) for i in range(INLINE_RECORDS + 1)]
    update = MarketUpdate.of(DATASET, records, written_time=5, publisher="p", seq=1)
    wire = json.loads(update.encode())
    assert wire["records"] is None and len(wire["keys"]) == INLINE_RECORDS + 1
    assert MarketUpdate.decode(update.encode()).inline_records() is None


def test_the_subject_names_kind_and_symbol() -> None:
    trades = DatasetId.of(DatasetKind.TRADES, "ethusdt")
    subject = market_updates_subject(trades.kind, trades.symbol)
    assert subject == "petrosa.market.updates.trades.ETHUSDT"


@pytest.mark.parametrize(
    "payload",
    [b"{", b"[]", b'{"dataset_id": 1}', b"[" * 100_000, b'{"kind": "nonsense"}'],
)
def test_a_bad_update_is_a_parse_error(payload: bytes) -> None:
    with pytest.raises(ParseError) as caught:
        MarketUpdate.decode(payload)
    assert caught.value.reason == "bad_update"


def test_inline_records_of_the_wrong_shape_are_a_parse_error() -> None:
    good = MarketUpdate.of(DATASET, [candle(0)], written_time=5, publisher="p", seq=1)
    wire = json.loads(good.encode())
    wire["records"] = [{"symbol": "BTCUSDT", "open": "not a number"}]
    update = MarketUpdate.decode(json.dumps(wire).encode())
    with pytest.raises(ParseError):
        update.inline_records()


def test_a_trade_update_keys_trades_by_id() -> None:
    trade = Trade("BTCUSDT", "agg", 42, 100.0, 1.0, 1_767_225_600_000, False)
    update = MarketUpdate.of(trade.dataset, [trade], written_time=5, publisher="p", seq=3)
    assert (update.keys, update.first_time) == ([42], trade.trade_time)
    assert update.inline_records() == [trade]


def test_a_health_update_round_trips() -> None:
    update = HealthUpdate(
        dataset_id=str(DATASET),
        score=81.5,
        band="degraded",
        completeness=0.9,
        validity=1.0,
        freshness=0.5,
        consistency=1.0,
        open_findings=2,
        measured_time=7,
    )
    assert HealthUpdate.decode(update.encode()) == update
    with pytest.raises(ParseError):
        HealthUpdate.decode(b'{"dataset_id": "x"}')
