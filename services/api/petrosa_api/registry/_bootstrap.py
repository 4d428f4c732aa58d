"""The common schemas of the suite, registered by ``POST /schemas/bootstrap``.

The market records' schemas are derived from the record types themselves
(``petrosa_core.models``), and the metadata rows' from the store's row types, so they
describe exactly what the stores hold. The original service's names are kept (candle_v1,
trade_v1, depth_v1, funding_v1 for mongodb; order_v1, health_metrics_v1, audit_log_v1,
strategy_signal_v1 for mysql); the kinds it had no schema for get one too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec

from petrosa_api.registry._documents import DRAFT_07
from petrosa_core.metadata import Finding, HealthRecord
from petrosa_core.models import RECORD_TYPES, DatasetKind


@dataclass(frozen=True)
class CommonSchema:
    database: str
    name: str
    document: dict[str, Any]
    description: str
    describes: str | None


def draft_07(kind: type[Any]) -> dict[str, Any]:
    """msgspec's JSON Schema of ``kind`` (2020-12 style) rewritten as draft-07."""
    generated = msgspec.json.schema(kind)
    defs = generated.get("$defs", {})
    root_name = generated["$ref"].rsplit("/", 1)[-1]
    text = json.dumps(defs).replace(f'"#/$defs/{root_name}"', '"#"')
    defs = _tuples(json.loads(text.replace('"#/$defs/', '"#/definitions/')))
    root = {"$schema": DRAFT_07, **defs.pop(root_name)}
    if defs:
        root["definitions"] = defs
    return root


def _tuples(value: Any) -> Any:
    """``prefixItems`` with ``items: false`` (2020-12) as an ``items`` array (draft-07)."""
    if isinstance(value, list):
        return [_tuples(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: _tuples(v) for k, v in value.items()}
    if "prefixItems" in out:
        out["additionalItems"] = out.pop("items", True)
        out["items"] = out.pop("prefixItems")
    return out


_MARKET_NAMES = {
    DatasetKind.CANDLES: "candle_v1",
    DatasetKind.TRADES: "trade_v1",
    DatasetKind.DEPTH: "depth_v1",
    DatasetKind.FUNDING_RATES: "funding_v1",
    DatasetKind.MARK_PRICES: "mark_price_v1",
    DatasetKind.TICKERS: "ticker_v1",
    DatasetKind.BOOK_TICKERS: "book_ticker_v1",
}

# Orders and strategy signals are written by the trading services; this suite holds no
# type of them, so their shape is the original service's, written out here.
ORDER_V1: dict[str, Any] = {
    "$schema": DRAFT_07,
    "title": "Order",
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "minLength": 1},
        "symbol": {"type": "string", "pattern": "^[A-Z0-9]{2,30}$"},
        "side": {"enum": ["BUY", "SELL"]},
        "type": {"enum": ["MARKET", "LIMIT", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                          "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]},
        "status": {"enum": ["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED",
                            "EXPIRED"]},
        "price": {"type": "number", "minimum": 0},
        "quantity": {"type": "number", "exclusiveMinimum": 0},
        "filled_quantity": {"type": "number", "minimum": 0},
        "strategy_id": {"type": ["string", "null"]},
        "created_time": {"type": "integer", "minimum": 0},
        "updated_time": {"type": "integer", "minimum": 0},
    },
    "required": ["order_id", "symbol", "side", "type", "status", "quantity", "created_time"],
}  # fmt: skip
STRATEGY_SIGNAL_V1: dict[str, Any] = {
    "$schema": DRAFT_07,
    "title": "StrategySignal",
    "type": "object",
    "properties": {
        "strategy_id": {"type": "string", "minLength": 1},
        "symbol": {"type": "string", "pattern": "^[A-Z0-9]{2,30}$"},
        "signal": {"enum": ["BUY", "SELL", "HOLD"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "price": {"type": "number", "minimum": 0},
        "timeframe": {"type": "string"},
        "indicators": {"type": "object"},
        "signal_time": {"type": "integer", "minimum": 0},
    },
    "required": ["strategy_id", "symbol", "signal", "signal_time"],
}


def common_schemas() -> list[CommonSchema]:
    """Every schema bootstrap registers, in registration order."""
    market = [
        CommonSchema("mongodb", name, draft_07(RECORD_TYPES[kind]),
                     f"{kind.value} records as the market store holds them", kind.value)
        for kind, name in _MARKET_NAMES.items()
    ]  # fmt: skip
    return [
        *market,
        CommonSchema("mysql", "order_v1", ORDER_V1, "orders of the trading services", None),
        CommonSchema("mysql", "health_metrics_v1", draft_07(HealthRecord),
                     "dataset health measurements (health_metrics rows)", None),
        CommonSchema("mysql", "audit_log_v1", draft_07(Finding),
                     "audit findings (audit_logs rows)", None),
        CommonSchema("mysql", "strategy_signal_v1", STRATEGY_SIGNAL_V1,
                     "signals of the strategy services", None),
    ]  # fmt: skip
