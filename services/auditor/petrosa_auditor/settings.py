"""Auditor settings; names and defaults follow the original service."""

from __future__ import annotations

from pydantic import Field

from petrosa_core import contracts
from petrosa_core.market import DuplicateStrategy
from petrosa_core.settings import CoreSettings


class AuditorSettings(CoreSettings):
    """How often and how far back to audit, and whether to repair what the audit finds."""

    service_name: str = "auditor"
    # The original service's switch; a process switched off serves its probes and nothing else.
    enable_auditor: bool = True
    audit_interval: float = Field(300.0, gt=0)  # seconds
    audit_window: float = Field(86_400.0, gt=0)  # seconds of history each scheduled audit reads
    audit_lease_name: str = "auditor"
    # The store's largest page: fewer round trips, and memory stays a few MB per page.
    audit_page_size: int = Field(10_000, ge=100, le=10_000)
    # Returns further than k robust standard deviations (MAD based) from the median are
    # suspicious; 10 flags almost nothing a real market does and every fat-finger print.
    audit_price_jump_k: float = Field(10.0, gt=0)
    # Leeway for a candle or event to reach the store after it closes or happens.
    audit_freshness_grace: float = Field(60.0, ge=0)  # seconds
    audit_volume_tolerance: float = Field(1e-6, ge=0)  # relative, for summed volumes
    audit_max_findings: int = Field(1000, ge=1)  # per check and dataset in one audit
    audit_request_subject: str = contracts.AUDIT_REQUEST
    audit_events_subject: str = contracts.AUDIT_EVENTS

    enable_auto_backfill: bool = False
    min_auto_backfill_gap: float = Field(3600.0, ge=0)  # seconds; shorter gaps wait for a person
    max_auto_backfill_jobs: int = Field(5, ge=1)
    backfill_request_subject: str = contracts.BACKFILL_REQUEST
    backfill_events_subject: str = contracts.BACKFILL_EVENTS
    backfill_request_timeout: float = Field(5.0, gt=0)  # seconds to wait for a job id

    enable_duplicate_removal: bool = False
    duplicate_resolution_strategy: DuplicateStrategy = "keep_newest"
