"""Push-channel clients as a dashboard or strategy would run them, and a feed of updates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from petrosa_core.bus import Bus
from petrosa_core.contracts import MarketUpdate, market_updates_subject
from petrosa_core.models import Candle, DatasetId, DepthUpdate, Record

# Every wait for an event is bounded by this; on a quiet machine events take milliseconds.
WAIT = 20.0
MINUTE = 60_000
T0 = 1_767_225_600_000


@dataclass
class SseEvent:
    name: str
    data: Any
    id: str | None


@dataclass
class SseClient:
    """Reads one /stream response into events, as EventSource parses it."""

    response: httpx.Response
    events: asyncio.Queue[SseEvent] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None
    last_id: str | None = None

    async def read(self) -> None:
        name, data, event_id = "message", [], None
        async for line in self.response.aiter_lines():
            if line == "":
                if data:
                    await self.events.put(SseEvent(name, json.loads("\n".join(data)), event_id))
                    if event_id:
                        self.last_id = event_id
                name, data, event_id = "message", [], None
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line.startswith("id: "):
                event_id = line[4:]

    async def next(self, name: str | None = None) -> SseEvent:
        """The next event (of ``name``, skipping others)."""
        async with asyncio.timeout(WAIT):
            while True:
                event = await self.events.get()
                if name is None or event.name == name:
                    return event

    async def take(self, count: int, name: str) -> list[SseEvent]:
        return [await self.next(name) for _ in range(count)]


@asynccontextmanager
async def sse(
    base_url: str, datasets: str, *, headers: dict[str, str] | None = None, **params: str
) -> AsyncIterator[SseClient]:
    """An open stream whose ``subscribed`` event has arrived (events from then on count)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(WAIT, read=None)) as http:
        request = http.build_request(
            "GET", "/stream", params={"datasets": datasets, **params}, headers=headers
        )
        response = await http.send(request, stream=True)
        assert response.status_code == 200, (await response.aread())[:300]
        client = SseClient(response)
        client.reader = asyncio.create_task(client.read())
        try:
            await client.next("subscribed")
            yield client
        finally:
            client.reader.cancel()
            await response.aclose()


def candles(symbol: str, count: int, start: int = 0) -> list[Candle]:
    return [
        Candle(
            symbol,
            "1m",
            T0 + (start + i) * MINUTE,
            T0 + (start + i + 1) * MINUTE - 1,
            100.0 + i,
            101.0 + i,
            99.0 + i,
            100.5 + i,
            10.0,
            1005.0,
            7,
            4.0,
            402.0,
            True,
        )  # fmt: skip
        for i in range(count)
    ]


def big_depth(symbol: str, update_id: int, levels: int = 500) -> DepthUpdate:
    """A depth update of ``levels`` price levels a side: about 20 KiB as an event."""
    side = tuple((100.0 + i / 100, 1.0 + i) for i in range(levels))
    return DepthUpdate(
        symbol, T0 + update_id, T0 + update_id, update_id, update_id, update_id - 1, side, side
    )


async def announce(bus: Bus, records: Sequence[Record], seq: int = 1) -> None:
    """Announce ``records`` (of one dataset) as the ingestor does after writing them."""
    dataset: DatasetId = records[0].dataset
    update = MarketUpdate.of(dataset, records, written_time=T0, publisher="test", seq=seq)
    await bus.publish(market_updates_subject(dataset.kind, dataset.symbol), update.encode())
