"""Fixtures of the market store suites: one store per backend, and recorded candles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.models import Candle
from tests.core.market_samples import MIN, csv_candles

_URL_FIXTURES = {"sqlite": "sqlite_url", "mariadb": "mysql_url", "mongo": "mongo_url"}


@pytest.fixture(params=list(_URL_FIXTURES))
def market_url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh market store on each backend in turn."""
    return str(request.getfixturevalue(_URL_FIXTURES[request.param]))


@pytest.fixture
async def store(market_url: str) -> AsyncIterator[MarketStore]:
    opened = await open_market_store(market_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def xrp_5m(shared_data: Path) -> list[Candle]:
    return csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "5m", 5 * MIN)
