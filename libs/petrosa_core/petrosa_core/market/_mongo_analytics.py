"""Analytics results on MongoDB: collections ``analytics_{SYMBOL}_{family}``, as the original.

The ``_id`` is the result key, so a recomputation replaces its document. Round records
live in ``analytics_rounds`` and are written after the results: a round is never marked
done before its results are stored (MongoDB gives no atomicity across collections here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bson import DatetimeMS
from pymongo import InsertOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from petrosa_core.market._mongo_client import translated
from petrosa_core.market._mongo_layout import Document
from petrosa_core.market.analytics import (
    AnalyticsResult,
    AnalyticsRound,
    ResultLineage,
    check_name,
    check_results,
    check_round,
    newest,
)
from petrosa_core.models import DatasetId

ROUNDS = "analytics_rounds"
_DUPLICATE_KEY = 11000
# Documents read to find the newest per (method, window) when neither is given: a round
# writes a few dozen per family, so this covers many rounds of every method and window.
_SCAN_CAP = 5_000


def results_collection(symbol: str, family: str) -> str:
    """``analytics_BTCUSDT_volatility``: the original service's name."""
    return f"analytics_{symbol}_{family}"


def _document(result: AnalyticsResult) -> Document:
    key = "|".join(str(part) for part in result.key)
    return {
        "_id": key,
        "dataset": str(result.dataset),
        "family": result.family,
        "method": result.method,
        "window": result.window,
        "as_of_time": DatetimeMS(result.as_of_time),
        "value": result.value,
        "completeness": result.completeness,
        "bars_used": result.bars_used,
        "computed_time": DatetimeMS(result.computed_time),
        "round_id": result.round_id,
        "lineage": {
            name: getattr(result.lineage, name) for name in ResultLineage.__struct_fields__
        },
        "extra": result.extra,
    }


def _ms(value: Any) -> int:
    return int(value)


def _result(doc: Document) -> AnalyticsResult:
    return AnalyticsResult(
        dataset=DatasetId.parse(doc["dataset"]),
        family=doc["family"],
        method=doc["method"],
        window=int(doc["window"]),
        value=doc["value"],
        as_of_time=_ms(doc["as_of_time"]),
        completeness=float(doc["completeness"]),
        bars_used=int(doc["bars_used"]),
        computed_time=_ms(doc["computed_time"]),
        round_id=doc["round_id"],
        lineage=ResultLineage(**doc["lineage"]),
        extra=doc["extra"],
    )


class MongoAnalytics:
    """The analytics methods of ``MongoMarketStore``."""

    _db: AsyncDatabase[Document]

    async def write_analytics(
        self, results: Sequence[AnalyticsResult], done: AnalyticsRound | None = None
    ) -> int:
        check_results(results)
        if done is not None:
            check_round(done)
        groups: dict[str, dict[str, Document]] = {}
        for result in results:
            name = results_collection(result.dataset.symbol, result.family)
            doc = _document(result)
            groups.setdefault(name, {})[doc["_id"]] = doc
        with translated():
            for name, docs in sorted(groups.items()):
                await self._index_results(name)
                ops = [ReplaceOne({"_id": key}, doc, upsert=True) for key, doc in docs.items()]
                await self._db[name].bulk_write(ops, ordered=False)
            if done is not None:
                await self._mark(done)
        return sum(len(docs) for docs in groups.values())

    async def _index_results(self, name: str) -> None:
        """The index the newest-first reads use, made once per collection and process."""
        made: set[str] = self.__dict__.setdefault("_analytics_indexed", set())
        if name not in made:
            keys = [("dataset", 1), ("method", 1), ("window", 1), ("as_of_time", -1)]
            await self._db[name].create_index(keys)
            made.add(name)

    async def _mark(self, done: AnalyticsRound) -> None:
        doc = {
            "_id": f"{done.round_id}|{done.dataset}",
            "round_id": done.round_id,
            "dataset": str(done.dataset),
            "computed_time": DatetimeMS(done.computed_time),
            "results": done.results,
            "worker": done.worker,
        }
        try:
            await self._db[ROUNDS].bulk_write([InsertOne(doc)])
        except BulkWriteError as exc:
            codes = {e.get("code") for e in exc.details.get("writeErrors", [])}
            if codes != {_DUPLICATE_KEY}:
                raise

    async def latest_analytics(
        self,
        dataset: DatasetId,
        family: str,
        *,
        method: str | None = None,
        window: int | None = None,
    ) -> list[AnalyticsResult]:
        check_name("family", family)
        query: Document = {"dataset": str(dataset)}
        if method is not None:
            query["method"] = method
        if window is not None:
            query["window"] = window
        limit = 1 if method is not None and window is not None else _SCAN_CAP
        collection = self._db[results_collection(dataset.symbol, family)]
        with translated():
            found = collection.find(query, sort=[("as_of_time", -1)], limit=limit)
            return newest([_result(doc) async for doc in found])

    async def analytics_history(
        self, dataset: DatasetId, family: str, method: str, window: int, *, limit: int = 100
    ) -> list[AnalyticsResult]:
        check_name("family", family)
        query = {"dataset": str(dataset), "method": method, "window": window}
        collection = self._db[results_collection(dataset.symbol, family)]
        with translated():
            found = collection.find(query, sort=[("as_of_time", -1)], limit=limit)
            return [_result(doc) async for doc in found]

    async def analytics_rounds(
        self, round_id: str, dataset: DatasetId | None = None
    ) -> list[AnalyticsRound]:
        query: Document = {"round_id": round_id}
        if dataset is not None:
            query["dataset"] = str(dataset)
        with translated():
            found = self._db[ROUNDS].find(query, sort=[("dataset", 1)])
            return [
                AnalyticsRound(
                    dataset=DatasetId.parse(doc["dataset"]),
                    round_id=doc["round_id"],
                    computed_time=_ms(doc["computed_time"]),
                    results=int(doc["results"]),
                    worker=doc["worker"],
                )
                async for doc in found
            ]


__all__ = ["MongoAnalytics", "results_collection"]
