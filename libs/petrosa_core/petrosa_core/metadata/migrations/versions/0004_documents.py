"""Document collections of the generic API: one JSON body per row, keyed by
(namespace, collection, id).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def _time() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=3), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("namespace", sa.String(16), primary_key=True),
        sa.Column("collection", sa.String(120), primary_key=True),
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    op.drop_table("documents")
