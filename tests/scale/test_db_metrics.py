"""The original service's database metrics: every process that talks to a store counts
its operations by outcome and the connections in use, on its own /metrics."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from petrosa_core._store_metrics import ACTIVE_CONNECTIONS, OPERATIONS, counted
from petrosa_core.errors import StoreUnavailable
from petrosa_core.market import open_market_store
from petrosa_core.models import DatasetId
from tests.harness.servers import MariaDB, NatsServer
from tests.harness.tcp_proxy import TcpProxy
from tests.ingestor._support import Ingest, agg_trade_frames, publish, wait_ready
from tests.ingestor.test_processes import SYMBOLS, Proc, meta_url

OPERATIONS_TOTAL = "data_manager_database_operations_total"


async def scraped(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


async def test_an_ingestor_exports_its_store_operations_and_connections(
    nats_server: NatsServer, sqlite_url: str, tmp_path: Path
) -> None:
    ingest = Ingest(nats_server.url, sqlite_url, meta_url(tmp_path))
    ingestor = Proc(ingest)
    bus = await ingest.bus()
    try:
        await wait_ready(ingestor.port)
        await publish(bus.client, ingest.subject, agg_trade_frames(2_000, SYMBOLS))
        await ingest.wait_consumed(bus, published=2_000)
        metrics = await scraped(ingestor.port)
    finally:
        await bus.close()
        assert ingestor.stop(signal.SIGTERM) == 0

    market_ok = sum(
        value
        for labels, value in metrics[OPERATIONS_TOTAL]
        if labels["store"] == "market" and labels["outcome"] == "ok"
    )
    stores = {labels["store"] for labels, _ in metrics[OPERATIONS_TOTAL]}
    assert market_ok >= 1
    assert stores == {"market", "metadata"}
    connections = dict(
        (labels["store"], v) for labels, v in metrics["data_manager_active_connections"]
    )
    assert set(connections) == {"market", "metadata"}
    assert all(0 <= v <= 100 for v in connections.values())


def value(counter: object) -> float:
    return float(counter._value.get())  # type: ignore[attr-defined]


async def test_an_outage_is_counted_as_unavailable_and_frees_its_connection(
    mariadb: MariaDB, mysql_url: str
) -> None:
    proxy = TcpProxy(mariadb.host, mariadb.port)
    await proxy.start()
    proxied = mysql_url.replace(f"{mariadb.host}:{mariadb.port}", f"127.0.0.1:{proxy.port}")
    store = counted(await open_market_store(proxied), "market_outage_test")
    dataset = DatasetId.parse("trades:OUTUSDT")
    labels = {"operation": "count", "store": "market_outage_test"}
    try:
        assert await store.count(dataset) == 0
        await proxy.cut()
        with pytest.raises(StoreUnavailable):
            await store.count(dataset)
    finally:
        await store.close()
        await proxy.close()

    assert value(OPERATIONS.labels(**labels, outcome="ok")) == 1
    assert value(OPERATIONS.labels(**labels, outcome="unavailable")) == 1
    assert value(ACTIVE_CONNECTIONS.labels(store="market_outage_test")) == 0
