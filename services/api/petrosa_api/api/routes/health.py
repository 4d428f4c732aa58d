"""GET /health*: probes, store and connection status, leases and dataset health scores."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from petrosa_api import examples
from petrosa_api.api.deps import (
    BusDep,
    CatalogDep,
    MarketDep,
    MetadataDep,
    StateDep,
    read_access,
)
from petrosa_api.errors import ApiError
from petrosa_api.formats import json_response
from petrosa_api.health_figures import connection_stats, dataset_health, summarise
from petrosa_api.schemas import Interval, Liveness, Pair, Readiness, documented
from petrosa_api.times import iso_or_none
from petrosa_core.errors import StoreError
from petrosa_core.http import liveness_answer
from petrosa_core.leader import lease_holders
from petrosa_core.models import DatasetId, DatasetKind

probes = APIRouter(prefix="/health", tags=["health"])
router = APIRouter(prefix="/health", tags=["health"], dependencies=[Depends(read_access)])


@probes.get(
    "/liveness",
    response_model=Liveness,
    responses=documented({"status": "alive", "service": "api"}, 503),
)
async def liveness(state: StateDep) -> Response:
    """Answers while the process can work; 503 once only a restart can help (NATS gave up)."""
    body, status = await liveness_answer(state.runtime)
    return json_response(body, status_code=status)


@probes.get(
    "/readiness",
    response_model=Readiness,
    responses=documented({"status": "ready"}, 503),
)
async def readiness(state: StateDep) -> Response:
    """Ready only when NATS and both stores answer; 503 names what is failing."""
    failing = await state.runtime.readiness()
    if failing:
        return json_response({"status": "not_ready", "failing": failing}, status_code=503)
    return json_response({"status": "ready"})


@router.get("/summary", responses=documented(examples.HEALTH_SUMMARY))
async def summary(state: StateDep, catalog: CatalogDep, metadata: MetadataDep) -> Response:
    """Dataset counts by health band, the mean score, open findings and readiness."""
    entries = await catalog.entries()
    findings = await metadata.open_findings()
    failing = await state.runtime.readiness()
    body = summarise(list(entries.values()), findings, failing)
    return json_response({"data": body})


async def _timed_ping(ping: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await ping()
    except StoreError as exc:
        return {"status": "down", "error": str(exc)}
    return {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 3)}


@router.get("/databases", responses=documented(examples.DATABASES))
async def databases(market: MarketDep, metadata: MetadataDep, catalog: CatalogDep) -> Response:
    """Whether each store answers, how fast, and how many datasets the market store holds."""
    market_status = await _timed_ping(market.ping)
    if market_status["status"] == "up":
        market_status["datasets"] = len(await catalog.entries())
    body = {"market_store": market_status, "metadata_store": await _timed_ping(metadata.ping)}
    return json_response({"data": body})


@router.get("/connections", responses=documented(examples.CONNECTIONS))
async def connections(state: StateDep, market: MarketDep, metadata: MetadataDep) -> Response:
    """Connection pool statistics of each store and the NATS connection's counters."""
    return json_response({"data": connection_stats(market, metadata, state.bus)})


@router.get("/leader", responses=documented(examples.LEADER, 503))
async def leader(bus: BusDep) -> Response:
    """Who holds each leader lease (auditor, analytics, ...) and at which revision."""
    leases = await lease_holders(bus)
    rows = [{"lease": x.name, "holder": x.holder, "revision": x.revision} for x in leases]
    return json_response({"data": rows})


@router.get("/audit-status", responses=documented(examples.AUDIT_STATUS))
async def audit_status(catalog: CatalogDep, metadata: MetadataDep) -> Response:
    """When the auditor last measured, how many datasets it scored and what is open."""
    entries = await catalog.entries()
    measured = [e.health.measured_at for e in entries.values() if e.health]
    findings = await metadata.open_findings()
    last = max(measured, default=None)
    by_severity: dict[str, int] = {}
    for finding in findings:
        by_severity[finding.severity] = by_severity.get(finding.severity, 0) + 1
    body = {
        "last_audit_time": last,
        "last_audit_time_iso": iso_or_none(last),
        "datasets_scored": len(measured),
        "datasets_total": len(entries),
        "open_findings": len(findings),
        "open_findings_by_severity": by_severity,
    }
    return json_response({"data": body})


@router.get("", responses=documented(examples.DATASET_HEALTH, 400, 404))
async def health_of(
    catalog: CatalogDep,
    metadata: MetadataDep,
    pair: Pair,
    period: Annotated[Interval | None, Query(description="Candle interval")] = None,
    findings: Annotated[int, Query(ge=0, le=1000, description="Recent findings to list")] = 20,
) -> Response:
    """A dataset's current score, its components and its recent findings.

    With ``period`` the candles of that period; without it, every dataset of the pair.
    """
    if period is not None:
        dataset = DatasetId.of(DatasetKind.CANDLES, pair, period)
        await catalog.require(dataset)
        selected = [dataset]
    else:
        selected = [e.dataset for e in await catalog.search(symbol=pair)]
        if not selected:
            raise ApiError(
                404, "unknown_pair", f"no dataset of {pair.upper()}; see GET /catalog/datasets"
            )
    entries = await catalog.entries()
    rows = [await dataset_health(metadata, ds, entries.get(str(ds)), findings) for ds in selected]
    return json_response({"data": rows})
