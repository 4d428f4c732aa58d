"""The analytics process: builds its clients, serves probes and metrics, computes until SIGTERM."""

from __future__ import annotations

from petrosa_analytics.engine import Engine, Schedule
from petrosa_analytics.scheduler import Scheduler
from petrosa_analytics.service import AnalyticsService
from petrosa_analytics.settings import AnalyticsSettings
from petrosa_analytics.worker import Worker
from petrosa_core import contracts
from petrosa_core.bus import Bus, ensure_work_queue
from petrosa_core.http import health_app, serve_http
from petrosa_core.leader import LeaderElector, default_identity
from petrosa_core.market import MarketStore
from petrosa_core.metadata import MetadataStore
from petrosa_core.runtime import Runtime, run_service
from petrosa_core.wiring import connect_bus, open_stores


async def assemble(
    settings: AnalyticsSettings, bus: Bus, market: MarketStore, metadata: MetadataStore | None
) -> AnalyticsService:
    """The service over connected clients; makes the work queue if it is missing."""
    consumer = await ensure_work_queue(
        bus,
        settings.analytics_work_stream,
        settings.analytics_work_subject,
        settings.analytics_work_consumer,
        ack_wait=settings.analytics_ack_wait,
        max_deliver=settings.analytics_max_deliveries,
        # An item older than a few rounds is superseded by the rounds after it.
        max_age=4 * settings.analytics_interval,
    )
    engine = Engine(
        market,
        Schedule.of(settings.analytics_windows),
        max_bars=settings.analytics_max_on_demand_bars,
    )
    elector = None
    if settings.enable_leader_election:
        elector = LeaderElector.from_settings(bus, settings.analytics_lease_name, settings)
    worker = Worker(
        engine,
        market,
        metadata,
        bus,
        consumer,
        name=elector.identity if elector is not None else default_identity(),
        ack_wait=settings.analytics_ack_wait,
        deadletter_subject=contracts.ANALYTICS_DEADLETTERS,
    )
    scheduler = Scheduler(
        market,
        bus,
        subject=settings.analytics_work_subject,
        stream=settings.analytics_work_stream,
        interval=settings.analytics_interval,
        elector=elector,
    )
    return AnalyticsService(
        engine,
        worker,
        scheduler,
        bus,
        request_subject=settings.analytics_request_subject,
        queue_group=contracts.ANALYTICS_QUEUE_GROUP,
        request_backlog=settings.analytics_request_backlog,
        elector=elector,
    )


async def start(runtime: Runtime, settings: AnalyticsSettings) -> None:
    """Serve probes first so liveness answers while the clients connect."""
    await serve_http(
        runtime, health_app(runtime), settings.metrics_port, host=settings.metrics_host
    )
    bus = await connect_bus(runtime, settings)
    stores = await open_stores(runtime, settings, scans=True)
    service = await assemble(settings, bus, stores.market, stores.metadata)
    runtime.spawn("analytics", service.run(runtime.stopping))


def main() -> None:
    """Run the analytics until SIGTERM; exit 2 on bad settings, 1 on a failure."""
    run_service(AnalyticsSettings, start)
