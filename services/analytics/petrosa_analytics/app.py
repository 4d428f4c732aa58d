"""The analytics process: builds its clients, serves probes and metrics, runs until SIGTERM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from petrosa_analytics.settings import AnalyticsSettings
from petrosa_core.http import health_app, serve_http
from petrosa_core.runtime import Runtime, connect_nats, idle, run_service


@dataclass(frozen=True)
class Dependencies:
    """The clients the analytics works with."""

    nats: Any


async def build_dependencies(runtime: Runtime, settings: AnalyticsSettings) -> Dependencies:
    """Connect every client; each registers its readiness check and closer with ``runtime``."""
    nc = await connect_nats(runtime, settings.nats_url, name=f"petrosa-{settings.service_name}")
    return Dependencies(nats=nc)


async def start(runtime: Runtime, settings: AnalyticsSettings) -> None:
    """Serve probes first so liveness answers while the clients connect."""
    await serve_http(runtime, health_app(runtime), settings.metrics_port)
    await build_dependencies(runtime, settings)
    runtime.spawn("idle", idle(runtime))


def main() -> None:
    """Run the analytics until SIGTERM; exit 2 on bad settings, 1 on a failure."""
    run_service(AnalyticsSettings, start)
