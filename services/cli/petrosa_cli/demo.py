"""The demo feed of ``petrosa dev``: the recorded sample (see ``replay``) published live.

``python -m petrosa_cli.demo`` publishes the loop under way now at the recorded pace onto
the ingestor's subject, waiting while no stream captures it yet.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

from petrosa_cli.replay import Replay, encode, load_sample
from petrosa_core.bus import Bus, connect
from petrosa_core.contracts import MARKET_DATA
from petrosa_core.errors import BusError, ConfigError, NoResponders
from petrosa_core.logs import configure_logging
from petrosa_core.runtime import Runtime
from petrosa_core.settings import NatsSettings, load_settings

Publish = Callable[[bytes], Awaitable[None]]

DEFAULT_SUBJECT = MARKET_DATA
# Until the ingestor has created its stream, publishing is retried this often.
PUBLISH_RETRY_SECONDS = 0.5

log = logging.getLogger("petrosa.demo")


class DemoFeed:
    """Publishes the replay from the loop under way now, at the recorded pace times ``speed``.

    Frames whose time has passed when the feed starts go out at once; the rest wait for it.
    """

    def __init__(
        self,
        replay: Replay,
        publish: Publish,
        *,
        speed: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.replay = replay
        self.publish = publish
        self.speed = speed
        self.clock = clock

    async def run(self, stopping: asyncio.Event) -> None:
        """Publish loop after loop until ``stopping`` is set."""
        origin = int(self.clock() * 1000)
        n = self.replay.loop_of(origin)
        for frame in self.replay.funding_history(self.replay.loop_start(n)):
            await self.publish(encode(frame))
        log.info("demo feed started", extra={"loop": n, "speed": self.speed})
        while True:
            for frame in self.replay.loop(n):
                if not await self._until(frame["data"]["E"], origin, stopping):
                    return
                await self.publish(encode(frame))
            n += 1

    async def _until(self, time_ms: int, origin: int, stopping: asyncio.Event) -> bool:
        """Wait until ``time_ms`` is due; False when ``stopping`` is set first."""
        due = (origin + (time_ms - origin) / self.speed) / 1000
        delay = due - self.clock()
        if delay > 0 and not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
        return not stopping.is_set()


class JetStreamSink:
    """Publishes to a subject that a JetStream stream captures, waiting while none does yet."""

    def __init__(self, bus: Bus, subject: str, stopping: asyncio.Event) -> None:
        self.bus = bus
        self.subject = subject
        self.stopping = stopping

    async def __call__(self, payload: bytes) -> None:
        """Publish and wait for the stream's ack; a frame pending at shutdown is dropped."""
        failing = False
        while not self.stopping.is_set():
            try:
                await self.bus.publish_to_stream(self.subject, payload)
            except BusError as exc:
                if not failing:
                    _log_refusal(exc)
                failing = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), PUBLISH_RETRY_SECONDS)
                continue
            if failing:
                log.info("publishing again")
            return


def _log_refusal(exc: BusError) -> None:
    # At start the ingestor has usually not created its stream yet: expected, not a fault.
    level = logging.INFO if isinstance(exc, NoResponders) else logging.WARNING
    log.log(level, "%s; retrying until a stream accepts the frames", exc)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m petrosa_cli.demo",
        description="Replay a recorded Binance sample on NATS as live data, looped.",
    )
    parser.add_argument("--nats-url", default=os.environ.get("NATS_URL", "nats://localhost:4222"))
    parser.add_argument(
        "--subject", default=os.environ.get("NATS_CONSUMER_SUBJECT", DEFAULT_SUBJECT)
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="replay this many times faster than recorded (data then runs ahead of the clock)",
    )
    return parser


async def _start(runtime: Runtime, args: argparse.Namespace, nats: NatsSettings) -> None:
    bus = await connect(nats.nats_url, name="petrosa-demo", security=nats)
    runtime.add_closer("nats", bus.close)
    sink = JetStreamSink(bus, args.subject, runtime.stopping)
    feed = DemoFeed(Replay(load_sample()), sink, speed=args.speed)
    runtime.spawn("demo feed", feed.run(runtime.stopping))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the demo feed until SIGTERM or SIGINT."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be positive")
    try:
        # The login and TLS settings come from the environment, as the services read them.
        nats = load_settings(NatsSettings, nats_url=args.nats_url)
    except ConfigError as exc:
        parser.error(str(exc))
    configure_logging("demo", os.environ.get("LOG_LEVEL", "INFO"))
    runtime = Runtime("demo")
    sys.exit(asyncio.run(runtime.run(lambda rt: _start(rt, args, nats))))


if __name__ == "__main__":
    main()
