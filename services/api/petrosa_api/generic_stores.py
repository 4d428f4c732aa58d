"""Where the generic API's collections live, and what a collection name means.

- A market collection name (``candles_BTCUSDT_1m``, ``trades_BTCUSDT``, ...) is that
  MarketStore dataset, whichever backend runs.
- A metadata table (``datasets``, ``audit_logs``, ...) is readable, never writable.
- Any other name is a document collection of its callers. Under ``mysql`` it is kept in the
  metadata store's ``documents`` table; under ``mongodb`` it is a native collection when
  the MarketStore is MongoDB, and otherwise the same ``documents`` table under its own
  namespace, so ``mysql/orders`` and ``mongodb/orders`` never mix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast

from starlette.requests import Request

from petrosa_api.api.deps import get_metadata, state_of
from petrosa_api.errors import ApiError
from petrosa_api.settings import ApiSettings
from petrosa_core.documents import (
    READ_ONLY_TABLES,
    Collections,
    SqlCollections,
    open_mongo_collections,
)
from petrosa_core.market.names import dataset_of
from petrosa_core.models import DatasetId, DatasetKind
from petrosa_core.rawquery import MongoQueries, SqlQueries

Database = Literal["mysql", "mongodb"]
DATABASES: tuple[Database, ...] = ("mysql", "mongodb")
COLLECTION = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,119}")
_MONGO_SCHEMES = ("mongodb", "mongodb+srv")
_MARKET_PREFIXES = tuple(f"{kind.value}_" for kind in DatasetKind)


@dataclass(frozen=True)
class Market:
    dataset: DatasetId


@dataclass(frozen=True)
class Table:
    name: str


@dataclass(frozen=True)
class Documents:
    database: Database
    name: str


Target = Market | Table | Documents


def market_is_mongo(settings: ApiSettings) -> bool:
    return settings.market_store_url.partition("://")[0].lower() in _MONGO_SCHEMES


@dataclass
class GenericStores:
    """The clients of the generic and raw endpoints; opened on first use, closed at exit."""

    sql: SqlCollections
    native: Collections | None
    sql_queries: SqlQueries
    mongo_queries: MongoQueries | None

    @classmethod
    def open(cls, settings: ApiSettings) -> GenericStores:
        mongo = market_is_mongo(settings)
        market_sql = None if mongo else settings.market_store_url
        return cls(
            sql=SqlCollections.open(settings.metadata_store_url),
            native=open_mongo_collections(settings.market_store_url) if mongo else None,
            sql_queries=SqlQueries(settings.metadata_store_url, market_sql),
            mongo_queries=MongoQueries(settings.market_store_url) if mongo else None,
        )

    def documents(self, database: Database) -> Collections:
        if database == "mongodb" and self.native is not None:
            return self.native
        return self.sql

    async def close(self) -> None:
        await self.sql.close()
        await self.sql_queries.close()
        if self.native is not None:
            await self.native.close()
        if self.mongo_queries is not None:
            await self.mongo_queries.close()


async def get_generic(request: Request) -> GenericStores:
    """The generic stores, opened once the metadata store (which migrates) is open."""
    await get_metadata(request)
    holder = request.app.state
    stores = getattr(holder, "generic", None)
    if stores is None:
        state = state_of(request)
        # Opening connects nothing, so two requests cannot interleave here.
        stores = holder.generic = GenericStores.open(state.settings)
        state.runtime.add_closer("generic-stores", stores.close)
    return cast(GenericStores, stores)


def database_of(name: str) -> Database:
    if name == "mysql":
        return "mysql"
    if name == "mongodb":
        return "mongodb"
    raise ApiError(404, "not_found", f"database {name[:40]!r} is unknown; use mysql or mongodb")


def target_of(database: str, collection: str) -> Target:
    """What ``/api/v1/{database}/{collection}`` addresses; 400 for a malformed name."""
    db = database_of(database)
    if not COLLECTION.fullmatch(collection):
        raise ApiError(
            400,
            "bad_collection",
            "a collection name is 1..120 letters, digits and _, starting with a letter",
        )
    if (dataset := dataset_of(collection)) is not None:
        return Market(dataset)
    if collection in READ_ONLY_TABLES:
        return Table(collection)
    if collection.startswith(_MARKET_PREFIXES):
        raise ApiError(
            400,
            "bad_collection",
            f"{collection!r} starts like a market collection but names no dataset; market "
            "collections are candles_SYMBOL_INTERVAL or KIND_SYMBOL (e.g. trades_BTCUSDT)",
        )
    return Documents(db, collection)
