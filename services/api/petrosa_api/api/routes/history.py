"""GET /health/history and /health/findings: health over time and what is open, for dashboards."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from petrosa_api.api.deps import CatalogDep, MetadataDep, read_access
from petrosa_api.dataset_catalog import parse_dataset_id
from petrosa_api.formats import json_response
from petrosa_api.health_figures import render
from petrosa_api.schemas import documented
from petrosa_core.health import band
from petrosa_core.metadata import HealthRecord
from petrosa_core.times import parse_time

router = APIRouter(prefix="/health", tags=["health"], dependencies=[Depends(read_access)])

EXAMPLE = {
    "data": [
        {
            "dataset_id": "candles:BTCUSDT:1m",
            "measurements": [
                {
                    "measured_time": 1767225600000,
                    "score": 96.5,
                    "band": "healthy",
                    "completeness": 0.99,
                    "validity": 1.0,
                    "freshness": 0.9,
                    "consistency": 1.0,
                }
            ],
        }
    ]
}


def _measurement(record: HealthRecord) -> dict[str, Any]:
    return {
        "measured_time": record.measured_at,
        "score": record.score,
        "band": band(record.score),
        "completeness": record.completeness,
        "validity": record.validity,
        "freshness": record.freshness,
        "consistency": record.consistency,
    }


@router.get("/history", responses=documented(EXAMPLE, 400))
async def history(
    catalog: CatalogDep,
    metadata: MetadataDep,
    dataset: Annotated[
        str | None, Query(max_length=80, description="One dataset id; every dataset if absent")
    ] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="Epoch ms or ISO-8601; measurements from")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Measurements per dataset")] = 48,
) -> Response:
    """Measurements oldest first, per dataset; the newest ``limit`` of each."""
    start = parse_time(since, "since") if since else None
    if dataset is not None:
        selected = [str(parse_dataset_id(dataset))]
    else:
        selected = sorted(e for e, entry in (await catalog.entries()).items() if entry.health)
    rows = []
    for dataset_id in selected:
        found = await metadata.health_history(dataset_id, since=start, limit=limit)
        rows.append(
            {"dataset_id": dataset_id, "measurements": [_measurement(r) for r in reversed(found)]}
        )
    return json_response({"data": rows})


@router.get("/findings", responses=documented({"data": [], "pagination": {}}, 400))
async def open_findings(
    metadata: MetadataDep,
    dataset: Annotated[
        str | None, Query(max_length=80, description="One dataset id; every dataset if absent")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Open findings of every dataset (or one), newest first."""
    selected = str(parse_dataset_id(dataset)) if dataset is not None else None
    found = sorted(
        await metadata.open_findings(selected), key=lambda f: (f.last_seen_at, f.id), reverse=True
    )
    rows = [render(f) for f in found[:limit]]
    more = len(found) > limit
    pagination = {"limit": limit, "count": len(rows), "next_cursor": None, "has_more": more}
    return json_response({"data": rows, "pagination": pagination})
