"""The dataset catalog as the API serves it: stored data, registered datasets and health.

Dataset lists change when data lands, not per request, so they are cached for a few
seconds; freshness is computed at answer time from the cached last record time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from petrosa_api.cache import TtlCache
from petrosa_api.errors import ApiError
from petrosa_api.times import iso_or_none
from petrosa_core.errors import ValidationError
from petrosa_core.market import DatasetInfo, MarketStore
from petrosa_core.metadata import DatasetRecord, HealthRecord, MetadataStore, catalog_facts
from petrosa_core.models import DatasetId, DatasetKind
from petrosa_core.times import now_ms


@dataclass(frozen=True)
class Entry:
    """What is known of one dataset: its stored range, its registration, its last health."""

    dataset: DatasetId
    info: DatasetInfo | None
    record: DatasetRecord | None
    health: HealthRecord | None


def parse_dataset_id(text: str) -> DatasetId:
    """A dataset id from a path; a clear 400 says the expected form when it is not one."""
    try:
        return DatasetId.parse(text)
    except ValidationError as exc:
        kinds = ", ".join(k.value for k in DatasetKind)
        raise ApiError(
            400,
            exc.reason,
            f"{text!r} is not a dataset id ({exc.detail}); use kind:SYMBOL[:interval] with "
            f"kind one of {kinds}, e.g. candles:BTCUSDT:1m",
        ) from None


class Catalog:
    def __init__(
        self,
        market: MarketStore,
        metadata: MetadataStore,
        cache: TtlCache,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.market = market
        self.metadata = metadata
        self.cache = cache
        self.clock = clock

    async def entries(self) -> dict[str, Entry]:
        """Every dataset that holds data or is registered, by dataset id (cached)."""
        found: dict[str, Entry] = await self.cache.get("entries", self._load_entries)
        return found

    async def _load_entries(self) -> dict[str, Entry]:
        infos = {str(i.dataset): i for i in await self.market.datasets()}
        records = {r.id: r for r in await self.metadata.list_datasets()}
        health = {h.dataset_id: h for h in await self.metadata.latest_health_all()}
        entries: dict[str, Entry] = {}
        for key in sorted(infos.keys() | records.keys()):
            info, record = infos.get(key), records.get(key)
            dataset = info.dataset if info else DatasetId.parse(key)
            entries[key] = Entry(dataset, info, record, health.get(key))
        return entries

    async def search(
        self,
        kind: DatasetKind | None = None,
        symbol: str | None = None,
        interval: str | None = None,
    ) -> list[Entry]:
        symbol = symbol.upper() if symbol else None
        return [
            e
            for e in (await self.entries()).values()
            if (kind is None or e.dataset.kind is kind)
            and (symbol is None or e.dataset.symbol == symbol)
            and (interval is None or e.dataset.interval == interval)
        ]

    async def entry(self, dataset: DatasetId) -> Entry:
        """One dataset's entry; 404 unless it holds data or is registered."""
        found = (await self.entries()).get(str(dataset))
        if found is not None:
            return found
        await self.require(dataset)
        # It exists but landed after the cached list was built: read it afresh.
        fresh = await self._load_entries()
        return fresh.get(str(dataset)) or Entry(dataset, None, None, None)

    async def require(self, dataset: DatasetId) -> None:
        """Raise a 404 unless ``dataset`` holds data or is registered in the catalog."""
        if not await self.cache.get(("exists", str(dataset)), lambda: self._exists(dataset)):
            raise ApiError(
                404,
                "unknown_dataset",
                f"no dataset {dataset}: nothing is stored or registered for it; "
                "GET /catalog/datasets lists the datasets that exist",
            )

    async def _exists(self, dataset: DatasetId) -> bool:
        """One indexed read of the newest record, else the registry: never the whole catalog.

        Building the catalog counts every dataset's records, which on a store of millions of
        rows takes seconds; a data request (or an export's first byte) must not wait for it.
        """
        if await self.market.latest(dataset, 1):
            return True
        return await self.metadata.get_dataset(dataset) is not None

    def render(self, entry: Entry) -> dict[str, Any]:
        """The JSON form of an entry, with freshness as of now.

        A dataset stored but never registered is described by its kind's catalog facts.
        """
        info, record, health = entry.info, entry.record, entry.health
        facts = record or catalog_facts(entry.dataset)
        last_time = info.last_time if info else None
        return {
            "dataset_id": str(entry.dataset),
            "kind": entry.dataset.kind.value,
            "symbol": entry.dataset.symbol,
            "interval": entry.dataset.interval,
            "record_count": info.count if info else 0,
            "first_time": info.first_time if info else None,
            "first_time_iso": iso_or_none(info.first_time if info else None),
            "last_time": last_time,
            "last_time_iso": iso_or_none(last_time),
            "freshness_seconds": None if last_time is None else (self.clock() - last_time) / 1000,
            "health_score": health.score if health else None,
            "health_freshness": health.freshness if health else None,
            "health_measured_time": health.measured_at if health else None,
            "source": record.source if record else None,
            "description": facts.description,
            "category": facts.category,
            "update_frequency": facts.update_frequency,
        }
