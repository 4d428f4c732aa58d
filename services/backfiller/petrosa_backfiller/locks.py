"""A per-dataset lock across replicas: a create-only key in a JetStream key-value bucket.

Finding an overlapping job and creating a new one are two statements; holding the
dataset's key between them makes the pair atomic for every replica. The bucket's TTL
frees the key of a holder that died.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from petrosa_core.bus import KeyValue
from petrosa_core.errors import BusError, KeyConflict
from petrosa_core.models import DatasetId

log = logging.getLogger(__name__)

# Holders keep the key for two short SQL statements; a quick re-try finds it free soon.
RETRY_DELAY = 0.01
# The longest checked id (a funding_rates dataset of a 27-character symbol) fits easily; the
# server's limit is a 4 KiB protocol line for subject, reply inbox and size together.
MAX_READABLE_KEY = 96
# No dataset kind is called sha256, so a readable key never collides with a hashed one.
_KEY_SAFE = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


def lock_key(dataset: DatasetId) -> str:
    """A valid key-value key for ``dataset``, readable when it can be, never long.

    The key travels in a subject, and a protocol line past the server's limit makes it drop
    the connection; an id too long or with characters keys may not hold is hashed instead.
    """
    readable = "dataset." + str(dataset).replace(":", ".")
    if len(readable) <= MAX_READABLE_KEY and _KEY_SAFE.fullmatch(readable):
        return readable
    return "dataset.sha256." + hashlib.sha256(str(dataset).encode()).hexdigest()


class DatasetLock:
    """``async with lock.hold(dataset):`` runs the block while no other replica holds it."""

    def __init__(self, kv: KeyValue, *, owner: str, wait: float) -> None:
        self._kv = kv
        self._owner = owner.encode()
        self._wait = wait

    @asynccontextmanager
    async def hold(self, dataset: DatasetId) -> AsyncIterator[None]:
        key = lock_key(dataset)
        revision = await self._acquire(key)
        try:
            yield
        finally:
            await self._release(key, revision)

    async def _acquire(self, key: str) -> int:
        try:
            async with asyncio.timeout(self._wait):
                while True:
                    try:
                        return await self._kv.create(key, self._owner)
                    except KeyConflict:
                        await asyncio.sleep(RETRY_DELAY)
        except TimeoutError:
            raise BusError(f"lock {key} still held after {self._wait}s") from None

    async def _release(self, key: str, revision: int) -> None:
        try:
            # ``last`` refuses to delete a key another holder took after our TTL lapsed.
            await self._kv.delete(key, last=revision)
        except BusError as exc:
            log.warning("dataset lock not released; it lapses with the TTL: %s", exc)
