"""The auditor process: builds its clients, serves probes and metrics, audits while leader."""

from __future__ import annotations

from petrosa_auditor.audit import Auditor
from petrosa_auditor.context import AuditConfig
from petrosa_auditor.recorder import Recorder
from petrosa_auditor.repair import AutoBackfill
from petrosa_auditor.service import AuditorService
from petrosa_auditor.settings import AuditorSettings
from petrosa_core.bus import Bus
from petrosa_core.http import health_app, serve_http
from petrosa_core.leader import LeaderElector
from petrosa_core.market import DuplicateScanner, MarketStore, open_duplicate_scanner
from petrosa_core.metadata import MetadataStore
from petrosa_core.runtime import Runtime, run_service
from petrosa_core.wiring import connect_bus, open_stores


def open_legacy_scanner(runtime: Runtime, url: str) -> DuplicateScanner | None:
    """The legacy-copy scanner, on MongoDB only: other backends cannot hold copies."""
    legacy = open_duplicate_scanner(url)
    if legacy is not None:
        runtime.add_closer("legacy_duplicates", legacy.close)
    return legacy


def build_auditor(
    settings: AuditorSettings, market: MarketStore, duplicates: DuplicateScanner | None
) -> Auditor:
    removal = settings.duplicate_resolution_strategy if settings.enable_duplicate_removal else None
    return Auditor(
        market, AuditConfig.from_settings(settings), duplicates=duplicates, removal=removal
    )


def build_repair(bus: Bus, metadata: MetadataStore, settings: AuditorSettings) -> AutoBackfill:
    async def request(subject: str, payload: bytes, wait: float) -> bytes:
        return await bus.request(subject, payload, within=wait)

    return AutoBackfill(
        request,
        metadata,
        subject=settings.backfill_request_subject,
        min_gap_seconds=settings.min_auto_backfill_gap,
        max_jobs=settings.max_auto_backfill_jobs,
        timeout=settings.backfill_request_timeout,
    )


def assemble(
    settings: AuditorSettings,
    bus: Bus,
    market: MarketStore,
    metadata: MetadataStore,
    duplicates: DuplicateScanner | None = None,
) -> AuditorService:
    """The auditor service over connected clients."""

    elector = None
    if settings.enable_leader_election:
        elector = LeaderElector.from_settings(bus, settings.audit_lease_name, settings)
    return AuditorService(
        build_auditor(settings, market, duplicates),
        Recorder(metadata, bus.publish, settings.audit_events_subject),
        bus,
        interval=settings.audit_interval,
        window=settings.audit_window,
        request_subject=settings.audit_request_subject,
        events_subject=settings.backfill_events_subject,
        repair=build_repair(bus, metadata, settings) if settings.enable_auto_backfill else None,
        elector=elector,
    )


async def build_service(runtime: Runtime, settings: AuditorSettings) -> AuditorService:
    """Connect everything the auditor needs; each client registers its closer."""
    bus = await connect_bus(runtime, settings)
    stores = await open_stores(runtime, settings, scans=True)
    duplicates = open_legacy_scanner(runtime, settings.market_store_url)
    return assemble(settings, bus, stores.market, stores.metadata, duplicates)


async def start(runtime: Runtime, settings: AuditorSettings) -> None:
    """Serve probes first so liveness answers while the clients connect."""
    await serve_http(
        runtime, health_app(runtime), settings.metrics_port, host=settings.metrics_host
    )
    service = await build_service(runtime, settings)
    runtime.spawn("audit", service.run(runtime.stopping))


def main() -> None:
    """Run the auditor until SIGTERM; exit 2 on bad settings, 1 on a failure."""
    run_service(AuditorSettings, start)
