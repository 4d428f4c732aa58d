"""The SQL metadata store (catalog, lineage, findings, health, backfill jobs, schemas)."""

from petrosa_core.metadata._catalog import CatalogFacts, catalog_facts, check_schema
from petrosa_core.metadata._records import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    BackfillJob,
    DatasetRecord,
    Finding,
    FindingIn,
    FindingStatus,
    HealthRecord,
    JobStatus,
    LineageRecord,
    SchemaRecord,
    SyncResult,
)
from petrosa_core.metadata._schemas import SCHEMA_STATUSES, SCHEMA_STORES, canonical, fingerprint
from petrosa_core.metadata.store import MIGRATIONS, VERSION_TABLE, MetadataStore

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "MIGRATIONS",
    "SCHEMA_STATUSES",
    "SCHEMA_STORES",
    "VERSION_TABLE",
    "BackfillJob",
    "CatalogFacts",
    "DatasetRecord",
    "Finding",
    "FindingIn",
    "FindingStatus",
    "HealthRecord",
    "JobStatus",
    "LineageRecord",
    "MetadataStore",
    "SchemaRecord",
    "SyncResult",
    "canonical",
    "catalog_facts",
    "check_schema",
    "fingerprint",
]
