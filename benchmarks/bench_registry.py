"""Schema validation throughput: candle records through the registry against fastjsonschema.

Run with ``python -m benchmarks registry`` (or ``make bench``). The recorded XRPUSDT 5m
candles, as the market store returns them, are validated against the bootstrapped
``candle_v1``: through ``SchemaRegistry.validate`` (its compiled validator cached, the
latest version cached, the schema registered in a SQLite metadata store) and through the
same schema compiled by fastjsonschema and called directly, in the same process on the
same records. Target: the registry at least 0.8 of the direct rate. Medians of several
rounds per batch size; a batch is one ``validate`` call.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import fastjsonschema
import msgspec

from benchmarks._report import table
from petrosa_api.registry import RegistryOptions, SchemaRegistry
from petrosa_api.registry._operations import bootstrap
from petrosa_core.metadata import MetadataStore
from tests.harness.recorded import csv_candles

CANDLES_CSV = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "xrpusdt_perp_5m_klines.csv"
)
BATCHES = (1, 100, 10_000)
ROUNDS = 7
# Records validated per round and batch size, so small batches are timed over many calls.
PER_ROUND = 50_000


def records() -> list[dict[str, Any]]:
    candles = csv_candles(CANDLES_CSV, "XRPUSDT", "5m", 300_000)
    return [msgspec.to_builtins(c) for c in candles]


async def _registry_round(registry: SchemaRegistry, batches: list[list[Any]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        if await registry.validate("mongodb", "candle_v1", batch):
            raise AssertionError("a recorded candle failed candle_v1")
    return time.perf_counter() - started


def _direct_round(check: Any, batches: list[list[Any]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        for record in batch:
            check(record)
    return time.perf_counter() - started


def _batches(rows: list[dict[str, Any]], size: int) -> list[list[Any]]:
    pool = (rows * (PER_ROUND // len(rows) + 1))[:PER_ROUND]
    return [pool[i : i + size] for i in range(0, PER_ROUND, size)]


async def run() -> None:
    rows = records()
    with tempfile.TemporaryDirectory() as folder:
        metadata = await MetadataStore.open(f"sqlite+aiosqlite:///{folder}/metadata.db")
        try:
            registry = SchemaRegistry(metadata, RegistryOptions())
            await bootstrap(registry, overwrite_existing=False)
            document = (await registry.compiled("mongodb", "candle_v1")).record.document
            check = fastjsonschema.compile(document)
            report = []
            for size in BATCHES:
                batches = _batches(rows, size)
                direct, through = [], []
                for n in range(ROUNDS):  # alternate who goes first, so drift hits both alike
                    if n % 2:
                        through.append(await _registry_round(registry, batches))
                    direct.append(_direct_round(check, batches))
                    if not n % 2:
                        through.append(await _registry_round(registry, batches))
                d, r = statistics.median(direct), statistics.median(through)
                report.append(
                    [f"{size:,}", f"{PER_ROUND / d:,.0f}", f"{PER_ROUND / r:,.0f}", f"{d / r:.2f}"]
                )
            stats = registry.cache_stats()
        finally:
            await metadata.close()
    print(
        table(
            f"candle_v1 validation, {len(rows):,} recorded candles, {PER_ROUND:,} per round, "
            f"median of {ROUNDS} (target: registry/direct >= 0.80)",
            ["batch", "direct rec/s", "registry rec/s", "registry/direct"],
            report,
        )
    )
    print(
        f"cache: {stats['hits']:,} hits, {stats['misses']} misses, "
        f"{stats['compilations']} compilations, {stats['evictions']} evictions"
    )
