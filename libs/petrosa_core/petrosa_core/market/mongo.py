"""MarketStore on MongoDB: one collection per dataset, keyed by a deterministic ``_id``.

Only plain finds, counts, bulk writes and indexes are used, so that MongoDB-wire servers
with a partial query engine (nx-27017 in the tests) behave like MongoDB itself.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from pymongo import AsyncMongoClient, InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from petrosa_core.errors import StoreUnavailable
from petrosa_core.market._mongo_analytics import MongoAnalytics
from petrosa_core.market._mongo_batch import plan_batch
from petrosa_core.market._mongo_client import classified, open_database, translated
from petrosa_core.market._mongo_layout import (
    Document,
    collection_name,
    dataset_of,
    document_id,
    from_document,
    key_of,
    position,
    position_types,
    time_of,
    to_document,
)
from petrosa_core.market._mongo_ranges import (
    Window,
    decode_cursor,
    encode_cursor,
    split_exact,
    time_filter,
)
from petrosa_core.market._mongo_scan import scan_window
from petrosa_core.market._rules import check_batch, check_limit, check_order, check_trade_type
from petrosa_core.market.columns import (
    BATCH_ROWS,
    ArrowPage,
    arrow_schema,
    check_scan,
    conform,
    in_batches,
    page_of,
)
from petrosa_core.market.protocol import DatasetInfo, Order, Page, WriteResult
from petrosa_core.models import KIND_SPECS, DatasetId, DatasetKind, Record

if TYPE_CHECKING:
    import pyarrow as pa

# Keeps each ``$in`` lookup well under the bound-parameter cap of SQLite-backed servers.
_LOOKUP_CHUNK = 1_000
_DUPLICATE_KEY = 11000

_P = ParamSpec("_P")
_R = TypeVar("_R")

Collection = AsyncCollection[Document]


def _translated(
    method: Callable[_P, Coroutine[Any, Any, _R]],
) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """Every public method of the store answers in the suite's own errors."""

    @functools.wraps(method)
    async def translating(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with translated():
            return await method(*args, **kwargs)

    return translating


def _lost_keys(error: BulkWriteError, keys: Sequence[str]) -> set[str]:
    """Keys whose write met a record that must not be replaced; any other failure raises."""
    details = error.details
    if details.get("writeConcernErrors"):
        raise StoreUnavailable(f"MongoDB write concern failed: {details['writeConcernErrors']}")
    lost: set[str] = set()
    for failure in details.get("writeErrors", []):
        if failure.get("code") != _DUPLICATE_KEY:
            raise classified(failure.get("code"), f"MongoDB write failed: {failure.get('errmsg')}")
        lost.add(keys[failure["index"]])
    return lost


def _write_op(kind: DatasetKind, record: Record) -> InsertOne[Document] | ReplaceOne[Document]:
    """An insert for records that are final once stored; a guarded upsert for candles.

    A closed candle fails the guard, and the upsert then collides with it on ``_id``.
    """
    if kind is not DatasetKind.CANDLES:
        return InsertOne(to_document(record))
    guard = {"_id": document_id(record), "is_closed": {"$ne": True}}
    return ReplaceOne(guard, to_document(record), upsert=True)


def _position_of(kind: DatasetKind, table: pa.Table, row: int) -> tuple[int | str, ...]:
    """The (time, key...) position of a table row, as ``position`` gives a document's."""
    values: list[int | str] = []
    for name in KIND_SPECS[kind].order_fields:
        value = table.column(name)[row]
        values.append(int(value.value) if name.endswith("_time") else value.as_py())
    return tuple(values)


class MongoMarketStore(MongoAnalytics):
    """MarketStore on MongoDB with the original service's collection layout."""

    def __init__(self, client: AsyncMongoClient[Document], database: AsyncDatabase[Document]):
        self._client = client
        self._db = database
        self._indexed: set[str] = set()

    @classmethod
    async def open(cls, url: str) -> MongoMarketStore:
        """A store on the URL's database (default ``petrosa_data_manager``); connects lazily."""
        return cls(*open_database(url))

    @_translated
    async def write_many(
        self, groups: Mapping[DatasetId, Sequence[Record]]
    ) -> dict[DatasetId, WriteResult]:
        """Each group in turn: MongoDB gives no atomicity across collections here."""
        for dataset, records in groups.items():
            check_batch(dataset, records)
        return {dataset: await self.write(dataset, records) for dataset, records in groups.items()}

    async def write(self, dataset: DatasetId, records: Sequence[Record]) -> WriteResult:
        check_batch(dataset, records)
        if not records:
            return WriteResult(0, 0, 0)
        collection = await self._writable(dataset)
        ids = [document_id(record) for record in records]
        stored = await self._stored(collection, dataset.kind, ids)
        plan = plan_batch(ids, records, stored)
        lost = await self._apply(collection, dataset.kind, plan.writes)
        return plan.result(lost)

    @_translated
    async def query(
        self,
        dataset: DatasetId,
        start: int | None = None,
        end: int | None = None,
        *,
        order: Order = "asc",
        limit: int = 1000,
        cursor: str | None = None,
        trade_type: str | None = None,
    ) -> Page:
        check_limit(limit)
        check_order(order)
        check_trade_type(dataset, trade_type)
        kind = dataset.kind
        after = None if cursor is None else decode_cursor(cursor, order, position_types(kind))
        window = Window(dataset, start, end, order, after, trade_type)
        docs = await self._scan(window, limit + 1)
        records = [from_document(kind, doc) for doc in docs[:limit]]
        more = len(docs) > limit
        next_cursor = encode_cursor(order, position(kind, docs[limit - 1])) if more else None
        return Page(records, next_cursor)

    @_translated
    async def scan(
        self,
        dataset: DatasetId,
        start: int | None = None,
        end: int | None = None,
        *,
        order: Order = "asc",
        limit: int | None = 1000,
        cursor: str | None = None,
        trade_type: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> ArrowPage:
        check_scan(dataset, order, limit, trade_type, columns)
        kind = dataset.kind
        after = None if cursor is None else decode_cursor(cursor, order, position_types(kind))
        window = Window(dataset, start, end, order, after, trade_type)
        want = None if limit is None else limit + 1
        table = await scan_window(self._collection(dataset), window, want)
        table = conform(table, arrow_schema(kind))

        def cursor_after(page: pa.Table, row: int) -> str:
            return encode_cursor(order, _position_of(kind, page, row))

        return page_of(table, limit, columns, cursor_after)

    async def scan_batches(
        self,
        dataset: DatasetId,
        start: int | None = None,
        end: int | None = None,
        *,
        trade_type: str | None = None,
        columns: Sequence[str] | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> AsyncIterator[pa.Table]:
        scan = functools.partial(
            self.scan, dataset, start, end, trade_type=trade_type, columns=columns
        )
        async for table in in_batches(scan, batch_rows):
            yield table

    async def warm(self) -> None:
        """Nothing to start: pymongoarrow decodes in this process."""

    @_translated
    async def latest(self, dataset: DatasetId, n: int = 1) -> list[Record]:
        check_limit(n)
        sort = [(name, -1) for name in KIND_SPECS[dataset.kind].order_fields]
        found = self._collection(dataset).find({}, sort=sort, limit=n)
        return [from_document(dataset.kind, doc) async for doc in found]

    @_translated
    async def count(
        self, dataset: DatasetId, start: int | None = None, end: int | None = None
    ) -> int:
        middle, edges = split_exact(start, end)
        total = 0
        if middle is not None:
            query = time_filter(KIND_SPECS[dataset.kind].time_field, middle)
            total += await self._collection(dataset).count_documents(query)
        for low, high in edges:
            total += len(await self._scan(Window(dataset, low, high), keys_only=True))
        return total

    @_translated
    async def keys(
        self,
        dataset: DatasetId,
        start: int | None = None,
        end: int | None = None,
        *,
        trade_type: str | None = None,
    ) -> list[int]:
        check_trade_type(dataset, trade_type)
        window = Window(dataset, start, end, trade_type=trade_type)
        return [key_of(dataset.kind, doc) for doc in await self._scan(window, keys_only=True)]

    @_translated
    async def delete_range(
        self, dataset: DatasetId, start: int | None = None, end: int | None = None
    ) -> int:
        collection = self._collection(dataset)
        middle, edges = split_exact(start, end)
        deleted = 0
        if middle is not None:
            query = time_filter(KIND_SPECS[dataset.kind].time_field, middle)
            deleted += (await collection.delete_many(query)).deleted_count
        for low, high in edges:
            ids = [
                doc["_id"] for doc in await self._scan(Window(dataset, low, high), keys_only=True)
            ]
            if ids:
                deleted += (await collection.delete_many({"_id": {"$in": ids}})).deleted_count
        return deleted

    @_translated
    async def datasets(self) -> list[DatasetInfo]:
        infos: list[DatasetInfo] = []
        for name in sorted(await self._db.list_collection_names()):
            dataset = dataset_of(name)
            if dataset is not None and (info := await self._info(dataset)) is not None:
                infos.append(info)
        return infos

    @_translated
    async def ping(self) -> None:
        await self._db.command("ping")

    def pool_status(self) -> dict[str, Any]:
        options = self._client.options.pool_options
        return {
            "backend": "mongodb",
            "max_pool_size": options.max_pool_size,
            "min_pool_size": options.min_pool_size,
        }

    @_translated
    async def close(self) -> None:
        await self._client.close()

    def _collection(self, dataset: DatasetId) -> Collection:
        return self._db[collection_name(dataset)]

    async def _writable(self, dataset: DatasetId) -> Collection:
        """The dataset's collection, with its paging index made on first use by this process."""
        collection = self._collection(dataset)
        if collection.name not in self._indexed:
            await collection.create_index(
                [(name, 1) for name in KIND_SPECS[dataset.kind].order_fields]
            )
            self._indexed.add(collection.name)
        return collection

    async def _stored(
        self, collection: Collection, kind: DatasetKind, ids: Sequence[str]
    ) -> dict[str, Record]:
        unique = list(dict.fromkeys(ids))
        stored: dict[str, Record] = {}
        for offset in range(0, len(unique), _LOOKUP_CHUNK):
            chunk = unique[offset : offset + _LOOKUP_CHUNK]
            async for doc in collection.find({"_id": {"$in": chunk}}):
                stored[doc["_id"]] = from_document(kind, doc)
        return stored

    async def _apply(
        self, collection: Collection, kind: DatasetKind, writes: dict[str, Record]
    ) -> set[str]:
        """Send the planned writes; return the keys another writer made final first."""
        if not writes:
            return set()
        keys = list(writes)
        try:
            await collection.bulk_write(
                [_write_op(kind, writes[key]) for key in keys], ordered=False
            )
        except BulkWriteError as exc:
            return _lost_keys(exc, keys)
        return set()

    async def _scan(
        self, window: Window, limit: int | None = None, *, keys_only: bool = False
    ) -> list[Document]:
        """Documents inside ``window`` in its order, at most ``limit``; edges settled here."""
        kind = window.dataset.kind
        projection = dict.fromkeys(KIND_SPECS[kind].order_fields, 1) if keys_only else None
        found: list[Document] = []
        cursor = self._collection(window.dataset).find(
            window.server_filter(), projection, sort=window.sort(), batch_size=limit or 0
        )
        try:
            async for doc in cursor:
                where = position(kind, doc)
                if window.is_behind(int(where[0])):
                    break
                if window.admits(where):
                    found.append(doc)
                    if len(found) == limit:
                        break
        finally:
            await cursor.close()
        return found

    async def _info(self, dataset: DatasetId) -> DatasetInfo | None:
        collection, field = self._collection(dataset), KIND_SPECS[dataset.kind].time_field
        count = await collection.count_documents({})
        first = await collection.find_one({}, {field: 1}, sort=[(field, 1)])
        last = await collection.find_one({}, {field: 1}, sort=[(field, -1)])
        if count == 0 or first is None or last is None:
            return None
        kind = dataset.kind
        return DatasetInfo(dataset, count, time_of(kind, first), time_of(kind, last))
