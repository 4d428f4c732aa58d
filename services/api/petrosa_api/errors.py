"""Every error answers ``{"error": {"code", "message", "request_id"}}`` with its HTTP status.

Core errors are translated here, at the API's one boundary: ``ValidationError`` is a 400,
``StoreUnavailable`` and ``BusError`` are 503, any other ``StoreError`` a 500.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from prometheus_client import Counter
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from petrosa_api.formats import json_response
from petrosa_core import tracing
from petrosa_core.errors import BusError, StoreError, StoreUnavailable, ValidationError

log = logging.getLogger("petrosa.api")

# The core's, so a backfill request sent over NATS carries the API request's id.
REQUEST_ID = tracing.REQUEST_ID

ERRORS = Counter("data_manager_errors", "API error responses by error code", ["code"])


class ApiError(Exception):
    """An error the API answers on purpose, with its status, code and message.

    ``details`` adds fields to the error object (e.g. the breaking changes of a schema).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
        self.details = details


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> Response:
    ERRORS.labels(code=code).inc()
    error = {**(details or {}), "code": code, "message": message, "request_id": REQUEST_ID.get()}
    body = {"error": error}
    response = json_response(body, status_code=status)
    if headers:
        response.headers.update(headers)
    return response


def not_found(what: str, hint: str = "") -> ApiError:
    return ApiError(404, "not_found", f"{what} was not found{'; ' + hint if hint else ''}")


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers, exc.details)


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return error_response(400, exc.reason, exc.detail or exc.reason)


async def _request_invalid(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(_describe_problem(err) for err in exc.errors())
    return error_response(422, "invalid_request", problems or "the request is invalid")


# Validation error types that mean the body is not a JSON object at all.
_NOT_AN_OBJECT = ("model_type", "model_attributes_type", "json_invalid")


def _describe_problem(err: Any) -> str:
    loc = tuple(err.get("loc", ()))
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if loc == ("body",) and err.get("type") in _NOT_AN_OBJECT:
        message = "send a JSON object with Content-Type: application/json"
    where = ".".join(str(part) for part in loc)
    return f"{where}: {message}" if where else message


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    message = str(exc.detail)
    if exc.status_code == 404 and message == phrase:
        message = f"no such endpoint: {request.method} {request.url.path}; see /docs"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def _store_error(_request: Request, exc: Exception) -> Response:
    if isinstance(exc, StoreUnavailable):
        log.warning("store unavailable: %s", exc)
        return error_response(503, "store_unavailable", f"a store cannot be reached: {exc}")
    log.error("store error", exc_info=exc)
    return error_response(500, "store_error", "the store failed to answer; see the API logs")


async def _bus_error(_request: Request, exc: Exception) -> Response:
    log.warning("bus error: %s", exc)
    return error_response(503, "bus_unavailable", f"NATS cannot be reached: {exc}")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(BusError, _bus_error)
