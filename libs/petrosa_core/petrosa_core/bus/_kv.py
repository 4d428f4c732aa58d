"""A JetStream key-value bucket: the leases and locks the services share across processes.

``create`` and ``update(last=...)`` raise ``KeyConflict`` when another writer got there
first; a missing key reads as ``None``. Every other failure is a ``BusError``.
"""

from __future__ import annotations

import msgspec
import nats.js.errors
from nats.js.kv import KeyValue as NatsKeyValue

from petrosa_core.bus._errors import as_bus_error


class Entry(msgspec.Struct, frozen=True):
    """A key's current value and the revision that wrote it."""

    key: str
    value: bytes
    revision: int


class BucketStatus(msgspec.Struct, frozen=True):
    """A bucket's TTL (seconds; 0 keeps values for ever) and how many values a key keeps."""

    ttl: float
    history: int


class KeyValue:
    """One bucket of a JetStream key-value store."""

    def __init__(self, kv: NatsKeyValue, bucket: str) -> None:
        self._kv = kv
        self.bucket = bucket

    async def create(self, key: str, value: bytes) -> int:
        """Write ``key`` only if it is absent or deleted; its revision."""
        with as_bus_error(f"create {key} in {self.bucket}"):
            return int(await self._kv.create(key, value))

    async def update(self, key: str, value: bytes, *, last: int) -> int:
        """Write ``key`` only if revision ``last`` is still its latest; the new revision."""
        with as_bus_error(f"update {key} in {self.bucket}"):
            return int(await self._kv.update(key, value, last=last))

    async def put(self, key: str, value: bytes) -> int:
        """Write ``key`` whatever it holds; its revision."""
        with as_bus_error(f"put {key} in {self.bucket}"):
            return int(await self._kv.put(key, value))

    async def delete(self, key: str, *, last: int | None = None) -> None:
        """Delete ``key``; with ``last``, only while that revision is still its latest."""
        with as_bus_error(f"delete {key} from {self.bucket}"):
            await self._kv.delete(key, last=last)

    async def get(self, key: str) -> Entry | None:
        """The live value of ``key``, or None when it is absent or deleted."""
        with as_bus_error(f"read {key} from {self.bucket}"):
            try:
                entry = await self._kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                return None
        return Entry(key, entry.value or b"", entry.revision or 0)

    async def keys(self) -> list[str]:
        """Every live key, sorted."""
        with as_bus_error(f"list the keys of {self.bucket}"):
            try:
                return sorted(await self._kv.keys())
            except nats.js.errors.NoKeysError:
                return []

    async def status(self) -> BucketStatus:
        with as_bus_error(f"read the status of {self.bucket}"):
            status = await self._kv.status()
        return BucketStatus(ttl=status.ttl or 0.0, history=status.history)
