"""Route dependencies: clients, the caller's identity, scopes, rate limits and the body.

Handlers read ``market: MarketDep`` and so on; a client that is still connecting answers
503 rather than failing the request with a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar, cast

import pydantic
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from petrosa_api.auth import ApiKey, Scope, key_ident
from petrosa_api.bodies import (
    JSON_ONLY,
    decode_json,
    invalid_body,
    is_json,
    read_body,
    validated,
)
from petrosa_api.dataset_catalog import Catalog
from petrosa_api.errors import ApiError
from petrosa_api.ratelimit import retry_after_header
from petrosa_api.state import ApiState
from petrosa_core.bus import Bus
from petrosa_core.market import MarketStore
from petrosa_core.metadata import MetadataStore

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key from API_KEYS"
)
bearer = HTTPBearer(auto_error=False, description="An API key from API_KEYS as a bearer token")

log = logging.getLogger("petrosa.api")

M = TypeVar("M", bound=pydantic.BaseModel)
# Set once a route's guard has admitted the caller; a body is read only after that.
_ADMITTED = "petrosa.caller"

_HOW_TO_CONFIGURE = (
    "no API keys are configured, so write endpoints are disabled; set API_KEYS "
    "(e.g. API_KEYS=secret:read+write) or API_KEYS_FILE and restart the API"
)


async def get_state(request: Request) -> ApiState:
    return cast(ApiState, request.app.state.api)


StateDep = Annotated[ApiState, Depends(get_state)]


def state_of(request: HTTPConnection) -> ApiState:
    return cast(ApiState, request.app.state.api)


def _starting(what: str) -> ApiError:
    return ApiError(503, "starting", f"the API is still connecting to {what}; retry shortly")


# These take the request rather than StateDep: each dependency node costs FastAPI time on
# every request, and the data endpoints are the hot path.
async def get_market(request: Request) -> MarketStore:
    if (market := state_of(request).market) is None:
        raise _starting("the market store")
    return market


async def get_metadata(request: Request) -> MetadataStore:
    if (metadata := state_of(request).metadata) is None:
        raise _starting("the metadata store")
    return metadata


async def get_catalog(request: Request) -> Catalog:
    if (catalog := state_of(request).catalog) is None:
        raise _starting("its stores")
    return catalog


async def get_bus(request: Request) -> Bus:
    bus = state_of(request).bus
    if bus is None or not bus.is_connected:
        raise ApiError(503, "bus_unavailable", "the API is not connected to NATS; retry shortly")
    return bus


MarketDep = Annotated[MarketStore, Depends(get_market)]
MetadataDep = Annotated[MetadataStore, Depends(get_metadata)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
BusDep = Annotated[Bus, Depends(get_bus)]


@dataclass(frozen=True)
class Caller:
    """Who is asking: a matched key, or nobody (``key`` is None); ``rate_key`` is counted."""

    key: ApiKey | None
    rate_key: str = ""


def _presented_key(request: HTTPConnection, query_key: bool = False) -> str:
    if key := request.headers.get("x-api-key"):
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return token.strip()
    return request.query_params.get("api_key", "") if query_key else ""


def identify(request: HTTPConnection, *, query_key: bool = False) -> Caller:
    """Match the presented key (a wrong one is refused) and spend one rate-limit token.

    ``query_key`` also takes the key from ``api_key=``: browsers' EventSource and WebSocket
    send no headers of their own, so the push channel accepts it there.
    """
    state = state_of(request)
    presented = _presented_key(request, query_key)
    client = request.client.host if request.client else "unknown"
    key = _matching_key(state, presented, client) if presented else None
    caller = Caller(key, f"key:{key.ident}" if key else f"ip:{client}")
    if state.shared_limiter is None:
        _refuse_when_limited(state, state.limiter.acquire(caller.rate_key))
    return caller


async def count_across_replicas(request: Request, caller: Caller) -> None:
    """Spend ``caller``'s request in the limit every replica shares, when one is configured."""
    state = state_of(request)
    if state.shared_limiter is not None:
        _refuse_when_limited(state, await state.shared_limiter.acquire(caller.rate_key))


def _refuse_when_limited(state: ApiState, wait: float) -> None:
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            f"more than {state.settings.api_rate_limit_per_minute} requests a minute; "
            "slow down and retry after the Retry-After seconds",
            {"Retry-After": retry_after_header(wait)},
        )


def _matching_key(state: ApiState, presented: str, client: str) -> ApiKey:
    """The configured key ``presented`` is; a wrong one is logged and counted against ``client``.

    An address that sent too many wrong keys gets 429 without its key being compared.
    """
    wait = state.failed_keys.wait(client)
    if wait > 0:
        raise ApiError(
            429,
            "too_many_failed_keys",
            "too many wrong API keys from this address; retry after the Retry-After seconds",
            {"Retry-After": retry_after_header(wait)},
        )
    key = state.keyring.match(presented)
    if key is None:
        state.failed_keys.acquire(client)
        ident = key_ident(presented.encode())
        log.warning("invalid API key", extra={"client": client, "key_ident": ident})
        raise ApiError(
            401, "invalid_api_key", "the API key is not valid", {"WWW-Authenticate": "Bearer"}
        )
    return key


def _admit(state: ApiState, caller: Caller, scope: Scope) -> None:
    if not state.keyring:
        raise ApiError(403, "auth_not_configured", _HOW_TO_CONFIGURE)
    if caller.key is None:
        raise ApiError(
            401,
            "missing_api_key",
            f"this endpoint needs an API key with the {scope.value!r} scope; "
            "send it as X-API-Key or Authorization: Bearer",
            {"WWW-Authenticate": "Bearer"},
        )
    if not caller.key.allows(scope):
        raise ApiError(403, "insufficient_scope", f"this key lacks the {scope.value!r} scope")


async def read_access(request: Request) -> Caller:
    """Admit reads: open unless API_REQUIRE_AUTH_FOR_READS, and always rate limited."""
    caller = identify(request)
    await count_across_replicas(request, caller)
    state = state_of(request)
    if state.settings.api_require_auth_for_reads:
        _admit(state, caller, Scope.READ)
    request.scope[_ADMITTED] = caller
    return caller


async def write_access(
    request: Request,
    _header: Annotated[str | None, Security(api_key_header)],
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Caller:
    """Admit callers whose key holds the write scope (the security schemes document it)."""
    caller = identify(request)
    await count_across_replicas(request, caller)
    _admit(state_of(request), caller, Scope.WRITE)
    request.scope[_ADMITTED] = caller
    return caller


async def admin_access(
    request: Request,
    _header: Annotated[str | None, Security(api_key_header)],
    _token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Caller:
    """Admit callers whose key holds the admin scope (raw queries, deleting a collection)."""
    caller = identify(request)
    await count_across_replicas(request, caller)
    _admit(state_of(request), caller, Scope.ADMIN)
    request.scope[_ADMITTED] = caller
    return caller


def stream_access(connection: HTTPConnection) -> Caller:
    """Admit a push client as ``read_access`` would, with the key in a header or ``api_key=``."""
    caller = identify(connection, query_key=True)
    state = state_of(connection)
    if state.settings.api_require_auth_for_reads:
        _admit(state, caller, Scope.READ)
    return caller


def json_body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency reading the body as ``model``, only once the route's guard admitted the caller.

    Declare the guard in the route's ``dependencies=``: FastAPI solves those first.
    """

    async def read(request: Request) -> M:
        if _ADMITTED not in request.scope:
            raise RuntimeError(f"{request.url.path} reads its body before admitting the caller")
        if not is_json(request.headers.get("content-type")):
            raise invalid_body(JSON_ONLY)
        raw = await read_body(request, state_of(request).settings.api_max_body_bytes)
        return validated(model, decode_json(raw))

    return read
