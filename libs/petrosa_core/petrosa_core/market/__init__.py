"""The market store: time-series records per dataset, behind one protocol."""

from petrosa_core.market.protocol import (
    DatasetInfo,
    MarketStore,
    Order,
    Page,
    WriteResult,
)

__all__ = ["DatasetInfo", "MarketStore", "Order", "Page", "WriteResult"]
