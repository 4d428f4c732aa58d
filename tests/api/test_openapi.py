"""The OpenAPI document: every endpoint documented with an example, and no input makes a 5xx."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from nats.aio.msg import Msg
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from petrosa_core.bus import connect
from tests.api.conftest import Api, Launch
from tests.harness.servers import NatsServer

# Enough generated cases per operation to find crashes, few enough to finish in well under 60 s.
MAX_EXAMPLES = 15
KEY = "fuzz-2c9e51d07a3b"


@pytest.fixture
def openapi_document(api: Api) -> dict[str, Any]:
    response = httpx.get(f"{api.url}/openapi.json", timeout=10)
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


class ThreadedBackfiller:
    """Answers backfill requests from its own thread: the fuzzing below blocks the test loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.done: asyncio.Event | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        self.loop, self.done = asyncio.get_running_loop(), asyncio.Event()

        async def answer(msg: Msg) -> None:
            await msg.respond(b'{"job_id": "fuzz", "status": "pending"}')

        async with await connect(self.url, name="fuzz-backfiller") as bus:
            await bus.client.subscribe("petrosa.backfill.request", cb=answer)
            await bus.client.flush()
            self.ready.set()
            await self.done.wait()

    def __enter__(self) -> ThreadedBackfiller:
        self.thread.start()
        assert self.ready.wait(10), "the stand-in backfiller did not connect"
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.loop is not None and self.done is not None
        self.loop.call_soon_threadsafe(self.done.set)
        self.thread.join(10)


@pytest.fixture
async def writable(launch: Launch, nats_server: NatsServer) -> AsyncIterator[Api]:
    """An API with a write key and a backfiller stand-in, so POST bodies reach the handler."""
    api = await launch(API_KEYS=f"{KEY}:read+write")
    with ThreadedBackfiller(nats_server.url):
        yield api


@pytest.fixture
def api_schema(writable: Api, openapi_document: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_dict(openapi_document)
    schema.config.update(base_url=writable.url)
    return schema


def test_every_operation_has_a_success_example(openapi_document: dict[str, Any]) -> None:
    missing = []
    for path, operations in openapi_document["paths"].items():
        for method, operation in operations.items():
            success = next(v for k, v in operation["responses"].items() if k.startswith("2"))
            media = next(iter(success["content"].values()))
            if "example" not in media:
                missing.append(f"{method.upper()} {path}")

    assert missing == []
    assert len(openapi_document["paths"]) == 45


DATA_PATHS = ["candles", "trades", "depth", "funding", "tickers", "mark-prices", "book-tickers"]


@pytest.mark.parametrize("path", DATA_PATHS)
def test_the_offset_parameter_documents_its_cap_and_the_way_past_it(
    openapi_document: dict[str, Any], path: str
) -> None:
    operation = openapi_document["paths"][f"/data/{path}"]["get"]
    [offset] = [p for p in operation["parameters"] if p["name"] == "offset"]
    [integer] = [s for s in offset["schema"]["anyOf"] if s["type"] == "integer"]

    assert (integer["minimum"], offset["schema"]["maximum"]) == (0, 9_999)
    assert offset["description"] == (
        "Skip this many records; offset + limit may be at most 10000. "
        "Read further with cursor= set to next_cursor (faster at any depth)"
    )


def test_docs_page_is_served(api: Api) -> None:
    response = httpx.get(f"{api.url}/docs", timeout=10)

    assert response.status_code == 200
    assert "swagger-ui" in response.text


def _fuzz(operation: Any, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers={"X-API-Key": KEY}, checks=[not_a_server_error])

    check()


def test_no_generated_request_makes_a_server_error(api_schema: Any) -> None:
    """Valid and invalid inputs for every operation; the pytest plugin does not run on pytest 9."""
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode)
            except Unsatisfiable:
                continue  # no parameters to make invalid
            except Exception as exc:  # each operation's first failure, all reported together
                failures[f"{operation.label} ({mode.value})"] = str(exc)[:2000]

    assert len(operations) == 51
    assert failures == {}
