"""Analytics settings; names and defaults follow the original service."""

from __future__ import annotations

from pydantic import Field

from petrosa_core.settings import CoreSettings


class AnalyticsSettings(CoreSettings):
    """How often the metrics are recomputed."""

    service_name: str = "analytics"
    # The original service's switch; a process switched off serves its probes and nothing else.
    enable_analytics: bool = True
    analytics_interval: float = Field(900.0, gt=0)  # seconds
