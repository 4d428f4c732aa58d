"""Analytics settings; names and defaults follow the original service."""

from __future__ import annotations

from pydantic import Field

from petrosa_core.settings import CoreSettings


class AnalyticsSettings(CoreSettings):
    """How often the metrics are recomputed."""

    service_name: str = "analytics"
    analytics_interval: float = Field(900.0, gt=0)  # seconds
