"""``POST /backfill/start`` against a real backfiller: the API answers with what the
backfiller replied, every job included, and passes an outage on as an outage."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from petrosa_core.metadata import MetadataStore
from petrosa_core.models import DatasetId
from tests.api.conftest import WRITER, Api, Launch
from tests.backfiller.test_jobs_support import DAY_MS, HOUR_MS, Backfill
from tests.fakes.binance_data import listing_time

SYMBOL = "CONTRACTUSDT"
START = listing_time(SYMBOL) + DAY_MS


async def api_for(launch: Launch, backfill: Backfill) -> Api:
    """An API sending to ``backfill``, whose stores are its own: the API never reads jobs there."""
    return await launch(
        API_KEYS=f"{WRITER}:read+write", BACKFILL_REQUEST_SUBJECT=backfill.subjects["request"]
    )


async def start_backfill(api: Api, hours: int) -> Any:
    body = {
        "symbol": SYMBOL,
        "data_type": "candles",
        "interval": "1m",
        "start": START,
        "end": START + hours * HOUR_MS,
    }
    async with api.client() as client:
        return await client.post("/backfill/start", json=body, headers={"X-API-Key": WRITER})


async def test_a_range_partly_covered_by_an_active_job_answers_with_every_covering_job(
    launch: Launch, backfill: Backfill
) -> None:
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        held = await metadata.create_job(
            DatasetId.parse(f"candles:{SYMBOL}:1m"),
            data_type="candles",
            start=START + HOUR_MS,
            end=START + 2 * HOUR_MS,
        )
        assert await metadata.claim_job(held.id, "other-replica", lease_seconds=300)
        api = await api_for(launch, backfill)
        async with backfill.running():
            response = await start_backfill(api, hours=3)
    finally:
        await metadata.close()

    assert response.status_code == 202
    data = response.json()["data"]
    created = data["created_job_ids"]
    assert len(created) == 2 and data["deduplicated"] is False
    assert data["job_ids"] == [created[0], held.id, created[1]]
    assert data["job_id"] == data["job"]["id"] == created[0]
    assert (data["job"]["range_start"], data["job"]["range_end"]) == (START, START + HOUR_MS)
    end_iso = datetime.fromtimestamp((START + HOUR_MS) / 1000, UTC).strftime("%Y-%m-%dT%H:%M")
    assert (data["job"]["origin"], data["job"]["range_end_iso"]) == ("api", f"{end_iso}:00.000Z")


async def test_a_backfill_while_the_backfillers_store_is_down_is_a_503_to_retry_later(
    launch: Launch, backfill: Backfill, tmp_path: Path
) -> None:
    api = await api_for(launch, backfill)
    async with backfill.running():
        with sqlite3.connect(tmp_path / "meta.db") as db:
            db.execute("DROP TABLE backfill_jobs")  # every job query now fails
        response = await start_backfill(api, hours=1)

    error = response.json()["error"]
    assert response.status_code == 503
    assert error["code"] == "store_unavailable"
    assert error["message"].startswith("the job store did not answer; try again later")
    assert response.headers["retry-after"] == "5"
