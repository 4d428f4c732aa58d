"""The API process: a FastAPI app served by uvicorn on ``API_PORT`` inside the runtime."""

from __future__ import annotations

import gc
import logging

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from petrosa_api.api.routes import (
    analysis,
    backfill,
    catalog,
    data,
    generic,
    health,
    history,
    metrics,
    original,
    raw,
    schemas,
    stream,
    ui,
)
from petrosa_api.errors import install_error_handlers
from petrosa_api.middleware import RequestContextMiddleware, install_log_filter
from petrosa_api.push_feed import PushFeed
from petrosa_api.settings import ApiSettings
from petrosa_api.state import ApiState
from petrosa_core import __version__
from petrosa_core.http import serve_http
from petrosa_core.runtime import Runtime, run_service
from petrosa_core.wiring import connect_bus, open_stores

log = logging.getLogger("petrosa.api")

DESCRIPTION = """Market data of Binance USD-M futures, its health, catalog and backfills.

Times in requests are epoch milliseconds or ISO-8601; in responses, epoch milliseconds in
`*_time` fields with ISO-8601 beside them in `*_iso`. Errors are
`{"error": {"code", "message", "request_id"}}`. Reads are open unless the deployment
sets `API_REQUIRE_AUTH_FOR_READS`; writes need a key with the `write` scope, sent as
`X-API-Key` or `Authorization: Bearer`.
"""


def create_app(state: ApiState) -> FastAPI:
    """The app with every route; its clients arrive in ``state`` as startup connects them."""
    app = FastAPI(title="Petrosa Data Manager", version=__version__, description=DESCRIPTION)
    app.state.api = state
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    if origins := state.settings.cors_origins():
        # Outermost, so preflights and error answers carry the CORS headers too.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type", "Last-Event-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    for module in (
        history,
        health,
        data,
        backfill,
        catalog,
        original,
        stream,
        ui,
        analysis,
        schemas,
    ):
        app.include_router(module.router)
    # Raw before generic: /api/v1/raw/mysql would otherwise read as database "raw".
    app.include_router(raw.router)
    app.include_router(generic.router)
    app.include_router(original.index)
    app.include_router(health.probes)
    app.include_router(metrics.router)
    return app


async def start(runtime: Runtime, settings: ApiSettings) -> None:
    """Serve first so liveness answers while the clients connect; readiness waits for them."""
    install_log_filter()
    state = ApiState.create(settings, runtime)
    if not state.keyring:
        log.warning(
            "no API keys are configured: reads are open to anyone and write endpoints answer "
            "403 auth_not_configured; set API_KEYS or API_KEYS_FILE"
        )
    await serve_http(
        runtime, create_app(state), settings.api_port, host=settings.api_host, name="api"
    )
    stores = await open_stores(runtime, settings, scans=True)
    state.attach_stores(stores.market, stores.metadata)
    state.bus = await connect_bus(runtime, settings)
    await start_push(runtime, state)
    # Everything built so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise walk it all and stall requests for tens of milliseconds.
    gc.freeze()


async def start_push(runtime: Runtime, state: ApiState) -> None:
    """Feed the push channel from NATS; when stopping, tell its clients to reconnect elsewhere."""
    assert state.bus is not None and state.market is not None
    feed = PushFeed(state.push, state.market)
    await feed.start(state.bus)

    async def close_clients() -> None:
        await runtime.stopping.wait()
        state.push.close_all()

    runtime.spawn("push-close", close_clients())
    runtime.add_closer("push-feed", feed.stop)


def main() -> None:
    """Run the API until SIGTERM; exit 2 on bad settings, 1 on a failure."""
    run_service(ApiSettings, start)
