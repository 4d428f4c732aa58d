"""Analytics settings; names and defaults follow the original service."""

from __future__ import annotations

from pydantic import Field, field_validator

from petrosa_core import contracts
from petrosa_core.settings import CoreSettings


class AnalyticsSettings(CoreSettings):
    """How often the metrics are recomputed, over which windows, and how work is shared.

    ``ANALYTICS_WINDOWS`` is JSON: a list of windows (in bars) per family, e.g.
    ``{"volatility": [30, 168], "trend": [26]}``; a family left out keeps its default.
    """

    service_name: str = "analytics"
    # The original service's switch; a process switched off serves its probes and nothing else.
    enable_analytics: bool = True
    analytics_interval: float = Field(900.0, gt=0)  # seconds
    analytics_windows: dict[str, list[int]] = Field(default_factory=dict)
    analytics_lease_name: str = "analytics"
    analytics_request_subject: str = contracts.ANALYTICS_REQUEST
    analytics_work_subject: str = contracts.ANALYTICS_WORK
    analytics_work_stream: str = contracts.ANALYTICS_WORK_STREAM
    analytics_work_consumer: str = contracts.ANALYTICS_WORK_CONSUMER
    # An item not acked this long after delivery goes to another worker; a worker still
    # computing says so every third of it, so only a dead worker's items move.
    analytics_ack_wait: float = Field(30.0, gt=0)  # seconds
    # A dataset whose item failed this often waits for the next round.
    analytics_max_deliveries: int = Field(5, ge=1)
    # The most bars an on-demand request may read: memory and time stay bounded.
    analytics_max_on_demand_bars: int = Field(50_000, ge=2)
    analytics_request_backlog: int = Field(64, ge=1)

    @field_validator("analytics_windows")
    @classmethod
    def _windows(cls, value: dict[str, list[int]]) -> dict[str, list[int]]:
        for family, windows in value.items():
            if family not in contracts.ANALYTICS_FAMILIES or family == "correlation":
                raise ValueError(f"{family!r} is not a scheduled metric family")
            if not windows or any(w < 2 for w in windows):
                raise ValueError(f"{family}: give one or more windows of at least 2 bars")
        return value
