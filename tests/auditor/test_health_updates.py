"""Each stored health measurement is announced for dashboards, with the stored figures."""

from __future__ import annotations

from pathlib import Path

from petrosa_auditor.context import Scope
from petrosa_auditor.recorder import Recorder, Run
from petrosa_core.bus import Bus
from petrosa_core.contracts import HealthUpdate
from petrosa_core.metadata import MetadataStore
from tests.auditor._support import MIN, auditor, candles_id, csv_candles, opened, unique, write

STEP = 5 * MIN
DATASET = candles_id("XRPUSDT", "5m")


async def test_a_health_measurement_is_announced_as_it_was_stored(
    sqlite_url: str, metadata: MetadataStore, bus: Bus, shared_data: Path
) -> None:
    candles = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)
    t = [c.open_time for c in candles]
    subject = unique("audit.health")
    updates = await bus.client.subscribe(subject)
    recorder = Recorder(metadata, bus.publish, unique("audit.events"), health_subject=subject)

    async with opened(sqlite_url) as store:
        await write(store, candles)
        await store.delete_range(DATASET, t[100], t[103])
        await recorder.record(
            await auditor(store).audit(DATASET, Scope.between(t[0], t[-1])), Run(1)
        )

    await bus.client.flush()
    told = HealthUpdate.decode((await updates.next_msg(timeout=5)).data)
    stored = await metadata.latest_health(DATASET)
    assert stored is not None
    assert (told.dataset_id, told.score, told.completeness, told.measured_time) == (
        str(DATASET),
        stored.score,
        stored.completeness,
        stored.measured_at,
    )
    assert told.open_findings == len(await metadata.open_findings(DATASET)) > 0
    assert told.band in {"healthy", "degraded", "unhealthy"}


async def test_a_recorder_without_nats_stores_health_all_the_same(
    sqlite_url: str, metadata: MetadataStore, shared_data: Path
) -> None:
    candles = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)
    t = [c.open_time for c in candles]
    async with opened(sqlite_url) as store:
        await write(store, candles)
        report = await auditor(store).audit(DATASET, Scope.between(t[0], t[-1]))
        await Recorder(metadata).record(report, Run(1))
    assert await metadata.latest_health(DATASET) is not None
