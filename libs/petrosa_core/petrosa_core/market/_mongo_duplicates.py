"""Duplicates in legacy MongoDB collections: copies of one natural key under other ``_id``s.

The original service inserted documents with random ``ObjectId``s, so a replayed record
became a second document. Our store writes one document per key under a deterministic
``_id`` and can never add a copy, but it reads legacy copies as they are. This module
scans a collection with plain sorted finds (which every MongoDB-wire server evaluates
exactly), groups copies in Python, and removes the surplus.

Age of a copy: an ``ObjectId`` carries its creation time; a deterministic ``_id`` was
written by this suite, which replaced the legacy writer, so it counts as the newest.
The copy a strategy keeps ends up under the deterministic ``_id``, so the store's own
writes find it there and never recreate a duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
from bson import DatetimeMS, ObjectId
from pymongo import AsyncMongoClient, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from petrosa_core.market._mongo_client import open_database, translated
from petrosa_core.market._mongo_layout import Document, collection_name
from petrosa_core.market._mongo_ranges import covering, time_filter
from petrosa_core.market.duplicates import DuplicateGroup, DuplicateStrategy, Removal
from petrosa_core.models import KIND_SPECS, DatasetId

log = logging.getLogger(__name__)

# Documents per cursor batch, and keys per removal round trip: bounded memory either way.
SCAN_BATCH = 10_000
REMOVE_BATCH = 500


def _plain(value: Any) -> Any:
    return int(value) if isinstance(value, DatetimeMS) else value


async def _contents(collection: AsyncCollection[Document], ids: list[Any]) -> dict[Any, Document]:
    """The documents with ``ids``, without their ``_id``, by id."""
    found: dict[Any, Document] = {}
    if ids:
        async for doc in collection.find({"_id": {"$in": ids}}):
            found[doc["_id"]] = {k: v for k, v in doc.items() if k != "_id"}
    return found


def canonical_id(key: tuple[Any, ...]) -> str:
    """The store's deterministic ``_id`` for a natural key: ``"1626992760000"``, ``"agg:12"``."""
    return ":".join(str(part) for part in key)


def age_rank(doc_id: Any, canonical: str) -> tuple[int, bytes | str]:
    """Sorts copies oldest first: ``ObjectId``s by creation, other legacy ids, ours last."""
    if isinstance(doc_id, ObjectId):
        return (0, doc_id.binary)
    return (2, "") if doc_id == canonical else (1, str(doc_id))


class MongoDuplicates:
    """Finds and removes surplus copies in the MongoDB collections of the market store."""

    def __init__(self, client: AsyncMongoClient[Document], database: AsyncDatabase[Document]):
        self._client = client
        self._db = database

    @classmethod
    def open(cls, url: str) -> MongoDuplicates:
        """A scanner on the market store's URL; it connects on first use."""
        return cls(*open_database(url))

    async def close(self) -> None:
        await self._client.close()

    def _collection(self, dataset: DatasetId) -> AsyncCollection[Document]:
        return self._db[collection_name(dataset)]

    async def scan(
        self, dataset: DatasetId, start: int | None, end: int | None
    ) -> AsyncIterator[DuplicateGroup]:
        """Every key in ``[start, end)`` stored more than once, in time order."""
        current: list[Document] = []
        current_key: tuple[Any, ...] = ()
        ordinal = -1
        async for doc in self._documents(dataset, start, end):
            key = self._key(dataset, doc)
            if current and key == current_key:
                current.append(doc)
                continue
            if len(current) > 1:
                yield self._group(dataset, current, ordinal)
            current, current_key, ordinal = [doc], key, ordinal + 1
        if len(current) > 1:
            yield self._group(dataset, current, ordinal)

    async def _documents(
        self, dataset: DatasetId, start: int | None, end: int | None
    ) -> AsyncIterator[Document]:
        """Ids, times and keys of the documents in ``[start, end)``, in the store's order."""
        spec = KIND_SPECS[dataset.kind]
        time_field, order = spec.time_field, spec.order_fields
        fields = (*order, *spec.key_fields)
        # Whole-second bounds are exact on every server; the edges are settled here.
        query = time_filter(time_field, covering(start, end))
        sort = [(f, 1) for f in order]
        with translated(f"scan {dataset} for duplicates"):
            found = self._collection(dataset).find(
                query, dict.fromkeys(fields, 1), sort=sort, batch_size=SCAN_BATCH
            )
            try:
                async for doc in found:
                    moment = _plain(doc[time_field])
                    if (start is None or moment >= start) and (end is None or moment < end):
                        yield doc
            finally:
                await found.close()

    @staticmethod
    def _key(dataset: DatasetId, doc: Document) -> tuple[Any, ...]:
        return tuple(_plain(doc.get(name)) for name in KIND_SPECS[dataset.kind].key_fields)

    def _group(self, dataset: DatasetId, docs: list[Document], ordinal: int) -> DuplicateGroup:
        key = self._key(dataset, docs[0])
        canonical = canonical_id(key)
        ids = sorted((doc["_id"] for doc in docs), key=lambda i: age_rank(i, canonical))
        time = int(_plain(docs[0][KIND_SPECS[dataset.kind].time_field]))
        return DuplicateGroup(key, time, ordinal, ids)

    async def remove(
        self, dataset: DatasetId, groups: Sequence[DuplicateGroup], strategy: DuplicateStrategy
    ) -> list[Removal]:
        """Keep one copy per group as ``strategy`` says, under the deterministic ``_id``."""
        removals: list[Removal] = []
        for offset in range(0, len(groups), REMOVE_BATCH):
            batch = groups[offset : offset + REMOVE_BATCH]
            with translated(f"remove duplicates of {dataset}"):
                removals.extend(await self._remove_batch(dataset, batch, strategy))
        return removals

    async def _remove_batch(
        self, dataset: DatasetId, groups: Sequence[DuplicateGroup], strategy: DuplicateStrategy
    ) -> list[Removal]:
        collection = self._collection(dataset)
        kept = {g.key: g.ids[-1] if strategy == "keep_newest" else g.ids[0] for g in groups}
        moving = [kept[g.key] for g in groups if kept[g.key] != canonical_id(g.key)]
        contents = await _contents(collection, moving)
        # A copy someone else removed meanwhile: its key waits for the next audit.
        groups = [
            g for g in groups if kept[g.key] == canonical_id(g.key) or kept[g.key] in contents
        ]
        promotions = [
            (canonical_id(g.key), contents[kept[g.key]])
            for g in groups
            if kept[g.key] != canonical_id(g.key)
        ]
        if promotions:
            # The kept content goes under the deterministic id first: nothing is ever lost.
            # The _id is in the replacement too: some servers ignore the filter's on upsert.
            await collection.bulk_write(
                [ReplaceOne({"_id": i}, {"_id": i, **doc}, upsert=True) for i, doc in promotions]
            )
        surplus = [i for g in groups for i in g.ids if i != canonical_id(g.key)]
        if surplus:
            await collection.delete_many({"_id": {"$in": surplus}})
        removals = [self._removal(g, kept[g.key]) for g in groups]
        for removal in removals:
            log.info(
                "duplicate removed",
                extra={
                    "dataset": str(dataset),
                    "strategy": strategy,
                    **msgspec.structs.asdict(removal),
                },
            )
        return removals

    @staticmethod
    def _removal(group: DuplicateGroup, kept: Any) -> Removal:
        canonical = canonical_id(group.key)
        # Every copy but the deterministic one goes: it now holds the kept content.
        removed = [str(doc_id) for doc_id in group.ids if doc_id != canonical]
        return Removal(list(group.key), group.time, str(kept), removed)
