"""The market store: time-series records per dataset, behind one protocol."""

from petrosa_core.errors import ConfigError
from petrosa_core.market._rules import MAX_LIMIT
from petrosa_core.market.columns import ArrowPage, arrow_schema
from petrosa_core.market.duplicates import (
    DuplicateGroup,
    DuplicateScanner,
    DuplicateStrategy,
    Removal,
)
from petrosa_core.market.protocol import (
    DatasetInfo,
    MarketStore,
    Order,
    Page,
    WriteResult,
)

_SQL_SCHEMES = ("sqlite+aiosqlite", "mysql+asyncmy", "mariadb+asyncmy")
_MONGO_SCHEMES = ("mongodb", "mongodb+srv")


async def open_market_store(url: str) -> MarketStore:
    """Open the backend the URL's scheme names; raise ``ConfigError`` for any other scheme."""
    scheme = url.partition("://")[0].lower()
    if scheme in _SQL_SCHEMES:
        from petrosa_core.market.sql import SqlMarketStore

        return await SqlMarketStore.open(url)
    if scheme in _MONGO_SCHEMES:
        # Imported here so SQL-only deployments never load pymongo.
        from petrosa_core.market.mongo import MongoMarketStore

        return await MongoMarketStore.open(url)
    known = ", ".join(f"{s}://" for s in (*_SQL_SCHEMES, *_MONGO_SCHEMES))
    raise ConfigError(f"MARKET_STORE_URL scheme {scheme!r} is not supported; use one of {known}")


def open_duplicate_scanner(url: str) -> DuplicateScanner | None:
    """A legacy-copy scanner on the market store's URL; ``None`` where copies cannot exist.

    Only MongoDB holds the original service's documents, which may repeat a natural key.
    """
    if url.partition("://")[0].lower() not in _MONGO_SCHEMES:
        return None
    from petrosa_core.market._mongo_duplicates import MongoDuplicates

    return MongoDuplicates.open(url)


__all__ = [
    "MAX_LIMIT",
    "ArrowPage",
    "DatasetInfo",
    "DuplicateGroup",
    "DuplicateScanner",
    "DuplicateStrategy",
    "MarketStore",
    "Order",
    "Page",
    "Removal",
    "WriteResult",
    "arrow_schema",
    "open_duplicate_scanner",
    "open_market_store",
]
