"""Request and response schemas of the API (not the storage models), with OpenAPI examples."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import AfterValidator, BaseModel, Field, ValidationInfo, field_validator

from petrosa_core import contracts
from petrosa_core.symbols import MAX_BASE_LENGTH, normalize_symbol
from petrosa_core.times import parse_time

# What ``normalize_symbol`` accepts, for the documentation: ASCII letters in either case.
SYMBOL_PATTERN = rf"^[A-Za-z0-9]{{1,{MAX_BASE_LENGTH}}}(?:_[0-9]{{6}})?$"
# A symbol in a query string: checked by the core rule, 400 ``bad_symbol`` when it breaks it.
Symbol = Annotated[str, AfterValidator(normalize_symbol)]
_DOCUMENTED_SYMBOL: dict[str, Any] = {"pattern": SYMBOL_PATTERN}
Pair = Annotated[
    Symbol,
    Query(
        description="Binance symbol, in any case",
        examples=["XRPUSDT"],
        json_schema_extra=_DOCUMENTED_SYMBOL,
    ),
]
SymbolFilter = Annotated[
    Symbol | None,
    Query(
        description="Only this Binance symbol, in any case", json_schema_extra=_DOCUMENTED_SYMBOL
    ),
]
Interval = Literal[
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"
]
Order = Literal["asc", "desc"]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable error code")
    message: str = Field(description="What is wrong, for a person")
    request_id: str | None = Field(description="The X-Request-ID of the failed request")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Pagination(BaseModel):
    limit: int
    count: int = Field(description="Records in this page")
    next_cursor: str | None = Field(description="Pass as cursor= for the next page; null at end")
    has_more: bool = False
    order: Order = "asc"
    offset: int | None = Field(None, description="The offset= this page was asked with")


class DataPage(BaseModel):
    data: list[dict[str, Any]]
    pagination: Pagination
    fields: dict[str, str] = Field(description="Meaning of each field of a row")


class Listing(BaseModel):
    data: list[dict[str, Any]]
    pagination: Pagination


class Item(BaseModel):
    data: dict[str, Any]


class Liveness(BaseModel):
    status: str
    service: str


class Readiness(BaseModel):
    status: str
    failing: dict[str, str] | None = None


class BackfillRequest(BaseModel):
    """A backfill of ``[start, end)``; times as epoch ms or ISO-8601.

    The body's shape is checked here; the rules every backfill request follows (an interval
    for candles only, start before end) are the core contract's, checked by ``checked``.
    """

    symbol: str = Field(json_schema_extra={"pattern": SYMBOL_PATTERN}, examples=["BTCUSDT"])
    data_type: Literal["candles", "funding_rates", "agg_trades"]
    interval: Interval | None = Field(None, description="Required for candles")
    start: int | str = Field(examples=[1636934400000, "2021-11-15T00:00:00Z"])
    end: int | str = Field(examples=[1637020800000, "2021-11-16T00:00:00Z"])

    # Before pydantic's own coercion, which reads ``true`` as the integer 1. The core's
    # ValidationError passes through pydantic, so a bad symbol or time answers 400 with its code.
    @field_validator("symbol", mode="before")
    @classmethod
    def _binance_symbol(cls, value: object) -> str:
        return normalize_symbol(value)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _epoch_ms(cls, value: object, info: ValidationInfo) -> int:
        return parse_time(value, info.field_name or "time")

    def message(self) -> contracts.BackfillRequest:
        """The NATS request the backfillers expect, sent on behalf of the API."""
        return contracts.BackfillRequest(
            symbol=self.symbol,
            data_type=contracts.DataType(self.data_type),
            start=int(self.start),
            end=int(self.end),
            interval=self.interval,
            origin="api",
        )


_ERROR_EXAMPLES: dict[int, tuple[str, str, str]] = {
    400: ("Bad input", "bad_range", "start 1637020800000 is after end 1636934400000"),
    401: ("No or wrong API key", "missing_api_key", "this endpoint needs an API key"),
    403: ("Key lacks the scope", "insufficient_scope", "this key lacks the 'write' scope"),
    404: ("Unknown resource", "unknown_dataset", "no dataset candles:FOOUSDT:1m"),
    409: (
        "Conflicts with what is stored",
        "incompatible_schema",
        "the schema breaks BACKWARD compatibility (1 change(s)): ...",
    ),
    413: (
        "Body too large",
        "body_too_large",
        "the request body is larger than 1048576 bytes (API_MAX_BODY_BYTES)",
    ),
    422: ("Malformed request", "invalid_request", "query.limit: Input should be <= 10000"),
    429: ("Rate limited", "rate_limited", "more than 1200 requests a minute"),
    502: (
        "A peer failed on the request",
        "internal_error",
        "the backfiller failed on this request (reference 3f2a9c0e1b7d)",
    ),
    503: ("A dependency is down", "store_unavailable", "a store cannot be reached"),
}


def json_request(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` of a route that reads its body through ``deps.json_body``."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def documented(
    example: Any, *errors: int, status: int = 200, extra_media: tuple[str, ...] = ()
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` with ``example`` for success and one example per error status."""
    content: dict[str, Any] = {"application/json": {"example": example}}
    content.update({media: {} for media in extra_media})
    responses: dict[int | str, dict[str, Any]] = {status: {"content": content}}
    for code in (*errors, 422):
        description, error_code, message = _ERROR_EXAMPLES[code]
        body = {"error": {"code": error_code, "message": message, "request_id": "3f2a9c0e"}}
        responses[code] = {
            "model": ErrorResponse,
            "description": description,
            "content": {"application/json": {"example": body}},
        }
    return responses
