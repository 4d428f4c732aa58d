"""``petrosa dev`` as a developer uses it: one command up, every endpoint ready, Ctrl-C down."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import httpx
import pytest

from petrosa_cli import demo, dev
from petrosa_cli import replay as demo_replay
from petrosa_cli.main import COMMANDS, build_parser
from petrosa_core.binance import parse_frame
from petrosa_core.errors import ConfigError
from petrosa_core.models import Candle, DepthUpdate, MarkPrice, Record, Trade
from petrosa_ingestor.funding import FundingTracker
from tests.harness.servers import free_port

SERVICES = ("ingestor", "auditor", "backfiller", "analytics", "api")
EXPECTED_ENDPOINTS = {"nats", "api"} | {f"metrics {s}" for s in SERVICES if s != "api"}
ENDPOINT_LINE = re.compile(r"^(nats|api|api key|metrics [a-z]+): (\S+)$")
START_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0
MINUTE_MS = 60_000
R = TypeVar("R", DepthUpdate, Trade)
SAMPLE_NAME = "binance_usdm_ws_frames.jsonl"
# A fixed "now" for the demo's unit tests: 2026-01-01T03:00:30Z.
NOW_MS = 1_767_236_430_000
# Every /data endpoint besides candles that the demo feed fills.
DEMO_PATHS = ("trades", "depth", "mark-prices", "tickers", "funding")


def children_of(pid: int) -> set[int]:
    """Pids whose parent is ``pid``, from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def still_running(pids: set[int]) -> list[int]:
    return sorted(pid for pid in pids if Path(f"/proc/{pid}").exists())


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


class DevConsole:
    """The dev supervisor's stdout, collected line by line; endpoint lines parsed as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.endpoints: dict[str, str] = {}
        self._arrived = asyncio.Condition()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            async with self._arrived:
                self.lines.append(line)
                if match := ENDPOINT_LINE.match(line):
                    self.endpoints[match[1]] = match[2]
                self._arrived.notify_all()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(START_TIMEOUT), self._arrived:
            await self._arrived.wait_for(lambda: condition() or self.reader.done())
        assert condition(), "petrosa dev exited early:\n" + "\n".join(self.lines[-40:])

    def count(self, prefix: str) -> int:
        return sum(line.startswith(prefix) for line in self.lines)


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on TCP ``port``, from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
                packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add(str(ipaddress.ip_address(packed)))
    return found


def readiness_url(endpoint: str) -> str:
    return f"http://{urlsplit(endpoint).netloc}/health/readiness"


async def ready(client: httpx.AsyncClient, url: str) -> int:
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            response = await client.get(url)
            if response.status_code == 200:
                return response.status_code
            await asyncio.sleep(0.1)


async def stop_after_failure(proc: asyncio.subprocess.Process) -> None:
    """Stop a stack a failed test left running; its children have their own sessions."""
    if proc.returncode is not None:
        return
    stack = children_of(proc.pid)
    proc.send_signal(signal.SIGINT)
    try:
        async with asyncio.timeout(STOP_TIMEOUT):
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()
    for pid in still_running(stack):
        os.kill(pid, signal.SIGKILL)


async def rows(client: httpx.AsyncClient, url: str, key: str) -> list[dict[str, object]]:
    """The first non-empty page of ``url``: the demo feed's frames reach the API in seconds."""
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            response = await client.get(url, headers={"X-API-Key": key})
            # Until the first frame of a dataset is stored, the API does not know the dataset.
            if response.status_code != 404:
                assert response.status_code == 200, response.text
                if data := response.json()["data"]:
                    return list(data)
            await asyncio.sleep(0.2)


async def test_petrosa_dev_runs_every_service_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "petrosa_cli",
        "dev",
        "--api-port",
        "0",
        cwd=tmp_path,
        env=os.environ.copy(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    console = DevConsole(proc)
    try:
        await console.wait_until(lambda: EXPECTED_ENDPOINTS <= console.endpoints.keys())
        key = console.endpoints["api key"]
        async with httpx.AsyncClient(timeout=5) as client:
            statuses = {
                name: await ready(client, readiness_url(url))
                for name, url in console.endpoints.items()
                if name in EXPECTED_ENDPOINTS - {"nats"}
            }
            bound = {
                name: listening_addresses(int(urlsplit(url).port or 0))
                for name, url in console.endpoints.items()
                if name in EXPECTED_ENDPOINTS
            }
            docs = await client.get(console.endpoints["api"])
            data = console.endpoints["api"].removesuffix("/docs") + "/data"
            candles = await rows(client, f"{data}/candles?pair=SUSHIUSDT&period=1m&order=desc", key)
            now = time.time() * 1000
            others = {
                path: (await rows(client, f"{data}/{path}?pair=SUSHIUSDT", key))[0]["symbol"]
                for path in DEMO_PATHS
            }
            wrong_key = await client.get(
                f"{data}/candles?pair=SUSHIUSDT&period=1m", headers={"X-API-Key": key + "x"}
            )
            [ingestor] = [p for p in children_of(proc.pid) if "petrosa_ingestor" in command_line(p)]

            os.kill(ingestor, signal.SIGKILL)
            await console.wait_until(lambda: console.count("metrics ingestor:") == 2)
            restarted = await ready(client, readiness_url(console.endpoints["metrics ingestor"]))
        children = children_of(proc.pid)

        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(STOP_TIMEOUT):
            code = await proc.wait()
            await console.reader
    finally:
        await stop_after_failure(proc)

    assert console.endpoints["nats"].startswith("nats://127.0.0.1:")
    assert console.endpoints["api"].endswith("/docs")
    api_base = console.endpoints["api"].removesuffix("/docs")
    assert f"try: curl '{api_base}/data/candles?pair=SUSHIUSDT&period=1m&limit=5'" in console.lines
    assert any(
        x.startswith(f"cli: export NATS_URL={console.endpoints['nats']} ") for x in console.lines
    )
    assert statuses == dict.fromkeys(EXPECTED_ENDPOINTS - {"nats"}, 200)
    assert bound == dict.fromkeys(EXPECTED_ENDPOINTS, {"127.0.0.1"})
    assert docs.status_code == 200
    latest = int(str(candles[0]["open_time"]))
    assert latest % MINUTE_MS == 0
    assert now - 3 * MINUTE_MS < latest <= now
    assert others == dict.fromkeys(DEMO_PATHS, "SUSHIUSDT")
    assert len(key) >= 40
    assert wrong_key.status_code == 401
    assert "ingestor | exited with code -9; restarting in 1s" in console.lines
    assert restarted == 200
    assert ingestor not in children
    assert len(children) == len(SERVICES) + 2  # every service, the demo feed and nats-server
    assert code == 0
    assert still_running(children) == []
    assert (tmp_path / "data" / "dev" / "nats" / "jetstream").is_dir()


def test_cli_parses_dev_options_and_knows_every_service() -> None:
    args = build_parser().parse_args(["dev", "--api-port", "0"])
    quiet = build_parser().parse_args(["dev", "--no-demo"])

    assert args.api_port == 0
    assert (args.no_demo, quiet.no_demo) == (False, True)
    assert args.handler is COMMANDS["dev"].handler
    assert list(COMMANDS) == [*SERVICES, "dev"]


def test_dev_api_port_is_8000_unless_overridden_and_never_moves_off_a_busy_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("API_PORT", raising=False)
    free = free_port()
    monkeypatch.setattr(dev, "DEFAULT_API_PORT", free)
    assert dev.api_port_for(None) == free
    assert dev.api_port_for(0) == 0
    monkeypatch.setenv("API_PORT", str(free_port()))
    assert dev.api_port_for(None) == int(os.environ["API_PORT"])
    with socket.create_server(("0.0.0.0", 0)) as busy:
        taken = busy.getsockname()[1]
        monkeypatch.setenv("API_PORT", str(taken))
        with pytest.raises(ConfigError) as refused:
            dev.api_port_for(None)

    message = str(refused.value)
    assert f"port {taken} is in use" in message
    assert "--api-port" in message and "API_PORT=" in message


async def test_petrosa_dev_refuses_a_busy_api_port_with_exit_2_and_one_line(
    tmp_path: Path,
) -> None:
    with socket.create_server(("0.0.0.0", 0)) as busy:
        port = busy.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "petrosa_cli", "dev", cwd=tmp_path,
            env={**os.environ, "API_PORT": str(port)}, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(START_TIMEOUT):
            out, err = await proc.communicate()

    assert proc.returncode == 2
    assert out == b""
    [line] = err.decode().splitlines()
    assert line.startswith(f"petrosa dev: API_PORT: port {port} is in use")
    assert not (tmp_path / "data").exists()  # nothing was started


def test_dev_prints_the_first_request_on_the_port_the_api_really_bound() -> None:
    [api] = [s for s in dev.service_specs("nats://127.0.0.1:4999", 0, "k") if s.name == "api"]
    assert api.endpoint is not None

    docs, curl, dashboard = api.endpoint(41234).splitlines()

    assert docs == "api: http://127.0.0.1:41234/docs"
    assert curl == (
        "try: curl 'http://127.0.0.1:41234/data/candles?pair=SUSHIUSDT&period=1m&limit=5'"
    )
    assert dashboard == "dashboard: http://127.0.0.1:41234/ui"


def test_dev_tells_how_to_point_the_clis_at_it_from_any_folder(tmp_path: Path) -> None:
    hint = dev.cli_hint("nats://127.0.0.1:4999", tmp_path / "data")

    assert hint.startswith("cli: export NATS_URL=nats://127.0.0.1:4999 ")
    assert f"METADATA_STORE_URL=sqlite+aiosqlite:///{tmp_path}/data/metadata.db" in hint
    assert f"MARKET_STORE_URL=sqlite+aiosqlite:///{tmp_path}/data/market.db" in hint


def test_dev_leaves_out_the_services_their_enable_switch_turns_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENABLE_AUDITOR", "false")
    monkeypatch.setenv("ENABLE_API", "0")
    monkeypatch.setenv("ENABLE_ANALYTICS", "true")
    monkeypatch.delenv("ENABLE_BACKFILLER", raising=False)
    off = dev.switched_off()
    names = [s.name for s in dev.service_specs("nats://x:1", 0, "k", skip=frozenset(off))]
    monkeypatch.setenv("ENABLE_BACKFILLER", "perhaps")

    assert off == {"auditor": "ENABLE_AUDITOR", "api": "ENABLE_API"}
    assert names == ["ingestor", "backfiller", "analytics", "demo"]
    with pytest.raises(ConfigError, match="ENABLE_BACKFILLER: 'perhaps' is not true or false"):
        dev.switched_off()


def test_dev_gives_the_api_a_fresh_key_and_runs_the_demo_unless_switched_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("API_KEYS", raising=False)
    key = dev.new_api_key()
    specs = {s.name: s for s in dev.service_specs("nats://127.0.0.1:4999", 0, key)}
    without = [s.name for s in dev.service_specs("nats://127.0.0.1:4999", 0, key, demo=False)]
    monkeypatch.setenv("API_KEYS", "ops-key-0123456789:read")
    [api] = [s for s in dev.service_specs("nats://127.0.0.1:4999", 0, key) if s.name == "api"]

    assert list(specs) == [*SERVICES, "demo"]
    assert without == list(SERVICES)
    assert specs["api"].env["API_KEYS"] == f"{key}:read+write+admin"
    assert "API_KEYS" not in specs["ingestor"].env
    assert specs["api"].env["API_HOST"] == "127.0.0.1"
    assert {s.env["METRICS_HOST"] for s in specs.values()} == {"127.0.0.1"}
    assert specs["demo"].argv[1:] == [
        "-m",
        "petrosa_cli.demo",
        "--nats-url",
        "nats://127.0.0.1:4999",
    ]
    assert api.env["API_KEYS"] == f"{key}:read+write+admin,ops-key-0123456789:read"
    assert key != dev.new_api_key()


def test_demo_sample_ships_inside_the_package_unchanged(shared_data: Path) -> None:
    recorded = [json.loads(line) for line in (shared_data / SAMPLE_NAME).read_text().splitlines()]

    assert demo_replay.load_sample() == recorded


@pytest.fixture(scope="module")
def replay() -> demo_replay.Replay:
    return demo_replay.Replay(demo_replay.load_sample())


def records_of(frames: list[dict[str, Any]]) -> list[Record]:
    return [parse_frame(demo_replay.encode(frame)) for frame in frames]


def played(replay: demo_replay.Replay, first: int, loops: int) -> list[Record]:
    return records_of([f for n in range(first, first + loops) for f in replay.loop(n)])


def test_every_demo_loop_is_new_data_with_unique_keys(replay: demo_replay.Replay) -> None:
    n = replay.loop_of(NOW_MS)
    records = played(replay, n, 3)
    kinds = Counter(r.dataset.kind.value for r in records)
    final = [r for r in records if not isinstance(r, Candle) or r.is_closed]
    keys = Counter((str(r.dataset), getattr(r, "trade_type", ""), r.key) for r in final)
    candles = [r for r in records if isinstance(r, Candle)]

    per_loop = {
        "depth": 764,
        "book_tickers": 613,
        "mark_prices": 240,
        "tickers": 240,
        "trades": 91,
        "candles": 67,
    }
    assert kinds == {kind: 3 * count for kind, count in per_loop.items()}
    assert [k for k, seen in keys.items() if seen > 1] == []
    assert {c.open_time % MINUTE_MS for c in candles} == {0}
    assert {c.close_time - c.open_time for c in candles} == {MINUTE_MS - 1}
    assert sum(c.is_closed for c in candles) == 3 * 4  # one closed minute per symbol a loop


def agg_breaks(trades: list[Trade]) -> list[int]:
    """Ids of the aggTrades that do not follow on from the one before (ids and trade ids)."""
    return [
        b.trade_id
        for a, b in pairwise(trades)
        if (b.trade_id, b.first_trade_id) != (a.trade_id + 1, cast(int, a.last_trade_id) + 1)
    ]


def depth_breaks(updates: list[DepthUpdate]) -> list[int]:
    """Final ids of the depth updates whose ``pu`` is not the previous ``u``."""
    return [
        b.final_update_id
        for a, b in pairwise(updates)
        if b.prev_final_update_id != a.final_update_id
    ]


def test_demo_ids_run_on_unbroken_across_loops(replay: demo_replay.Replay) -> None:
    records = played(replay, replay.loop_of(NOW_MS), 3)
    breaks = {
        symbol: agg_breaks([r for r in records if isinstance(r, Trade) and r.symbol == symbol])
        + depth_breaks([r for r in records if isinstance(r, DepthUpdate) and r.symbol == symbol])
        for symbol in replay.closing
    }

    assert breaks == dict.fromkeys(["SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"], [])


def test_demo_loop_boundary_joins_the_depth_chain_and_the_agg_trade_ids(
    replay: demo_replay.Replay,
) -> None:
    n = replay.loop_of(NOW_MS)
    this, following = records_of(list(replay.loop(n))), records_of(list(replay.loop(n + 1)))

    def first(records: Iterable[Record], kind: type[R]) -> dict[str, R]:
        found: dict[str, R] = {}
        for record in records:
            if isinstance(record, kind):
                found.setdefault(record.symbol, record)
        return found

    last_depth, next_depth = first(reversed(this), DepthUpdate), first(following, DepthUpdate)
    last_agg, next_agg = first(reversed(this), Trade), first(following, Trade)

    assert {s: d.prev_final_update_id for s, d in next_depth.items()} == {
        s: d.final_update_id for s, d in last_depth.items()
    }
    assert {s: t.trade_id for s, t in next_agg.items()} == {
        s: t.trade_id + 1 for s, t in last_agg.items()
    }
    assert len(next_depth) == len(next_agg) == 4


@pytest.mark.parametrize("second", [5, 30, 45, 59])
def test_the_demo_s_latest_candle_is_the_current_minute(
    replay: demo_replay.Replay, second: int
) -> None:
    minute = NOW_MS // MINUTE_MS * MINUTE_MS
    now = minute + second * 1000
    due = [f for f in replay.loop(replay.loop_of(now)) if f["data"]["E"] <= now]
    candles = [r for r in records_of(due) if isinstance(r, Candle)]

    assert max(c.open_time for c in candles) == minute


async def test_demo_feed_replays_funding_history_then_live_loops() -> None:
    published: list[bytes] = []
    stopping = asyncio.Event()
    replay = demo_replay.Replay(demo_replay.load_sample())
    wall = time.time()

    def clock() -> float:
        return NOW_MS / 1000 + (time.time() - wall)

    async def publish(payload: bytes) -> None:
        published.append(payload)
        if len(published) == 12 + 2 * 2015:
            stopping.set()

    # 600 times the recorded pace: a one-minute loop takes 0.1 s.
    feed = demo.DemoFeed(replay, publish, speed=600, clock=clock)
    await asyncio.wait_for(feed.run(stopping), 30)
    records = [parse_frame(p) for p in published]
    tracker = FundingTracker()
    settled = [f for r in records if isinstance(r, MarkPrice) and (f := tracker.observe(r))]
    first_live = records[12]

    assert [(f.symbol, f.funding_time) for f in settled if f.symbol == "SUSHIUSDT"] == [
        ("SUSHIUSDT", 1_767_168_000_000),  # 2025-12-31T08:00Z
        ("SUSHIUSDT", 1_767_196_800_000),  # 2025-12-31T16:00Z
        ("SUSHIUSDT", 1_767_225_600_000),  # 2026-01-01T00:00Z
    ]
    assert len(settled) == 3 * 4
    assert {f.funding_rate for f in settled} == {0.0001}
    assert first_live.time == replay.loop_start(replay.loop_of(NOW_MS))
    assert len(published) == 12 + 2 * 2015
