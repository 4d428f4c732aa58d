"""The original's generic data API: ``/api/v1/{database}/{collection}`` for every collection.

What a name addresses is decided in ``generic_stores``; filters are MongoDB's query language
cut to an allow-list (``petrosa_core.documents``). Reads need the read scope (when reads need
a key), writes the write scope; deleting a whole collection also needs admin.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from petrosa_api import examples, market_collections
from petrosa_api.api.deps import (
    Caller,
    get_market,
    json_body,
    read_access,
    write_access,
)
from petrosa_api.auth import Scope
from petrosa_api.errors import ApiError, not_found
from petrosa_api.formats import Format, json_response
from petrosa_api.generic_requests import (
    MAX_RECORDS,
    BatchBody,
    InsertBody,
    ReadParams,
    UpdateBody,
    find_query,
    json_param,
    records_of,
    validate_records,
)
from petrosa_api.generic_stores import (
    Documents,
    GenericStores,
    Market,
    Table,
    Target,
    get_generic,
    target_of,
)
from petrosa_api.schemas import documented
from petrosa_core.documents import (
    DuplicateId,
    Operation,
    PreconditionFailed,
    etag,
    parse_filter,
)

router = APIRouter(prefix="/api/v1", tags=["generic"])
GenericDep = Annotated[GenericStores, Depends(get_generic)]
JSON_HELP = 'JSON in the query string, e.g. {"status": "open"}'


async def read_params(
    filter: Annotated[
        str | None, Query(max_length=8192, description=f"Filter; {JSON_HELP}")
    ] = None,
    sort: Annotated[str | None, Query(max_length=1024, description='{"field": 1 | -1}')] = None,
    projection: Annotated[
        str | None, Query(max_length=4096, description='{"field": 1} keeps, {"field": 0} drops')
    ] = None,
    fields: Annotated[str | None, Query(max_length=4096, description="a,b,c: keep these")] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="Records per page")] = None,
    offset: Annotated[int | None, Query(ge=0, le=9_999, description="Records to skip")] = None,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor")] = None,
) -> ReadParams:
    return ReadParams(filter, sort, projection, fields, limit, offset, cursor)


ReadDep = Annotated[ReadParams, Depends(read_params)]


def _page(
    docs: list[dict[str, Any]], query_limit: int, offset: int, cursor: str | None
) -> Response:
    pagination = {
        "limit": query_limit,
        "offset": offset,
        "count": len(docs),
        "next_cursor": cursor,
        "has_more": cursor is not None,
    }
    return json_response({"data": docs, "pagination": pagination})


@router.get(
    "/{database}/{collection}",
    dependencies=[Depends(read_access)],
    responses=documented(examples.GENERIC_PAGE, 400, 404),
)
async def read_collection(
    request: Request,
    database: str,
    collection: str,
    stores: GenericDep,
    params: ReadDep,
    format: Annotated[
        Format | None, Query(description="Market collections: json, csv or parquet")
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
    accept_encoding: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Records of a collection, filtered, sorted, projected, one page at a time."""
    target = target_of(database, collection)
    if isinstance(target, Market):
        rendering = market_collections.Rendering(format, accept, accept_encoding)
        return await market_collections.read(request, target.dataset, params, rendering)
    query = find_query(params)
    if isinstance(target, Table):
        found = await stores.sql.read_table(target.name, query)
    else:
        found = await stores.documents(target.database).find(database, collection, query)
    return _page(found.docs, query.limit, query.offset, found.next_cursor)


@router.get(
    "/{database}/{collection}/{doc_id}",
    dependencies=[Depends(read_access)],
    responses=documented(examples.GENERIC_DOCUMENT, 400, 404),
)
async def read_document(
    database: str,
    collection: str,
    doc_id: str,
    stores: GenericDep,
    if_none_match: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """One document by ``_id``, with its ETag (send it back as If-Match to update it safely)."""
    target = _documents(target_of(database, collection), "read one by _id")
    doc = await stores.documents(target.database).get(database, collection, doc_id[:128])
    if doc is None:
        raise not_found(f"document {doc_id[:40]!r} of {collection}")
    tag = etag(doc)
    if if_none_match is not None and tag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": tag})
    response = json_response({"data": doc})
    response.headers["ETag"] = tag
    return response


def _documents(target: Target, action: str) -> Documents:
    if isinstance(target, Documents):
        return target
    if isinstance(target, Table):
        raise ApiError(405, "read_only", f"{target.name} is a metadata table: read it with GET")
    raise ApiError(
        405,
        "market_collection",
        f"market collections cannot {action} here: their records are written only by "
        "idempotent inserts (POST)",
    )


@router.post(
    "/{database}/{collection}",
    status_code=201,
    dependencies=[Depends(write_access)],
    responses=documented(examples.GENERIC_INSERTED, 400, 401, 403, status=201),
)
async def insert(
    request: Request,
    database: str,
    collection: str,
    stores: GenericDep,
    body: Annotated[InsertBody, Depends(json_body(InsertBody))],
    schema: Annotated[str | None, Query(max_length=128, description="Schema to check")] = None,
    validate: Annotated[bool, Query(description="Check every record against schema")] = False,
) -> Response:
    """Insert one record or many; with ``validate=true``, none unless all are valid."""
    target = target_of(database, collection)
    records = records_of(body.data)
    await validate_records(
        request, database, schema or body.schema_name, validate or body.validate_records, records
    )
    if isinstance(target, Market):
        return await market_collections.write(await get_market(request), target.dataset, records)
    target = _documents(target, "insert")
    ids = await _inserting(stores, target, records)
    return json_response({"data": {"inserted": len(ids), "ids": ids}}, status_code=201)


async def _inserting(stores: GenericStores, target: Documents, records: list[Any]) -> list[str]:
    try:
        return await stores.documents(target.database).insert(target.database, target.name, records)
    except DuplicateId as exc:
        raise ApiError(409, "duplicate_id", exc.detail) from None


@router.put(
    "/{database}/{collection}",
    dependencies=[Depends(write_access)],
    responses=documented(examples.GENERIC_UPDATED, 400, 401, 403),
)
async def update(
    request: Request,
    database: str,
    collection: str,
    stores: GenericDep,
    body: Annotated[UpdateBody, Depends(json_body(UpdateBody))],
    if_match: Annotated[str | None, Header(description="ETag the document must still have")] = None,
    schema: Annotated[str | None, Query(max_length=128)] = None,
    validate: Annotated[bool, Query()] = False,
) -> Response:
    """Set the fields of ``data`` on every document ``filter`` matches (MongoDB's ``$set``)."""
    target = _documents(target_of(database, collection), "be updated")
    if body.upsert:
        raise ApiError(400, "upsert_unsupported", "upsert is not offered; POST the document")
    await validate_records(
        request,
        database,
        schema or body.schema_name,
        validate or body.validate_records,
        [body.data],
    )
    filter_ = parse_filter(body.filter)
    try:
        matched, modified = await stores.documents(target.database).update(
            database, collection, filter_, body.data, if_match
        )
    except PreconditionFailed as exc:
        raise ApiError(412, "precondition_failed", exc.detail) from None
    return json_response({"data": {"matched": matched, "modified": modified}})


@router.delete(
    "/{database}/{collection}", responses=documented(examples.GENERIC_DELETED, 400, 401, 403)
)
async def delete(
    database: str,
    collection: str,
    stores: GenericDep,
    caller: Annotated[Caller, Depends(write_access)],
    filter: Annotated[
        str | None, Query(max_length=8192, description=f"Filter; {JSON_HELP}")
    ] = None,
    everything: Annotated[
        bool, Query(alias="all", description="With no filter: delete every document (admin)")
    ] = False,
) -> Response:
    """Delete what ``filter`` matches; everything only with all=true and an admin key."""
    target = _documents(target_of(database, collection), "be deleted")
    raw = json_param("filter", filter)
    if not raw:
        _check_delete_all(caller, everything)
    deleted = await stores.documents(target.database).delete(
        database, collection, parse_filter(raw or {})
    )
    return json_response({"data": {"deleted": deleted}})


def _check_delete_all(caller: Caller, everything: bool) -> None:
    if not everything:
        raise ApiError(
            400,
            "filter_required",
            "DELETE without a filter would empty the collection; give filter=, or all=true "
            "with an admin key",
        )
    if caller.key is None or not caller.key.allows(Scope.ADMIN):
        raise ApiError(403, "insufficient_scope", "deleting every document needs the 'admin' scope")


@router.post(
    "/{database}/{collection}/batch",
    dependencies=[Depends(write_access)],
    responses=documented(examples.GENERIC_INSERTED, 400, 401, 403),
)
async def batch(
    request: Request,
    database: str,
    collection: str,
    stores: GenericDep,
    body: Annotated[BatchBody, Depends(json_body(BatchBody))],
    schema: Annotated[str | None, Query(max_length=128)] = None,
    validate: Annotated[bool, Query()] = False,
) -> Response:
    """Several operations at once: all are checked before any is applied.

    On SQL they run in one transaction (all or nothing); on MongoDB in order.
    """
    target = target_of(database, collection)
    operations = _operations(body)
    inserted = [doc for op in operations if op.kind == "insert" for doc in op.docs]
    if len(inserted) > MAX_RECORDS:
        raise ApiError(400, "batch_too_large", f"at most {MAX_RECORDS} records at once")
    await validate_records(request, database, schema, validate, inserted)
    if isinstance(target, Market):
        if any(op.kind != "insert" for op in operations):
            _documents(target, "be updated or deleted")
        return await market_collections.write(await get_market(request), target.dataset, inserted)
    target = _documents(target, "take a batch")
    try:
        results = await stores.documents(target.database).batch(database, collection, operations)
    except DuplicateId as exc:
        raise ApiError(409, "duplicate_id", f"{exc.detail}; nothing was written") from None
    return json_response({"data": {"results": results}})


def _operations(body: BatchBody) -> list[Operation]:
    if (body.operations is None) == (body.data is None):
        raise ApiError(400, "bad_batch", "send operations or data, one of the two")
    if body.data is not None:
        return [Operation("insert", docs=records_of(body.data))]
    return [_operation(i, raw) for i, raw in enumerate(body.operations or [])]


def _operation(index: int, raw: dict[str, Any]) -> Operation:
    kind = raw.get("type", "insert")
    data = raw.get("data")
    if kind == "insert" and isinstance(data, dict | list):
        docs = data if isinstance(data, list) else [data]
        if all(isinstance(d, dict) for d in docs):
            return Operation("insert", docs=docs)
    elif kind == "update" and isinstance(data, dict) and isinstance(raw.get("filter"), dict):
        return Operation("update", filter=parse_filter(raw["filter"]), fields=data)
    elif kind == "delete" and isinstance(raw.get("filter"), dict) and raw["filter"]:
        return Operation("delete", filter=parse_filter(raw["filter"]))
    raise ApiError(
        400,
        "bad_batch",
        f"operation {index}: insert takes data (an object or a list of objects), update "
        "takes filter and data, delete takes a non-empty filter",
    )
