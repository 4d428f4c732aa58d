"""GET /data/*: market records by pair (and period), a page at a time or a whole range.

Pages come from the store's columnar ``scan`` as Arrow and are written as JSON, CSV,
Parquet or Arrow IPC (``formats``); ``all=true`` streams a range of any length.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from petrosa_api import examples
from petrosa_api.api.deps import get_catalog, get_market, read_access, state_of
from petrosa_api.cache import TtlCache
from petrosa_api.dataset_catalog import Catalog
from petrosa_api.errors import ApiError
from petrosa_api.formats import (
    ARROW_MEDIA_TYPE,
    CSV_MEDIA_TYPE,
    FILE_FORMATS,
    PARQUET_MEDIA_TYPE,
    Conditions,
    Format,
    RangeNotSatisfiable,
    accepts_gzip,
    download_headers,
    etag_of,
    export_response,
    file_page,
    json_page,
    negotiate,
    page_response,
)
from petrosa_api.schemas import DataPage, Interval, Order, Pair, documented
from petrosa_api.times import check_range
from petrosa_core.market import MAX_LIMIT, MarketStore
from petrosa_core.market.columns import ArrowPage, empty_table
from petrosa_core.models import TIME_FIELD, DatasetId, DatasetKind
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
FORMAT_HELP = (
    "json (default), csv, parquet or arrow (Arrow IPC stream); also chosen by Accept: "
    "text/csv, application/vnd.apache.parquet, application/vnd.apache.arrow.stream"
)
ALL_HELP = (
    "Stream every record in [start, end), in ascending time order, as one csv, parquet "
    "or arrow file, however many there are; limit, cursor and offset do not apply"
)
DEFAULT_LIMIT = 1000
# Rows the store hands over at a time during an export: what the API holds at once.
EXPORT_BATCH_ROWS = MAX_LIMIT


@dataclass(frozen=True)
class PageParams:
    """The query parameters every /data endpoint shares."""

    start: str | None
    end: str | None
    limit: int | None
    order: Order | None
    cursor: str | None
    offset: int | None
    format: Format | None
    accept: str | None
    whole: bool = False
    accept_encoding: str | None = None
    conditions: tuple[str | None, str | None, str | None] = (None, None, None)


async def page_params(
    start: Annotated[str | None, Query(description=f"{TIME_HELP}; inclusive")] = None,
    end: Annotated[str | None, Query(description=f"{TIME_HELP}; exclusive")] = None,
    limit: Annotated[
        int | None, Query(ge=1, le=MAX_LIMIT, description="Records per page (default 1000)")
    ] = None,
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
    format: Annotated[Format | None, Query(description=FORMAT_HELP)] = None,
    whole: Annotated[bool, Query(alias="all", description=ALL_HELP)] = False,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    accept_encoding: Annotated[str | None, Header(include_in_schema=False)] = None,
    range: Annotated[str | None, Header(include_in_schema=False)] = None,
    if_range: Annotated[str | None, Header(include_in_schema=False)] = None,
    if_none_match: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> PageParams:
    # async: FastAPI runs a plain function or a class dependency in a worker thread.
    return PageParams(
        start, end, limit, order or sort_order, cursor, offset, format, accept, whole,
        accept_encoding, (range, if_range, if_none_match),
    )  # fmt: skip


PageDep = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True)
class _Window:
    start: int | None
    end: int | None
    order: Order


def _window(params: PageParams, limit: int) -> _Window:
    start = None if params.start is None else parse_time(params.start, "start")
    end = None if params.end is None else parse_time(params.end, "end")
    check_range(start, end)
    if params.cursor is not None and params.offset:
        raise ApiError(400, "bad_pagination", "give cursor or offset, not both")
    if params.offset and params.offset + limit > MAX_OFFSET_END:
        raise ApiError(
            400,
            "offset_too_large",
            f"offset + limit may be at most {MAX_OFFSET_END}; to read further, page with "
            "cursor= set to the previous page's next_cursor",
        )
    return _Window(start, end, params.order or "asc")


def _check_export(params: PageParams, chosen: Format) -> None:
    """``all=true`` streams a whole range as a file: no pages, so no paging parameters."""
    if chosen not in FILE_FORMATS:
        raise ApiError(
            400,
            "bad_export",
            "all=true streams csv, parquet or arrow; read JSON a page at a time with cursor=",
        )
    paging = [
        name
        for name, value in (("limit", params.limit), ("cursor", params.cursor),
                            ("offset", params.offset))
        if value is not None
    ]  # fmt: skip
    if paging:
        raise ApiError(
            400, "bad_export", f"all=true exports the whole range; drop {', '.join(paging)}"
        )
    if params.order == "desc":
        raise ApiError(400, "bad_export", "all=true exports in ascending time order only")


async def _skip(market: MarketStore, key: _Key, offset: int) -> tuple[str | None, bool]:
    """The cursor after the first ``offset`` records, and whether any records remain.

    Only the time column is read: the skipped rows are counted, never rendered.
    """
    w = key.window
    columns = [TIME_FIELD[key.dataset.kind]]
    cursor: str | None = None
    while offset > 0:
        page = await market.scan(
            key.dataset, w.start, w.end, order=w.order, limit=min(offset, MAX_LIMIT),
            cursor=cursor, trade_type=key.trade_type, columns=columns,
        )  # fmt: skip
        offset -= page.table.num_rows
        if page.next_cursor is None:
            return None, False
        cursor = page.next_cursor
    return cursor, True


async def _page(market: MarketStore, key: _Key) -> ArrowPage:
    cursor = key.cursor
    if key.offset:
        cursor, remaining = await _skip(market, key, key.offset)
        if not remaining:
            return ArrowPage(empty_table(key.dataset.kind), None)
    w = key.window
    return await market.scan(
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
    body: bytes
    next_cursor: str | None
    etag: str


async def _answer(market: MarketStore, key: _Key) -> _Answer:
    page = await _page(market, key)
    kind = key.dataset.kind
    if key.format != "json":
        body = file_page(key.format, kind, page.table)
        return _Answer(body, page.next_cursor, etag_of(body))
    pagination = {
        "limit": key.limit,
        "count": page.table.num_rows,
        "next_cursor": page.next_cursor,
        "has_more": page.next_cursor is not None,
        "order": key.window.order,
        "offset": key.offset,
    }
    body = json_page(kind, page.table, pagination)
    return _Answer(body, page.next_cursor, etag_of(body))


@dataclass(frozen=True)
class Source:
    """Where pages come from: the store, the catalog that vouches for datasets, the coalescer.

    ``head`` is set for a HEAD request: the same headers, and no export is read.
    """

    market: MarketStore
    catalog: Catalog
    coalescer: TtlCache
    head: bool = False


async def get_source(request: Request) -> Source:
    market, catalog = await get_market(request), await get_catalog(request)
    return Source(market, catalog, state_of(request).coalescer, request.method == "HEAD")


SourceDep = Annotated[Source, Depends(get_source)]


def _export(source: Source, dataset: DatasetId, params: PageParams, chosen: Format,
            trade_type: str | None) -> Response:  # fmt: skip
    _check_export(params, chosen)
    w = _window(params, DEFAULT_LIMIT)

    def tables() -> AsyncIterator[pa.Table]:
        return source.market.scan_batches(
            dataset, w.start, w.end, trade_type=trade_type, batch_rows=EXPORT_BATCH_ROWS
        )

    return export_response(
        chosen, dataset.kind, tables, _stem(dataset), head=source.head,
        compress=accepts_gzip(params.accept_encoding),
    )  # fmt: skip


def _stem(dataset: DatasetId) -> str:
    return str(dataset).replace(":", "_")


async def serve(
    source: Source,
    dataset: DatasetId,
    params: PageParams,
    trade_type: str | None = None,
) -> Response:
    """One page of ``dataset`` (or, with ``all=true``, its whole range) as the caller asked.

    Identical requests in flight at the same moment share one store query and encoding:
    many clients polling the same latest candles cost one read.
    """
    await source.catalog.require(dataset)
    chosen = negotiate(params.format, params.accept)
    if params.whole:
        return _export(source, dataset, params, chosen, trade_type)
    limit = DEFAULT_LIMIT if params.limit is None else params.limit
    window = _window(params, limit)
    key = _Key(dataset, window, limit, params.cursor, params.offset, trade_type, chosen)
    answer: _Answer = await source.coalescer.get(key, lambda: _answer(source.market, key))
    headers = download_headers(chosen, _stem(dataset), answer.next_cursor)
    byte_range, if_range, if_none_match = params.conditions
    when = Conditions(accepts_gzip(params.accept_encoding), byte_range, if_range, if_none_match)
    # A HEAD gets the body too: the server drops it, keeping Content-Length as for GET.
    try:
        response = page_response(chosen, answer.body, answer.etag, headers, when)
    except RangeNotSatisfiable as exc:
        content_range = {"Content-Range": f"bytes */{exc.size}"}
        raise ApiError(416, "range_not_satisfiable", str(exc), content_range) from exc
    return response if isinstance(response, Response) else await response


def _example(row: dict[str, Any]) -> dict[str, Any]:
    pagination = {"limit": 1000, "count": 1, "next_cursor": None, "has_more": False}
    return {"data": [row], "pagination": {**pagination, "order": "asc", "offset": None}}


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


PAGE_HEADERS = {
    "X-Next-Cursor": _header(
        "The next page's cursor (pagination.next_cursor); absent on the last page"
    ),
    "X-Request-ID": _header("The request's id, also in the logs and in error bodies"),
    "Content-Disposition": _header("A file name, for csv, parquet and arrow"),
    "Content-Encoding": _header("gzip when the request's Accept-Encoding allows it"),
}
RATE_LIMIT_HEADERS = {
    "Retry-After": _header("Whole seconds until the caller's rate limit admits a request"),
}


def page_docs(row: dict[str, Any]) -> dict[str, Any]:
    responses = documented(
        _example(row),
        400,
        401,
        404,
        429,
        503,
        extra_media=(CSV_MEDIA_TYPE, PARQUET_MEDIA_TYPE, ARROW_MEDIA_TYPE),
    )
    responses[200]["headers"] = PAGE_HEADERS
    responses[429]["headers"] = RATE_LIMIT_HEADERS
    return {"response_model": DataPage, "responses": responses}


Endpoint = Callable[..., Any]


def data_route(
    on: APIRouter, path: str, summary: str, example: dict[str, Any]
) -> Callable[[Endpoint], Endpoint]:
    """GET ``path``, documented with ``example``, and HEAD of it (same headers, no body)."""

    def register(endpoint: Endpoint) -> Endpoint:
        on.get(path, summary=summary, **page_docs(example))(endpoint)
        on.api_route(path, methods=["HEAD"], include_in_schema=False)(endpoint)
        return endpoint

    return register


@data_route(router, "/candles", "OHLCV candles of a pair and period", examples.CANDLE)
async def candles(source: SourceDep, pair: Pair, period: Interval, params: PageDep) -> Response:
    """Candles ordered by open time; ``period`` is the Binance interval."""
    dataset = DatasetId.of(DatasetKind.CANDLES, pair, period)
    return await serve(source, dataset, params)


@data_route(router, "/trades", "Aggregate and raw trades of a pair", examples.TRADE)
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
    data_route(router, path, summary, example)(endpoint)


_simple(DatasetKind.DEPTH, "/depth", "Order-book diff updates of a pair", examples.DEPTH)
_simple(DatasetKind.FUNDING_RATES, "/funding", "Realised funding rates of a pair", examples.FUNDING)
_simple(DatasetKind.TICKERS, "/tickers", "24-hour rolling tickers of a pair", examples.TICKER)
_simple(DatasetKind.MARK_PRICES, "/mark-prices", "Mark and index prices of a pair", examples.MARK)
_simple(
    DatasetKind.BOOK_TICKERS, "/book-tickers", "Best bid and ask of a pair", examples.BOOK_TICKER
)
