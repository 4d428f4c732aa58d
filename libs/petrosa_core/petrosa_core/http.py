"""The probe and metrics endpoints, and uvicorn run inside a service's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from petrosa_core.errors import ConfigError
from petrosa_core.runtime import Runtime

log = logging.getLogger("petrosa.http")

# uvicorn's own wait for open connections; the runtime bounds the whole close as well.
GRACEFUL_SECONDS = 5


def health_routes(runtime: Runtime) -> list[Route]:
    """``/health/liveness``, ``/health/readiness`` and ``/metrics`` for ``runtime``."""

    async def liveness(request: Request) -> Response:
        body, status = await liveness_answer(runtime)
        return JSONResponse(body, status_code=status)

    async def readiness(request: Request) -> Response:
        failing = await runtime.readiness()
        if failing:
            return JSONResponse({"status": "not_ready", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/health/liveness", liveness, methods=["GET"]),
        Route("/health/readiness", readiness, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


async def liveness_answer(runtime: Runtime) -> tuple[dict[str, Any], int]:
    """The liveness body and status: 503 once a failing check says only a restart helps."""
    failing = await runtime.liveness()
    if failing:
        return {"status": "not_alive", "service": runtime.service, "failing": failing}, 503
    return {"status": "alive", "service": runtime.service}, 200


def health_app(runtime: Runtime) -> Starlette:
    """The metrics-and-probes app every non-API service serves on ``METRICS_PORT``."""
    return Starlette(routes=health_routes(runtime))


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the ``Runtime`` that hosts it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    try:
        sock = socket.create_server((host, port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    # asyncio sets TCP_NODELAY only on sockets made with proto=IPPROTO_TCP, and
    # create_server uses 0; accepted sockets inherit it from here. Without it Nagle holds
    # each response body back ~40 ms, until the client's delayed ACK of the headers.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


async def serve_http(
    runtime: Runtime,
    app: ASGIApp,
    port: int,
    *,
    host: str = "0.0.0.0",
    name: str = "http",
    access_log: bool = False,
) -> int:
    """Serve ``app`` until shutdown closes it; port 0 picks a free one. Returns the port."""
    sock = _bind(host, port)
    bound = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=access_log,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    server = _EmbeddedServer(config)
    task = runtime.spawn_server(name, server.serve(sockets=[sock]))

    async def close() -> None:
        server.should_exit = True
        # The task's own failure, if any, was already reported by the runtime.
        await asyncio.wait([task])

    runtime.add_closer(name, close)
    log.info("http listening", extra={"listener": name, "host": host, "port": bound})
    return bound
