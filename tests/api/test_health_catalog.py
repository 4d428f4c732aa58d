"""GET /health* and /catalog/*: what an operator or a client discovering datasets sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from petrosa_core.bus import connect, ensure_kv
from tests.api.conftest import Api, Launch, Stores
from tests.harness.servers import NatsServer


async def get(api: Api, path: str, **params: Any) -> Any:
    async with api.client() as client:
        response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_probes_answer_alive_and_ready(api: Api) -> None:
    assert await get(api, "/health/liveness") == {"status": "alive", "service": "api"}
    assert await get(api, "/health/readiness") == {"status": "ready"}


async def test_dataset_health_has_the_latest_score_its_components_and_findings(
    api: Api,
) -> None:
    [health] = (await get(api, "/health", pair="XRPUSDT", period="5m"))["data"]

    assert health["dataset_id"] == "candles:XRPUSDT:5m"
    assert (health["score"], health["band"]) == (99.1, "healthy")
    assert health["components"] == {
        "completeness": 0.99, "validity": 1.0, "freshness": 1.0, "consistency": 0.95,
    }  # fmt: skip
    assert health["measured_time_iso"] == "2021-11-21T22:35:12.000Z"
    assert health["record_count"] == 1999
    [finding] = health["findings"]
    assert (finding["check"], finding["severity"], finding["status"]) == ("gaps", "warning", "open")
    assert finding["range_start_iso"] == "2021-11-15T00:00:00.000Z"
    assert finding["details"] == {"missing": 2}


async def test_health_of_a_pair_lists_each_of_its_datasets(api: Api) -> None:
    rows = (await get(api, "/health", pair="XRPUSDT"))["data"]

    assert [(r["dataset_id"], r["score"]) for r in rows] == [
        ("candles:XRPUSDT:5m", 99.1),
        ("funding_rates:XRPUSDT", 64.0),
    ]


async def test_summary_and_audit_status_come_from_the_auditors_tables(
    api: Api, stores: Stores
) -> None:
    summary = (await get(api, "/health/summary"))["data"]
    audit = (await get(api, "/health/audit-status"))["data"]

    total = len(stores.written) + 1  # and the registered, still empty BTCUSDT 1h
    assert summary == {
        "status": "unhealthy",
        "total_datasets": total,
        "healthy_datasets": 1,
        "degraded_datasets": 0,
        "unhealthy_datasets": 1,
        "unscored_datasets": total - 2,
        "overall_score": 81.55,
        "open_findings": 1,
        "failing": {},
    }
    assert audit == {
        "last_audit_time": 1_637_534_112_000,
        "last_audit_time_iso": "2021-11-21T22:35:12.000Z",
        "datasets_scored": 2,
        "datasets_total": total,
        "open_findings": 1,
        "open_findings_by_severity": {"warning": 1},
    }


async def test_databases_and_connections_report_both_stores_and_nats(api: Api) -> None:
    databases = (await get(api, "/health/databases"))["data"]
    connections = (await get(api, "/health/connections"))["data"]

    assert databases["market_store"]["status"] == "up"
    assert databases["metadata_store"]["status"] == "up"
    assert connections["market_store"]["backend"] == "sqlite"
    assert connections["market_store"]["checkedout"] == 0
    assert "Pool size:" in connections["metadata_store"]["status"]
    assert connections["nats"]["connected"] is True


async def test_leader_lists_who_holds_each_lease(launch: Launch, tmp_path: Path) -> None:
    # A private server: the shared one's lease bucket belongs to the services under test.
    private = NatsServer(tmp_path / "nats")
    private.start()
    try:
        api = await launch(NATS_URL=private.url)
        async with await connect(private.url, name="test-leases") as bus:
            kv = await ensure_kv(bus, "petrosa_leases", ttl=60)
            revision = await kv.put("auditor", b"host-a:1:abcd")
            leases = (await get(api, "/health/leader"))["data"]
    finally:
        private.stop()

    assert leases == [{"lease": "auditor", "holder": "host-a:1:abcd", "revision": revision}]


async def test_catalog_lists_datasets_with_range_health_and_freshness(api: Api) -> None:
    rows = (await get(api, "/catalog/datasets", symbol="xrpusdt", kind="candles"))["data"]

    [row] = rows
    assert row["dataset_id"] == "candles:XRPUSDT:5m"
    assert row["record_count"] == 1999
    assert row["first_time_iso"] == "2021-11-15T00:00:00.000Z"
    assert row["last_time_iso"] == "2021-11-21T22:30:00.000Z"
    assert row["health_score"] == 99.1
    assert row["freshness_seconds"] > 0
    assert (row["source"], row["description"]) == ("binance_ws", "XRPUSDT 5m")
    assert (row["category"], row["update_frequency"]) == ("ohlcv", "5m")


async def test_every_catalog_entry_says_what_it_is_and_how_often_it_changes(api: Api) -> None:
    rows = {r["dataset_id"]: r for r in (await get(api, "/catalog/datasets"))["data"]}

    # Stored but never registered: the catalog still describes it.
    sushi = rows["candles:SUSHIUSDT:1m"]
    assert sushi["description"] == "SUSHIUSDT 1m candles (OHLCV) from Binance USD-M futures"
    assert (sushi["category"], sushi["update_frequency"]) == ("ohlcv", "1m")
    assert (rows["funding_rates:XRPUSDT"]["category"], rows["trades:SUSHIUSDT"]["category"]) == (
        "derivatives",
        "trades",
    )
    assert rows["trades:SUSHIUSDT"]["update_frequency"] == "realtime"
    assert all(r["description"] and r["category"] and r["update_frequency"] for r in rows.values())


async def test_catalog_search_by_interval_and_one_dataset_by_id(api: Api) -> None:
    one_minute = (await get(api, "/catalog/datasets", interval="1m"))["data"]
    empty = (await get(api, "/catalog/datasets/candles:BTCUSDT:1h"))["data"]

    assert [r["dataset_id"] for r in one_minute] == [
        "candles:AKROUSDT:1m", "candles:CTKUSDT:1m", "candles:KEEPUSDT:1m", "candles:SUSHIUSDT:1m",
    ]  # fmt: skip
    assert (empty["record_count"], empty["source"]) == (0, "binance_rest")


async def test_schema_lists_fields_types_and_the_json_schema(api: Api) -> None:
    schema = (await get(api, "/catalog/schemas/trades:SUSHIUSDT"))["data"]

    fields = {f["name"]: f["type"] for f in schema["fields"]}
    assert schema["record_type"] == "Trade"
    assert fields["trade_type"] == "'agg' | 'raw'"
    assert fields["first_trade_id"] == "integer | null"
    assert fields["trade_time_iso"] == "string | null"
    assert schema["json_schema"]["$defs"]["Trade"]["properties"]["price"] == {"type": "number"}


async def test_lineage_shows_upstream_jobs_and_downstream_datasets(
    api: Api, stores: Stores
) -> None:
    lineage = (await get(api, "/catalog/lineage/candles:XRPUSDT:5m"))["data"]

    [upstream] = lineage["upstream"]
    assert (upstream["source"], upstream["process"]) == ("binance_rest:/fapi/v1/klines", "backfill")
    assert upstream["job_id"] == stores.ids["job_id"]
    assert upstream["record_count"] == 288
    assert lineage["downstream_datasets"] == ["analytics:XRPUSDT:volatility"]
