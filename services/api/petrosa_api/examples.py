"""Example rows and bodies shown in the OpenAPI document."""

from __future__ import annotations

from typing import Any

CANDLE: dict[str, Any] = {
    "symbol": "XRPUSDT",
    "interval": "5m",
    "open_time": 1636934400000,
    "open_time_iso": "2021-11-15T00:00:00.000Z",
    "close_time": 1636934699999,
    "close_time_iso": "2021-11-15T00:04:59.999Z",
    "open": 1.1893,
    "high": 1.1954,
    "low": 1.1891,
    "close": 1.1941,
    "volume": 9289043.5,
    "quote_volume": 11072137.9,
    "trade_count": 4127,
    "taker_buy_base_volume": 5120532.1,
    "taker_buy_quote_volume": 6103815.2,
    "is_closed": True,
}
TRADE: dict[str, Any] = {
    "symbol": "SUSHIUSDT",
    "trade_type": "agg",
    "trade_id": 126902811,
    "price": 7.611,
    "quantity": 14.0,
    "trade_time": 1626992741012,
    "trade_time_iso": "2021-07-22T22:25:41.012Z",
    "is_buyer_maker": True,
    "event_time": 1626992741017,
    "event_time_iso": "2021-07-22T22:25:41.017Z",
    "first_trade_id": 380708433,
    "last_trade_id": 380708435,
}
DEPTH: dict[str, Any] = {
    "symbol": "SUSHIUSDT",
    "event_time": 1626992741037,
    "event_time_iso": "2021-07-22T22:25:41.037Z",
    "transaction_time": 1626992741024,
    "transaction_time_iso": "2021-07-22T22:25:41.024Z",
    "first_update_id": 600859599090,
    "final_update_id": 600859600917,
    "prev_final_update_id": 600859598061,
    "bids": [[7.504, 813.0]],
    "asks": [[7.615, 1563.0]],
}
FUNDING: dict[str, Any] = {
    "symbol": "XRPUSDT",
    "funding_time": 1637193600017,
    "funding_time_iso": "2021-11-18T00:00:00.017Z",
    "funding_rate": 0.0001,
    "mark_price": None,
}
TICKER: dict[str, Any] = {
    "symbol": "AKROUSDT",
    "event_time": 1626992742512,
    "event_time_iso": "2021-07-22T22:25:42.512Z",
    "price_change": 0.00045,
    "price_change_percent": 2.666,
    "last_price": 0.01733,
    "volume": 187000000.0,
    "trade_count": 50123,
}
BOOK_TICKER: dict[str, Any] = {
    "symbol": "SUSHIUSDT",
    "update_id": 600859600576,
    "event_time": 1626992741017,
    "transaction_time": 1626992741012,
    "bid_price": 7.611,
    "bid_quantity": 2.0,
    "ask_price": 7.612,
    "ask_quantity": 297.0,
    "event_time_iso": "2021-07-22T22:25:41.017Z",
    "transaction_time_iso": "2021-07-22T22:25:41.012Z",
}
MARK: dict[str, Any] = {
    "symbol": "SUSHIUSDT",
    "event_time": 1626992742000,
    "event_time_iso": "2021-07-22T22:25:42.000Z",
    "mark_price": 7.6125,
    "index_price": 7.60871234,
    "estimated_settle_price": 7.61013845,
    "funding_rate": 0.0001,
    "next_funding_time": 1626998400000,
    "next_funding_time_iso": "2021-07-23T00:00:00.000Z",
}


DATASET: dict[str, Any] = {
    "dataset_id": "candles:XRPUSDT:5m",
    "kind": "candles",
    "symbol": "XRPUSDT",
    "interval": "5m",
    "record_count": 1999,
    "first_time": 1636934400000,
    "first_time_iso": "2021-11-15T00:00:00.000Z",
    "last_time": 1637534100000,
    "last_time_iso": "2021-11-21T22:35:00.000Z",
    "freshness_seconds": 12.5,
    "health_score": 99.1,
    "health_freshness": 1.0,
    "health_measured_time": 1637534112000,
    "source": "binance_ws",
    "description": "XRPUSDT 5m candles",
    "category": "ohlcv",
    "update_frequency": "5m",
}
DATASETS: dict[str, Any] = {
    "data": [DATASET],
    "pagination": {"limit": 1, "count": 1, "next_cursor": None, "has_more": False},
}
SCHEMA: dict[str, Any] = {
    "data": {
        "dataset_id": "candles:XRPUSDT:5m",
        "kind": "candles",
        "record_type": "Candle",
        "fields": [
            {"name": "open_time", "type": "integer", "description": "Candle open time, epoch ms"}
        ],
        "json_schema": {"$ref": "#/$defs/Candle", "$defs": {}},
        "registered": [],
    }
}
LINEAGE_ROW: dict[str, Any] = {
    "id": 7,
    "dataset_id": "candles:XRPUSDT:5m",
    "source": "binance_rest:/fapi/v1/klines",
    "process": "backfill",
    "job_id": "5f0c8a1e2b7d4c2f9d1e3a4b5c6d7e8f",
    "range_start": 1636934400000,
    "range_start_iso": "2021-11-15T00:00:00.000Z",
    "range_end": 1637020800000,
    "range_end_iso": "2021-11-16T00:00:00.000Z",
    "record_count": 288,
    "details": None,
    "created_time": 1637020900000,
    "created_time_iso": "2021-11-16T00:01:40.000Z",
}
LINEAGE: dict[str, Any] = {
    "data": {
        "dataset_id": "candles:XRPUSDT:5m",
        "upstream": [LINEAGE_ROW],
        "downstream": [],
        "downstream_datasets": [],
    }
}
JOB_ROW: dict[str, Any] = {
    "id": "5f0c8a1e2b7d4c2f9d1e3a4b5c6d7e8f",
    "dataset_id": "candles:XRPUSDT:5m",
    "symbol": "XRPUSDT",
    "data_type": "candles",
    "interval": "5m",
    "range_start": 1636934400000,
    "range_end": 1637020800000,
    "origin": "api",
    "status": "running",
    "records_written": 144,
    "progress": 0.5,
    "created_time": 1637020900000,
    "created_time_iso": "2021-11-16T00:01:40.000Z",
}
JOB: dict[str, Any] = {"data": JOB_ROW}
JOBS: dict[str, Any] = {
    "data": [JOB_ROW],
    "pagination": {"limit": 100, "count": 1, "next_cursor": None, "has_more": False},
}
BACKFILL_STARTED: dict[str, Any] = {
    "data": {
        "job_id": JOB_ROW["id"],
        "status": "pending",
        "job": JOB_ROW,
        "job_ids": [JOB_ROW["id"]],
        "created_job_ids": [JOB_ROW["id"]],
        "deduplicated": False,
    }
}
HEALTH_SUMMARY: dict[str, Any] = {
    "data": {
        "status": "healthy",
        "total_datasets": 12,
        "healthy_datasets": 11,
        "degraded_datasets": 1,
        "unhealthy_datasets": 0,
        "unscored_datasets": 0,
        "overall_score": 97.3,
        "open_findings": 2,
        "failing": {},
    }
}
DATABASES: dict[str, Any] = {
    "data": {
        "market_store": {"status": "up", "latency_ms": 0.41, "datasets": 12},
        "metadata_store": {"status": "up", "latency_ms": 0.37},
    }
}
CONNECTIONS: dict[str, Any] = {
    "data": {
        "market_store": {"backend": "mysql", "pool_class": "AsyncAdaptedQueuePool", "size": 5},
        "metadata_store": {"backend": "sqlite", "pool_class": "AsyncAdaptedQueuePool"},
        "nats": {"connected": True, "server": "127.0.0.1:4222", "in_msgs": 10, "out_msgs": 10},
    }
}
LEADER: dict[str, Any] = {
    "data": [{"lease": "auditor", "holder": "auditor-0:1:3fa2c1d0", "revision": 42}]
}
AUDIT_STATUS: dict[str, Any] = {
    "data": {
        "last_audit_time": 1637534112000,
        "last_audit_time_iso": "2021-11-21T22:35:12.000Z",
        "datasets_scored": 12,
        "datasets_total": 12,
        "open_findings": 2,
        "open_findings_by_severity": {"warning": 2},
    }
}
DATASET_HEALTH: dict[str, Any] = {
    "data": [
        {
            "dataset_id": "candles:XRPUSDT:5m",
            "score": 99.1,
            "band": "healthy",
            "components": {
                "completeness": 0.99,
                "validity": 1.0,
                "freshness": 1.0,
                "consistency": 0.95,
            },
            "details": {},
            "measured_time": 1637534112000,
            "measured_time_iso": "2021-11-21T22:35:12.000Z",
            "record_count": 1999,
            "last_time": 1637534100000,
            "last_time_iso": "2021-11-21T22:35:00.000Z",
            "findings": [],
        }
    ]
}
ROOT: dict[str, Any] = {
    "data": {
        "service": "petrosa-data-manager",
        "version": "0.1.0",
        "links": {"docs": "/docs", "candles": "/data/candles?pair=BTCUSDT&period=1m"},
    }
}

# The generic data API and raw queries.
ORDER_DOC: dict[str, Any] = {
    "_id": "6f1c2a9e0b7d4e5f",
    "symbol": "XRPUSDT",
    "side": "BUY",
    "quantity": 120.0,
    "price": 0.6132,
}
GENERIC_PAGE: dict[str, Any] = {
    "data": [ORDER_DOC],
    "pagination": {"limit": 100, "offset": 0, "count": 1, "next_cursor": None, "has_more": False},
}
GENERIC_DOCUMENT: dict[str, Any] = {"data": ORDER_DOC}
GENERIC_INSERTED: dict[str, Any] = {"data": {"inserted": 1, "ids": ["6f1c2a9e0b7d4e5f"]}}
GENERIC_UPDATED: dict[str, Any] = {"data": {"matched": 1, "modified": 1}}
GENERIC_DELETED: dict[str, Any] = {"data": {"deleted": 1}}
RAW_SQL: dict[str, Any] = {
    "data": [{"dataset_id": "candles:XRPUSDT:5m", "findings": 2}],
    "meta": {
        "database": "mysql",
        "records_returned": 1,
        "truncated": False,
        "elapsed_ms": 3.2,
        "columns": ["dataset_id", "findings"],
    },
}
RAW_MONGO: dict[str, Any] = {
    "data": [{"open_time": 1636934400000, "close": 1.0551}],
    "meta": {"database": "mongodb", "records_returned": 1, "truncated": False, "elapsed_ms": 4.1},
}
DASHBOARD_HTML = "<!doctype html><html><head><title>Petrosa data quality</title>...</html>"
