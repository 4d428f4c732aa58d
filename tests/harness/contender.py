"""A standalone leader-election contender for the process tests.

Run as ``python -m tests.harness.contender --url ... --key ... --out FILE``. It appends one
JSON line per sample to FILE: ``{"t", "pid", "id", "leader", "token", "until"}``, where
``t`` and ``until`` are ``time.monotonic()`` readings (one clock for the whole machine).
SIGTERM makes it resign and exit; SIGKILL is the crash case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from typing import TextIO

from petrosa_core.bus import connect
from petrosa_core.leader import LeaderElector


def sample(elector: LeaderElector, out: TextIO) -> None:
    leader, token, until = elector.is_leader, elector.fencing_token, elector.valid_until
    line = {
        "t": time.monotonic(),
        "pid": os.getpid(),
        "id": elector.identity,
        "leader": leader,
        "token": token,
        "until": until,
    }
    out.write(json.dumps(line) + "\n")
    out.flush()


async def contend(args: argparse.Namespace, out: TextIO) -> None:
    bus = await connect(
        args.url, name=f"contender-{os.getpid()}", reconnect_wait=0.2, initial_timeout=20
    )
    elector = LeaderElector(
        bus, args.key, heartbeat=args.heartbeat, timeout=args.timeout, bucket=args.bucket
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    runner = asyncio.create_task(elector.run(), name="contender-election")
    while not stop.is_set() and not runner.done():
        sample(elector, out)
        await asyncio.sleep(args.every)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    sample(elector, out)
    await bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--bucket", default="petrosa_leases")
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--heartbeat", type=float, default=0.5)
    parser.add_argument("--every", type=float, default=0.02, help="sampling period, seconds")
    args = parser.parse_args()
    with open(args.out, "a", encoding="utf-8") as out:
        asyncio.run(contend(args, out))


if __name__ == "__main__":
    main()
