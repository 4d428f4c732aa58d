"""The push channel as clients see it: stored data arrives over SSE and WebSocket, in
order, slow readers are dropped without hurting the others, and resumes miss nothing."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from petrosa_core.bus import Bus
from petrosa_core.contracts import AUDIT_HEALTH, BACKFILL_EVENTS, HealthUpdate
from petrosa_core.market import open_market_store
from petrosa_core.market.analytics import AnalyticsResult, ResultLineage
from petrosa_core.models import DatasetId
from tests.api._push_support import WAIT, announce, big_depth, candles, sse
from tests.api.conftest import READER, WRITER, Api, Launch

SYMBOL = "PUSHUSDT"
CANDLES = f"candles:{SYMBOL}:1m"
DEPTH = f"depth:{SYMBOL}"


def ws_url(api: Api, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return api.url.replace("http://", "ws://") + "/ws" + (f"?{query}" if query else "")


async def ws_next(ws: ClientConnection, event: str | None = None) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        while True:
            message = json.loads(await ws.recv())
            if event is None or message["event"] == event:
                return dict(message)


async def metric(api: Api, name: str, **labels: str) -> float:
    async with api.client() as client:
        text = (await client.get("/metrics")).text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{name}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_stored_records_reach_sse_and_websocket_clients_in_order_as_data_renders_them(
    launch: Launch, bus: Bus, tmp_path: Path
) -> None:
    market_url = f"sqlite+aiosqlite:///{tmp_path / 'market.db'}"
    api = await launch(MARKET_STORE_URL=market_url)
    many = candles(SYMBOL, 250, start=100)  # over the inline limit: announced by key only
    store = await open_market_store(market_url)
    await store.write(many[0].dataset, many)
    await store.close()
    trades_topic = "trades:PUSHUSDT"
    async with (
        sse(api.url, f"{CANDLES},{trades_topic}") as stream,
        ws_connect(ws_url(api)) as ws,
    ):
        await ws.send(json.dumps({"action": "subscribe", "datasets": [CANDLES]}))
        assert (await ws_next(ws))["datasets"] == [CANDLES]
        few = candles(SYMBOL, 60)
        for seq, start in enumerate(range(0, 60, 3), start=1):
            await announce(bus, few[start : start + 3], seq)
        await announce(bus, many, 99)
        sent = [*few, *many]
        got_sse = await stream.take(len(sent), "candles")
        got_ws = [await ws_next(ws, "candles") for _ in sent]
    async with api.client() as client:
        page = await client.get(
            "/data/candles", params={"pair": SYMBOL, "period": "1m", "limit": 1000}
        )
    rendered = page.json()["data"]
    assert [e.data["open_time"] for e in got_sse] == [c.open_time for c in sent]
    assert [m["data"] for m in got_ws] == [e.data for e in got_sse]
    assert {m["dataset"] for m in got_ws} == {CANDLES}
    assert [e.data for e in got_sse[60:]] == rendered  # exactly the /data rows
    assert set(got_sse[0].data) == set(rendered[0])
    ids = [int(e.id.rsplit("-", 1)[1]) for e in got_sse if e.id]
    assert ids == sorted(ids) and len(ids) == len(sent)


async def test_a_stalled_client_is_dropped_while_a_healthy_one_keeps_receiving(
    launch: Launch, bus: Bus
) -> None:
    api = await launch(API_PUSH_QUEUE="50", API_PUSH_SEND_TIMEOUT="30")
    host, port = api.url.removeprefix("http://").split(":")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect((host, int(port)))
    stalled.sendall(f"GET /stream?datasets={DEPTH} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    sent = 0
    async with sse(api.url, DEPTH) as healthy, ws_connect(ws_url(api, datasets=DEPTH)) as ws:
        await ws_next(ws, "subscribed")
        while (
            await metric(
                api,
                "data_manager_push_clients_dropped_total",
                protocol="sse",
                reason="slow_consumer",
            )
            < 1
        ):
            assert sent < 2000, "the stalled client was never dropped"
            for _ in range(20):
                sent += 1
                await announce(bus, [big_depth(SYMBOL, sent)], sent)
            await bus.flush()
            got = [(await healthy.next("depth")).data["final_update_id"] for _ in range(20)]
            assert got == list(range(sent - 19, sent + 1))  # the healthy one misses nothing
            for _ in range(20):
                await ws_next(ws, "depth")
        sent += 1
        await announce(bus, [big_depth(SYMBOL, sent)], sent)
        assert (await healthy.next("depth")).data["final_update_id"] == sent
        assert (await ws_next(ws, "depth"))["data"]["final_update_id"] == sent
    stalled.setblocking(False)
    assert await metric(api, "data_manager_push_clients", protocol="sse") <= 1
    stalled.close()


async def test_a_websocket_client_that_falls_behind_is_closed_with_1013(
    launch: Launch, bus: Bus
) -> None:
    api = await launch(API_PUSH_QUEUE="5")
    async with ws_connect(ws_url(api, datasets=CANDLES)) as ws:
        await ws_next(ws, "subscribed")
        # One update of 20 records reaches the queue of 5 at once: too many to keep.
        await announce(bus, candles(SYMBOL, 20))
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(40):
                await ws_next(ws)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1013, "slow_consumer")


async def test_an_sse_client_that_falls_behind_gets_a_final_dropped_event(
    launch: Launch, bus: Bus
) -> None:
    api = await launch(API_PUSH_QUEUE="5")
    async with sse(api.url, CANDLES) as stream:
        await announce(bus, candles(SYMBOL, 20))
        final = await stream.next("dropped")
    assert final.data["reason"] == "slow_consumer"
    assert "Last-Event-ID" in final.data["message"]


async def test_a_reconnect_with_last_event_id_misses_nothing_inside_the_window(
    launch: Launch, bus: Bus
) -> None:
    api = await launch()
    sent = candles(SYMBOL, 30)
    async with sse(api.url, CANDLES) as first:
        await announce(bus, sent[:10], 1)
        seen = await first.take(10, "candles")
        last_id = first.last_id
    assert last_id is not None
    await announce(bus, sent[10:20], 2)  # while the client is away
    await bus.flush()
    await asyncio.sleep(0.5)
    async with sse(api.url, CANDLES, headers={"Last-Event-ID": last_id}) as second:
        resumed = await second.take(10, "candles")
        await announce(bus, sent[20:], 3)
        live = await second.take(10, "candles")
    times = [e.data["open_time"] for e in [*seen, *resumed, *live]]
    assert times == [c.open_time for c in sent]


async def test_a_resume_from_outside_the_window_or_another_replica_says_to_reload(
    launch: Launch, bus: Bus
) -> None:
    api = await launch(API_PUSH_REPLAY_EVENTS="5")
    async with sse(api.url, CANDLES) as first:
        await announce(bus, candles(SYMBOL, 2), 1)
        await first.take(2, "candles")
        last_id = first.last_id
    assert last_id is not None
    await announce(bus, candles(SYMBOL, 10, start=2), 2)
    await bus.flush()
    await asyncio.sleep(0.5)
    async with sse(api.url, CANDLES, headers={"Last-Event-ID": last_id}) as late:
        assert (await late.next("reset")).data["reason"] == "outside_replay_window"
    async with sse(api.url, CANDLES, headers={"Last-Event-ID": "0badc0de-3"}) as foreign:
        assert (await foreign.next("reset")).data["reason"] == "unknown_event_id"


async def test_unauthenticated_and_wrong_scope_connections_are_refused(launch: Launch) -> None:
    api = await launch(API_KEYS=f"{WRITER}:write,{READER}:read", API_REQUIRE_AUTH_FOR_READS="true")
    async with api.client() as client:
        answers = {
            "none": await client.get("/stream", params={"datasets": CANDLES}),
            "wrong": await client.get(
                "/stream", params={"datasets": CANDLES}, headers={"X-API-Key": "x" * 20}
            ),
            "scope": await client.get(
                "/stream", params={"datasets": CANDLES}, headers={"X-API-Key": WRITER}
            ),
        }
    assert {k: r.status_code for k, r in answers.items()} == {
        "none": 401,
        "wrong": 401,
        "scope": 403,
    }
    assert answers["scope"].json()["error"]["code"] == "insufficient_scope"
    for params, status in (({}, 401), ({"api_key": WRITER}, 403), ({"api_key": "y" * 20}, 401)):
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(ws_url(api, datasets=CANDLES, **params)):
                pass
        assert refused.value.response.status_code == status
    async with sse(api.url, CANDLES, api_key=READER):  # EventSource's way: the query string
        pass
    async with sse(api.url, CANDLES, headers={"Authorization": f"Bearer {READER}"}):
        pass
    async with ws_connect(ws_url(api, datasets=CANDLES, api_key=READER)) as ws:
        assert (await ws_next(ws))["event"] == "subscribed"


@pytest.mark.parametrize(
    ("datasets", "code"),
    [
        ("candles:PUSHUSDT", "missing_interval"),
        ("nonsense:PUSHUSDT", "unknown_dataset_kind"),
        (",".join(f"trades:S{i}USDT" for i in range(101)), "too_many_datasets"),
        ("candles:PUSHUSDT:7m", "unknown_interval"),
    ],
)
async def test_a_bad_dataset_list_is_a_400_naming_the_problem(
    api: Api, datasets: str, code: str
) -> None:
    async with api.client() as client:
        answer = await client.get("/stream", params={"datasets": datasets})
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, code)


async def test_websocket_commands_are_answered_and_bad_ones_explained(api: Api, bus: Bus) -> None:
    async with ws_connect(ws_url(api)) as ws:
        await ws.send("{not json")
        assert (await ws_next(ws))["error"]["code"] == "bad_command"
        await ws.send(json.dumps({"action": "explode", "datasets": []}))
        assert (await ws_next(ws))["error"]["code"] == "bad_command"
        await ws.send(json.dumps({"action": "subscribe", "datasets": ["candles:X"]}))
        assert (await ws_next(ws))["error"]["code"] == "missing_interval"
        await ws.send("[" * 30_000 + "]" * 30_000)  # a nesting bomb under the size limit
        assert (await ws_next(ws))["error"]["code"] == "bad_command"
        await ws.send(json.dumps({"action": "subscribe", "datasets": [CANDLES, "jobs"]}))
        assert (await ws_next(ws))["datasets"] == [CANDLES, "jobs"]
        await ws.send(json.dumps({"action": "unsubscribe", "datasets": [CANDLES]}))
        assert (await ws_next(ws))["datasets"] == ["jobs"]
        await announce(bus, candles(SYMBOL, 1))
        health = HealthUpdate(
            dataset_id=CANDLES, score=50.0, band="unhealthy", completeness=0.5, validity=1.0,
            freshness=1.0, consistency=1.0, open_findings=1, measured_time=1,
        )  # fmt: skip
        await bus.publish(AUDIT_HEALTH, health.encode())
        await bus.publish(BACKFILL_EVENTS, b'{"not": "a job"}')
        await ws.send(json.dumps({"action": "subscribe", "datasets": ["health"]}))
        await ws_next(ws, "subscribed")
        await bus.publish(AUDIT_HEALTH, health.encode())
        told = await ws_next(ws)
    assert (told["event"], told["data"]["score"]) == ("health", 50.0)  # no candle, no bad job
    async with ws_connect(ws_url(api)) as ws:
        await ws.send("x" * (70 * 1024))
        with pytest.raises(ConnectionClosed) as closed:
            await ws_next(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_stopping_the_api_tells_stream_clients_to_reconnect(launch: Launch) -> None:
    api = await launch()
    async with sse(api.url, CANDLES) as stream:
        stopping = asyncio.create_task(api.stop())
        final = await stream.next("dropped")
        await stopping
    assert final.data["reason"] == "server_shutdown"


async def test_cors_answers_only_the_configured_origins(launch: Launch, api: Api) -> None:
    allowed = "https://dash.example.com"
    configured = await launch(API_CORS_ORIGINS=f"{allowed},https://other.example.com")
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-api-key",
    }
    async with configured.client() as client:
        ok = await client.options("/data/candles", headers={"Origin": allowed, **preflight})
        refused = await client.options(
            "/data/candles", headers={"Origin": "https://evil.example", **preflight}
        )
        simple = await client.get("/health/summary", headers={"Origin": allowed})
    async with api.client() as client:
        default = await client.get("/health/summary", headers={"Origin": allowed})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == allowed
    assert "x-api-key" in ok.headers["access-control-allow-headers"].lower()
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == allowed
    assert "access-control-allow-origin" not in default.headers


async def test_the_dashboard_and_its_health_endpoints_are_served(api: Api) -> None:
    async with api.client() as client:
        page = await client.get("/ui")
        script = await client.get("/ui/app.js")
        missing = await client.get("/ui/../secrets")
        unknown = await client.get("/ui/other.js")
        history = await client.get("/health/history", params={"limit": 5})
        one = await client.get("/health/history", params={"dataset": "candles:XRPUSDT:5m"})
        bad = await client.get("/health/history", params={"dataset": "nope"})
        findings = await client.get("/health/findings")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/ui/app.js"' in page.text and "http" not in page.text.split("<body>")[0]
    assert script.status_code == 200 and "EventSource" in script.text
    assert missing.status_code == 404 and unknown.status_code == 404
    rows = {r["dataset_id"]: r["measurements"] for r in history.json()["data"]}
    assert {k: len(v) for k, v in rows.items()} == {
        "candles:XRPUSDT:5m": 2,
        "funding_rates:XRPUSDT": 1,
    }
    times = [m["measured_time"] for m in one.json()["data"][0]["measurements"]]
    assert times == [1_637_534_000_000, 1_637_534_112_000]  # oldest first
    assert bad.status_code == 400
    open_ = findings.json()["data"]
    assert [(f["dataset_id"], f["check"]) for f in open_] == [("candles:XRPUSDT:5m", "gaps")]


async def test_the_dashboard_reads_stored_analytics_and_nothing_is_an_empty_list(
    launch: Launch, tmp_path: Path
) -> None:
    market_url = f"sqlite+aiosqlite:///{tmp_path / 'market.db'}"
    store = await open_market_store(market_url)
    dataset = DatasetId.parse(CANDLES)
    lineage = ResultLineage(
        source=CANDLES, process="analytics", first_time=0, last_time=1, records=20
    )
    common = {"dataset": dataset, "completeness": 1.0, "bars_used": 20, "lineage": lineage}
    await store.write_analytics(
        [
            AnalyticsResult(
                family="volatility",
                method="close_to_close",
                window=20,
                value=0.012,
                as_of_time=1_000,
                computed_time=2_000,
                **common,
            ),
            AnalyticsResult(
                family="volatility",
                method="parkinson",
                window=20,
                value=0.02,
                as_of_time=5_000,
                computed_time=6_000,
                **common,
            ),
        ]  # fmt: skip
    )
    await store.close()
    api = await launch(MARKET_STORE_URL=market_url)
    async with api.client() as client:
        stored = await client.get("/ui/api/analytics", params={"dataset": CANDLES})
        empty = await client.get("/ui/api/analytics", params={"dataset": "candles:NONEUSDT:1m"})
        bad = await client.get("/ui/api/analytics", params={"dataset": "candles:X"})
    assert [(f["family"], f["method"], f["value"]) for f in stored.json()["data"]] == [
        ("volatility", "parkinson", 0.02)  # the newest of the family
    ]
    assert (empty.status_code, empty.json()["data"]) == (200, [])
    assert bad.status_code == 400
