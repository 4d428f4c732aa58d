"""POST /backfill/start asks the backfillers for a job; GET /backfill/jobs lists the jobs."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from petrosa_api import examples
from petrosa_api.api.deps import (
    BusDep,
    MetadataDep,
    StateDep,
    json_body,
    read_access,
    write_access,
)
from petrosa_api.backfill_requests import request_backfill
from petrosa_api.errors import ApiError
from petrosa_api.formats import json_response
from petrosa_api.health_figures import render
from petrosa_api.schemas import (
    BackfillRequest,
    Item,
    Listing,
    SymbolFilter,
    documented,
    json_request,
)
from petrosa_core.contracts import BackfillReply, JobView
from petrosa_core.errors import ParseError
from petrosa_core.metadata import JobStatus
from petrosa_core.times import now_ms

log = logging.getLogger("petrosa.api")

router = APIRouter(prefix="/backfill", tags=["backfill"])

BackfillBody = Annotated[BackfillRequest, Depends(json_body(BackfillRequest))]


@router.post(
    "/start",
    status_code=202,
    response_model=Item,
    responses=documented(examples.BACKFILL_STARTED, 400, 401, 403, 413, 429, 502, 503, status=202),
    dependencies=[Depends(write_access)],
    openapi_extra=json_request(BackfillRequest),
)
async def start(request: BackfillBody, state: StateDep, bus: BusDep) -> Response:
    """Send the request to the backfillers (NATS request/reply) and return their jobs.

    A range partly covered by active jobs gets a new job for each uncovered part:
    ``job_ids`` lists every job covering it, ``created_job_ids`` the new ones, and
    ``deduplicated`` is true when active jobs already covered it all. Needs an API key with
    the ``write`` scope. 503 when no backfiller answers in time, or one cannot reach its
    store (retry after the ``Retry-After`` seconds).
    """
    message = request.message()
    message.checked(now_ms())  # the contract's rules, here as in the backfiller
    settings = state.settings
    reply = await request_backfill(
        bus, settings.backfill_request_subject, message, settings.api_backfill_timeout
    )
    log.info("backfill requested", extra={"job_id": reply.job_id, **msgspec.to_builtins(message)})
    return json_response({"data": started(reply)}, status_code=202)


def started(reply: BackfillReply) -> dict[str, Any]:
    """The answer to ``POST /backfill/start``, made from the backfillers' reply alone."""
    return {
        "job_id": reply.job_id,
        "status": reply.status,
        "job": _rendered(reply.job),
        "job_ids": reply.covering_job_ids,
        "created_job_ids": reply.new_job_ids,
        "deduplicated": reply.deduplicated,
    }


def _rendered(job: JobView | None) -> dict[str, Any] | None:
    """The job as ``GET /backfill/jobs/{id}`` shows it; None when the reply lacks it."""
    if job is None:
        return None
    try:
        return render(job.to_job())
    except ParseError as exc:  # a newer backfiller's status: the ids still answer the call
        log.warning("backfill job not shown: %s", exc)
        return None


@router.get(
    "/jobs",
    response_model=Listing,
    responses=documented(examples.JOBS, 401, 429),
    dependencies=[Depends(read_access)],
)
async def jobs(
    metadata: MetadataDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this state")] = None,
    symbol: SymbolFilter = None,
    type: Annotated[
        Literal["candles", "funding_rates", "agg_trades"] | None,
        Query(description="Only jobs of this data type"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Backfill jobs, newest first, filtered by status, symbol and data type."""
    found = await metadata.list_jobs(status=status, symbol=symbol, data_type=type, limit=limit)
    pagination = {"limit": limit, "count": len(found), "next_cursor": None, "has_more": False}
    return json_response({"data": [render(j) for j in found], "pagination": pagination})


@router.get(
    "/jobs/{job_id}",
    response_model=Item,
    responses=documented(examples.JOB, 401, 404, 429),
    dependencies=[Depends(read_access)],
)
async def job(
    metadata: MetadataDep, job_id: Annotated[str, Path(min_length=1, max_length=64)]
) -> Response:
    """One backfill job with its progress, checkpoint and outcome."""
    found = await metadata.get_job(job_id)
    if found is None:
        raise ApiError(404, "unknown_job", f"no backfill job {job_id!r}")
    return json_response({"data": render(found)})
