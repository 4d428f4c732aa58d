"""SQLAlchemy Core tables of the metadata store: the shape the migrations must produce.

Times are native timestamps (``DATETIME(3)`` on MariaDB) holding naive UTC, read and
written as int epoch milliseconds through ``EpochMs``.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from petrosa_core.times import to_ms, to_naive_utc


class EpochMs(sa.TypeDecorator[int]):
    """A millisecond-precision UTC timestamp column exposed as int epoch ms."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[datetime]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=3))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: int | None, dialect: Dialect) -> datetime | None:
        return None if value is None else to_naive_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> int | None:
        return None if value is None else to_ms(value)


# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DATASET_ID = 96
metadata = sa.MetaData()

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", sa.String(DATASET_ID), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("interval", sa.String(8), nullable=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("description", sa.String(512), nullable=False),
    # A grouping to browse by (ohlcv, trades, order_book, ...) and how often new data is
    # due (an interval such as 1m or 8h, or realtime); see _catalog.catalog_facts.
    sa.Column("category", sa.String(32), nullable=False, server_default=""),
    sa.Column("update_frequency", sa.String(16), nullable=False, server_default=""),
    sa.Column("created_at", EpochMs(), nullable=False),
    sa.Column("updated_at", EpochMs(), nullable=False),
    sa.Index("ix_datasets_kind_symbol", "kind", "symbol"),
    sa.Index("ix_datasets_symbol", "symbol"),
)

lineage_records = sa.Table(
    "lineage_records",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.String(DATASET_ID), nullable=False),
    sa.Column("source", sa.String(128), nullable=False),
    sa.Column("process", sa.String(64), nullable=False),
    sa.Column("job_id", sa.String(32), nullable=True),
    sa.Column("range_start", EpochMs(), nullable=True),
    sa.Column("range_end", EpochMs(), nullable=True),
    sa.Column("record_count", sa.BigInteger(), nullable=True),
    sa.Column("details", sa.JSON(), nullable=True),
    sa.Column("created_at", EpochMs(), nullable=False),
    sa.Index("ix_lineage_records_dataset_id", "dataset_id", "created_at"),
    sa.Index("ix_lineage_records_source", "source", "created_at"),
)

audit_logs = sa.Table(
    "audit_logs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.String(DATASET_ID), nullable=False),
    sa.Column("check", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("range_start", EpochMs(), nullable=True),
    sa.Column("range_end", EpochMs(), nullable=True),
    sa.Column("details", sa.JSON(), nullable=False),
    sa.Column("first_seen_at", EpochMs(), nullable=False),
    sa.Column("last_seen_at", EpochMs(), nullable=False),
    sa.Column("resolved_at", EpochMs(), nullable=True),
    sa.Index("ix_audit_logs_dataset_check_status", "dataset_id", "check", "status"),
    sa.Index("ix_audit_logs_status", "status"),
)

health_metrics = sa.Table(
    "health_metrics",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.String(DATASET_ID), nullable=False),
    sa.Column("score", sa.Float(), nullable=False),
    sa.Column("completeness", sa.Float(), nullable=False),
    sa.Column("validity", sa.Float(), nullable=False),
    sa.Column("freshness", sa.Float(), nullable=False),
    sa.Column("consistency", sa.Float(), nullable=False),
    sa.Column("details", sa.JSON(), nullable=False),
    sa.Column("measured_at", EpochMs(), nullable=False),
    sa.Index("ix_health_metrics_dataset_measured", "dataset_id", "measured_at"),
)

backfill_jobs = sa.Table(
    "backfill_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("dataset_id", sa.String(DATASET_ID), nullable=False),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("data_type", sa.String(32), nullable=False),
    sa.Column("interval", sa.String(8), nullable=True),
    sa.Column("range_start", EpochMs(), nullable=False),
    sa.Column("range_end", EpochMs(), nullable=False),
    sa.Column("origin", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False),
    sa.Column("records_written", sa.BigInteger(), nullable=False),
    sa.Column("pages", sa.Integer(), nullable=False),
    sa.Column("weight_used", sa.BigInteger(), nullable=False),
    sa.Column("progress", sa.Float(), nullable=False),
    sa.Column("checkpoint", sa.BigInteger(), nullable=True),
    sa.Column("checkpoint_details", sa.JSON(), nullable=True),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("claimed_by", sa.String(128), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("lease_expires_at", EpochMs(), nullable=True),
    sa.Column("heartbeat_at", EpochMs(), nullable=True),
    sa.Column("created_at", EpochMs(), nullable=False),
    sa.Column("updated_at", EpochMs(), nullable=False),
    sa.Column("started_at", EpochMs(), nullable=True),
    sa.Column("finished_at", EpochMs(), nullable=True),
    sa.Index("ix_backfill_jobs_status_created", "status", "created_at"),
    sa.Index("ix_backfill_jobs_dataset_status", "dataset_id", "status"),
    sa.Index("ix_backfill_jobs_symbol_created", "symbol", "created_at"),
)

schemas = sa.Table(
    "schemas",
    metadata,
    # The store whose records the schema describes: ``mysql`` or ``mongodb``.
    sa.Column("store", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("document", sa.JSON(), nullable=False),
    # sha256 of the canonical document: an identical registration finds its version by it.
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("description", sa.String(1024), nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    # A dataset kind or id (``candles``, ``candles:BTCUSDT:1m``) whose records it describes.
    sa.Column("describes", sa.String(DATASET_ID), nullable=True),
    sa.Column("created_at", EpochMs(), nullable=False),
    sa.Column("updated_at", EpochMs(), nullable=False),
    sa.Index("ix_schemas_fingerprint", "store", "name", "fingerprint"),
    sa.Index("ix_schemas_describes", "describes"),
)

# A schema name's own compatibility mode, when it has one (otherwise the registry default).
schema_subjects = sa.Table(
    "schema_subjects",
    metadata,
    sa.Column("store", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("compatibility", sa.String(32), nullable=False),
    sa.Column("updated_at", EpochMs(), nullable=False),
)

# Document collections of the generic API (/api/v1/{database}/{collection}) on SQL: one
# JSON body per row. ``namespace`` is the database segment of the path (mysql, mongodb);
# binary collation keeps ids and names case-sensitive, as MongoDB's are.
documents = sa.Table(
    "documents",
    metadata,
    sa.Column("namespace", sa.String(16), primary_key=True),
    sa.Column("collection", sa.String(120), primary_key=True),
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("body", sa.JSON(), nullable=False),
    sa.Column("created_at", EpochMs(), nullable=False),
    sa.Column("updated_at", EpochMs(), nullable=False),
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
