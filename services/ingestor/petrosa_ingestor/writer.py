"""Writing one batch: one store call, and when the store refuses something, which records.

Only a record the store refuses for its content is given back as refused; a store that
cannot write raises ``StoreUnavailable``, and so does one that refuses everything: a batch
of several records all refused, or a lone record refused while a record the store holds
already is refused too when written again (the canary).
"""

from __future__ import annotations

import time

from petrosa_core.errors import StoreError, StoreUnavailable
from petrosa_core.market import MarketStore
from petrosa_core.models import Candle, DatasetId, Record
from petrosa_ingestor import metrics
from petrosa_ingestor.batch import Batch

# For each refused record, the index of its message in the batch, and the store's reason.
Refused = dict[int, str]


class BatchWriter:
    """Writes batches to ``store``; remembers one stored record to test the store with."""

    def __init__(self, store: MarketStore) -> None:
        self.store = store
        self._canary: tuple[DatasetId, Record] | None = None

    async def write(self, batch: Batch) -> Refused:
        """Write every group in one store call; on a refusal, find the refused records."""
        started = time.perf_counter()
        try:
            await self.store.write_many(batch.groups)
        except StoreUnavailable:
            raise
        except StoreError:
            refused = await self._write_each(batch)
        else:
            metrics.WRITE_SECONDS.observe(time.perf_counter() - started)
            refused = {}
        if self._canary is None:  # a stored record stays stored: one canary serves for good
            self._remember(batch, refused)
        return refused

    async def _write_each(self, batch: Batch) -> Refused:
        """Group by group, then record by record; return the messages whose records failed."""
        refused: Refused = {}
        failed = total = 0
        for dataset, records, sources in batch.datasets():
            total += len(records)
            try:
                await self.store.write(dataset, records)
            except StoreUnavailable:
                raise
            except StoreError:
                found, written = await self._isolate(dataset, records, sources)
                failed += len(records) - written
                refused |= found
        if failed == total and (total > 1 or await self._canary_refused()):
            raise StoreUnavailable(f"the store refused all {total} records of a batch")
        return refused

    async def _isolate(
        self, dataset: DatasetId, records: list[Record], sources: list[int]
    ) -> tuple[Refused, int]:
        """Write one record at a time; the refused records' sources, and how many were written."""
        refused: Refused = {}
        written = 0
        for record, source in zip(records, sources, strict=True):
            try:
                await self.store.write(dataset, [record])
            except StoreUnavailable:
                raise
            except StoreError as exc:
                refused[source] = str(exc)
            else:
                written += 1
        return refused, written

    async def _canary_refused(self) -> bool:
        """Whether the store also refuses a record it already holds (a no-op write)."""
        if self._canary is None:
            return False  # nothing known to be good yet: the lone record is taken as bad
        dataset, record = self._canary
        try:
            await self.store.write(dataset, [record])
        except StoreError:
            return True
        return False

    def _remember(self, batch: Batch, refused: Refused) -> None:
        """Keep a record just stored whose rewrite changes nothing: never an open candle."""
        for dataset, records, sources in batch.datasets():
            for record, source in zip(records, sources, strict=True):
                if source in refused or (isinstance(record, Candle) and not record.is_closed):
                    continue
                self._canary = (dataset, record)
                return
