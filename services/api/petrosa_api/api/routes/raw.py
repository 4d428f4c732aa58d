"""Guarded raw reads: ``POST /api/v1/raw/mysql`` (alias ``raw/sql``) and ``raw/mongodb``.

Admin scope only. A query is admitted by its structure (``petrosa_core.rawquery``) and then
runs read-only under a statement timeout and a row cap; a refusal is a 400 ``query_refused``
that says what was refused and why, and the database is never touched by it.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from petrosa_api import examples
from petrosa_api.api.deps import admin_access, json_body, state_of
from petrosa_api.errors import ApiError
from petrosa_api.formats import json_response
from petrosa_api.generic_stores import GenericStores, get_generic
from petrosa_api.schemas import documented
from petrosa_core.rawquery import parse_request

log = logging.getLogger("petrosa.api")

# A raw read is an operator's look at the data, not a bulk export: seconds, not minutes,
# and no more rows than one page of /data.
MAX_SECONDS = 30.0
DEFAULT_SECONDS = 5.0
MAX_ROWS = 10_000
DEFAULT_ROWS = 1_000

router = APIRouter(prefix="/api/v1/raw", tags=["raw"], dependencies=[Depends(admin_access)])
GenericDep = Annotated[GenericStores, Depends(get_generic)]


class RawSql(pydantic.BaseModel):
    """``{"query": "SELECT ...", "params": {...}, "limit": n, "timeout": s}``.

    ``parameters`` is the original's name of ``params``.
    """

    model_config = pydantic.ConfigDict(extra="forbid")
    # Its length is the guard's to refuse, with a reason (the body size is capped anyway).
    query: str = pydantic.Field(min_length=1)
    params: dict[str, str | int | float | bool | None] | None = None
    parameters: dict[str, str | int | float | bool | None] | None = None
    limit: int = pydantic.Field(DEFAULT_ROWS, ge=1, le=MAX_ROWS)
    timeout: float = pydantic.Field(DEFAULT_SECONDS, gt=0, le=MAX_SECONDS)


def _meta(
    started: float, count: int, truncated: bool, database: str, **extra: Any
) -> dict[str, Any]:
    return {
        "database": database,
        "records_returned": count,
        "truncated": truncated,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
        **extra,
    }


async def _sql(stores: GenericStores, body: RawSql) -> Response:
    if body.params is not None and body.parameters is not None:
        raise ApiError(400, "bad_request", "give params or parameters, not both")
    started = time.perf_counter()
    result = await stores.sql_queries.run(
        body.query, body.params or body.parameters or {}, body.limit, body.timeout
    )
    meta = _meta(started, len(result.rows), result.truncated, "mysql", columns=result.columns)
    return json_response({"data": result.rows, "meta": meta})


@router.post(
    "/mysql",
    summary="A read-only SQL query on the stores' tables",
    responses=documented(examples.RAW_SQL, 400, 401, 403),
)
async def raw_mysql(
    stores: GenericDep, body: Annotated[RawSql, Depends(json_body(RawSql))]
) -> Response:
    """One SELECT (WITH, UNION, joins, window functions) on the metadata tables or, when the
    MarketStore is SQL, the market tables; run read-only, capped in rows and time."""
    return await _sql(stores, body)


@router.post("/sql", summary="Alias of /api/v1/raw/mysql", include_in_schema=False)
async def raw_sql(
    stores: GenericDep, body: Annotated[RawSql, Depends(json_body(RawSql))]
) -> Response:
    return await _sql(stores, body)


class RawMongo(pydantic.BaseModel):
    """``{"collection", "find" | "aggregate" | "count" | "distinct", ...}``, or the original's
    ``{"query": "<JSON or collection: {JSON}>"}``."""

    model_config = pydantic.ConfigDict(extra="allow")
    limit: int = pydantic.Field(DEFAULT_ROWS, ge=1, le=MAX_ROWS)
    timeout: float = pydantic.Field(DEFAULT_SECONDS, gt=0, le=MAX_SECONDS)


@router.post(
    "/mongodb",
    summary="A MongoDB read on the MarketStore's database",
    responses=documented(examples.RAW_MONGO, 400, 401, 403, 409),
)
async def raw_mongodb(
    request: Request,
    stores: GenericDep,
    body: Annotated[RawMongo, Depends(json_body(RawMongo))],
) -> Response:
    """find, aggregate (allow-listed stages), count or distinct; capped in rows and time."""
    if stores.mongo_queries is None:
        backend = state_of(request).settings.market_store_url.partition("://")[0]
        raise ApiError(
            409,
            "wrong_backend",
            f"the MarketStore runs on {backend}, not MongoDB; use POST /api/v1/raw/mysql",
        )
    read = parse_request(dict(body.model_extra or {}))
    started = time.perf_counter()
    data, truncated = await stores.mongo_queries.run(read, body.limit, body.timeout)
    count = len(data) if isinstance(data, list) else 1
    meta = _meta(started, count, truncated, "mongodb", operation=read.operation)
    return json_response({"data": data, "meta": meta})
