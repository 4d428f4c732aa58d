"""Analytics results, keyed by (dataset, family, method, window, as-of time), and rounds.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision: str | None = "0001"
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


def upgrade() -> None:
    op.create_table(
        "analytics_results",
        sa.Column("dataset", sa.String(64), primary_key=True),
        sa.Column("family", sa.String(32), primary_key=True),
        sa.Column("method", sa.String(32), primary_key=True),
        sa.Column("window_size", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("as_of_time", TIME, primary_key=True),
        sa.Column("value", JSON_TEXT, nullable=False),
        sa.Column("completeness", sa.Double(), nullable=False),
        sa.Column("bars_used", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("computed_time", TIME, nullable=False),
        sa.Column("round_id", sa.String(64), nullable=False),
        sa.Column("lineage", JSON_TEXT, nullable=False),
        sa.Column("extra", JSON_TEXT, nullable=False),
        **OPTIONS,
    )
    op.create_index(
        "ix_analytics_results_latest", "analytics_results", ["dataset", "family", "as_of_time"]
    )
    op.create_table(
        "analytics_rounds",
        sa.Column("round_id", sa.String(64), primary_key=True),
        sa.Column("dataset", sa.String(64), primary_key=True),
        sa.Column("computed_time", TIME, nullable=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(128), nullable=False),
        **OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("analytics_rounds")
    op.drop_index("ix_analytics_results_latest", table_name="analytics_results")
    op.drop_table("analytics_results")
