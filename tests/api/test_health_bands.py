"""Health bands of scores the auditor really produces: recorded candles audited, then served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from petrosa_auditor.context import Scope
from petrosa_auditor.recorder import Recorder, Run
from petrosa_core.metadata import MetadataStore
from petrosa_core.models import Candle
from tests.api.conftest import launch_api
from tests.auditor._support import MIN, auditor, candles_id, csv_candles, opened, write
from tests.harness.servers import NatsServer

GAPPY = candles_id("XRPETH", "1m")
CLEAN = candles_id("XRPUSDT", "5m")


def gappy_candles(shared_data: Path) -> list[Candle]:
    """XRPETH 1m with the exchange's own missing minutes, and every tenth low below zero."""
    real = csv_candles(shared_data / "xrpeth_spot_1m_klines_with_gaps.csv", "XRPETH", "1m", MIN)
    return [msgspec.structs.replace(c, low=-1.0) if i % 10 == 0 else c for i, c in enumerate(real)]


async def audit_and_record(market_url: str, metadata_url: str, candles: list[Candle]) -> float:
    """Audit ``candles`` as the auditor does, ten minutes after the last one; the score."""
    async with opened(market_url) as market:
        await write(market, candles)
        checker = auditor(market)
        checker.clock = lambda: candles[-1].open_time + 10 * MIN
        report = await checker.audit(candles[0].dataset, Scope.full())
    metadata = await MetadataStore.open(metadata_url)
    try:
        await Recorder(metadata).record(report, Run(None))
    finally:
        await metadata.close()
    return report.score


async def test_the_api_bands_the_scores_the_auditor_records(
    tmp_path: Path, shared_data: Path, nats_server: NatsServer
) -> None:
    market = f"sqlite+aiosqlite:///{tmp_path / 'market.db'}"
    metadata = f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}"
    clean = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", 5 * MIN)
    gappy_score = await audit_and_record(market, metadata, gappy_candles(shared_data))
    clean_score = await audit_and_record(market, metadata, clean)
    env = {"NATS_URL": nats_server.url, "MARKET_STORE_URL": market, "METADATA_STORE_URL": metadata}
    api = await launch_api(env)
    try:
        async with api.client() as client:
            gappy: dict[str, Any] = (await client.get("/health?pair=XRPETH&period=1m")).json()
            summary: dict[str, Any] = (await client.get("/health/summary")).json()
    finally:
        await api.stop()

    assert 50 < gappy_score < 70 and clean_score > 90  # the auditor's 0..100 scale
    assert (gappy["data"][0]["score"], gappy["data"][0]["band"]) == (gappy_score, "unhealthy")
    counts = {k: summary["data"][f"{k}_datasets"] for k in ("healthy", "degraded", "unhealthy")}
    assert counts == {"healthy": 1, "degraded": 0, "unhealthy": 1}
    assert summary["data"]["status"] == "unhealthy"
