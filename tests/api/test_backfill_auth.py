"""Backfill requests over NATS, API keys with scopes, and per-caller rate limits."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from nats.aio.msg import Msg

from petrosa_core.bus import connect
from petrosa_core.contracts import BackfillReply, BackfillRequest
from petrosa_core.metadata import MetadataStore
from petrosa_core.models import DatasetId
from tests.api.conftest import READER, WRITER, XRP_5M, Api, Launch, Stores
from tests.harness.servers import NatsServer

SUBJECT = "petrosa.backfill.request"
REQUEST = {
    "symbol": "xrpusdt",
    "data_type": "candles",
    "interval": "5m",
    "start": "2021-11-15T00:00:00Z",
    "end": 1_637_020_800_000,
}


async def post_backfill(api: Api, body: dict[str, Any], **headers: str) -> Any:
    async with api.client() as client:
        return await client.post("/backfill/start", json=body, headers=headers)


async def test_backfill_start_returns_the_job_the_backfiller_created(
    keyed: Api, stores: Stores, nats_server: NatsServer
) -> None:
    received: list[dict[str, Any]] = []
    metadata = await MetadataStore.open(stores.metadata_url)

    async def backfiller(msg: Msg) -> None:
        body = json.loads(msg.data)
        received.append(body)
        BackfillRequest.decode(msg.data)  # what the API sends is the contract's request
        dataset = DatasetId.parse(f"candles:{body['symbol']}:{body['interval']}")
        job = await metadata.create_job(
            dataset, data_type="candles", start=body["start"], end=body["end"]
        )
        await msg.respond(BackfillReply.of(job, [job.id], [job.id]).encode())

    async with await connect(nats_server.url, name="test-backfiller") as bus:
        await bus.client.subscribe(SUBJECT, queue="backfiller", cb=backfiller)
        await bus.client.flush()
        response = await post_backfill(keyed, REQUEST, **{"X-API-Key": WRITER})
    await metadata.close()

    assert response.status_code == 202
    data = response.json()["data"]
    assert received == [
        {"symbol": "XRPUSDT", "data_type": "candles", "start": 1_636_934_400_000,
         "end": 1_637_020_800_000, "interval": "5m", "origin": "api"},
    ]  # fmt: skip
    assert data["status"] == "pending"
    assert data["job"]["id"] == data["job_id"]
    assert (data["job"]["dataset_id"], data["job"]["range_start"]) == (
        str(XRP_5M),
        1_636_934_400_000,
    )
    logged = [e for e in keyed.logs if e.get("message") == "backfill requested"]
    assert [e["request_id"] for e in logged] == [response.headers["x-request-id"]]


async def test_a_backfiller_refusal_is_passed_on_as_a_4xx(
    keyed: Api, nats_server: NatsServer
) -> None:
    async def backfiller(msg: Msg) -> None:
        refusal = {"error": {"code": "range_too_large", "message": "at most 90 days"}}
        await msg.respond(json.dumps(refusal).encode())

    async with await connect(nats_server.url, name="test-backfiller") as bus:
        await bus.client.subscribe(SUBJECT, cb=backfiller)
        await bus.client.flush()
        response = await post_backfill(keyed, REQUEST, Authorization=f"Bearer {WRITER}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "range_too_large"
    assert response.json()["error"]["message"] == "at most 90 days"


async def test_backfill_start_without_a_backfiller_is_a_503(keyed: Api) -> None:
    response = await post_backfill(keyed, REQUEST, **{"X-API-Key": WRITER})

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "backfill_unavailable"
    assert response.json()["error"]["message"] == (
        "no backfiller is listening on petrosa.backfill.request: start the backfiller service"
    )


async def test_a_backfill_body_of_the_wrong_shape_is_a_422_naming_the_field(keyed: Api) -> None:
    body = {**REQUEST, "data_type": "depth"}
    response = await post_backfill(keyed, body, **{"X-API-Key": WRITER})

    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "body.data_type: Input should be 'candles', 'funding_rates' or 'agg_trades'"
    )


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({**REQUEST, "interval": None}, "missing_interval", "candles need an interval"),
        (
            {**REQUEST, "data_type": "funding_rates"},
            "unexpected_interval",
            "funding_rates have no interval",
        ),
        (
            {**REQUEST, "start": "2021-11-17"},
            "bad_range",
            "start 1637107200000 is not before end 1637020800000",
        ),
    ],
)
async def test_a_backfill_that_breaks_the_contracts_rules_is_a_400_as_the_backfiller_says(
    keyed: Api, body: dict[str, Any], code: str, message: str
) -> None:
    response = await post_backfill(keyed, body, **{"X-API-Key": WRITER})

    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["message"]) == (
        code,
        message,
    )


async def test_jobs_are_listed_filtered_and_fetched(api: Api, stores: Stores) -> None:
    job_id = stores.ids["job_id"]
    async with api.client() as client:
        listed = (await client.get("/backfill/jobs", params={"symbol": "xrpusdt"})).json()
        running = (await client.get("/backfill/jobs", params={"status": "running"})).json()
        funding = (await client.get("/backfill/jobs", params={"type": "funding_rates"})).json()
        one = (await client.get(f"/backfill/jobs/{job_id}")).json()

    assert job_id in [j["id"] for j in listed["data"]]
    assert {j["symbol"] for j in listed["data"]} == {"XRPUSDT"}
    assert running["data"] == funding["data"] == []
    assert (one["data"]["id"], one["data"]["status"], one["data"]["interval"]) == (
        job_id,
        "pending",
        "5m",
    )
    assert one["data"]["range_end_iso"] == "2021-11-16T00:00:00.000Z"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "missing_api_key"),
        ({"X-API-Key": "guess"}, 401, "invalid_api_key"),
        ({"Authorization": "Bearer guess"}, 401, "invalid_api_key"),
        ({"X-API-Key": READER}, 403, "insufficient_scope"),
    ],
)
async def test_writes_refuse_missing_wrong_and_under_scoped_keys(
    keyed: Api, headers: dict[str, str], status: int, code: str
) -> None:
    response = await post_backfill(keyed, REQUEST, **headers)

    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_writes_without_configured_keys_explain_how_to_configure_them(api: Api) -> None:
    response = await post_backfill(api, REQUEST, **{"X-API-Key": "anything"})

    assert response.status_code == 401  # a key nobody configured is simply wrong
    response = await post_backfill(api, REQUEST)
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "auth_not_configured",
        "message": "no API keys are configured, so write endpoints are disabled; set API_KEYS "
        "(e.g. API_KEYS=secret:read+write) or API_KEYS_FILE and restart the API",
        "request_id": response.headers["x-request-id"],
    }


async def test_reads_can_require_a_key_from_a_keys_file(launch: Launch, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# mounted Secret\n{READER}:read\n\nadmin-9c1d40e7b2a5f3:admin\n")
    api = await launch(API_KEYS_FILE=str(keys), API_REQUIRE_AUTH_FOR_READS="true")
    async with api.client() as client:
        anonymous = await client.get("/catalog/datasets")
        reader = await client.get("/catalog/datasets", headers={"X-API-Key": READER})
        admin = await client.get(
            "/catalog/datasets", headers={"Authorization": "Bearer admin-9c1d40e7b2a5f3"}
        )
        probe = await client.get("/health/readiness")

    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert (reader.status_code, admin.status_code, probe.status_code) == (200, 200, 200)


async def test_rate_limits_answer_429_with_retry_after_per_key(launch: Launch) -> None:
    api = await launch(
        API_KEYS=f"{WRITER}:read+write,{READER}:read",
        API_RATE_LIMIT_PER_MINUTE="6",
        API_RATE_LIMIT_BURST="3",
    )
    async with api.client() as client:
        as_reader = [
            await client.get("/catalog/datasets", headers={"X-API-Key": READER}) for _ in range(4)
        ]
        as_writer = await client.get("/catalog/datasets", headers={"X-API-Key": WRITER})
        anonymous = [await client.get("/catalog/datasets") for _ in range(4)]
        probe = await client.get("/health/liveness")

    assert [r.status_code for r in as_reader] == [200, 200, 200, 429]
    assert as_reader[-1].json()["error"]["code"] == "rate_limited"
    assert 1 <= int(as_reader[-1].headers["retry-after"]) <= 10
    assert as_writer.status_code == 200
    assert [r.status_code for r in anonymous] == [200, 200, 200, 429]
    assert probe.status_code == 200


SHORT = "k1-0ab3"  # a key too short to be a real secret


async def stopped_startup(env: dict[str, str]) -> tuple[int, str]:
    """Start the API with ``env`` and return its exit code and stderr once it stops itself."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "petrosa_api", env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, stderr = await proc.communicate()
    return proc.returncode or 0, stderr.decode()


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        (
            "API_KEYS", f"{WRITER}:read,{READER}",
            "API_KEYS: entry 2 is not key:scope+scope",
        ),
        (
            "API_KEYS", f"{WRITER}:root",
            "API_KEYS: entry 1 has unknown scope 'root'; use read, write, admin",
        ),
        (
            "API_KEYS", f"{WRITER}:read,{SHORT}:admin",
            "API_KEYS: entry 2 is shorter than 16 characters; use a long random "
            "key",
        ),
        (
            "API_REQUIRE_AUTH_FOR_READS", "true",
            "API_REQUIRE_AUTH_FOR_READS is set but no key is configured",
        ),
    ],
)  # fmt: skip
async def test_bad_key_settings_stop_startup_naming_the_variable(
    stores: Stores, nats_server: NatsServer, variable: str, value: str, complaint: str
) -> None:
    code, stderr = await stopped_startup({**stores.env(nats_server.url), variable: value})

    assert code == 2
    assert complaint in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not any(secret in stderr for secret in (WRITER, READER, SHORT))


async def test_a_short_key_in_the_keys_file_stops_startup_naming_its_line(
    stores: Stores, nats_server: NatsServer, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# mounted Secret\n{READER}:read\nx:admin\n")

    code, stderr = await stopped_startup(
        {**stores.env(nats_server.url), "API_KEYS_FILE": str(keys)}
    )

    assert code == 2
    assert "API_KEYS_FILE: entry 3 is shorter than 16 characters" in stderr
    assert "x:admin" not in stderr and READER not in stderr


async def test_an_api_without_keys_warns_that_reads_are_open_and_writes_refused(api: Api) -> None:
    warnings = [e["message"] for e in api.logs if e.get("level") == "WARNING"]

    assert (
        "no API keys are configured: reads are open to anyone and write endpoints answer "
        "403 auth_not_configured; set API_KEYS or API_KEYS_FILE"
    ) in warnings


async def test_wrong_keys_from_one_address_are_limited_and_each_is_logged(launch: Launch) -> None:
    api = await launch(API_KEYS=f"{WRITER}:read+write")
    guesses = [f"guess-{n:04d}-aaaaaaaaaaaa" for n in range(150)]
    async with api.client() as client:
        answers = [
            await client.get("/catalog/datasets", headers={"X-API-Key": guess}) for guess in guesses
        ]
        right_key = await client.get("/catalog/datasets", headers={"X-API-Key": WRITER})
        anonymous = await client.get("/catalog/datasets")

    statuses = [r.status_code for r in answers]
    refused = statuses.count(401)
    assert statuses == [401] * refused + [429] * (150 - refused)
    assert 1 <= refused <= 20
    assert answers[-1].json()["error"]["code"] == "too_many_failed_keys"
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
    assert right_key.status_code == 429  # not even compared while the address is blocked
    assert anonymous.status_code == 200  # open reads are not the guesser's to take away
    logged = [e for e in api.logs if e.get("message") == "invalid API key"]
    assert [(e["level"], e["client"]) for e in logged] == [("WARNING", "127.0.0.1")] * refused
    assert [e["key_ident"] for e in logged] == [
        hashlib.sha256(g.encode()).hexdigest()[:12] for g in guesses[:refused]
    ]
    assert not any(g in json.dumps(api.logs) for g in guesses)
