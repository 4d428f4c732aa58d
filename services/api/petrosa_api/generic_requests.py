"""Requests of the generic API: bodies, query-string JSON, pages, and schema validation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec
import pydantic
from starlette.requests import Request

from petrosa_api.api.deps import state_of
from petrosa_api.errors import ApiError
from petrosa_core.documents import FindQuery, parse_filter, parse_projection, parse_sort
from petrosa_core.market import MAX_LIMIT

# As /data: offset re-reads what it skips, so it is bounded; cursors go further.
MAX_OFFSET_END = 10_000
DEFAULT_LIMIT = 100
MAX_RECORDS = 10_000
MAX_OPERATIONS = 1_000


class InsertBody(pydantic.BaseModel):
    """``{"data": {...}}`` or ``{"data": [...]}``; ``schema``/``validate`` as the original."""

    model_config = pydantic.ConfigDict(extra="forbid")
    data: dict[str, Any] | list[dict[str, Any]]
    schema_name: str | None = pydantic.Field(None, alias="schema", max_length=128)
    validate_records: bool = pydantic.Field(False, alias="validate")


class UpdateBody(pydantic.BaseModel):
    """``{"filter": {...}, "data": {...}}``: set the fields of ``data`` on every match."""

    model_config = pydantic.ConfigDict(extra="forbid")
    filter: dict[str, Any]
    data: dict[str, Any]
    upsert: bool = False
    schema_name: str | None = pydantic.Field(None, alias="schema", max_length=128)
    validate_records: bool = pydantic.Field(False, alias="validate")


class BatchBody(pydantic.BaseModel):
    """The original's ``{"operations": [{"type", "data", "filter"}]}``, or ``{"data": [...]}``."""

    model_config = pydantic.ConfigDict(extra="forbid")
    operations: list[dict[str, Any]] | None = pydantic.Field(None, max_length=MAX_OPERATIONS)
    data: list[dict[str, Any]] | None = pydantic.Field(None, max_length=MAX_RECORDS)


def json_param(name: str, raw: str | None) -> Any:
    """A query-string parameter holding JSON (``filter={"a":1}``); ``None`` when absent."""
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_json", f"{name} is not valid JSON") from None


@dataclass(frozen=True)
class ReadParams:
    filter: str | None
    sort: str | None
    projection: str | None
    fields: str | None
    limit: int | None
    offset: int | None
    cursor: str | None


def find_query(params: ReadParams, default_limit: int = DEFAULT_LIMIT) -> FindQuery:
    """The checked query of a GET; a malformed part is a 400 naming it."""
    limit = default_limit if params.limit is None else params.limit
    offset = params.offset or 0
    if params.cursor is not None and offset:
        raise ApiError(400, "bad_pagination", "give cursor or offset, not both")
    if offset + limit > MAX_OFFSET_END:
        raise ApiError(
            400,
            "offset_too_large",
            f"offset + limit may be at most {MAX_OFFSET_END}; page further with cursor=",
        )
    filter_ = json_param("filter", params.filter)
    sort = json_param("sort", params.sort)
    projection = projection_of(params)
    return FindQuery(
        filter=parse_filter({} if filter_ is None else filter_),
        sort=[] if sort is None else parse_sort(sort),
        projection=None if projection is None else parse_projection(projection),
        limit=min(limit, MAX_LIMIT),
        offset=offset,
        cursor=params.cursor,
    )


def projection_of(params: ReadParams) -> Any:
    """``projection=`` (MongoDB's form) or the original's ``fields=a,b``."""
    if params.fields:
        if params.projection:
            raise ApiError(400, "bad_projection", "give projection or fields, not both")
        return {name.strip(): 1 for name in params.fields.split(",") if name.strip()}
    return json_param("projection", params.projection)


def records_of(data: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    records = data if isinstance(data, list) else [data]
    if not records:
        raise ApiError(400, "empty_batch", "data holds no record")
    if len(records) > MAX_RECORDS:
        raise ApiError(400, "batch_too_large", f"at most {MAX_RECORDS} records at once")
    return records


def invalid(problems: list[dict[str, Any]], total: int) -> ApiError:
    """400 listing every invalid record; nothing of the request was written."""
    return ApiError(
        400,
        "validation_failed",
        f"{len(problems)} of {total} records are invalid; nothing was written",
        details={"invalid": problems},
    )


async def validate_records(
    request: Request, database: str, schema: str | None, wanted: bool, records: list[Any]
) -> None:
    """Check ``records`` against the registry's schema when asked (``validate=true``)."""
    if not wanted:
        return
    if not schema:
        raise ApiError(400, "schema_required", "validate=true needs schema=NAME")
    registry = getattr(state_of(request), "registry", None)
    if registry is None:
        raise ApiError(
            501,
            "schema_registry_unavailable",
            "this API has no schema registry yet, so validate=true cannot be honoured; "
            "send the request without it",
        )
    problems = await registry.validate(database, schema, records)
    if problems:
        raise invalid(msgspec.to_builtins(problems), len(records))
