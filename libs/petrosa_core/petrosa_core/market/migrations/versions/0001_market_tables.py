"""Market tables: one per dataset kind, keyed by the natural key.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Spelled out here rather than imported so later model changes never rewrite history.
TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")
JSON_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def _symbol() -> sa.Column[str]:
    return sa.Column("symbol", sa.String(32), primary_key=True)


def _time(name: str, primary_key: bool = False, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, TIME, primary_key=primary_key, nullable=nullable)


def _doubles(*names: str, nullable: bool = False) -> list[sa.Column[float]]:
    return [sa.Column(name, sa.Double(), nullable=nullable) for name in names]


def _bigint(name: str, primary_key: bool = False, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(
        name, sa.BigInteger(), primary_key=primary_key, nullable=nullable, autoincrement=False
    )


def upgrade() -> None:
    op.create_table(
        "candles",
        _symbol(),
        sa.Column("interval", sa.String(4), primary_key=True),
        _time("open_time", primary_key=True),
        _time("close_time"),
        *_doubles("open", "high", "low", "close", "volume", "quote_volume"),
        _bigint("trade_count"),
        *_doubles("taker_buy_base_volume", "taker_buy_quote_volume"),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sqlite_with_rowid=False,
        **OPTIONS,
    )
    op.create_table(
        "trades",
        _symbol(),
        sa.Column("trade_type", sa.String(3), primary_key=True),
        _bigint("trade_id", primary_key=True),
        *_doubles("price", "quantity"),
        _time("trade_time"),
        sa.Column("is_buyer_maker", sa.Boolean(), nullable=False),
        _time("event_time", nullable=True),
        _bigint("first_trade_id", nullable=True),
        _bigint("last_trade_id", nullable=True),
        sqlite_with_rowid=False,
        **OPTIONS,
    )
    op.create_index(
        "ix_trades_symbol_time", "trades", ["symbol", "trade_time", "trade_id", "trade_type"]
    )
    op.create_table(
        "depth",
        _symbol(),
        _time("event_time"),
        _time("transaction_time"),
        _bigint("first_update_id"),
        _bigint("final_update_id", primary_key=True),
        _bigint("prev_final_update_id"),
        sa.Column("bids", JSON_TEXT, nullable=False),
        sa.Column("asks", JSON_TEXT, nullable=False),
        **OPTIONS,
    )
    op.create_index("ix_depth_symbol_time", "depth", ["symbol", "event_time", "final_update_id"])
    op.create_table(
        "mark_prices",
        _symbol(),
        _time("event_time", primary_key=True),
        *_doubles("mark_price", "index_price", "estimated_settle_price", "funding_rate"),
        _time("next_funding_time"),
        sqlite_with_rowid=False,
        **OPTIONS,
    )
    op.create_table(
        "funding_rates",
        _symbol(),
        _time("funding_time", primary_key=True),
        *_doubles("funding_rate"),
        *_doubles("mark_price", nullable=True),
        sqlite_with_rowid=False,
        **OPTIONS,
    )
    op.create_table(
        "tickers",
        _symbol(),
        _time("event_time", primary_key=True),
        *_doubles(
            "price_change",
            "price_change_percent",
            "weighted_avg_price",
            "last_price",
            "last_quantity",
            "open_price",
            "high_price",
            "low_price",
            "volume",
            "quote_volume",
        ),
        _time("open_time"),
        _time("close_time"),
        _bigint("first_trade_id"),
        _bigint("last_trade_id"),
        _bigint("trade_count"),
        sqlite_with_rowid=False,
        **OPTIONS,
    )
    op.create_table(
        "book_tickers",
        _symbol(),
        _bigint("update_id", primary_key=True),
        _time("event_time"),
        _time("transaction_time"),
        *_doubles("bid_price", "bid_quantity", "ask_price", "ask_quantity"),
        sqlite_with_rowid=False,
        **OPTIONS,
    )
    op.create_index(
        "ix_book_tickers_symbol_time", "book_tickers", ["symbol", "event_time", "update_id"]
    )


def downgrade() -> None:
    for table in (
        "book_tickers",
        "tickers",
        "funding_rates",
        "mark_prices",
        "depth",
        "trades",
        "candles",
    ):
        op.drop_table(table)
