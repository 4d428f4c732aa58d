"""GET /ui: the data-quality dashboard, static files shipped inside this package.

No build step and nothing fetched from elsewhere at run time: the page, its script and its
style are read once from ``petrosa_api/ui`` and served with a strict Content-Security-Policy.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import RedirectResponse, Response

from petrosa_api import examples
from petrosa_api.api.deps import MarketDep, read_access
from petrosa_api.dataset_catalog import parse_dataset_id
from petrosa_api.errors import not_found
from petrosa_api.formats import json_response
from petrosa_core.market.analytics import AnalyticsResult

router = APIRouter(tags=["dashboard"], include_in_schema=True)

# Everything the page loads; anything else under /ui/ is a 404.
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
# Only this origin's scripts, styles and connections: the page needs nothing else.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@cache
def _asset(name: str) -> bytes:
    return files("petrosa_api").joinpath("ui", name).read_bytes()


def _serve(name: str) -> Response:
    return Response(
        _asset(name),
        media_type=ASSETS[name],
        headers={
            "Cache-Control": "no-cache",
            "Content-Security-Policy": POLICY,
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/ui",
    summary="The data-quality dashboard",
    response_class=Response,
    responses={200: {"content": {"text/html": {"example": examples.DASHBOARD_HTML}}}},
)
async def dashboard() -> Response:
    """Datasets with health, a health heatmap, findings, backfill jobs and a live chart."""
    return _serve("index.html")


@router.get("/ui/", include_in_schema=False)
async def dashboard_slash() -> Response:
    return RedirectResponse("/ui")


# The families with a value per pair (correlation spans several pairs).
FAMILIES = ("volatility", "volume", "spread", "trend", "deviation", "seasonality", "regime")


def _figure(result: AnalyticsResult) -> dict[str, Any]:
    return {
        "family": result.family,
        "method": result.method,
        "window": result.window,
        "value": result.value,
        "as_of_time": result.as_of_time,
        "completeness": result.completeness,
    }


@router.get("/ui/api/analytics", include_in_schema=False, dependencies=[Depends(read_access)])
async def analytics(
    market: MarketDep, dataset: Annotated[str, Query(min_length=1, max_length=80)]
) -> Response:
    """The newest stored figure of each family for a candle dataset; none is an empty list.

    The page asks this rather than /analysis/*, whose 404 for "nothing yet" a browser
    logs as an error.
    """
    parsed = parse_dataset_id(dataset)
    figures = []
    for family in FAMILIES:
        found = await market.latest_analytics(parsed, family)
        if found:
            figures.append(_figure(max(found, key=lambda r: (r.as_of_time, -r.window))))
    return json_response({"data": figures})


@router.get("/ui/{name}", include_in_schema=False)
async def asset(name: Annotated[str, Path(max_length=40)]) -> Response:
    if name not in ASSETS or name == "index.html":
        raise not_found(f"/ui/{name[:40]}", "the dashboard is at /ui")
    return _serve(name)
