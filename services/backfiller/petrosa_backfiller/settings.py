"""Backfiller settings; names follow the original service."""

from __future__ import annotations

from pydantic import Field, model_validator

from petrosa_core import contracts
from petrosa_core.settings import CoreSettings


class BackfillerSettings(CoreSettings):
    """Where Binance is, how much request weight this process may spend, and how jobs run."""

    service_name: str = "backfiller"
    # The original service's switch; a process switched off serves its probes and nothing else.
    enable_backfiller: bool = True
    binance_fapi_url: str = "https://fapi.binance.com"
    # Binance allows 2400 weight per minute per IP; tests compress the window.
    binance_weight_limit: int = Field(2400, gt=0)
    binance_weight_window: float = Field(60.0, gt=0)  # seconds
    binance_timeout: float = Field(10.0, gt=0)  # seconds per request
    # Retries of 5xx, timeouts and 429s per request before the job fails.
    binance_max_attempts: int = Field(8, ge=1)
    # Random exponential backoff between those retries, in seconds.
    binance_retry_backoff: float = Field(0.5, gt=0)
    binance_retry_max_backoff: float = Field(30.0, gt=0)
    binance_max_connections: int = Field(8, ge=1)
    max_auto_backfill_jobs: int = Field(5, ge=1)

    backfill_request_subject: str = contracts.BACKFILL_REQUEST
    backfill_cancel_subject: str = contracts.BACKFILL_CANCEL
    backfill_status_subject: str = contracts.BACKFILL_STATUS
    backfill_events_subject: str = contracts.BACKFILL_EVENTS
    backfill_queue_group: str = contracts.BACKFILL_QUEUE_GROUP
    # A dead worker's job is taken over this long after its last heartbeat.
    backfill_job_lease_seconds: float = Field(30.0, gt=0)
    # How often idle workers look for abandoned jobs; new jobs wake them at once.
    backfill_poll_interval: float = Field(2.0, gt=0)
    backfill_lock_bucket: str = "petrosa_backfill_locks"
    # A crashed request handler's lock on a dataset lapses after this many seconds.
    backfill_lock_ttl: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _poll_within_lease(self) -> BackfillerSettings:
        if self.backfill_poll_interval >= self.backfill_job_lease_seconds:
            raise ValueError(
                "BACKFILL_POLL_INTERVAL must be shorter than BACKFILL_JOB_LEASE_SECONDS"
            )
        return self
