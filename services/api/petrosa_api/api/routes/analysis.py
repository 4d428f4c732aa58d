"""GET /analysis/{family}: stored analytics results, computed on demand when none is stored.

Volatility, volume, spread, trend, deviation, seasonality and regime answer one metric
of one pair; correlation answers the matrix of several pairs, always computed afresh
(it depends on the set of pairs asked for).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from petrosa_api.analysis_requests import render, request_analytics
from petrosa_api.api.deps import MarketDep, get_bus, read_access, state_of
from petrosa_api.errors import ApiError
from petrosa_api.formats import json_response
from petrosa_api.schemas import Interval, Item, Symbol, documented
from petrosa_core import contracts
from petrosa_core.contracts import DEFAULT_METHODS, MAX_PAIRS, MAX_WINDOW, AnalyticsRequest
from petrosa_core.market.analytics import AnalyticsResult
from petrosa_core.models import DatasetId, DatasetKind
from petrosa_core.symbols import normalize_symbol

router = APIRouter(prefix="/analysis", tags=["analysis"], dependencies=[Depends(read_access)])

Family = StrEnum("Family", {name: name for name in contracts.ANALYTICS_FAMILIES})  # type: ignore[misc]

EXAMPLE = {
    "data": {
        "pair": "XRPUSDT",
        "period": "5m",
        "family": "volatility",
        "method": "close_to_close",
        "window": 30,
        "value": 0.00162,
        "as_of_time": 1637020500000,
        "as_of_iso": "2021-11-15T23:55:00.000Z",
        "completeness": 1.0,
        "complete": True,
        "bars_used": 31,
        "computed_time": 1637020860000,
        "computed_iso": "2021-11-16T00:01:00.000Z",
        "source": "stored",
        "round_id": "1637020800000-12",
        "lineage": {
            "source": "candles:XRPUSDT:5m",
            "process": "analytics",
            "first_time": 1636420800000,
            "last_time": 1637020500000,
            "records": 2002,
        },
        "annualized": 0.5249,
    }
}


@router.get(
    "/{family}",
    response_model=Item,
    responses=documented(EXAMPLE, 400, 404, 429, 502, 503),
)
async def analysis(
    request: Request,
    market: MarketDep,
    family: Annotated[Family, Path(description="Metric family")],
    pair: Annotated[
        Symbol | None, Query(description="Binance symbol (not for correlation)")
    ] = None,
    pairs: Annotated[
        str | None,
        Query(max_length=MAX_PAIRS * 33, description="Comma-separated symbols, for correlation"),
    ] = None,
    period: Annotated[Interval, Query(description="Candle interval")] = "1h",
    method: Annotated[
        str | None,
        Query(max_length=32, pattern="^[a-z][a-z0-9_]*$", description="Method (family default)"),
    ] = None,
    window: Annotated[
        int | None,
        Query(ge=2, le=MAX_WINDOW, description="Bars (default: scheduled)"),
    ] = None,
) -> Response:
    """The metric over the last ``window`` closed bars ending at ``as_of_time``.

    Served from the stored results; a window nothing is stored for is computed now from
    the stored candles (``source`` says which). ``completeness`` is the share of the
    window's bars that exist: a window with gaps says so.
    """
    name = family.value
    if name == "correlation":
        return await _correlation(request, pairs or pair, period, method, window)
    if pair is None:
        raise ApiError(400, "missing_pair", f"{name} needs pair=, e.g. pair=BTCUSDT")
    dataset = DatasetId.of(DatasetKind.CANDLES, pair, period)
    chosen = method or DEFAULT_METHODS[name]
    stored = await market.latest_analytics(dataset, name, method=chosen, window=window)
    if stored:
        return json_response({"data": render(_preferred(stored), "stored")})
    asked = AnalyticsRequest(family=name, pairs=[pair], period=period, method=chosen, window=window)
    results = await _computed(request, asked)
    matching = [r for r in results if r.method == chosen]
    return json_response({"data": render(_preferred(matching or results), "computed")})


async def _correlation(
    request: Request, pairs: str | None, period: str, method: str | None, window: int | None
) -> Response:
    names = _pair_list(pairs)
    asked = AnalyticsRequest(
        family="correlation", pairs=names, period=period, method=method, window=window
    )
    results = await _computed(request, asked)
    found = results[0]
    # A matrix names its pairs in its own order; a rolling series is of the pairs asked.
    named = found.value["pairs"] if isinstance(found.value, dict) else names
    return json_response({"data": render(found, "computed", named)})


async def _computed(request: Request, asked: AnalyticsRequest) -> list[AnalyticsResult]:
    settings = state_of(request).settings
    return await request_analytics(
        await get_bus(request),
        settings.analytics_request_subject,
        asked,
        settings.api_analytics_timeout,
    )


def _pair_list(text: str | None) -> list[str]:
    """``A,B,C`` as distinct normalized symbols, 2 to ``MAX_PAIRS`` of them."""
    if not text:
        raise ApiError(400, "missing_pairs", "correlation needs pairs=, e.g. pairs=BTCUSDT,ETHUSDT")
    names = list(dict.fromkeys(normalize_symbol(p.strip()) for p in text.split(",") if p.strip()))
    if not 2 <= len(names) <= MAX_PAIRS:
        raise ApiError(400, "bad_pairs", f"correlation takes 2 to {MAX_PAIRS} distinct pairs")
    return names


def _preferred(results: list[AnalyticsResult]) -> AnalyticsResult:
    """The newest result; among equally new ones, the shortest window."""
    return max(results, key=lambda r: (r.as_of_time, -r.window))
