"""The analytics process: builds its clients, serves probes and metrics, runs until SIGTERM."""

from __future__ import annotations

from dataclasses import dataclass

from petrosa_analytics.settings import AnalyticsSettings
from petrosa_core.bus import Bus
from petrosa_core.http import health_app, serve_http
from petrosa_core.runtime import Runtime, idle, run_service
from petrosa_core.wiring import connect_bus


@dataclass(frozen=True)
class Dependencies:
    """The clients the analytics works with."""

    bus: Bus


async def build_dependencies(runtime: Runtime, settings: AnalyticsSettings) -> Dependencies:
    """Connect every client; each registers its readiness check and closer with ``runtime``."""
    return Dependencies(bus=await connect_bus(runtime, settings))


async def start(runtime: Runtime, settings: AnalyticsSettings) -> None:
    """Serve probes first so liveness answers while the clients connect."""
    await serve_http(
        runtime, health_app(runtime), settings.metrics_port, host=settings.metrics_host
    )
    await build_dependencies(runtime, settings)
    runtime.spawn("idle", idle(runtime))


def main() -> None:
    """Run the analytics until SIGTERM; exit 2 on bad settings, 1 on a failure."""
    run_service(AnalyticsSettings, start)
