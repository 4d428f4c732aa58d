"""The original service's collection names of market datasets, on every backend.

``candles_BTCUSDT_1m``, ``trades_BTCUSDT``, ``depth_BTCUSDT``: MongoDB keeps datasets under
these names, and the generic API addresses them by these names whichever backend runs.
"""

from petrosa_core.market._mongo_layout import collection_name, dataset_of
from petrosa_core.market._sql_tables import TABLES

# The market store's tables on SQL backends, one per dataset kind.
SQL_TABLE_NAMES = frozenset(table.name for table in TABLES.values())

__all__ = ["SQL_TABLE_NAMES", "collection_name", "dataset_of"]
