"""Per-request context: the X-Request-ID (response header and log field), metrics, last resort.

A plain ASGI middleware rather than ``BaseHTTPMiddleware``: it costs little per request and
keeps the request id's context variable visible to handlers and exception handlers.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import propagate
from opentelemetry.trace import Span, SpanKind
from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from petrosa_api.errors import REQUEST_ID, error_response
from petrosa_core.tracing import tracer

log = logging.getLogger("petrosa.api")

REQUESTS = Counter(
    "data_manager_requests", "API requests answered", ["method", "endpoint", "status"]
)
DURATION = Histogram(
    "data_manager_request_duration_seconds",
    "Time to answer an API request",
    ["method", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)

# A caller's id is echoed into headers and logs: accept only short, plain tokens.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record logged while a request is being answered."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


def install_log_filter() -> None:
    """Attach the filter to the root handlers that ``configure_logging`` installed."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _VALID_ID.match(text) else None
    return None


class RequestContextMiddleware:
    """Sets the request id, counts and times the request, and turns a crash into a JSON 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        with _server_span(scope, request_id) as span:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled error answering %s %s", scope["method"], scope["path"])
                if response_started:
                    raise
                crash = error_response(500, "internal_error", "unexpected error; see the API logs")
                await crash(scope, receive, send_with_id)
            finally:
                span.set_attribute("http.response.status_code", status)
                _observe(scope, status, time.perf_counter() - started)
                REQUEST_ID.reset(token)


# The W3C trace context a caller may send, continued by the request's span.
_TRACE_HEADERS = (b"traceparent", b"tracestate")


@contextmanager
def _server_span(scope: Scope, request_id: str) -> Iterator[Span]:
    """A span over the request, named by its route template once routing has matched."""
    carrier = {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name in _TRACE_HEADERS
    }
    method = scope["method"]
    with tracer.start_as_current_span(
        method,
        context=propagate.extract(carrier),
        kind=SpanKind.SERVER,
        attributes={"http.request.method": method, "petrosa.request_id": request_id},
    ) as span:
        try:
            yield span
        finally:
            if (route := getattr(scope.get("route"), "path", None)) is not None:
                span.update_name(f"{method} {route}")


def _observe(scope: Scope, status: int, seconds: float) -> None:
    route = scope.get("route")
    # The route's template, never the raw path, so label values stay few.
    endpoint = getattr(route, "path", None) or "unmatched"
    method = scope["method"]
    REQUESTS.labels(method=method, endpoint=endpoint, status=str(status)).inc()
    DURATION.labels(method=method, endpoint=endpoint).observe(seconds)
