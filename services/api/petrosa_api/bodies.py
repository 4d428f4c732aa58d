"""Request bodies: capped in size as they stream in, and in nesting depth as they are decoded.

FastAPI reads and parses a route's body parameter before it runs the route's dependencies,
so the API key would be checked only after the body was read. Routes therefore take their
body through ``deps.json_body``, which runs after the route's guards and reads through here;
no route has FastAPI read a body.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
import pydantic
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request

from petrosa_api.errors import ApiError

# Arrays and objects inside one another. Request bodies are flat records; a JSON Schema
# rarely nests past ten. Far below Python's recursion limit, so no reader of the decoded
# value can overflow the stack.
MAX_DEPTH = 32
JSON_ONLY = "send a JSON object with Content-Type: application/json"

M = TypeVar("M", bound=pydantic.BaseModel)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused with 413 once it is known to pass ``max_bytes``.

    A declared Content-Length is refused before a byte is read; a chunked body is counted
    as it arrives. Only routes that take a body read one: the server discards the rest
    unread, and a response's disconnect listener drops what it receives.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(body)


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the request body is larger than {max_bytes} bytes (API_MAX_BODY_BYTES)",
    )


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def decode_json(raw: bytes) -> Any:
    """The decoded body; 400 ``too_deep`` past ``MAX_DEPTH``, 422 when it is not JSON."""
    try:
        value = msgspec.json.decode(raw)
    except RecursionError:  # msgspec stops at Python's recursion limit, long before a crash
        raise _too_deep() from None
    except msgspec.DecodeError:
        raise invalid_body(JSON_ONLY) from None
    if _deeper_than(value, MAX_DEPTH):
        raise _too_deep()
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether an array or object sits inside ``limit`` others; one pass, no recursion."""
    level = [value]
    for _ in range(limit):
        level = [child for item in level for child in _children(item)]
        if not level:
            return False
    return any(isinstance(item, list | dict) for item in level)


def _children(item: Any) -> Any:
    if isinstance(item, dict):
        return item.values()
    return item if isinstance(item, list) else ()


def _too_deep() -> ApiError:
    return ApiError(
        400, "too_deep", f"the JSON body nests deeper than {MAX_DEPTH} levels of arrays and objects"
    )


def invalid_body(message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "body_invalid", "loc": ("body",), "msg": message}])


def validated(model: type[M], value: Any) -> M:
    """``value`` as ``model``; its problems answer 422 naming each field as ``body.<field>``."""
    try:
        return model.model_validate(value)
    except pydantic.ValidationError as exc:
        problems = [{**err, "loc": ("body", *err["loc"])} for err in exc.errors()]
        raise RequestValidationError(problems) from None
