"""SQL tables of the market store and the codecs between their rows and domain records.

One table per dataset kind, keyed by the natural key. Times are naive UTC datetimes
(DATETIME(3) on MariaDB) because neither MariaDB nor SQLite stores a zone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.sql.schema import SchemaItem

from petrosa_core.models import KIND_SPECS, DatasetKind, Record
from petrosa_core.times import to_ms

EPOCH = datetime.fromtimestamp(0, UTC).replace(tzinfo=None)
ONE_MS = timedelta(milliseconds=1)
ONE_SECOND = timedelta(seconds=1)

TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")
JSON_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
# Binary collation: interval "1m" and "1M" are different datasets.
TABLE_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}

metadata = sa.MetaData()


def _table(kind: DatasetKind, *items: SchemaItem, **options: Any) -> sa.Table:
    return sa.Table(kind.value, metadata, *items, **TABLE_OPTIONS, **options)


def _symbol() -> sa.Column[str]:
    return sa.Column("symbol", sa.String(32), primary_key=True)


def _time(name: str, primary_key: bool = False, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, TIME, primary_key=primary_key, nullable=nullable)


def _double(name: str, nullable: bool = False) -> sa.Column[float]:
    return sa.Column(name, sa.Double(), nullable=nullable)


def _bigint(name: str, primary_key: bool = False, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(
        name, sa.BigInteger(), primary_key=primary_key, nullable=nullable, autoincrement=False
    )


TABLES: dict[DatasetKind, sa.Table] = {
    DatasetKind.CANDLES: _table(
        DatasetKind.CANDLES,
        _symbol(),
        sa.Column("interval", sa.String(4), primary_key=True),
        _time("open_time", primary_key=True),
        _time("close_time"),
        *(_double(n) for n in ("open", "high", "low", "close", "volume", "quote_volume")),
        _bigint("trade_count"),
        _double("taker_buy_base_volume"),
        _double("taker_buy_quote_volume"),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sqlite_with_rowid=False,
    ),
    DatasetKind.TRADES: _table(
        DatasetKind.TRADES,
        _symbol(),
        sa.Column("trade_type", sa.String(3), primary_key=True),
        _bigint("trade_id", primary_key=True),
        _double("price"),
        _double("quantity"),
        _time("trade_time"),
        sa.Column("is_buyer_maker", sa.Boolean(), nullable=False),
        _time("event_time", nullable=True),
        _bigint("first_trade_id", nullable=True),
        _bigint("last_trade_id", nullable=True),
        sa.Index("ix_trades_symbol_time", "symbol", "trade_time", "trade_id", "trade_type"),
        sqlite_with_rowid=False,
    ),
    DatasetKind.DEPTH: _table(
        DatasetKind.DEPTH,
        _symbol(),
        _time("event_time"),
        _time("transaction_time"),
        _bigint("first_update_id"),
        _bigint("final_update_id", primary_key=True),
        _bigint("prev_final_update_id"),
        sa.Column("bids", JSON_TEXT, nullable=False),
        sa.Column("asks", JSON_TEXT, nullable=False),
        sa.Index("ix_depth_symbol_time", "symbol", "event_time", "final_update_id"),
    ),
    DatasetKind.MARK_PRICES: _table(
        DatasetKind.MARK_PRICES,
        _symbol(),
        _time("event_time", primary_key=True),
        *(
            _double(n)
            for n in ("mark_price", "index_price", "estimated_settle_price", "funding_rate")
        ),
        _time("next_funding_time"),
        sqlite_with_rowid=False,
    ),
    DatasetKind.FUNDING_RATES: _table(
        DatasetKind.FUNDING_RATES,
        _symbol(),
        _time("funding_time", primary_key=True),
        _double("funding_rate"),
        _double("mark_price", nullable=True),
        sqlite_with_rowid=False,
    ),
    DatasetKind.TICKERS: _table(
        DatasetKind.TICKERS,
        _symbol(),
        _time("event_time", primary_key=True),
        *(
            _double(n)
            for n in (
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
            )
        ),
        _time("open_time"),
        _time("close_time"),
        _bigint("first_trade_id"),
        _bigint("last_trade_id"),
        _bigint("trade_count"),
        sqlite_with_rowid=False,
    ),
    DatasetKind.BOOK_TICKERS: _table(
        DatasetKind.BOOK_TICKERS,
        _symbol(),
        _bigint("update_id", primary_key=True),
        _time("event_time"),
        _time("transaction_time"),
        *(_double(n) for n in ("bid_price", "bid_quantity", "ask_price", "ask_quantity")),
        sa.Index("ix_book_tickers_symbol_time", "symbol", "event_time", "update_id"),
        sqlite_with_rowid=False,
    ),
}

# Analytics results: keyed like ``analytics.AnalyticsResult.key``; values and lineage are
# JSON text. ``window_size``, because WINDOW is a reserved word in MariaDB and MySQL.
ANALYTICS_RESULTS = sa.Table(
    "analytics_results",
    metadata,
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("family", sa.String(32), primary_key=True),
    sa.Column("method", sa.String(32), primary_key=True),
    sa.Column("window_size", sa.Integer(), primary_key=True, autoincrement=False),
    _time("as_of_time", primary_key=True),
    sa.Column("value", JSON_TEXT, nullable=False),
    _double("completeness"),
    _bigint("bars_used"),
    _time("computed_time"),
    sa.Column("round_id", sa.String(64), nullable=False),
    sa.Column("lineage", JSON_TEXT, nullable=False),
    sa.Column("extra", JSON_TEXT, nullable=False),
    sa.Index("ix_analytics_results_latest", "dataset", "family", "as_of_time"),
    **TABLE_OPTIONS,
)
# Which datasets each scheduled round has finished: a redelivered work item is skipped.
ANALYTICS_ROUNDS = sa.Table(
    "analytics_rounds",
    metadata,
    sa.Column("round_id", sa.String(64), primary_key=True),
    sa.Column("dataset", sa.String(64), primary_key=True),
    _time("computed_time"),
    sa.Column("results", sa.Integer(), nullable=False),
    sa.Column("worker", sa.String(128), nullable=False),
    **TABLE_OPTIONS,
)


def time_text(ms: int) -> str:
    """A time as bound text: SQLAlchemy's own SQLite DATETIME format, which MariaDB reads too.

    Text binds several times faster than a datetime through asyncmy's escaping. The frames
    of one batch fall within a few seconds, so each second's text is made once and reused.
    """
    second, milli = divmod(ms, 1000)
    text = _SECOND_TEXT.get(second)
    if text is None:
        if len(_SECOND_TEXT) >= _SECOND_TEXT_SIZE:
            _SECOND_TEXT.clear()
        text = _SECOND_TEXT[second] = (EPOCH + second * ONE_SECOND).isoformat(" ")
    return text + _MILLI_TEXT[milli]


_SECOND_TEXT: dict[int, str] = {}
_SECOND_TEXT_SIZE = 4096
_MILLI_TEXT = tuple(f".{milli:03d}000" for milli in range(1000))


def order_columns(kind: DatasetKind) -> list[sa.Column[Any]]:
    """Columns of the (time, key) order; trades break a tie on id with the trade type."""
    table = TABLES[kind]
    return [table.c[name] for name in KIND_SPECS[kind].order_fields]


_LEVELS = msgspec.json.Decoder(tuple[tuple[float, float], ...])
_encode_json = msgspec.json.Encoder().encode


Converters = list[tuple[int, Callable[[Any], Any]]]


def _field_codecs(kind: DatasetKind) -> tuple[Converters, Converters]:
    """Per field position: how to turn a record value into a bound value, and a column back."""
    to_col: Converters = []
    to_field: Converters = []
    for pos, name in enumerate(KIND_SPECS[kind].record_type.__struct_fields__):
        column_type = TABLES[kind].c[name].type
        if isinstance(column_type, sa.DateTime):
            to_col.append((pos, time_text))
            to_field.append((pos, to_ms))
        elif name in ("bids", "asks"):
            to_col.append((pos, _encode_levels))
            to_field.append((pos, _LEVELS.decode))
        elif isinstance(column_type, sa.Boolean):
            to_field.append((pos, bool))
    return to_col, to_field


def _encode_levels(levels: Any) -> str:
    return _encode_json(levels).decode()


class RowCodec:
    """Turns records of one kind into positional row tuples and result rows back into records."""

    def __init__(self, kind: DatasetKind) -> None:
        self.record_type = KIND_SPECS[kind].record_type
        self.names: tuple[str, ...] = self.record_type.__struct_fields__
        self._to_col, self._to_field = _field_codecs(kind)

    def to_params(self, record: Record) -> tuple[Any, ...]:
        values = list(msgspec.structs.astuple(record))
        for pos, convert in self._to_col:
            if values[pos] is not None:
                values[pos] = convert(values[pos])
        return tuple(values)

    def to_record(self, row: Sequence[Any]) -> Record:
        values = list(row)
        for pos, convert in self._to_field:
            if values[pos] is not None:
                values[pos] = convert(values[pos])
        return self.record_type(*values)


# One per kind: a codec holds no state beyond what its kind fixes.
CODECS: dict[DatasetKind, RowCodec] = {kind: RowCodec(kind) for kind in DatasetKind}
