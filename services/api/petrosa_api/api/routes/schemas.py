"""/schemas: the JSON Schema registry (versions, compatibility, validation, bootstrap).

``{database}`` is the store a schema describes, ``mysql`` or ``mongodb`` as in the original
service, whatever backend runs. Reads need the ``read`` scope (when reads need a key),
registration, changes and bootstrap the ``write`` scope, clearing the cache ``admin``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from petrosa_api.api.deps import (
    Caller,
    admin_access,
    json_body,
    read_access,
    state_of,
    write_access,
)
from petrosa_api.auth import Scope
from petrosa_api.bodies import decode_json, read_body, validated
from petrosa_api.errors import ApiError
from petrosa_api.formats import json_response
from petrosa_api.registry import SchemaRegistry
from petrosa_api.registry import _operations as operations
from petrosa_api.registry_requests import (
    BootstrapBody,
    CompatibilityBody,
    Database,
    RegisterBody,
    UpdateBody,
    ValidateBody,
    render_errors,
    render_version,
)
from petrosa_api.schemas import Item, Listing, documented, json_request

router = APIRouter(prefix="/schemas", tags=["schemas"])

NameParam = Annotated[
    str, Path(min_length=1, max_length=128, description="Schema name", examples=["candle_v1"])
]
VersionParam = Annotated[int, Path(ge=1, le=1_000_000, description="Schema version")]
READ = [Depends(read_access)]
WRITE = [Depends(write_access)]


async def get_registry(request: Request) -> SchemaRegistry:
    if (registry := state_of(request).registry) is None:
        raise ApiError(
            503, "starting", "the API is still connecting to the metadata store; retry shortly"
        )
    return registry


RegistryDep = Annotated[SchemaRegistry, Depends(get_registry)]


def _listing(items: list[dict[str, Any]]) -> Response:
    pagination = {"limit": len(items), "count": len(items), "next_cursor": None, "has_more": False}
    return json_response({"data": items, "pagination": pagination})


# Fixed paths first: /schemas/cache/stats must not read as database "cache", name "stats".


@router.get("", response_model=Listing, dependencies=READ, responses=documented([], 400))
async def list_schemas(
    registry: RegistryDep,
    database: Annotated[Database | None, Query(description="Only this store's schemas")] = None,
) -> Response:
    """Every schema name with its current version, versions and compatibility mode."""
    return _listing(await operations.summaries(registry, database))


@router.get("/search", response_model=Listing, dependencies=READ, responses=documented([]))
async def search(
    registry: RegistryDep,
    query: Annotated[str, Query(min_length=1, max_length=128, description="Text to find")],
) -> Response:
    """Names whose current version mentions ``query`` in its name, description, dataset or
    property names (case-insensitive)."""
    return _listing(await operations.search(registry, query))


@router.post(
    "/validate",
    response_model=Item,
    dependencies=READ,
    responses=documented({}, 400, 404, 413),
    openapi_extra=json_request(ValidateBody),
)
async def validate(
    registry: RegistryDep,
    caller: Annotated[Caller, Depends(read_access)],
    body: Annotated[ValidateBody, Depends(json_body(ValidateBody))],
) -> Response:
    """Check one record or a batch; every error of every record with its JSON pointer."""
    records = body.data if isinstance(body.data, list) else [body.data]
    may_write = caller.key is not None and caller.key.allows(Scope.WRITE)
    record, invalid = await registry.check(
        body.database, body.schema_name, records, body.version, may_register=may_write
    )
    answer: dict[str, Any] = {
        "database": body.database,
        "schema_name": body.schema_name,
        "version": record.version,
        "records": len(records),
    }
    if not registry.options.validation_enabled:
        reason = "SCHEMA_VALIDATION_ENABLED is off: nothing was checked"
        return json_response(
            {"data": {**answer, "valid": None, "checked": False, "reason": reason}}
        )
    answer |= {"valid": not invalid, "checked": True, "invalid_records": [e.index for e in invalid]}
    return json_response({"data": {**answer, "errors": render_errors(invalid)}})


@router.post(
    "/compatibility",
    response_model=Item,
    dependencies=READ,
    responses=documented({}, 400, 404),
    openapi_extra=json_request(CompatibilityBody),
)
async def compatibility(
    registry: RegistryDep,
    body: Annotated[CompatibilityBody, Depends(json_body(CompatibilityBody))],
) -> Response:
    """Would a candidate schema be accepted (against the versions its mode names), or is
    ``new_version`` compatible with ``old_version``? Lists every breaking change."""
    answer = await operations.compatibility(
        registry,
        body.database,
        body.schema_name,
        mode=body.mode,
        schema=body.schema_,
        old_version=body.old_version,
        new_version=body.new_version,
    )
    return json_response({"data": answer})


async def _bootstrap_body(request: Request) -> BootstrapBody:
    """The optional body of ``POST /schemas/bootstrap`` (none means the defaults)."""
    raw = await read_body(request, state_of(request).settings.api_max_body_bytes)
    return validated(BootstrapBody, decode_json(raw)) if raw.strip() else BootstrapBody()


@router.post(
    "/bootstrap",
    response_model=Item,
    dependencies=WRITE,
    responses=documented({}, 401, 403),
    openapi_extra=json_request(BootstrapBody),
)
async def bootstrap(
    registry: RegistryDep, body: Annotated[BootstrapBody, Depends(_bootstrap_body)]
) -> Response:
    """Register the common schemas (candle_v1, trade_v1, ... order_v1, audit_log_v1 ...);
    names already registered are skipped unless ``overwrite_existing``."""
    return json_response({"data": await operations.bootstrap(registry, body.overwrite_existing)})


@router.get("/cache/stats", response_model=Item, dependencies=READ, responses=documented({}))
async def cache_stats(registry: RegistryDep) -> Response:
    """Compiled validators held, and their hits, misses, compilations and evictions."""
    return json_response({"data": registry.cache_stats()})


@router.post(
    "/cache/clear",
    response_model=Item,
    dependencies=[Depends(admin_access)],
    responses=documented({}, 401, 403),
)
async def cache_clear(registry: RegistryDep) -> Response:
    """Forget every compiled validator on this replica (needs the ``admin`` scope)."""
    return json_response({"data": {"cleared": registry.clear(), **registry.cache_stats()}})


# One schema name


@router.post(
    "/{database}/{name}",
    status_code=201,
    response_model=Item,
    dependencies=WRITE,
    responses=documented({}, 400, 401, 403, 409, 413, status=201),
    openapi_extra=json_request(RegisterBody),
)
async def register(
    registry: RegistryDep,
    database: Database,
    name: NameParam,
    body: Annotated[RegisterBody, Depends(json_body(RegisterBody))],
) -> Response:
    """Register the next version of ``name``; 409 with the breaking changes when it breaks
    the name's compatibility mode; an identical document answers its version (200)."""
    done = await registry.register(
        database,
        name,
        body.schema_,
        description=body.description,
        compatibility=body.compatibility,
        describes=body.describes,
    )
    data = {**render_version(done.record), "created": done.created, "compatibility": done.mode}
    return json_response({"data": data}, status_code=201 if done.created else 200)


@router.get(
    "/{database}/{name}", response_model=Item, dependencies=READ, responses=documented({}, 404)
)
async def latest(registry: RegistryDep, database: Database, name: NameParam) -> Response:
    """The current version: the newest active one (the newest, when all are deprecated)."""
    record = await registry.version(database, name, None)
    mode = await registry.mode_of(database, name)
    return json_response({"data": {**render_version(record), "compatibility": mode}})


@router.get(
    "/{database}/{name}/versions",
    response_model=Listing,
    dependencies=READ,
    responses=documented([], 404),
)
async def versions(registry: RegistryDep, database: Database, name: NameParam) -> Response:
    """Every version of ``name``, oldest first (without their documents)."""
    found = await registry.versions(database, name)
    return _listing([render_version(v, document=False) for v in found])


@router.get(
    "/{database}/{name}/versions/{version}",
    response_model=Item,
    dependencies=READ,
    responses=documented({}, 404),
)
async def one_version(
    registry: RegistryDep, database: Database, name: NameParam, version: VersionParam
) -> Response:
    """One version with its document."""
    return json_response({"data": render_version(await registry.version(database, name, version))})


@router.put(
    "/{database}/{name}/versions/{version}",
    response_model=Item,
    dependencies=WRITE,
    responses=documented({}, 401, 403, 404),
    openapi_extra=json_request(UpdateBody),
)
async def update(
    registry: RegistryDep,
    database: Database,
    name: NameParam,
    version: VersionParam,
    body: Annotated[UpdateBody, Depends(json_body(UpdateBody))],
) -> Response:
    """Change a version's description or status; its document never changes."""
    record = await registry.update(
        database, name, version, description=body.description, status=body.status
    )
    return json_response({"data": render_version(record)})


@router.delete(
    "/{database}/{name}/versions/{version}",
    response_model=Item,
    dependencies=WRITE,
    responses=documented({}, 401, 403, 404),
)
async def deprecate(
    registry: RegistryDep, database: Database, name: NameParam, version: VersionParam
) -> Response:
    """Deprecate a version: it stays readable and usable by number, never erased, but is no
    longer the current version nor compared against."""
    record = await registry.update(database, name, version, status="deprecated")
    return json_response({"data": render_version(record)})
