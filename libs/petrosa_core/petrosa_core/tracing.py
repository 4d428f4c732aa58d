"""Following one request across processes: OpenTelemetry spans and the request id.

Tracing is off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` names a collector (OTLP over
HTTP/protobuf); off, every span is OpenTelemetry's no-op and costs next to nothing. The
request id (``X-Request-ID``) rides beside the W3C ``traceparent`` in NATS message
headers, so the logs of every process a request reaches carry the same ``request_id``
whether tracing is on or not.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind

REQUEST_ID: ContextVar[str | None] = ContextVar("petrosa_request_id", default=None)
REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is echoed into headers and logs: accept only short, plain tokens.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

tracer = trace.get_tracer("petrosa")
log = logging.getLogger("petrosa.tracing")


def configure_tracing(service: str, endpoint: str) -> Callable[[], None] | None:
    """Export spans to ``endpoint`` (``http://collector:4318``); returns the flush-and-stop.

    An empty endpoint leaves tracing off and returns None.
    """
    if not endpoint:
        return None
    # Imported only when tracing is on: the SDK and the exporter load protobuf.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"petrosa-{service}"}))
    exporter = OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    log.info("tracing on: spans go to %s", endpoint)
    return provider.shutdown


def outgoing_headers(headers: dict[str, str] | None = None) -> dict[str, str] | None:
    """``headers`` plus the current trace context and request id; None when there is none."""
    carrier = dict(headers or {})
    propagate.inject(carrier)
    if (request_id := REQUEST_ID.get()) is not None:
        carrier.setdefault(REQUEST_ID_HEADER, request_id)
    return carrier or None


@contextmanager
def incoming(headers: Mapping[str, str] | None, name: str, **attributes: str) -> Iterator[Span]:
    """Handle a message inside a span continuing its sender's trace, with its request id."""
    headers = headers or {}
    parent = propagate.extract(headers)
    request_id = headers.get(REQUEST_ID_HEADER)
    valid = request_id is not None and VALID_REQUEST_ID.match(request_id) is not None
    token = REQUEST_ID.set(request_id if valid else None)
    try:
        with tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes
        ) as span:
            if valid:
                span.set_attribute("petrosa.request_id", str(request_id))
            yield span
    finally:
        REQUEST_ID.reset(token)


@contextmanager
def new_request(name: str, **attributes: str) -> Iterator[Span]:
    """Work a process starts on its own (an auditor's repair) under a fresh request id."""
    request_id = uuid.uuid4().hex
    token = REQUEST_ID.set(request_id)
    try:
        with tracer.start_as_current_span(name, attributes=attributes) as span:
            span.set_attribute("petrosa.request_id", request_id)
            yield span
    finally:
        REQUEST_ID.reset(token)


def carried() -> dict[str, str]:
    """The current trace context and request id, to resume later in another task."""
    return outgoing_headers() or {}


@contextmanager
def resumed(carrier: Mapping[str, str] | None, name: str, **attributes: str) -> Iterator[Span]:
    """Work started by an earlier message, in a span of its trace (see ``carried``)."""
    with incoming(carrier, name, **attributes) as span:
        yield span


def current_trace_id() -> str:
    """The current span's trace id as 32 hex digits; zeros outside a span or when off."""
    return format(trace.get_current_span().get_span_context().trace_id, "032x")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record logged while a request is handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


__all__ = [
    "REQUEST_ID",
    "REQUEST_ID_HEADER",
    "RequestIdFilter",
    "carried",
    "configure_tracing",
    "current_trace_id",
    "incoming",
    "new_request",
    "outgoing_headers",
    "resumed",
    "tracer",
]
