"""What every MarketStore backend provides; the backend is chosen by URL scheme.

Times are UTC epoch milliseconds; ranges are half-open ``[start, end)`` on the dataset's
time field (``models.KIND_SPECS``); ``None`` leaves that side open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec

from petrosa_core.market.analytics import AnalyticsResult, AnalyticsRound
from petrosa_core.market.columns import BATCH_ROWS, ArrowPage
from petrosa_core.models import DatasetId, Record

if TYPE_CHECKING:
    import pyarrow as pa

Order = Literal["asc", "desc"]


class WriteResult(msgspec.Struct, frozen=True):
    """What a batch write changed: new rows, replaced rows (open candles), and no-ops."""

    inserted: int
    updated: int
    unchanged: int


class Page(msgspec.Struct, frozen=True):
    """One page of a range query; pass ``next_cursor`` back to continue after it."""

    records: list[Record]
    next_cursor: str | None


class DatasetInfo(msgspec.Struct, frozen=True):
    dataset: DatasetId
    count: int
    first_time: int | None
    last_time: int | None


class MarketStore(Protocol):
    async def write(self, dataset: DatasetId, records: Sequence[Record]) -> WriteResult:
        """Idempotent upsert on the natural key; durable when it returns.

        A replayed record changes nothing; an open candle is replaced by a later update of
        the same candle; a closed candle is final and never replaced. Other kinds keep the
        first version of a key. The result equals applying the batch in order, one record
        at a time; a record of another dataset rejects the whole batch (``ValidationError``).
        """
        ...

    async def write_many(
        self, groups: Mapping[DatasetId, Sequence[Record]]
    ) -> dict[DatasetId, WriteResult]:
        """``write`` for several datasets at once, one result per dataset.

        SQL backends write every group in one transaction (all or nothing), which costs
        one commit instead of one per dataset.
        """
        ...

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
        """Records in ``[start, end)`` ordered by (time, key); resumable with ``cursor``.

        Trades break a (time, id) tie by trade type, "agg" before "raw". ``limit`` is
        1..10000 and ``trade_type`` ("agg"/"raw") applies to trades only, else
        ``ValidationError``; a cursor this dataset did not issue raises ``bad_cursor``.
        """
        ...

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
        """``query``'s rows, order and cursors as one Arrow table (``columns.arrow_schema``).

        ``limit`` has no upper bound here and ``None`` reads the whole range; ``columns``
        picks and orders columns (``ValidationError("bad_columns")`` for an unknown one).
        Read natively into Arrow by each backend, without a Python object per row.
        """
        ...

    def scan_batches(
        self,
        dataset: DatasetId,
        start: int | None = None,
        end: int | None = None,
        *,
        trade_type: str | None = None,
        columns: Sequence[str] | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> AsyncIterator[pa.Table]:
        """The range in ascending tables of at most ``batch_rows`` rows, for bounded memory.

        An empty range yields one empty table, so a consumer always sees the schema.
        """
        ...

    async def warm(self) -> None:
        """Start what columnar reads need (SQLite's reader processes) ahead of the first scan.

        Optional: a scan starts them itself; a service that will scan calls this at start-up
        so that its first read does not wait seconds for them.
        """
        ...

    async def latest(self, dataset: DatasetId, n: int = 1) -> list[Record]:
        """The ``n`` newest records, newest first; ``n`` is 1..10000 like ``limit``."""
        ...

    async def count(
        self, dataset: DatasetId, start: int | None = None, end: int | None = None
    ) -> int:
        """How many records lie in ``[start, end)``."""
        ...

    async def keys(
        self,
        dataset: DatasetId,
        start: int | None = None,
        end: int | None = None,
        *,
        trade_type: str | None = None,
    ) -> list[int]:
        """Integer natural keys in ``[start, end)`` in time order (open times, trade ids, u).

        For trades, pass ``trade_type`` ("agg" or "raw"): ids of the two kinds overlap.
        """
        ...

    async def delete_range(
        self, dataset: DatasetId, start: int | None = None, end: int | None = None
    ) -> int:
        """Delete the records in ``[start, end)``; return how many went."""
        ...

    async def datasets(self) -> list[DatasetInfo]:
        """Every dataset that holds records, with its count and first and last time."""
        ...

    async def write_analytics(
        self, results: Sequence[AnalyticsResult], done: AnalyticsRound | None = None
    ) -> int:
        """Store results, replacing any at the same key; with ``done``, mark its round.

        The round is marked only once its results are stored (in one transaction on SQL);
        a second mark of the same dataset and round is ignored. Returns the results stored.
        """
        ...

    async def latest_analytics(
        self,
        dataset: DatasetId,
        family: str,
        *,
        method: str | None = None,
        window: int | None = None,
    ) -> list[AnalyticsResult]:
        """For each (method, window) of ``family`` on ``dataset``, the newest stored result."""
        ...

    async def analytics_history(
        self, dataset: DatasetId, family: str, method: str, window: int, *, limit: int = 100
    ) -> list[AnalyticsResult]:
        """The stored results of one metric, newest first."""
        ...

    async def analytics_rounds(
        self, round_id: str, dataset: DatasetId | None = None
    ) -> list[AnalyticsRound]:
        """The datasets round ``round_id`` has finished (only ``dataset``, if given)."""
        ...

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers."""
        ...

    def pool_status(self) -> dict[str, Any]:
        """The backend's name and what its connection pool reports; no round trip."""
        ...

    async def close(self) -> None: ...
