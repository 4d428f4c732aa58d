"""Health figures from the auditor's tables, and connection statistics of the clients.

Scores and bands are the core's one scale (``petrosa_core.health``): 0..100.
"""

from __future__ import annotations

from statistics import fmean
from typing import Any

import msgspec

from petrosa_api.dataset_catalog import Entry
from petrosa_api.times import iso_or_none
from petrosa_core.bus import Bus
from petrosa_core.health import band
from petrosa_core.market import MarketStore
from petrosa_core.metadata import Finding, MetadataStore
from petrosa_core.models import DatasetId

# Metadata times named *_at are epoch ms; the API names such fields *_time.
_ISO_EXTRA = ("range_start", "range_end")


def render(row: msgspec.Struct) -> dict[str, Any]:
    """A metadata row as JSON: ``*_at`` renamed ``*_time``, each time with its ``*_iso``."""
    out: dict[str, Any] = {}
    for name, value in msgspec.structs.asdict(row).items():
        key = f"{name.removesuffix('_at')}_time" if name.endswith("_at") else name
        out[key] = value
        if key.endswith("_time") or key in _ISO_EXTRA:
            out[f"{key}_iso"] = iso_or_none(value)
    return out


def summarise(
    entries: list[Entry], findings: list[Finding], failing: dict[str, str]
) -> dict[str, Any]:
    """Datasets by health band, their mean score, open findings, and what readiness lacks."""
    scores = [e.health.score for e in entries if e.health is not None]
    bands = [band(s) for s in scores]
    overall = fmean(scores) if scores else None
    if failing:
        status = "unhealthy"
    else:
        status = "unknown" if overall is None else band(min(scores))
    return {
        "status": status,
        "total_datasets": len(entries),
        "healthy_datasets": bands.count("healthy"),
        "degraded_datasets": bands.count("degraded"),
        "unhealthy_datasets": bands.count("unhealthy"),
        "unscored_datasets": len(entries) - len(scores),
        "overall_score": overall,
        "open_findings": len(findings),
        "failing": failing,
    }


async def dataset_health(
    metadata: MetadataStore, dataset: DatasetId, entry: Entry | None, findings: int
) -> dict[str, Any]:
    """Current score and components of one dataset, with its most recent findings."""
    health = await metadata.latest_health(dataset)
    recent = await metadata.findings(dataset, limit=findings) if findings else []
    info = entry.info if entry else None
    row: dict[str, Any] = {
        "dataset_id": str(dataset),
        "score": health.score if health else None,
        "band": band(health.score) if health else None,
        "components": None,
        "details": health.details if health else None,
        "measured_time": health.measured_at if health else None,
        "measured_time_iso": iso_or_none(health.measured_at if health else None),
        "record_count": info.count if info else 0,
        "last_time": info.last_time if info else None,
        "last_time_iso": iso_or_none(info.last_time if info else None),
        "findings": [render(f) for f in recent],
    }
    if health:
        names = ("completeness", "validity", "freshness", "consistency")
        row["components"] = {name: getattr(health, name) for name in names}
    return row


def _nats_stats(bus: Bus | None) -> dict[str, Any]:
    if bus is None:
        return {"connected": False}
    return {"connected": bus.is_connected, "server": bus.server, **bus.stats}


def connection_stats(
    market: MarketStore, metadata: MetadataStore, bus: Bus | None
) -> dict[str, Any]:
    return {
        "market_store": market.pool_status(),
        "metadata_store": metadata.pool_status(),
        "nats": _nats_stats(bus),
    }
