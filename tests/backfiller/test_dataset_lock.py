"""The per-dataset lock in a real key-value bucket: whatever the dataset id, the key stays
one the server accepts, so taking the lock can never cost a replica its connection."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from petrosa_backfiller.locks import DatasetLock
from petrosa_core.bus import Bus, ensure_kv
from petrosa_core.errors import BusError
from petrosa_core.models import DatasetId, DatasetKind

# Built without ``DatasetId.of``: the lock must not rely on every caller having checked.
HUGE = DatasetId(DatasetKind.CANDLES, "A" * 4000, "1m")
HUGE_TOO = DatasetId(DatasetKind.CANDLES, "A" * 3999 + "B", "1m")


async def test_a_huge_dataset_id_is_locked_without_losing_the_connection(bus: Bus) -> None:
    kv = await ensure_kv(bus, f"locks_{uuid.uuid4().hex[:8]}", ttl=5)
    mine = DatasetLock(kv, owner="replica-a", wait=0.3)
    theirs = DatasetLock(kv, owner="replica-b", wait=0.3)

    async with mine.hold(HUGE), theirs.hold(HUGE_TOO):
        with pytest.raises(BusError, match="still held"):
            async with theirs.hold(HUGE):
                pass
    async with asyncio.timeout(1), theirs.hold(HUGE):
        pass

    assert bus.is_connected
