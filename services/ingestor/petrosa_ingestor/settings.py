"""Ingestor settings; names follow the original service where it had one."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from petrosa_core import contracts
from petrosa_core.settings import CoreSettings


class IngestorSettings(CoreSettings):
    """``NATS_CONSUMER_SUBJECT`` is where the socket client publishes raw frames."""

    service_name: str = "ingestor"
    nats_consumer_subject: str = contracts.MARKET_DATA
    nats_stream_name: str = "MARKET_DATA"
    nats_stream_storage: Literal["file", "memory"] = "file"
    nats_stream_max_age: float = Field(7 * 24 * 3600.0, ge=0)  # seconds; 0 = unlimited
    nats_stream_max_bytes: int = Field(10 * 1024**3, ge=-1)  # -1 = unlimited
    nats_consumer_durable: str = "ingestor"
    # Frames delivered and not yet acked, across all replicas: the memory bound.
    ingest_max_ack_pending: int = Field(20_000, ge=1)
    # Flush on size or on age. `python -m benchmarks ingest` on 2 cores: batches of 5000
    # (fetches of 2500) gave 9.8k frames/s on SQLite against 8.9k for 2000/1000, for 11 MiB
    # more RSS; under load the size decides, and a quiet market waits at most 0.25 s.
    ingest_batch_size: int = Field(5000, ge=1)
    ingest_flush_interval: float = Field(0.25, gt=0)
    ingest_fetch_batch: int = Field(2500, ge=1)
    ingest_ack_wait: float = Field(30.0, gt=0)
    ingest_nak_delay: float = Field(1.0, ge=0)
    # Larger frames are dead-lettered unparsed; Binance's largest (depth) are tens of KiB.
    ingest_max_frame_bytes: int = Field(1024**2, ge=1024)
    # A frame delivered more often than this was held by processes that died each time
    # (a crash, an OOM kill); it is dead-lettered instead of taking down the next one.
    ingest_max_deliver: int = Field(5, ge=1)
    deadletter_subject: str = contracts.INGESTOR_DEADLETTERS
    # Dead letters are persisted on their own stream, kept a month within 1 GiB.
    deadletter_stream_name: str = "DEADLETTERS"
    deadletter_max_age: float = Field(30 * 24 * 3600.0, ge=0)  # seconds; 0 = unlimited
    deadletter_max_bytes: int = Field(1024**3, ge=-1)  # -1 = unlimited
    audit_events_subject: str = contracts.AUDIT_EVENTS

    @model_validator(mode="after")
    def _batch_fits_ack_window(self) -> IngestorSettings:
        if self.ingest_batch_size > self.ingest_max_ack_pending:
            raise ValueError("INGEST_BATCH_SIZE must not exceed INGEST_MAX_ACK_PENDING")
        return self
