"""The batch histogram exposes exactly what prometheus_client's own Histogram would."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from petrosa_ingestor.metrics import BatchHistogram

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def exposition(registry: CollectorRegistry) -> tuple[list[str], float]:
    """The exposition's lines but the sum, and the sum (added up in another order)."""
    lines = generate_latest(registry).decode().splitlines()
    (total,) = [float(line.split()[-1]) for line in lines if line.startswith("lat_seconds_sum")]
    # The library also exposes a creation timestamp.
    kept = [
        line
        for line in lines
        if not line.startswith("lat_seconds_sum") and "lat_seconds_created" not in line
    ]
    return kept, total


def test_batches_of_observations_expose_the_library_histogram() -> None:
    rng = random.Random(3)
    batches = [
        [0.0, 0.005, 0.0050001, 1.0, 30.0, 31.0],  # a bucket holds its upper bound
        [rng.expovariate(4.0) for _ in range(5_000)],
        [],
    ]
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batch_histogram = BatchHistogram("lat_seconds", "Latency", BUCKETS, registry=ours)
    histogram = Histogram("lat_seconds", "Latency", buckets=BUCKETS, registry=theirs)
    for values in batches:
        batch_histogram.observe_many(values)
        for value in values:
            histogram.observe(value)
    (our_lines, our_sum), (their_lines, their_sum) = exposition(ours), exposition(theirs)
    assert our_lines == their_lines
    assert our_sum == pytest.approx(their_sum, rel=1e-12)
