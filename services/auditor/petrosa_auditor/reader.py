"""The market-store reads of one audit, in bounded pages or tables, timed apart from the checks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, TypeVar

from petrosa_core.market import MarketStore
from petrosa_core.models import DatasetId, Record

if TYPE_CHECKING:
    import pyarrow as pa

T = TypeVar("T")


class TimedReader:
    """Reads one dataset page by page; ``seconds`` is the time spent waiting on the store."""

    def __init__(self, store: MarketStore, page_size: int) -> None:
        self.store = store
        self.page_size = page_size
        self.seconds = 0.0

    async def timed(self, call: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            return await call
        finally:
            self.seconds += time.perf_counter() - started

    async def pages(
        self,
        dataset: DatasetId,
        start: int | None,
        end: int | None,
        trade_type: str | None = None,
    ) -> AsyncIterator[list[Record]]:
        """Every record in ``[start, end)`` in time order, one store page at a time."""
        cursor: str | None = None
        while True:
            page = await self.timed(
                self.store.query(
                    dataset, start, end, limit=self.page_size, cursor=cursor, trade_type=trade_type
                )
            )
            if page.records:
                yield page.records
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def tables(
        self, dataset: DatasetId, start: int | None, end: int | None
    ) -> AsyncIterator[pa.Table]:
        """Every record in ``[start, end)`` in time order, as Arrow tables of bounded size."""
        batches = self.store.scan_batches(dataset, start, end)
        while True:
            started = time.perf_counter()
            try:
                table = await anext(batches)
            except StopAsyncIteration:
                return
            finally:
                self.seconds += time.perf_counter() - started
            if table.num_rows:
                yield table

    async def before(
        self, dataset: DatasetId, start: int | None, trade_type: str | None = None
    ) -> Record | None:
        """The last record before ``start``: where a scan of ``[start, ...)`` picks up."""
        if start is None:
            return None
        page = await self.timed(
            self.store.query(dataset, None, start, order="desc", limit=1, trade_type=trade_type)
        )
        return page.records[0] if page.records else None

    async def latest(self, dataset: DatasetId, n: int) -> list[Record]:
        return await self.timed(self.store.latest(dataset, n))

    async def count(self, dataset: DatasetId, start: int | None, end: int | None) -> int:
        return await self.timed(self.store.count(dataset, start, end))
