"""GET /data/*: market records by pair (and period), one page at a time, as JSON, CSV or Parquet."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from petrosa_api import examples
from petrosa_api.api.deps import get_catalog, get_market, read_access, state_of
from petrosa_api.cache import TtlCache
from petrosa_api.dataset_catalog import Catalog
from petrosa_api.errors import ApiError
from petrosa_api.formats import (
    CSV_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    PARQUET_MEDIA_TYPE,
    Format,
    csv_response,
    encode_json,
    negotiate,
    parquet_response,
)
from petrosa_api.rows import SHAPES
from petrosa_api.schemas import DataPage, Interval, Order, Pair, documented
from petrosa_api.times import check_range
from petrosa_core.market import MAX_LIMIT, MarketStore, Page
from petrosa_core.models import DatasetId, DatasetKind
from petrosa_core.times import parse_time

router = APIRouter(prefix="/data", tags=["data"], dependencies=[Depends(read_access)])

# offset= re-reads every skipped record: capping offset + limit at one full page bounds an
# anonymous request to two store reads. Past it, clients page with cursors, which cost the
# same at any depth.
MAX_OFFSET_END = 10_000
OFFSET_HELP = (
    f"Skip this many records; offset + limit may be at most {MAX_OFFSET_END}. "
    "Read further with cursor= set to next_cursor (faster at any depth)"
)

TIME_HELP = "Epoch milliseconds or ISO-8601 (UTC if no offset is given)"


@dataclass(frozen=True)
class PageParams:
    """The query parameters every /data endpoint shares."""

    start: str | None
    end: str | None
    limit: int
    order: Order | None
    cursor: str | None
    offset: int | None
    format: Format | None
    accept: str | None


async def page_params(
    start: Annotated[str | None, Query(description=f"{TIME_HELP}; inclusive")] = None,
    end: Annotated[str | None, Query(description=f"{TIME_HELP}; exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Records per page")] = 1000,
    order: Annotated[Order | None, Query(description="Time order (default asc)")] = None,
    sort_order: Annotated[Order | None, Query(description="Old name of order")] = None,
    cursor: Annotated[
        str | None, Query(max_length=512, description="next_cursor of the previous page")
    ] = None,
    offset: Annotated[
        int | None,
        # The bound depends on limit, so the check is ours (a 400 that names the way on);
        # the schema still states the largest offset any request may give.
        Query(ge=0, description=OFFSET_HELP, json_schema_extra={"maximum": MAX_OFFSET_END - 1}),
    ] = None,
    format: Annotated[Format | None, Query(description="json (default), csv or parquet")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> PageParams:
    # async: FastAPI runs a plain function or a class dependency in a worker thread.
    return PageParams(start, end, limit, order or sort_order, cursor, offset, format, accept)


PageDep = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True)
class _Window:
    start: int | None
    end: int | None
    order: Order


def _window(params: PageParams) -> _Window:
    start = None if params.start is None else parse_time(params.start, "start")
    end = None if params.end is None else parse_time(params.end, "end")
    check_range(start, end)
    if params.cursor is not None and params.offset:
        raise ApiError(400, "bad_pagination", "give cursor or offset, not both")
    if params.offset and params.offset + params.limit > MAX_OFFSET_END:
        raise ApiError(
            400,
            "offset_too_large",
            f"offset + limit may be at most {MAX_OFFSET_END}; to read further, page with "
            "cursor= set to the previous page's next_cursor",
        )
    return _Window(start, end, params.order or "asc")


async def _skip(
    market: MarketStore, dataset: DatasetId, w: _Window, offset: int, trade_type: str | None
) -> tuple[str | None, bool]:
    """The cursor after the first ``offset`` records, and whether any records remain."""
    cursor: str | None = None
    while offset > 0:
        page = await market.query(
            dataset,
            w.start,
            w.end,
            order=w.order,
            limit=min(offset, MAX_LIMIT),
            cursor=cursor,
            trade_type=trade_type,
        )
        offset -= len(page.records)
        if page.next_cursor is None:
            return None, False
        cursor = page.next_cursor
    return cursor, True


async def _page(market: MarketStore, key: _Key) -> Page:
    cursor = key.cursor
    if key.offset:
        cursor, remaining = await _skip(market, key.dataset, key.window, key.offset, key.trade_type)
        if not remaining:
            return Page([], None)
    w = key.window
    return await market.query(
        key.dataset,
        w.start,
        w.end,
        order=w.order,
        limit=key.limit,
        cursor=cursor,
        trade_type=key.trade_type,
    )


@dataclass(frozen=True)
class _Key:
    """Everything that decides a page's content; equal keys share one store query."""

    dataset: DatasetId
    window: _Window
    limit: int
    cursor: str | None
    offset: int | None
    trade_type: str | None
    format: Format


@dataclass(frozen=True)
class _Answer:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    json: bytes | None


async def _answer(market: MarketStore, key: _Key) -> _Answer:
    page = await _page(market, key)
    shape = SHAPES[key.dataset.kind]
    rows = shape.rows(page.records)
    if key.format != "json":
        return _Answer(rows, page.next_cursor, None)
    pagination = {
        "limit": key.limit,
        "count": len(rows),
        "next_cursor": page.next_cursor,
        "has_more": page.next_cursor is not None,
        "order": key.window.order,
        "offset": key.offset,
    }
    body = {"data": rows, "pagination": pagination, "fields": shape.descriptions}
    return _Answer(rows, page.next_cursor, encode_json(body))


@dataclass(frozen=True)
class Source:
    """Where pages come from: the store, the catalog that vouches for datasets, the coalescer."""

    market: MarketStore
    catalog: Catalog
    coalescer: TtlCache


async def get_source(request: Request) -> Source:
    market, catalog = await get_market(request), await get_catalog(request)
    return Source(market, catalog, state_of(request).coalescer)


SourceDep = Annotated[Source, Depends(get_source)]


async def serve(
    source: Source,
    dataset: DatasetId,
    params: PageParams,
    trade_type: str | None = None,
) -> Response:
    """One page of ``dataset`` in the format the caller asked for.

    Identical requests in flight at the same moment share one store query and encoding:
    many clients polling the same latest candles cost one read.
    """
    await source.catalog.require(dataset)
    chosen = negotiate(params.format, params.accept)
    key = _Key(
        dataset, _window(params), params.limit, params.cursor, params.offset, trade_type, chosen
    )
    answer: _Answer = await source.coalescer.get(key, lambda: _answer(source.market, key))
    if answer.json is not None:
        return Response(answer.json, media_type=JSON_MEDIA_TYPE)
    shape = SHAPES[dataset.kind]
    stem = str(dataset).replace(":", "_")
    if chosen == "csv":
        return csv_response(shape, answer.rows, stem, answer.next_cursor)
    return parquet_response(shape, answer.rows, stem, answer.next_cursor)


def _example(row: dict[str, Any]) -> dict[str, Any]:
    pagination = {"limit": 1000, "count": 1, "next_cursor": None, "has_more": False}
    return {"data": [row], "pagination": {**pagination, "order": "asc", "offset": None}}


def page_docs(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "response_model": DataPage,
        "responses": documented(
            _example(row), 400, 401, 404, 429, 503, extra_media=(CSV_MEDIA_TYPE, PARQUET_MEDIA_TYPE)
        ),
    }


@router.get("/candles", summary="OHLCV candles of a pair and period", **page_docs(examples.CANDLE))
async def candles(source: SourceDep, pair: Pair, period: Interval, params: PageDep) -> Response:
    """Candles ordered by open time; ``period`` is the Binance interval."""
    dataset = DatasetId.of(DatasetKind.CANDLES, pair, period)
    return await serve(source, dataset, params)


@router.get("/trades", summary="Aggregate and raw trades of a pair", **page_docs(examples.TRADE))
async def trades(
    source: SourceDep,
    pair: Pair,
    params: PageDep,
    trade_type: Annotated[Literal["agg", "raw"] | None, Query(description="Only this kind")] = None,
) -> Response:
    """Both aggregate (agg) and raw trades unless ``trade_type`` picks one."""
    dataset = DatasetId.of(DatasetKind.TRADES, pair)
    return await serve(source, dataset, params, trade_type)


def _simple(kind: DatasetKind, path: str, summary: str, example: dict[str, Any]) -> None:
    async def endpoint(source: SourceDep, pair: Pair, params: PageDep) -> Response:
        return await serve(source, DatasetId.of(kind, pair), params)

    endpoint.__name__ = kind.value
    router.get(path, summary=summary, **page_docs(example))(endpoint)


_simple(DatasetKind.DEPTH, "/depth", "Order-book diff updates of a pair", examples.DEPTH)
_simple(DatasetKind.FUNDING_RATES, "/funding", "Realised funding rates of a pair", examples.FUNDING)
_simple(DatasetKind.TICKERS, "/tickers", "24-hour rolling tickers of a pair", examples.TICKER)
_simple(DatasetKind.MARK_PRICES, "/mark-prices", "Mark and index prices of a pair", examples.MARK)
