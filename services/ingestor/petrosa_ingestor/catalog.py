"""What the ingestor tells others: new datasets to the catalog, sequence breaks to the auditor."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

import msgspec

from petrosa_core.contracts import AuditEvent
from petrosa_core.errors import BusError, StoreError
from petrosa_core.models import DatasetId
from petrosa_ingestor import metrics
from petrosa_ingestor.sequences import SequenceBreak

log = logging.getLogger("petrosa.ingestor")


class Catalog(Protocol):
    """The part of the metadata store the ingestor uses (``MetadataStore`` satisfies it)."""

    async def register_dataset(
        self, dataset_id: DatasetId, *, source: str, description: str = ""
    ) -> bool: ...

    async def add_lineage(
        self, dataset_id: DatasetId | str, *, source: str, process: str
    ) -> int: ...


class Publisher(Protocol):
    """Plain NATS publish (``Bus`` satisfies it)."""

    async def publish(
        self, subject: str, payload: bytes = b"", *, headers: dict[str, str] | None = None
    ) -> None: ...


class Registrar:
    """Registers each dataset the ingestor writes once, with its lineage from the subject."""

    def __init__(self, catalog: Catalog, subject: str) -> None:
        self.catalog = catalog
        self.source = f"nats:{subject}"
        self._registered: set[DatasetId] = set()

    async def register(self, datasets: Iterable[DatasetId]) -> None:
        """Register the datasets not seen yet; a store failure leaves them for next time."""
        for dataset in [d for d in datasets if d not in self._registered]:
            try:
                if await self.catalog.register_dataset(dataset, source=self.source):
                    await self.catalog.add_lineage(dataset, source=self.source, process="ingestor")
            except StoreError as exc:
                log.warning("cannot register dataset %s yet: %s", dataset, exc)
                return
            self._registered.add(dataset)


async def report_break(publisher: Publisher, subject: str, brk: SequenceBreak) -> None:
    """Count a sequence break and tell the auditor on ``subject``; never raises."""
    metrics.SEQUENCE_BREAKS.labels(brk.check).inc()
    event = AuditEvent.sequence_break(**msgspec.structs.asdict(brk))
    try:
        await publisher.publish(subject, event.encode())
    except BusError as exc:
        log.warning("cannot publish sequence break: %s", exc)
