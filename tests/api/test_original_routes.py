"""What the original service's clients and operators still call: ``GET /`` and its klines."""

from __future__ import annotations

from typing import Any

import pytest

from petrosa_core import __version__
from tests.api.conftest import Api

T0 = 1_636_934_400_000  # first recorded XRPUSDT 5m open time, 2021-11-15T00:00Z


async def get(api: Api, path: str, **params: Any) -> tuple[int, dict[str, Any]]:
    async with api.client() as client:
        response = await client.get(path, params=params)
    return response.status_code, response.json()


async def test_the_root_names_the_service_its_version_and_where_to_go(api: Api) -> None:
    status, body = await get(api, "/")
    root = body["data"]
    async with api.client() as client:
        reached = {
            name: (await client.get(link)).status_code
            for name, link in root["links"].items()
            if "?" not in link
        }

    assert status == 200
    assert (root["service"], root["version"]) == ("petrosa-data-manager", __version__)
    assert reached == dict.fromkeys(reached, 200)
    assert {"docs", "openapi", "readiness", "catalog", "health"} <= reached.keys()
    assert root["links"]["candles"].startswith("/data/candles?pair=")
    assert root["links"]["klines"].startswith("/api/v1/klines?symbol=")


@pytest.mark.parametrize(
    "window",
    [
        {"limit": 7},
        {"start_time": T0 + 3_600_000, "limit": 5, "offset": 3},
        {"start_time": "2021-11-15T02:00:00Z", "end_time": T0 + 3 * 3_600_000},
    ],
)
async def test_klines_in_the_original_form_serve_the_rows_of_data_candles(
    api: Api, window: dict[str, Any]
) -> None:
    ours = {"start": window.get("start_time"), "end": window.get("end_time")}
    ours |= {k: v for k, v in window.items() if k in ("limit", "offset")}
    ours = {k: v for k, v in ours.items() if v is not None}

    status, klines = await get(api, "/api/v1/klines", symbol="XRPUSDT", interval="5m", **window)
    _, candles = await get(api, "/data/candles", pair="XRPUSDT", period="5m", **ours)

    assert status == 200
    assert klines["data"] and klines["data"] == candles["data"]
    assert klines["pagination"] == candles["pagination"]


async def test_klines_of_an_unknown_interval_is_a_clear_400_or_422(api: Api) -> None:
    status, body = await get(api, "/api/v1/klines", symbol="XRPUSDT", interval="7m")

    assert status in (400, 422)
    assert "interval" in body["error"]["message"]
