"""Request and response schemas of the API (not the storage models), with OpenAPI examples."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from petrosa_api.times import parse_time
from petrosa_core.errors import ValidationError
from petrosa_core.intervals import check_interval

SYMBOL_PATTERN = r"^[A-Za-z0-9_]{1,32}$"
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
    """A backfill of ``[start, end)``; times as epoch ms or ISO-8601."""

    symbol: str = Field(pattern=SYMBOL_PATTERN, examples=["BTCUSDT"])
    data_type: Literal["candles", "funding_rates", "agg_trades"]
    interval: Interval | None = Field(None, description="Required for candles")
    start: int | str = Field(examples=[1636934400000, "2021-11-15T00:00:00Z"])
    end: int | str = Field(examples=[1637020800000, "2021-11-16T00:00:00Z"])

    @field_validator("start", "end")
    @classmethod
    def _epoch_ms(cls, value: int | str) -> int:
        try:
            return parse_time("time", str(value))
        except ValidationError as exc:
            raise ValueError(exc.detail) from None

    @model_validator(mode="after")
    def _consistent(self) -> BackfillRequest:
        if int(self.start) >= int(self.end):
            raise ValueError(f"start {self.start} must be before end {self.end}")
        if self.data_type == "candles":
            if self.interval is None:
                raise ValueError("candles need an interval")
            check_interval(self.interval)
        elif self.interval is not None:
            raise ValueError(f"{self.data_type} take no interval")
        return self

    def message(self) -> dict[str, Any]:
        """The NATS request body the backfillers expect."""
        body: dict[str, Any] = {
            "symbol": self.symbol.upper(),
            "data_type": self.data_type,
            "start": int(self.start),
            "end": int(self.end),
        }
        if self.interval is not None:
            body["interval"] = self.interval
        return body


_ERROR_EXAMPLES: dict[int, tuple[str, str, str]] = {
    400: ("Bad input", "bad_range", "start 1637020800000 is after end 1636934400000"),
    401: ("No or wrong API key", "missing_api_key", "this endpoint needs an API key"),
    403: ("Key lacks the scope", "insufficient_scope", "this key lacks the 'write' scope"),
    404: ("Unknown resource", "unknown_dataset", "no dataset candles:FOOUSDT:1m"),
    422: ("Malformed request", "invalid_request", "query.limit: Input should be <= 10000"),
    429: ("Rate limited", "rate_limited", "more than 1200 requests a minute"),
    503: ("A dependency is down", "store_unavailable", "a store cannot be reached"),
}


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
