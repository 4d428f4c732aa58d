"""Push notifications of what was stored: one ``MarketUpdate`` per dataset after each write.

Sent on core NATS after the store's write returned, so only stored records are announced;
a failed publish is counted and logged, never retried and never allowed to hold up ingest
(the records are stored; a subscriber that missed them reads them from the store).
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
from collections.abc import Collection

from petrosa_core.contracts import MAX_UPDATE_RECORDS, MarketUpdate, market_updates_subject
from petrosa_core.errors import BusError
from petrosa_core.models import KEY_FIELDS, DatasetId, Record
from petrosa_core.times import now_ms
from petrosa_ingestor import metrics
from petrosa_ingestor.batch import Batch
from petrosa_ingestor.catalog import Publisher

log = logging.getLogger("petrosa.ingestor")


def stored_records(
    records: list[Record], sources: list[int], refused: Collection[int]
) -> list[Record]:
    """The records the store holds after the write: refused ones out, the last of each key kept.

    An open candle updated twice in one batch is stored once, as its later version.
    """
    latest: dict[tuple[object, ...], Record] = {}
    for record, source in zip(records, sources, strict=True):
        if source not in refused:
            key = tuple(getattr(record, name) for name in KEY_FIELDS[record.kind])
            latest.pop(key, None)  # re-inserted: the later version takes its place in order
            latest[key] = record
    return list(latest.values())


class UpdatePublisher:
    """Announces written batches on ``petrosa.market.updates.{kind}.{SYMBOL}``."""

    def __init__(self, publisher: Publisher, name: str | None = None) -> None:
        self.publisher = publisher
        # Tells this process's updates apart from other replicas'; ``seq`` orders them.
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._seq = itertools.count(1)

    async def announce(self, batch: Batch, refused: Collection[int]) -> None:
        """One update per dataset of ``batch`` (and per ``MAX_UPDATE_RECORDS``); never raises."""
        written_time = now_ms()
        for dataset, records, sources in batch.datasets():
            stored = stored_records(records, sources, refused)
            for start in range(0, len(stored), MAX_UPDATE_RECORDS):
                chunk = stored[start : start + MAX_UPDATE_RECORDS]
                await self._publish(dataset, chunk, written_time)

    async def _publish(self, dataset: DatasetId, records: list[Record], written_time: int) -> None:
        update = MarketUpdate.of(
            dataset, records, written_time=written_time, publisher=self.name, seq=next(self._seq)
        )
        try:
            await self.publisher.publish(
                market_updates_subject(dataset.kind, dataset.symbol), update.encode()
            )
        except BusError as exc:
            metrics.UPDATES_FAILED.inc()
            log.warning("market update for %s not published: %s", dataset, exc)
            return
        metrics.UPDATES_PUBLISHED.inc()
