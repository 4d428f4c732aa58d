"""Two API replicas hold a client to one rate limit when they count in a shared Redis
(each counting alone doubles it); with Redis gone each replica limits on its own."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from petrosa_api.shared_ratelimit import KEY_PREFIX, RETRY_AFTER_FAILURE
from tests.api import conftest as api_conftest
from tests.api.conftest import READER, Api, Launch
from tests.api.test_backfill_auth import stopped_startup
from tests.harness.servers import REDIS_HELP, RedisServer

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason=REDIS_HELP)
LIMITS = {"API_RATE_LIMIT_PER_MINUTE": "6", "API_RATE_LIMIT_BURST": "3"}
KEYS = {"API_KEYS": f"{READER}:read"}


@pytest.fixture(autouse=True)
def patient_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several APIs start per test; importing one takes tens of seconds on a busy machine."""
    monkeypatch.setattr(api_conftest, "START_TIMEOUT", 120.0)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


async def alternating(replicas: list[Api], count: int, **headers: str) -> list[httpx.Response]:
    """``count`` requests of one client, spread over the replicas in turn."""
    answers = []
    for i in range(count):
        async with replicas[i % len(replicas)].client() as client:
            answers.append(await client.get("/catalog/datasets", headers=headers))
    return answers


async def test_two_replicas_sharing_redis_hold_a_client_to_one_limit(
    launch: Launch, redis: RedisServer
) -> None:
    shared = {**LIMITS, **KEYS, "API_RATE_LIMIT_STORAGE": redis.url}
    replicas = [await launch(**shared), await launch(**shared)]
    keyed = await alternating(replicas, 6, **{"X-API-Key": READER})
    anonymous = await alternating(replicas, 6)

    assert [r.status_code for r in keyed] == [200, 200, 200, 429, 429, 429]
    assert keyed[3].json()["error"]["code"] == "rate_limited"
    assert 1 <= int(keyed[3].headers["retry-after"]) <= 30
    assert [r.status_code for r in anonymous] == [200, 200, 200, 429, 429, 429]


async def test_replicas_counting_alone_each_grant_the_whole_limit(launch: Launch) -> None:
    replicas = [await launch(**LIMITS, **KEYS), await launch(**LIMITS, **KEYS)]
    keyed = await alternating(replicas, 8, **{"X-API-Key": READER})

    # The embedded default: the limit holds per replica, so two replicas grant it twice.
    assert [r.status_code for r in keyed] == [200] * 6 + [429, 429]


async def test_with_redis_down_each_replica_limits_alone_and_says_so(
    launch: Launch, redis: RedisServer
) -> None:
    api = await launch(**LIMITS, **KEYS, API_RATE_LIMIT_STORAGE=redis.url)
    before = await alternating([api], 1, **{"X-API-Key": READER})
    redis.stop()
    during = await alternating([api], 4, **{"X-API-Key": READER})
    async with api.client() as client:
        metrics = (await client.get("/metrics")).text
    redis.start()  # back, empty (no persistence), on the same port
    await asyncio.sleep(RETRY_AFTER_FAILURE + 0.5)
    after = await alternating([api], 1)
    counted_in_redis = await redis_keys(redis.url)

    assert before[0].status_code == 200
    # Fail open to the replica's own limit: reads go on, the client is still held to it.
    assert [r.status_code for r in during] == [200, 200, 200, 429]
    assert any(e["message"].startswith("rate-limit storage failed") for e in api.logs)
    assert "data_manager_rate_limit_storage_failures_total 1.0" in metrics
    # Once Redis answers again the replica counts there again.
    assert after[0].status_code == 200
    assert counted_in_redis and all(k.startswith(KEY_PREFIX) for k in counted_in_redis)


async def redis_keys(url: str) -> list[str]:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        return [str(k) for k in await client.keys("*")]
    finally:
        await client.aclose()


async def test_an_unknown_storage_scheme_stops_startup_naming_the_variable() -> None:
    code, stderr = await stopped_startup({"API_RATE_LIMIT_STORAGE": "memcached://127.0.0.1:1"})

    assert code == 2
    assert "API_RATE_LIMIT_STORAGE: use memory:// or redis://" in stderr
