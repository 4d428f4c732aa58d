"""The schema registry: schemas are kept per store (column ``store``: ``mysql`` or
``mongodb``), carry a status, a description, the dataset they describe and a fingerprint
of their document, and each name has an optional compatibility mode of its own.

The primary key becomes (store, name, version): two registrations racing for the same
next version cannot both insert it. Rows registered before this revision describe market
data, so they move under ``mongodb``.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def _time() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(sa.dialects.mysql.DATETIME(fsp=3), "mysql", "mariadb")


def _fingerprint(document: Any) -> str:
    # Frozen here as of this revision; the store's own function may change, history may not.
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _versions_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("store", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default="active"),
        sa.Column("describes", sa.String(96), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
    )


def upgrade() -> None:
    _versions_table("schemas_new")
    conn = op.get_bind()
    old = sa.table(
        "schemas",
        sa.column("name", sa.String()),
        sa.column("version", sa.Integer()),
        sa.column("document", sa.JSON()),
        sa.column("created_at", sa.DateTime()),
    )
    new = sa.table(
        "schemas_new",
        *(sa.column(c) for c in ("store", "name", "version", "fingerprint", "describes")),
        sa.column("document", sa.JSON()),
        sa.column("created_at", sa.DateTime()),
        sa.column("updated_at", sa.DateTime()),
    )
    for row in conn.execute(sa.select(old)).all():
        conn.execute(
            sa.insert(new).values(
                store="mongodb", name=row.name, version=row.version, document=row.document,
                fingerprint=_fingerprint(row.document), describes=row.name,
                created_at=row.created_at, updated_at=row.created_at,
            )
        )  # fmt: skip
    op.drop_table("schemas")
    op.rename_table("schemas_new", "schemas")
    op.create_index("ix_schemas_fingerprint", "schemas", ["store", "name", "fingerprint"])
    op.create_index("ix_schemas_describes", "schemas", ["describes"])
    op.create_table(
        "schema_subjects",
        sa.Column("store", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("compatibility", sa.String(32), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schema_subjects")
    op.drop_index("ix_schemas_describes", table_name="schemas")
    op.drop_index("ix_schemas_fingerprint", table_name="schemas")
    op.create_table(
        "schemas_old",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
    )
    # A name kept under both stores keeps its mongodb versions, as it had before.
    op.execute(
        "INSERT INTO schemas_old (name, version, document, created_at) "
        "SELECT name, version, document, created_at FROM schemas WHERE store = 'mongodb'"
    )
    op.drop_table("schemas")
    op.rename_table("schemas_old", "schemas")
