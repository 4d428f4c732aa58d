"""Market datasets through the generic API: read as /data serves them, written idempotently.

A market collection filters on its time field (and ``trade_type`` for trades) and sorts by
time only: those are the reads the MarketStore answers from its key order. Richer reads go
through ``POST /api/v1/raw/...``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from petrosa_api.api.deps import get_market
from petrosa_api.api.routes.data import PageParams, get_source, serve
from petrosa_api.errors import ApiError
from petrosa_api.formats import JSON_MEDIA_TYPE, Format, encode_json, json_response
from petrosa_api.generic_requests import (
    MAX_OFFSET_END,
    ReadParams,
    invalid,
    json_param,
    projection_of,
)
from petrosa_api.rows import SHAPES
from petrosa_core.documents import Projection, parse_filter, parse_projection
from petrosa_core.market import MarketStore, Order
from petrosa_core.models import KIND_SPECS, RECORD_TYPES, DatasetId, DatasetKind, Record

# As /data: a page of 1000 rows unless asked otherwise.
DEFAULT_LIMIT = 1000
_BOUNDS = {"$gte": ("start", 0), "$gt": ("start", 1), "$lt": ("end", 0), "$lte": ("end", 1)}


def _unsupported(dataset: DatasetId, what: str) -> ApiError:
    time_field = KIND_SPECS[dataset.kind].time_field
    return ApiError(
        400,
        "unsupported_filter",
        f"{what}: market collections filter on {time_field} ($gte, $gt, $lt, $lte, $eq)"
        f"{' and trade_type' if dataset.kind is DatasetKind.TRADES else ''} and sort by "
        f"{time_field} only; use POST /api/v1/raw for other reads",
    )


def _window(dataset: DatasetId, raw: Any) -> tuple[int | None, int | None, str | None]:
    """The time range (and trade type) a market filter asks for."""
    parse_filter({} if raw is None else raw)  # the language's own checks and messages
    bounds: dict[str, int | None] = {"start": None, "end": None}
    trade_type: str | None = None
    time_field = KIND_SPECS[dataset.kind].time_field
    for name, spec in (raw or {}).items():
        if name == "trade_type" and dataset.kind is DatasetKind.TRADES and isinstance(spec, str):
            trade_type = spec
            continue
        if name != time_field:
            raise _unsupported(dataset, f"field {name!r}")
        ops = spec if isinstance(spec, dict) else {"$eq": spec}
        for op, value in ops.items():
            _bound(dataset, bounds, op, value)
    return bounds["start"], bounds["end"], trade_type


def _bound(dataset: DatasetId, bounds: dict[str, int | None], op: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _unsupported(dataset, "times are epoch milliseconds")
    if op == "$eq":
        bounds["start"], bounds["end"] = value, value + 1
    elif op in _BOUNDS:
        side, shift = _BOUNDS[op]
        bounds[side] = value + shift
    else:
        raise _unsupported(dataset, f"operator {op}")


@dataclass(frozen=True)
class Rendering:
    """How the caller wants the page: format, and the headers /data negotiates on."""

    format: Format | None = None
    accept: str | None = None
    accept_encoding: str | None = None


async def read(
    request: Request, dataset: DatasetId, params: ReadParams, rendering: Rendering
) -> Response:
    """One page of a market collection: /data's own answer unless fields are projected."""
    start, end, trade_type = _window(dataset, json_param("filter", params.filter))
    order = _order(dataset, json_param("sort", params.sort))
    raw_projection = projection_of(params)
    if raw_projection is not None:
        market = await get_market(request)
        projection = parse_projection(raw_projection)
        return await _projected(
            market, dataset, params, (start, end, trade_type, order), projection
        )
    page = PageParams(
        start=None if start is None else str(start),
        end=None if end is None else str(end),
        limit=params.limit,
        order=order,
        cursor=params.cursor,
        offset=params.offset,
        format=rendering.format,
        accept=rendering.accept,
        accept_encoding=rendering.accept_encoding,
    )
    return await serve(await get_source(request), dataset, page, trade_type)


async def _projected(
    market: MarketStore,
    dataset: DatasetId,
    params: ReadParams,
    window: tuple[int | None, int | None, str | None, Order],
    projection: Projection,
) -> Response:
    """A page with some fields only, as JSON, in the body /data answers."""
    start, end, trade_type, order = window
    limit = DEFAULT_LIMIT if params.limit is None else params.limit
    offset = params.offset or 0
    if params.cursor is not None and offset:
        raise ApiError(400, "bad_pagination", "give cursor or offset, not both")
    if offset + limit > MAX_OFFSET_END:
        raise ApiError(
            400,
            "offset_too_large",
            f"offset + limit may be at most {MAX_OFFSET_END}; page further with cursor=",
        )
    # One read covers the skipped records too: offset + limit is at most one full page.
    found = await market.query(
        dataset, start, end, order=order, limit=offset + limit, cursor=params.cursor,
        trade_type=trade_type,
    )  # fmt: skip
    shape = SHAPES[dataset.kind]
    rows = [projection.apply(row) for row in shape.rows(found.records[offset:])]
    pagination = {
        "limit": limit,
        "count": len(rows),
        "next_cursor": found.next_cursor,
        "has_more": found.next_cursor is not None,
        "order": order,
        "offset": params.offset,
    }
    body = {"data": rows, "pagination": pagination, "fields": shape.descriptions}
    return Response(encode_json(body), media_type=JSON_MEDIA_TYPE)


def _order(dataset: DatasetId, raw: Any) -> Order:
    if raw is None:
        return "asc"
    time_field = KIND_SPECS[dataset.kind].time_field
    if not isinstance(raw, dict) or list(raw) != [time_field] or raw[time_field] not in (1, -1):
        raise _unsupported(dataset, "sort")
    return "asc" if raw[time_field] == 1 else "desc"


def to_records(dataset: DatasetId, docs: list[dict[str, Any]]) -> list[Record]:
    """The documents as records of the dataset's type; every bad one is reported at once."""
    kind = RECORD_TYPES[dataset.kind]
    records: list[Record] = []
    problems: list[dict[str, Any]] = []
    for index, doc in enumerate(docs):
        try:
            record = msgspec.convert(doc, kind)
        except msgspec.ValidationError as exc:
            problems.append(_problem(index, str(exc)))
            continue
        if record.dataset != dataset:
            problems.append(_problem(index, f"the record belongs to {record.dataset}"))
        records.append(record)
    if problems:
        raise invalid(problems, len(docs))
    return records


def _problem(index: int, message: str) -> dict[str, Any]:
    return {"index": index, "errors": [{"pointer": "", "message": message[:300]}]}


async def write(market: MarketStore, dataset: DatasetId, docs: list[dict[str, Any]]) -> Response:
    """The store's idempotent write: a replayed record changes nothing."""
    result = await market.write(dataset, to_records(dataset, docs))
    counts = msgspec.structs.asdict(result)
    return json_response({"data": {**counts, "dataset": str(dataset)}}, status_code=201)
