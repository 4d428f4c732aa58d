"""The write buffer: parsed records grouped by dataset, with the messages they came from."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator

from petrosa_core.bus import PulledMessage
from petrosa_core.models import DatasetId, Record


class Batch:
    """Records waiting for one flush; the messages are acked once every group is written."""

    def __init__(self) -> None:
        self.groups: dict[DatasetId, list[Record]] = defaultdict(list)
        # For each record, the index in ``messages`` of the frame it came from.
        self.sources: dict[DatasetId, list[int]] = defaultdict(list)
        # (message, event type) in arrival order
        self.messages: list[tuple[PulledMessage, str]] = []
        self.received_at: list[float] = []
        self.opened_at: float | None = None

    def __len__(self) -> int:
        return len(self.messages)

    def add_message(self, msg: PulledMessage, event_type: str) -> None:
        now = time.monotonic()
        if self.opened_at is None:
            self.opened_at = now
        self.messages.append((msg, event_type))
        self.received_at.append(now)

    def add_record(self, record: Record, source: int | None = None) -> None:
        """Buffer ``record``; ``source`` defaults to the last message added."""
        dataset = record.dataset
        self.groups[dataset].append(record)
        self.sources[dataset].append(len(self.messages) - 1 if source is None else source)

    def age(self) -> float:
        return 0.0 if self.opened_at is None else time.monotonic() - self.opened_at

    def datasets(self) -> Iterator[tuple[DatasetId, list[Record], list[int]]]:
        return ((d, records, self.sources[d]) for d, records in self.groups.items())
