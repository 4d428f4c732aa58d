"""MongoDB access beside the market store: its database, its error boundary, plain values.

For readers of the same database that are not the MarketStore (the generic API's native
collections, raw queries); they connect and translate errors exactly as the store does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import DatetimeMS, Decimal128, ObjectId

from petrosa_core.market._mongo_client import open_database, translated
from petrosa_core.times import to_ms


def plain(value: Any) -> Any:
    """A BSON value as JSON can carry it: ids and decimals as strings, dates as epoch ms."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, DatetimeMS):
        return int(value)
    if isinstance(value, datetime):
        return to_ms(value)
    if isinstance(value, ObjectId | Decimal128):
        return str(value)
    return value


__all__ = ["open_database", "plain", "translated"]
