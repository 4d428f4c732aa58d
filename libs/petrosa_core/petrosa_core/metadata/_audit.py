"""Audit findings (the ``audit_logs`` table) and dataset health scores."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from petrosa_core.metadata._base import SqlBase, check_text, inserted_id, rows_as
from petrosa_core.metadata._records import (
    Finding,
    FindingIn,
    FindingStatus,
    HealthRecord,
    JsonObject,
    SyncResult,
)
from petrosa_core.metadata._tables import audit_logs, health_metrics
from petrosa_core.models import DatasetId

_Key = tuple[int | None, int | None]


class AuditOps(SqlBase):
    async def add_finding(
        self,
        dataset_id: DatasetId | str,
        check: str,
        severity: str,
        range_start: int | None,
        range_end: int | None,
        details: JsonObject,
    ) -> int:
        """Open a finding; returns its id."""
        async with self._write() as conn:
            new = FindingIn(severity, range_start, range_end, details)
            found = await self._insert_finding(conn, str(dataset_id), check, new, self._clock())
        return found.id

    async def sync_findings(
        self, dataset_id: DatasetId | str, check: str, current: Sequence[FindingIn]
    ) -> SyncResult:
        """Make the open findings of one check equal to what the latest audit saw.

        A finding is identified by its range; one no longer seen is marked resolved. Run it
        from one auditor at a time (the auditor is leader-elected).
        """
        now, ds = self._clock(), str(dataset_id)
        seen: dict[_Key, FindingIn] = {(f.range_start, f.range_end): f for f in current}
        query = self._findings_query(ds, include_resolved=False).where(audit_logs.c.check == check)
        async with self._write() as conn:
            known = {
                (f.range_start, f.range_end): f for f in rows_as(Finding, await conn.execute(query))
            }
            opened, still = [], []
            for key, finding in seen.items():
                if key in known:
                    still.append(await self._refresh(conn, known[key], finding, now))
                else:
                    opened.append(await self._insert_finding(conn, ds, check, finding, now))
            gone = [f for key, f in known.items() if key not in seen]
            resolved = await self._resolve(conn, gone, now)
        return SyncResult(opened=opened, still_open=still, resolved=resolved)

    async def resolve_finding(self, finding_id: int) -> bool:
        """Mark one open finding resolved by hand; False if it was not open."""
        async with self._write() as conn:
            result = await conn.execute(
                sa.update(audit_logs)
                .where(
                    audit_logs.c.id == finding_id, audit_logs.c.status == FindingStatus.OPEN.value
                )
                .values(status=FindingStatus.RESOLVED.value, resolved_at=self._clock())
            )
        return result.rowcount == 1

    async def open_findings(self, dataset_id: DatasetId | str | None = None) -> list[Finding]:
        """Open findings, of one dataset or of all, oldest first."""
        query = self._findings_query(dataset_id, include_resolved=False)
        return await self._all(Finding, query.order_by(audit_logs.c.id))

    async def findings(
        self, dataset_id: DatasetId | str, *, include_resolved: bool = True, limit: int = 1000
    ) -> list[Finding]:
        """Findings of one dataset, newest first."""
        query = self._findings_query(dataset_id, include_resolved=include_resolved)
        return await self._all(Finding, query.order_by(audit_logs.c.id.desc()).limit(limit))

    def _findings_query(
        self, dataset_id: DatasetId | str | None, *, include_resolved: bool
    ) -> sa.Select[tuple[object, ...]]:
        query = sa.select(audit_logs)
        if dataset_id is not None:
            query = query.where(audit_logs.c.dataset_id == str(dataset_id))
        if not include_resolved:
            query = query.where(audit_logs.c.status == FindingStatus.OPEN.value)
        return query

    async def _insert_finding(
        self, conn: AsyncConnection, dataset_id: str, check: str, new: FindingIn, now: int
    ) -> Finding:
        check_text("check", check, 64)
        check_text("severity", new.severity, 16)
        finding = Finding(
            id=0,
            dataset_id=dataset_id,
            check=check,
            severity=new.severity,
            status=FindingStatus.OPEN,
            range_start=new.range_start,
            range_end=new.range_end,
            details=new.details,
            first_seen_at=now,
            last_seen_at=now,
            resolved_at=None,
        )
        row = msgspec.structs.asdict(finding)
        del row["id"]
        result = await conn.execute(sa.insert(audit_logs).values(row))
        return msgspec.structs.replace(finding, id=inserted_id(result))

    async def _refresh(
        self, conn: AsyncConnection, known: Finding, seen: FindingIn, now: int
    ) -> Finding:
        changes = {"severity": seen.severity, "details": seen.details, "last_seen_at": now}
        await conn.execute(sa.update(audit_logs).where(audit_logs.c.id == known.id).values(changes))
        return msgspec.structs.replace(known, **changes)

    async def _resolve(self, conn: AsyncConnection, gone: list[Finding], now: int) -> list[Finding]:
        if gone:
            await conn.execute(
                sa.update(audit_logs)
                .where(audit_logs.c.id.in_([f.id for f in gone]))
                .values(status=FindingStatus.RESOLVED.value, resolved_at=now)
            )
        return [
            msgspec.structs.replace(f, status=FindingStatus.RESOLVED, resolved_at=now) for f in gone
        ]

    async def add_health(
        self,
        dataset_id: DatasetId | str,
        *,
        score: float,
        completeness: float,
        validity: float,
        freshness: float,
        consistency: float,
        details: JsonObject,
        measured_at: int,
    ) -> int:
        """Record one health measurement; returns its id."""
        row = {
            "dataset_id": str(dataset_id),
            "score": score,
            "completeness": completeness,
            "validity": validity,
            "freshness": freshness,
            "consistency": consistency,
            "details": details,
            "measured_at": measured_at,
        }
        async with self._write() as conn:
            result = await conn.execute(sa.insert(health_metrics).values(row))
        return inserted_id(result)

    async def latest_health(self, dataset_id: DatasetId | str) -> HealthRecord | None:
        history = await self.health_history(dataset_id, limit=1)
        return history[0] if history else None

    async def health_history(
        self, dataset_id: DatasetId | str, since: int | None = None, limit: int = 100
    ) -> list[HealthRecord]:
        """Measurements of one dataset at or after ``since``, newest first."""
        query = sa.select(health_metrics).where(health_metrics.c.dataset_id == str(dataset_id))
        if since is not None:
            query = query.where(health_metrics.c.measured_at >= since)
        order = (health_metrics.c.measured_at.desc(), health_metrics.c.id.desc())
        return await self._all(HealthRecord, query.order_by(*order).limit(limit))

    async def latest_health_all(self) -> list[HealthRecord]:
        """The newest measurement of every dataset, by dataset id."""
        newest = (
            sa.select(
                health_metrics.c.dataset_id,
                sa.func.max(health_metrics.c.measured_at).label("measured_at"),
            )
            .group_by(health_metrics.c.dataset_id)
            .subquery()
        )
        query = sa.select(health_metrics).join(
            newest,
            (health_metrics.c.dataset_id == newest.c.dataset_id)
            & (health_metrics.c.measured_at == newest.c.measured_at),
        )
        latest: dict[str, HealthRecord] = {}
        for record in await self._all(HealthRecord, query.order_by(health_metrics.c.id)):
            latest[record.dataset_id] = record
        return [latest[k] for k in sorted(latest)]
