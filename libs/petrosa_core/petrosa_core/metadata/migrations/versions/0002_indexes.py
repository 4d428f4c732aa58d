"""Indexes for the lookups the services make.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

INDEXES: dict[str, tuple[str, list[str]]] = {
    "ix_datasets_kind_symbol": ("datasets", ["kind", "symbol"]),
    "ix_datasets_symbol": ("datasets", ["symbol"]),
    "ix_lineage_records_dataset_id": ("lineage_records", ["dataset_id", "created_at"]),
    "ix_lineage_records_source": ("lineage_records", ["source", "created_at"]),
    "ix_audit_logs_dataset_check_status": ("audit_logs", ["dataset_id", "check", "status"]),
    "ix_audit_logs_status": ("audit_logs", ["status"]),
    "ix_health_metrics_dataset_measured": ("health_metrics", ["dataset_id", "measured_at"]),
    "ix_backfill_jobs_status_created": ("backfill_jobs", ["status", "created_at"]),
    "ix_backfill_jobs_dataset_status": ("backfill_jobs", ["dataset_id", "status"]),
    "ix_backfill_jobs_symbol_created": ("backfill_jobs", ["symbol", "created_at"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
