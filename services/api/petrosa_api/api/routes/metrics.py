"""GET /metrics: the Prometheus exposition of this process."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.responses import Response

router = APIRouter(tags=["metrics"])

_EXAMPLE = "# TYPE data_manager_requests_total counter\ndata_manager_requests_total{...} 12.0\n"


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"example": _EXAMPLE}}}},
)
async def metrics() -> Response:
    """Request counts and durations, error counts, NATS state and process figures."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
