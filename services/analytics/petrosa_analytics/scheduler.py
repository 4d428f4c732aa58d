"""The leader's schedule: every interval, one work item per candle dataset into the queue.

The items carry the round id and the leader's fencing token; a leader whose term ended
publishes nothing more. Each item's ``Nats-Msg-Id`` lets JetStream drop a duplicate
publish of the same round (a retried publish whose first ack was lost).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from petrosa_analytics import telemetry
from petrosa_core.bus import Bus
from petrosa_core.contracts import AnalyticsWork
from petrosa_core.errors import LeadershipLost, PetrosaError
from petrosa_core.leader import LeaderElector
from petrosa_core.market import MarketStore
from petrosa_core.models import DatasetId, DatasetKind
from petrosa_core.times import now_ms

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


class Scheduler:
    """Publishes a round of work items every ``interval`` seconds while this process leads."""

    def __init__(
        self,
        market: MarketStore,
        bus: Bus,
        *,
        subject: str,
        stream: str,
        interval: float,
        elector: LeaderElector | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.market = market
        self.bus = bus
        self.subject = subject
        self.stream = stream
        self.interval = interval
        self.elector = elector
        self.clock = clock

    async def lead(self, token: int) -> None:
        """One term: a round at once, then one every interval, until the term ends."""
        while True:
            try:
                await self.publish_round(token)
            except LeadershipLost:
                raise
            except PetrosaError as exc:
                log.warning("analytics round not published: %s", exc)
            await asyncio.sleep(self.interval)

    async def publish_round(self, token: int) -> str:
        """Queue one item per dataset; returns the round id."""
        round_id = f"{self.clock()}-{token}"
        datasets = await self.datasets()
        for dataset in datasets:
            if self.elector is not None:
                self.elector.require(token)
            work = AnalyticsWork(round_id, str(dataset), token, self.clock())
            await self.bus.publish_to_stream(
                self.subject,
                work.encode(),
                stream=self.stream,
                headers={MSG_ID_HEADER: f"{round_id}:{dataset}"},
            )
        telemetry.ROUNDS_PUBLISHED.inc()
        log.info(
            "analytics round published",
            extra={"round": round_id, "datasets": len(datasets), "token": token},
        )
        return round_id

    async def datasets(self) -> list[DatasetId]:
        """Every candle dataset holding candles; calendar months have no fixed bar length."""
        return [
            info.dataset
            for info in await self.market.datasets()
            if info.dataset.kind is DatasetKind.CANDLES
            and info.dataset.interval != "1M"
            and info.count > 0
        ]
