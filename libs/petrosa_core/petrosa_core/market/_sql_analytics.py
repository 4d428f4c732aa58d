"""Analytics results on SQL: one ``analytics_results`` table, upserted on the result key.

A batch and its round record commit in one transaction, so a round is marked done only
together with the results it produced.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from petrosa_core._sql import translated
from petrosa_core.market._sql_tables import ANALYTICS_RESULTS, ANALYTICS_ROUNDS
from petrosa_core.market.analytics import (
    AnalyticsResult,
    AnalyticsRound,
    check_name,
    check_results,
    check_round,
    decode_json,
    decode_lineage,
    encode_json,
    newest,
)
from petrosa_core.models import DatasetId
from petrosa_core.times import to_ms, to_naive_utc

_R = ANALYTICS_RESULTS.c
_KEY = ("dataset", "family", "method", "window_size", "as_of_time")


def _row(result: AnalyticsResult) -> dict[str, Any]:
    return {
        "dataset": str(result.dataset),
        "family": result.family,
        "method": result.method,
        "window_size": result.window,
        "as_of_time": to_naive_utc(result.as_of_time),
        "value": encode_json(result.value).decode(),
        "completeness": result.completeness,
        "bars_used": result.bars_used,
        "computed_time": to_naive_utc(result.computed_time),
        "round_id": result.round_id,
        "lineage": encode_json(result.lineage).decode(),
        "extra": encode_json(result.extra).decode(),
    }


def _result(row: Any) -> AnalyticsResult:
    return AnalyticsResult(
        dataset=DatasetId.parse(row.dataset),
        family=row.family,
        method=row.method,
        window=int(row.window_size),
        value=decode_json(row.value),
        as_of_time=to_ms(row.as_of_time),
        completeness=float(row.completeness),
        bars_used=int(row.bars_used),
        computed_time=to_ms(row.computed_time),
        round_id=row.round_id,
        lineage=decode_lineage(row.lineage),
        extra=decode_json(row.extra),
    )


@functools.cache
def _upsert(dialect: str) -> sa.Insert:
    """A later computation at the same key replaces the earlier one.

    Built once per dialect and executed over the rows (executemany): a statement with
    the rows inlined would be compiled anew for every batch, which costs more than the
    write itself.
    """
    values = [c.name for c in ANALYTICS_RESULTS.c if c.name not in _KEY]
    if dialect == "sqlite":
        lite = sqlite.insert(ANALYTICS_RESULTS)
        return lite.on_conflict_do_update(
            index_elements=list(_KEY), set_={n: lite.excluded[n] for n in values}
        )
    my = mysql.insert(ANALYTICS_RESULTS)
    return my.on_duplicate_key_update({n: my.inserted[n] for n in values})


def _mark(dialect: str, done: AnalyticsRound) -> sa.Insert:
    """The first record of a dataset in a round stays; a second is ignored."""
    row = {
        "round_id": done.round_id,
        "dataset": str(done.dataset),
        "computed_time": to_naive_utc(done.computed_time),
        "results": done.results,
        "worker": done.worker,
    }
    if dialect == "sqlite":
        return sqlite.insert(ANALYTICS_ROUNDS).values(row).on_conflict_do_nothing()
    my = mysql.insert(ANALYTICS_ROUNDS).values(row)
    return my.on_duplicate_key_update(round_id=my.inserted.round_id)


def _round(row: Any) -> AnalyticsRound:
    return AnalyticsRound(
        dataset=DatasetId.parse(row.dataset),
        round_id=row.round_id,
        computed_time=to_ms(row.computed_time),
        results=int(row.results),
        worker=row.worker,
    )


class SqlAnalytics:
    """The analytics methods of ``SqlMarketStore``."""

    _engine: AsyncEngine

    async def write_analytics(
        self, results: Sequence[AnalyticsResult], done: AnalyticsRound | None = None
    ) -> int:
        check_results(results)
        if done is not None:
            check_round(done)
        # One row per key: the last of a batch wins, as when written one by one.
        rows = list({r.key: _row(r) for r in results}.values())
        dialect = self._engine.dialect.name
        with translated():
            async with self._analytics_write() as conn:
                if rows:
                    await conn.execute(_upsert(dialect), rows)
                if done is not None:
                    await conn.execute(_mark(dialect, done))
        return len(rows)

    async def latest_analytics(
        self,
        dataset: DatasetId,
        family: str,
        *,
        method: str | None = None,
        window: int | None = None,
    ) -> list[AnalyticsResult]:
        check_name("family", family)
        where = [_R.dataset == str(dataset), _R.family == family]
        if method is not None:
            where.append(_R.method == method)
        if window is not None:
            where.append(_R.window_size == window)
        newest_times = (
            sa.select(_R.method, _R.window_size, sa.func.max(_R.as_of_time).label("at"))
            .where(*where)
            .group_by(_R.method, _R.window_size)
            .subquery()
        )
        stmt = sa.select(ANALYTICS_RESULTS).join(
            newest_times,
            sa.and_(
                _R.method == newest_times.c.method,
                _R.window_size == newest_times.c.window_size,
                _R.as_of_time == newest_times.c.at,
            ),
        )
        with translated():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt.where(*where))).all()
        return newest([_result(row) for row in rows])

    async def analytics_history(
        self, dataset: DatasetId, family: str, method: str, window: int, *, limit: int = 100
    ) -> list[AnalyticsResult]:
        """The stored results of one metric, newest first."""
        check_name("family", family)
        stmt = (
            sa.select(ANALYTICS_RESULTS)
            .where(
                _R.dataset == str(dataset),
                _R.family == family,
                _R.method == method,
                _R.window_size == window,
            )
            .order_by(_R.as_of_time.desc())
            .limit(limit)
        )
        with translated():
            async with self._engine.connect() as conn:
                return [_result(row) for row in await conn.execute(stmt)]

    async def analytics_rounds(
        self, round_id: str, dataset: DatasetId | None = None
    ) -> list[AnalyticsRound]:
        stmt = sa.select(ANALYTICS_ROUNDS).where(ANALYTICS_ROUNDS.c.round_id == round_id)
        if dataset is not None:
            stmt = stmt.where(ANALYTICS_ROUNDS.c.dataset == str(dataset))
        with translated():
            async with self._engine.connect() as conn:
                rows = await conn.execute(stmt.order_by(ANALYTICS_ROUNDS.c.dataset))
                return [_round(row) for row in rows]

    @asynccontextmanager
    async def _analytics_write(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.connect() as conn:
            if self._engine.dialect.name == "sqlite":
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
            await conn.commit()


__all__ = ["SqlAnalytics"]
