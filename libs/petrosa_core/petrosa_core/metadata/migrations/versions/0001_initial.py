"""Create the six metadata tables.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def _time() -> sa.types.TypeEngine[datetime]:
    """Millisecond UTC timestamp; frozen here so later model changes never rewrite history."""
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    _catalog_tables()
    _audit_tables()
    _job_table()


def _catalog_tables() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(96), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("interval", sa.String(8), nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("description", sa.String(512), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
    )
    op.create_table(
        "lineage_records",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.String(96), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("process", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("range_start", _time(), nullable=True),
        sa.Column("range_end", _time(), nullable=True),
        sa.Column("record_count", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
    )
    op.create_table(
        "schemas",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
    )


def _audit_tables() -> None:
    op.create_table(
        "audit_logs",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.String(96), nullable=False),
        sa.Column("check", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("range_start", _time(), nullable=True),
        sa.Column("range_end", _time(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", _time(), nullable=False),
        sa.Column("last_seen_at", _time(), nullable=False),
        sa.Column("resolved_at", _time(), nullable=True),
    )
    op.create_table(
        "health_metrics",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.String(96), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("completeness", sa.Float(), nullable=False),
        sa.Column("validity", sa.Float(), nullable=False),
        sa.Column("freshness", sa.Float(), nullable=False),
        sa.Column("consistency", sa.Float(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("measured_at", _time(), nullable=False),
    )


def _job_table() -> None:
    op.create_table(
        "backfill_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("dataset_id", sa.String(96), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("data_type", sa.String(32), nullable=False),
        sa.Column("interval", sa.String(8), nullable=True),
        sa.Column("range_start", _time(), nullable=False),
        sa.Column("range_end", _time(), nullable=False),
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
        sa.Column("lease_expires_at", _time(), nullable=True),
        sa.Column("heartbeat_at", _time(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
    )


def downgrade() -> None:
    for table in (
        "backfill_jobs",
        "health_metrics",
        "audit_logs",
        "schemas",
        "lineage_records",
        "datasets",
    ):
        op.drop_table(table)
