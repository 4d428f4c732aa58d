"""The ingestor's Prometheus metrics; the first five keep the original service's names."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_RECEIVED = Counter(
    "data_manager_messages_received_total", "Frames fetched from NATS", ["event_type"]
)
MESSAGES_PROCESSED = Counter(
    "data_manager_messages_processed_total", "Frames durably stored and acked", ["event_type"]
)
MESSAGES_FAILED = Counter(
    "data_manager_messages_failed_total",
    "Frames that could not be processed",
    ["event_type", "error_type"],
)
PROCESSING_SECONDS = Histogram(
    "data_manager_message_processing_seconds",
    "Time from fetching a frame to its durable write, per frame",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
BATCH_SIZE = Histogram(
    "data_manager_ingest_batch_size",
    "Frames per flushed batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
WRITE_SECONDS = Histogram(
    "data_manager_ingest_write_seconds",
    "Duration of one batch's write (every dataset in it) to the market store",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
PUBLISH_TO_WRITE_SECONDS = Histogram(
    "data_manager_ingest_latency_seconds",
    "Time from the frame's publish (JetStream timestamp) to its durable write",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CONSUMER_PENDING = Gauge(
    "data_manager_ingest_consumer_pending", "Frames in the stream not yet delivered to the consumer"
)
CONSUMER_ACK_PENDING = Gauge(
    "data_manager_ingest_consumer_ack_pending", "Frames delivered and not yet acked"
)
SEQUENCE_BREAKS = Counter(
    "data_manager_sequence_breaks_total",
    "Breaks in aggTrade id or depth pu->u continuity",
    ["check"],
)
STORE_AVAILABLE = Gauge(
    "data_manager_ingest_store_available", "1 while the market store accepts writes, else 0"
)
DEAD_LETTERS = Counter(
    "data_manager_dead_letters_total", "Frames sent to the dead-letter subject", ["reason"]
)
