"""Leader election across real processes: crash, graceful hand-over, and no overlap ever."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.servers import NatsServer

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT, HEARTBEAT = 3.0, 0.5
# Process start-up and polling on a shared two-core machine; not part of the protocol.
SLACK = 1.5


@dataclass
class Contender:
    proc: asyncio.subprocess.Process
    out: Path

    def samples(self) -> list[dict[str, Any]]:
        lines = self.out.read_text(encoding="utf-8").splitlines() if self.out.exists() else []
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:  # the line being written right now
                continue
        return parsed

    def led_since(self) -> float | None:
        """When this contender's latest run of leader samples began, if it leads now."""
        samples = self.samples()
        if not samples or not samples[-1]["leader"]:
            return None
        start = len(samples) - 1
        while start > 0 and samples[start - 1]["leader"]:
            start -= 1
        return float(samples[start]["t"])


async def spawn(url: str, bucket: str, key: str, out: Path) -> Contender:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.harness.contender",
        "--url",
        url,
        "--bucket",
        bucket,
        "--key",
        key,
        "--out",
        str(out),
        "--timeout",
        str(TIMEOUT),
        "--heartbeat",
        str(HEARTBEAT),
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    return Contender(proc, out)


async def next_leader(contenders: list[Contender], within: float) -> Contender:
    deadline = time.monotonic() + within
    while True:
        leading = [c for c in contenders if c.proc.returncode is None and c.led_since()]
        if leading:
            assert len(leading) == 1, "two contenders lead at once"
            return leading[0]
        assert time.monotonic() < deadline, "no contender became leader in time"
        await asyncio.sleep(0.02)


async def renewed_for(leader: Contender, span: float) -> None:
    """Wait until ``leader`` has led for ``span`` seconds, so it has renewed a few times."""
    since = leader.led_since()
    assert since is not None
    while float(leader.samples()[-1]["t"]) - since < span:
        assert leader.led_since() == since, "the leader lost its lease without a fault"
        await asyncio.sleep(0.02)


def terms(contenders: list[Contender]) -> list[tuple[float, float, float, int, int]]:
    """Each run of leader samples: (first t, last t, last valid-until, token, pid)."""
    found = []
    for contender in contenders:
        run: list[dict[str, Any]] = []
        for sample in [*contender.samples(), {"leader": False}]:
            if sample["leader"]:
                run.append(sample)
            elif run:
                first, last = run[0], run[-1]
                found.append((first["t"], last["t"], last["until"], first["token"], first["pid"]))
                run = []
    return sorted(found)


async def test_one_leader_at_a_time_through_crash_and_hand_over(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    bucket, key = f"leases_{uuid.uuid4().hex[:8]}", "auditor"
    contenders = [
        await spawn(nats_server.url, bucket, key, tmp_path / f"c{i}.jsonl") for i in range(3)
    ]
    try:
        crashed = await next_leader(contenders, within=30)
        await renewed_for(crashed, 3 * HEARTBEAT)
        crashed.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        await crashed.proc.wait()
        successor = await next_leader(contenders, within=TIMEOUT + HEARTBEAT + 10)
        assert (successor.led_since() or 0) - killed_at < TIMEOUT + HEARTBEAT + SLACK

        successor.proc.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        assert await successor.proc.wait() == 0
        third = await next_leader(contenders, within=TIMEOUT + 10)
        # A resigned lease is free at once: no waiting for it to expire.
        assert (third.led_since() or 0) - stopped_at < HEARTBEAT + SLACK
    finally:
        for contender in contenders:
            if contender.proc.returncode is None:
                contender.proc.send_signal(signal.SIGTERM)
            await contender.proc.communicate()

    found = terms(contenders)
    assert [pid for *_, pid in found] == [c.proc.pid for c in (crashed, successor, third)]
    for (_, end, _, token, _), (start, _, _, next_token, _) in itertools.pairwise(found):
        assert end < start and token < next_token
    # The crashed leader would have trusted its lease no later than this, even had it lived on.
    assert found[0][2] < found[1][0]
