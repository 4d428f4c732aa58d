"""A 10M-candle export streams through the API without the range ever being in its memory.

Ten million 1m candles (19 years) are written straight into a SQLite market store by one
SQL statement; the real API process exports them as CSV and as Parquet while the test
reads the stream as it comes, keeping only counts and the first and last lines. The API's
peak resident memory (``VmHWM``) is then checked against a bound far below the size of the
data: the export holds one batch of rows at a time, whatever the length of the range.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from petrosa_core.market import open_market_store
from petrosa_core.metadata import MetadataStore
from petrosa_core.models import Candle, DatasetId
from tests.api.conftest import Api, launch_api
from tests.harness.servers import NatsServer

# Ten million rows written, then streamed twice: minutes on a small machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3000)]

CANDLES = 10_000_000
T0 = 1_262_304_000_000  # 2010-01-01T00:00Z
MINUTE = 60_000
BTC_1M = DatasetId.parse("candles:BTCUSDT:1m")
# The API's own peak may grow by at most this much while exporting; the range itself is
# ~1.3 GB as Arrow columns and ~1.6 GB as CSV.
GROWTH_BOUND_MIB = 300
# SQLite keeps times as text in SQLAlchemy's layout; every candle opens on a whole minute.
_FILL = f"""
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {CANDLES - 1})
INSERT INTO candles
SELECT 'BTCUSDT', '1m',
       strftime('%Y-%m-%d %H:%M:%S', {T0 // 1000} + i * 60, 'unixepoch') || '.000000',
       strftime('%Y-%m-%d %H:%M:%S', {T0 // 1000} + i * 60 + 59, 'unixepoch') || '.999000',
       100.0 + (i % 1000) * 0.25, 101.5 + (i % 1000) * 0.25, 99.5, 100.25 + (i % 7),
       i * 0.5, i * 50.25, i % 5000, 1.5, 150.75, 1
FROM n
"""


def _bulk_fill(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("DELETE FROM candles")
        db.execute(_FILL)


@pytest.fixture(scope="module")
async def big_api(
    tmp_path_factory: pytest.TempPathFactory, nats_server: NatsServer
) -> AsyncIterator[Api]:
    folder = tmp_path_factory.mktemp("export-scale")
    market_url = f"sqlite+aiosqlite:///{folder / 'market.db'}"
    metadata_url = f"sqlite+aiosqlite:///{folder / 'metadata.db'}"
    # The store makes its tables; one candle through the store, the rest by SQL.
    store = await open_market_store(market_url)
    await store.write(
        BTC_1M, [Candle("BTCUSDT", "1m", T0, T0 + 59_999, *[1.0] * 6, 1, 1.0, 1.0, True)]
    )
    await store.close()
    _bulk_fill(folder / "market.db")
    metadata = await MetadataStore.open(metadata_url)
    await metadata.register_dataset(BTC_1M, source="binance_rest", description="10M candles")
    await metadata.close()
    env = {
        "NATS_URL": nats_server.url,
        "MARKET_STORE_URL": market_url,
        "METADATA_STORE_URL": metadata_url,
        "API_RATE_LIMIT_PER_MINUTE": "0",
    }
    api = await launch_api(env)
    yield api
    await api.stop()


def peak_rss_mib(api: Api) -> float:
    """The API process's peak resident set so far (psutil is not installed: /proc)."""
    for line in Path(f"/proc/{api.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


async def _warm(api: Api) -> None:
    """Every format once on a small page: the code paths and their imports are loaded."""
    async with httpx.AsyncClient(base_url=api.url, timeout=300) as client:
        for fmt in ("json", "csv", "parquet", "arrow"):
            params = {"pair": "BTCUSDT", "period": "1m", "limit": 10_000, "format": fmt}
            assert (await client.get("/data/candles", params=params)).status_code == 200


async def _stream(api: Api, fmt: str, sink: Any) -> dict[str, Any]:
    """Stream an export into ``sink``; return when its first bytes came and how many came."""
    params = {"pair": "BTCUSDT", "period": "1m", "all": "true", "format": fmt}
    seen: dict[str, Any] = {"bytes": 0}
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(
            base_url=api.url, timeout=600, headers={"Accept-Encoding": "identity"}
        ) as client,
        client.stream("GET", "/data/candles", params=params) as response,
    ):
        assert response.status_code == 200
        seen["headers"] = response.headers
        async for chunk in response.aiter_raw():
            if "first_byte_s" not in seen:
                seen["first_byte_s"] = time.perf_counter() - started
                seen["bytes_at_first"] = len(chunk)
            seen["bytes"] += len(chunk)
            sink(chunk)
    seen["total_s"] = time.perf_counter() - started
    return seen


class _CsvTally:
    """Counts lines and keeps the first two and the last, never the body."""

    def __init__(self) -> None:
        self.lines = 0
        self.head = b""
        self.tail = b""

    def __call__(self, chunk: bytes) -> None:
        self.lines += chunk.count(b"\n")
        if len(self.head) < 400:
            self.head += chunk[:400]
        self.tail = (self.tail + chunk)[-400:]


async def test_a_10m_candle_export_streams_in_bounded_memory(
    big_api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _warm(big_api)
    baseline = peak_rss_mib(big_api)

    tally = _CsvTally()
    csv_run = await _stream(big_api, "csv", tally)
    after_csv = peak_rss_mib(big_api)
    parquet_path = tmp_path / "export.parquet"
    with parquet_path.open("wb") as file:
        parquet_run = await _stream(big_api, "parquet", file.write)
    after_parquet = peak_rss_mib(big_api)

    header, first = tally.head.split(b"\n")[:2]
    last = tally.tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    assert tally.lines == CANDLES + 1
    assert header.startswith(b"symbol,interval,open_time,open_time_iso,close_time")
    assert first.startswith(b"BTCUSDT,1m,1262304000000,2010-01-01T00:00:00.000Z,1262304059999,")
    last_open = T0 + (CANDLES - 1) * MINUTE
    assert last.startswith(f"BTCUSDT,1m,{last_open},".encode())
    parquet = pq.ParquetFile(parquet_path)
    assert parquet.metadata.num_rows == CANDLES
    assert parquet.metadata.num_row_groups > 1
    edges = [parquet.read_row_group(0), parquet.read_row_group(parquet.num_row_groups - 1)]
    assert edges[0].column("open_time")[0].value == T0
    assert edges[1].column("open_time")[-1].value == last_open
    assert edges[1].column("volume")[-1].as_py() == (CANDLES - 1) * 0.5
    for run in (csv_run, parquet_run):
        assert "content-length" not in run["headers"]
        # The first bytes left before the rest existed: the API never held the whole.
        assert run["bytes_at_first"] < run["bytes"] / 1000
    assert max(after_csv, after_parquet) - baseline < GROWTH_BOUND_MIB
    with capsys.disabled():
        print(
            f"\n10M-candle export: API peak RSS {baseline:.0f} MiB before, {after_csv:.0f} after "
            f"CSV ({csv_run['bytes'] / 2**20:.0f} MiB in {csv_run['total_s']:.0f} s, first byte "
            f"after {csv_run['first_byte_s'] * 1000:.0f} ms), {after_parquet:.0f} after Parquet "
            f"({parquet_run['bytes'] / 2**20:.0f} MiB in {parquet_run['total_s']:.0f} s, first "
            f"byte after {parquet_run['first_byte_s'] * 1000:.0f} ms)"
        )
