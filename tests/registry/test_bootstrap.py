"""Bootstrap's schemas validate what the stores really hold: every record kind, from the
recorded frames and candles, written to each market store backend and read back."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from petrosa_api.registry import SchemaRegistry
from petrosa_api.registry._bootstrap import common_schemas
from petrosa_api.registry._operations import bootstrap
from petrosa_core.market import open_market_store
from petrosa_core.metadata import MetadataStore
from petrosa_core.models import DatasetKind
from tests.api.conftest import XRP_5M, XRP_FUNDING, recorded_records, xrp_candles, xrp_funding

NAMES = {
    DatasetKind.CANDLES: "candle_v1", DatasetKind.TRADES: "trade_v1", DatasetKind.DEPTH: "depth_v1",
    DatasetKind.FUNDING_RATES: "funding_v1", DatasetKind.MARK_PRICES: "mark_price_v1",
    DatasetKind.TICKERS: "ticker_v1", DatasetKind.BOOK_TICKERS: "book_ticker_v1",
}  # fmt: skip


@pytest.fixture(params=["sqlite", "mongodb"])
def market_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'market.db'}"
    return str(request.getfixturevalue("mongo_url"))


async def test_every_stored_record_kind_validates_against_its_schema(
    registry: SchemaRegistry, market_url: str, shared_data: Path
) -> None:
    assert (await bootstrap(registry, overwrite_existing=False))["skipped"] == []
    written = recorded_records(shared_data)
    written[XRP_5M] = list(xrp_candles(shared_data))
    written[XRP_FUNDING] = list(xrp_funding(shared_data))
    assert {d.kind for d in written} == set(NAMES)
    market = await open_market_store(market_url)
    try:
        for dataset, records in written.items():
            await market.write(dataset, records)
            stored = (await market.query(dataset, limit=10_000)).records
            assert stored, dataset
            rows = [msgspec.to_builtins(r) for r in stored]
            assert await registry.validate("mongodb", NAMES[dataset.kind], rows) == [], dataset
    finally:
        await market.close()


async def test_a_wrong_record_fails_its_schema_with_pointers(registry: SchemaRegistry) -> None:
    await bootstrap(registry, overwrite_existing=False)
    candle = {"symbol": "BTCUSDT", "interval": "1m", "open_time": "soon", "close": None}
    [invalid] = await registry.validate("mongodb", "candle_v1", [candle])
    pointers = {e.pointer for e in invalid.errors}
    assert {"/open_time", "/close"} <= pointers
    assert any(e.keyword == "required" for e in invalid.errors)
    depth = {"bids": [[1.0, 2.0, 3.0]]}
    [invalid] = await registry.validate("mongodb", "depth_v1", [depth])
    assert "/bids/0" in {e.pointer for e in invalid.errors}


async def test_bootstrap_skips_what_exists_unless_overwriting(
    registry: SchemaRegistry, metadata: MetadataStore
) -> None:
    first = await bootstrap(registry, overwrite_existing=False)
    assert len(first["registered"]) == len(common_schemas()) == 11
    again = await bootstrap(registry, overwrite_existing=False)
    assert (again["registered"], len(again["skipped"])) == ([], 11)
    # Someone changed order_v1; overwriting registers the common body as a new version.
    await registry.register("mysql", "order_v1", {"type": "object"}, check=False)
    over = await bootstrap(registry, overwrite_existing=True)
    assert over["registered"] == [{"database": "mysql", "name": "order_v1", "version": 3}]
    assert len(over["unchanged"]) == 10
    assert (await metadata.get_schema("order_v1", 3, store="mysql")).document == (
        (await metadata.get_schema("order_v1", 1, store="mysql")).document
    )  # type: ignore[union-attr]


async def test_metadata_rows_validate_against_their_schemas(
    registry: SchemaRegistry, metadata: MetadataStore
) -> None:
    await bootstrap(registry, overwrite_existing=False)
    await metadata.add_health(
        XRP_5M, score=91.5, completeness=0.99, validity=1.0, freshness=0.8, consistency=1.0,
        details={"gaps": 0}, measured_at=1_637_534_112_000,
    )  # fmt: skip
    await metadata.add_finding(XRP_5M, "gaps", "warning", 1, 2, {"missing": 2})
    health = [msgspec.to_builtins(h) for h in await metadata.health_history(XRP_5M)]
    findings = [msgspec.to_builtins(f) for f in await metadata.open_findings()]
    assert len(health) == len(findings) == 1
    assert await registry.validate("mysql", "health_metrics_v1", health) == []
    assert await registry.validate("mysql", "audit_log_v1", findings) == []
