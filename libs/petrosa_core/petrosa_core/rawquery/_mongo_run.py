"""Running an admitted MongoDB read with ``maxTimeMS`` and a row cap always set."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ExecutionTimeout, OperationFailure

from petrosa_core.errors import ValidationError
from petrosa_core.market.mongo_access import open_database, plain, translated
from petrosa_core.rawquery._mongo_guard import MongoRead

Document = dict[str, Any]


class MongoReader:
    """Reads on the market store's MongoDB database, each bounded in time and rows."""

    def __init__(self, client: AsyncMongoClient[Document], db: AsyncDatabase[Document]):
        self._client = client
        self._db = db

    @classmethod
    def open(cls, url: str) -> MongoReader:
        return cls(*open_database(url))

    async def run(self, read: MongoRead, row_cap: int, time_limit: float) -> tuple[Any, bool]:
        """The rows (or the count) and whether rows past the cap were cut."""
        ms = max(1, int(time_limit * 1000))
        with translated("raw query"):
            try:
                return await self._run(read, row_cap, ms)
            except ExecutionTimeout:
                raise ValidationError(
                    "query_timeout", f"the query ran past {time_limit:g} s and was stopped"
                ) from None
            except OperationFailure as exc:
                message = f"MongoDB refused the query: {exc}"[:400]
                raise ValidationError("query_failed", message) from None

    async def _run(self, read: MongoRead, cap: int, ms: int) -> tuple[Any, bool]:
        collection = self._db[read.collection]
        if read.operation == "count":
            return await collection.count_documents(read.filter, maxTimeMS=ms), False
        if read.operation == "distinct":
            values = await collection.distinct(read.field_name, read.filter, maxTimeMS=ms)
            return plain(values[:cap]), len(values) > cap
        if read.operation == "aggregate":
            pipeline = [*read.pipeline, {"$limit": cap + 1}]
            rows = await (await collection.aggregate(pipeline, maxTimeMS=ms)).to_list(cap + 1)
        else:
            cursor = collection.find(read.filter, read.projection, skip=read.skip)
            cursor = cursor.max_time_ms(ms).limit(cap + 1)
            if read.sort:
                cursor = cursor.sort(read.sort)
            rows = await cursor.to_list(cap + 1)
        return plain(rows[:cap]), len(rows) > cap

    async def close(self) -> None:
        await self._client.close()
