"""The backfiller process: answers backfill requests on NATS and runs jobs against Binance."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from petrosa_backfiller.binance import BinanceClient, WeightLimiter
from petrosa_backfiller.events import NatsEvents
from petrosa_backfiller.intake import Handler, Intake, responder
from petrosa_backfiller.jobs import JobContext
from petrosa_backfiller.locks import DatasetLock
from petrosa_backfiller.scheduler import JobScheduler
from petrosa_backfiller.settings import BackfillerSettings
from petrosa_core.bus import Bus, Message, Subscription, ensure_kv
from petrosa_core.contracts import BackfillEvent
from petrosa_core.errors import ParseError
from petrosa_core.http import health_app, serve_http
from petrosa_core.runtime import Runtime, run_service
from petrosa_core.wiring import connect_bus, open_stores

# A request waits this much longer than a dead holder's lock can last.
LOCK_WAIT_MARGIN = 5.0


@dataclass(frozen=True)
class Backfiller:
    """The running parts: the request handlers and the job scheduler."""

    bus: Bus
    intake: Intake
    scheduler: JobScheduler


def worker_identity() -> str:
    """``host:pid:nonce``: unique per process, readable in a job row's ``claimed_by``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def build_context(
    runtime: Runtime, settings: BackfillerSettings, bus: Bus, worker_id: str
) -> JobContext:
    """Open both stores and the Binance client; each closes with the runtime."""
    stores = await open_stores(runtime, settings)
    limiter = WeightLimiter(settings.binance_weight_limit, settings.binance_weight_window)
    client = BinanceClient(
        settings.binance_fapi_url,
        limiter,
        timeout=settings.binance_timeout,
        max_attempts=settings.binance_max_attempts,
        backoff=settings.binance_retry_backoff,
        max_backoff=settings.binance_retry_max_backoff,
        max_connections=settings.binance_max_connections,
    )
    runtime.add_closer("binance", client.aclose)
    events = NatsEvents(bus, settings.backfill_events_subject)
    return JobContext(
        stores.metadata,
        stores.market,
        client,
        events,
        worker_id,
        settings.backfill_job_lease_seconds,
    )


async def build_backfiller(runtime: Runtime, settings: BackfillerSettings) -> Backfiller:
    """Connect everything; requests are not taken until ``subscribe``."""
    worker_id = worker_identity()
    # Draining flushes the final job events published during shutdown.
    bus = await connect_bus(runtime, settings, drain=True)
    ctx = await build_context(runtime, settings, bus, worker_id)
    kv = await ensure_kv(bus, settings.backfill_lock_bucket, ttl=settings.backfill_lock_ttl)
    lock = DatasetLock(kv, owner=worker_id, wait=settings.backfill_lock_ttl + LOCK_WAIT_MARGIN)
    scheduler = JobScheduler(
        ctx,
        max_jobs=settings.max_auto_backfill_jobs,
        poll_interval=settings.backfill_poll_interval,
    )
    intake = Intake(
        ctx.metadata, ctx.events, lock, on_created=scheduler.wake, traces=scheduler.traces
    )
    return Backfiller(bus, intake, scheduler)


async def subscribe(runtime: Runtime, settings: BackfillerSettings, service: Backfiller) -> None:
    """Answer requests in the queue group, and wake on other replicas' new jobs."""
    bus, group = service.bus, settings.backfill_queue_group
    handlers: dict[str, Handler] = {
        settings.backfill_request_subject: service.intake.submit,
        settings.backfill_cancel_subject: service.intake.cancel,
        settings.backfill_status_subject: service.intake.status,
    }
    requests: list[Subscription] = []
    for subject, handler in handlers.items():
        requests.append(await bus.subscribe(subject, queue=group, handler=responder(handler)))
    await bus.subscribe(settings.backfill_events_subject, handler=_waker(service.scheduler))

    async def stop_requests() -> None:
        for subscription in requests:
            await subscription.unsubscribe()

    runtime.on_stop_intake("backfill-requests", stop_requests)


def _waker(scheduler: JobScheduler) -> Callable[[Message], Awaitable[None]]:
    """Wake the scheduler when any replica reports a job that may be claimed."""

    async def on_event(msg: Message) -> None:
        try:
            claimable = BackfillEvent.decode(msg.data).claimable
        except ParseError:
            return
        if claimable:
            scheduler.wake()

    return on_event


async def launch(runtime: Runtime, settings: BackfillerSettings) -> Backfiller:
    """Build the backfiller, start its scheduler and take requests."""
    service = await build_backfiller(runtime, settings)
    runtime.spawn("backfill-jobs", service.scheduler.run(runtime.stopping))
    await subscribe(runtime, settings, service)
    return service


async def start(runtime: Runtime, settings: BackfillerSettings) -> None:
    """Serve probes first so liveness answers while the clients connect."""
    await serve_http(
        runtime, health_app(runtime), settings.metrics_port, host=settings.metrics_host
    )
    await launch(runtime, settings)


def main() -> None:
    """Run the backfiller until SIGTERM; exit 2 on bad settings, 1 on a failure."""
    run_service(BackfillerSettings, start)
