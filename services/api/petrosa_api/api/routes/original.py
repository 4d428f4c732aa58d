"""What the original service answered that its clients still call: ``GET /`` and klines."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from starlette.responses import Response

from petrosa_api import examples
from petrosa_api.api.deps import read_access
from petrosa_api.api.routes.data import (
    ALL_HELP,
    FORMAT_HELP,
    OFFSET_HELP,
    TIME_HELP,
    PageParams,
    SourceDep,
    data_route,
    page_params,
    serve,
)
from petrosa_api.formats import Format, json_response
from petrosa_api.schemas import Interval, Order, Symbol, documented
from petrosa_core import __version__
from petrosa_core.market import MAX_LIMIT
from petrosa_core.models import DatasetId, DatasetKind

index = APIRouter(tags=["meta"])
router = APIRouter(prefix="/api/v1", tags=["data"], dependencies=[Depends(read_access)])

SERVICE = "petrosa-data-manager"
# Where a person or a client starting from the root goes next.
LINKS = {
    "docs": "/docs",
    "openapi": "/openapi.json",
    "readiness": "/health/readiness",
    "health": "/health/summary",
    "catalog": "/catalog/datasets",
    "candles": "/data/candles?pair=BTCUSDT&period=1m",
    "klines": "/api/v1/klines?symbol=BTCUSDT&interval=1m",
    "backfill": "/backfill/jobs",
    "metrics": "/metrics",
}


@index.get("/", responses=documented(examples.ROOT))
async def root() -> Response:
    """The service, its version and links to everything else; open to anyone."""
    return json_response({"data": {"service": SERVICE, "version": __version__, "links": LINKS}})


async def kline_params(
    start_time: Annotated[str | None, Query(description=f"{TIME_HELP}; inclusive")] = None,
    end_time: Annotated[str | None, Query(description=f"{TIME_HELP}; exclusive")] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_LIMIT, description="Candles per page (default 1000)")
    ] = None,
    offset: Annotated[int | None, Query(ge=0, description=OFFSET_HELP)] = None,
    order: Annotated[Order | None, Query(description="Time order (default asc)")] = None,
    cursor: Annotated[
        str | None, Query(max_length=512, description="next_cursor of the previous page")
    ] = None,
    format: Annotated[Format | None, Query(description=FORMAT_HELP)] = None,
    whole: Annotated[bool, Query(alias="all", description=ALL_HELP)] = False,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    accept_encoding: Annotated[str | None, Header(include_in_schema=False)] = None,
    range: Annotated[str | None, Header(include_in_schema=False)] = None,
    if_range: Annotated[str | None, Header(include_in_schema=False)] = None,
    if_none_match: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> PageParams:
    """The original's names (``start_time``, ``end_time``) for the page of ``/data``."""
    return await page_params(
        start=start_time, end=end_time, limit=limit, order=order, cursor=cursor,
        offset=offset, format=format, whole=whole, accept=accept,
        accept_encoding=accept_encoding, range=range, if_range=if_range,
        if_none_match=if_none_match,
    )  # fmt: skip


@data_route(router, "/klines", "Candles in the original service's form", examples.CANDLE)
async def klines(
    source: SourceDep,
    symbol: Annotated[Symbol, Query(description="Binance symbol, in any case")],
    interval: Annotated[Interval, Query(description="Candle interval")],
    params: Annotated[PageParams, Depends(kline_params)],
) -> Response:
    """The rows of ``GET /data/candles``, asked for as ``symbol``, ``interval``, ``start_time``."""
    return await serve(source, DatasetId.of(DatasetKind.CANDLES, symbol, interval), params)
