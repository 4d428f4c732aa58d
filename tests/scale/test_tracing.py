"""One backfill followed end to end: the API's request, the NATS hop, the backfiller's
intake and its job, all in one trace exported over OTLP by the real processes, and the
caller's request id on the log lines of both processes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from petrosa_core.metadata import JobStatus, MetadataStore
from tests.api import conftest as api_conftest
from tests.api.conftest import Api, launch_api
from tests.backfiller.test_jobs_support import (
    DAY_MS,
    Backfill,
    candles_request,
    wait_for_job,
    wait_ready,
)
from tests.fakes.binance_data import listing_time
from tests.harness.servers import free_port
from tests.scale._otlp import OtlpReceiver, ReceivedSpan

WRITER = "w-0c4f1d9e2b7a6358"
# Export within a tenth of a second instead of five, so the test waits little.
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture
def backfiller(
    backfill: Backfill, receiver: OtlpReceiver, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    port, log = free_port(), tmp_path / "backfiller.log"
    traced = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "LOG_LEVEL": "INFO"}
    proc = backfill.spawn(port, log, **traced, **FAST_EXPORT)
    yield proc, log, port
    proc.terminate()
    proc.wait(30)


async def traced_api(backfill: Backfill, receiver: OtlpReceiver, tmp_path: Path) -> Api:
    return await launch_api(
        {
            "NATS_URL": backfill.nats_url,
            "MARKET_STORE_URL": f"sqlite+aiosqlite:///{tmp_path / 'api-market.db'}",
            "METADATA_STORE_URL": backfill.metadata_url,
            "API_KEYS": f"{WRITER}:read+write",
            "BACKFILL_REQUEST_SUBJECT": backfill.subjects["request"],
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            **FAST_EXPORT,
        }
    )


async def spans_of_job(receiver: OtlpReceiver, job_id: str) -> list[ReceivedSpan]:
    """Every span of the trace the job's span belongs to, once the job's span arrived."""
    async with asyncio.timeout(30):
        while True:
            jobs = [s for s in receiver.received() if s.attributes.get("job_id") == job_id]
            if jobs:
                return [s for s in receiver.received() if s.trace_id == jobs[0].trace_id]
            await asyncio.sleep(0.1)


def ancestors(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[str]:
    """The span ids from ``span``'s parent up to the root of its trace."""
    by_id = {s.span_id: s for s in spans}
    chain = []
    while span.parent_id in by_id:
        chain.append(span.parent_id)
        span = by_id[span.parent_id]
    return chain


def one(spans: list[ReceivedSpan], service: str, name: str) -> ReceivedSpan:
    found = [s for s in spans if s.service == service and s.name == name]
    assert len(found) == 1, (service, name, [(s.service, s.name) for s in spans])
    return found[0]


async def test_one_backfill_is_one_trace_from_the_api_through_nats_to_the_job(
    backfill: Backfill,
    backfiller: tuple[subprocess.Popen[bytes], Path, int],
    receiver: OtlpReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Patient: on a busy machine importing the API takes tens of seconds.
    monkeypatch.setattr(api_conftest, "START_TIMEOUT", 120.0)
    _, log, port = backfiller
    await wait_ready(port, timeout=120)
    api = await traced_api(backfill, receiver, tmp_path)
    request_id = f"trace-{uuid.uuid4().hex[:12]}"
    body = candles_request("TRACEUSDT", listing_time("TRACEUSDT") + DAY_MS, pages=2)
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        async with api.client() as client:
            answer = await client.post(
                "/backfill/start",
                json=body,
                headers={"X-API-Key": WRITER, "X-Request-ID": request_id},
            )
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["data"]["job_id"]
        job = await wait_for_job(metadata, job_id)
        spans = await spans_of_job(receiver, job_id)
    finally:
        await metadata.close()
        await api.stop()

    subject = backfill.subjects["request"]
    http = one(spans, "petrosa-api", "POST /backfill/start")
    sent = one(spans, "petrosa-api", f"{subject} request")
    received = one(spans, "petrosa-backfiller", f"{subject} receive")
    ran = one(spans, "petrosa-backfiller", "backfill job")
    assert job.status is JobStatus.COMPLETED
    assert http.parent_id == ""
    assert http.span_id in ancestors(sent, spans)  # FastAPI's own spans may stand between
    assert (received.parent_id, ran.parent_id) == (sent.span_id, received.span_id)
    assert http.attributes["petrosa.request_id"] == request_id
    assert received.attributes["petrosa.request_id"] == request_id

    api_lines = [e for e in api.logs if e.get("request_id") == request_id]
    backfiller_lines = [
        entry
        for entry in map(json.loads, log.read_text().splitlines())
        if entry.get("request_id") == request_id
    ]
    assert any(e["message"] == "backfill requested" for e in api_lines)
    assert {e["message"] for e in backfiller_lines} >= {
        "backfill job created",
        f"backfill job {job_id} completed",
    }


async def test_an_unreachable_collector_costs_the_backfill_nothing(
    backfill: Backfill, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_conftest, "START_TIMEOUT", 120.0)
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: every export fails
    port = free_port()
    proc = backfill.spawn(
        port, tmp_path / "backfiller.log", OTEL_EXPORTER_OTLP_ENDPOINT=nowhere, **FAST_EXPORT
    )
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        await wait_ready(port, timeout=120)
        api = await launch_api(
            {
                "NATS_URL": backfill.nats_url,
                "MARKET_STORE_URL": f"sqlite+aiosqlite:///{tmp_path / 'api-market.db'}",
                "METADATA_STORE_URL": backfill.metadata_url,
                "API_KEYS": f"{WRITER}:read+write",
                "BACKFILL_REQUEST_SUBJECT": backfill.subjects["request"],
                "OTEL_EXPORTER_OTLP_ENDPOINT": nowhere,
                **FAST_EXPORT,
            }
        )
        body = candles_request("NOWHEREUSDT", listing_time("NOWHEREUSDT") + DAY_MS, pages=1)
        async with api.client() as client:
            answer = await client.post("/backfill/start", json=body, headers={"X-API-Key": WRITER})
        job = await wait_for_job(metadata, answer.json()["data"]["job_id"])
        api_code = await api.stop()
    finally:
        await metadata.close()
        proc.terminate()
        backfiller_code = proc.wait(30)

    assert (answer.status_code, job.status) == (202, JobStatus.COMPLETED)
    assert (api_code, backfiller_code) == (0, 0)
