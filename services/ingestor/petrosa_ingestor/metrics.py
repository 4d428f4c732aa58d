"""The ingestor's Prometheus metrics; the first five keep the original service's names."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import INF, floatToGoString

# The library's own formatting of bucket bounds ("0.005", "+Inf"); it has no annotations.
_bound_text = cast(Callable[[float], str], floatToGoString)


class BatchHistogram(Collector):
    """A histogram fed a whole batch of observations per call; exposes what Histogram does.

    ``Histogram.observe`` takes two locks per value: for two per-frame histograms that was
    about 4% of the ingestor's time at full speed. This takes one lock per batch.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self._name, self._documentation = name, documentation
        self._bounds = [*sorted(float(b) for b in buckets if b != INF), INF]
        self._counts = [0] * len(self._bounds)  # per bucket, not cumulative
        self._sum = 0.0
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def observe_many(self, values: Sequence[float]) -> None:
        tally = Tally([bisect_left(self._bounds, value) for value in values])
        total = sum(values)
        with self._lock:
            for index, count in tally.items():
                self._counts[index] += count
            self._sum += total

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, count in zip(self._bounds, counts, strict=True):
            cumulative += count
            buckets.append((_bound_text(bound), float(cumulative)))
        yield HistogramMetricFamily(self._name, self._documentation, buckets, total)


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
PROCESSING_SECONDS = BatchHistogram(
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
PUBLISH_TO_WRITE_SECONDS = BatchHistogram(
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
UPDATES_PUBLISHED = Counter(
    "data_manager_market_updates_published_total",
    "Market updates announced on NATS after a durable write",
)
UPDATES_FAILED = Counter(
    "data_manager_market_updates_failed_total",
    "Market updates that could not be published (the records are stored all the same)",
)
